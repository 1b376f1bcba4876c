#pragma once

// The load generator of ht-engine-bench: Prometheus-style alert batches posted
// over keep-alive HTTP connections (cpp-httplib, TCP_NODELAY, one client per
// thread), either as fast as the receiver answers (closed loop) or on a fixed
// schedule (open loop).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace hollowtrees::bench {

using Clock = std::chrono::steady_clock;

// Builds the JSON array Prometheus posts to /api/v2/alerts: `batch_size`
// alerts with distinct label sets (label `seq` = first_seq, first_seq+1, ...).
// Alerts whose seq is a multiple of `match_every` (0: none) are named
// SpotTerminationNotice with cluster_name "bench" (the benchmark's rule
// matches them); the others are "BenchLoad", matched by no rule.
std::string AlertBatch(uint64_t first_seq, int batch_size, uint64_t match_every);

// True when AlertBatch makes the alert with this seq a matching one.
inline bool IsMatching(uint64_t seq, uint64_t match_every) {
  return match_every != 0 && seq % match_every == 0;
}

struct LoadOptions {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string path = "/api/v2/alerts";
  // Connections (one thread and one keep-alive client each). Default 8.
  int connections = 8;
  // Alerts per request. Default 64 (what older Prometheus sends per batch).
  int batch_size = 64;
  // How long the loop posts. Default 5 s.
  absl::Duration duration = absl::Seconds(5);
  // Open loop only: alerts per second offered (requests are scheduled every
  // batch_size / rate seconds, whatever the answers). Default 5000.
  double rate = 5000;
  // See AlertBatch. Default 0 (no alert matches a rule).
  uint64_t match_every = 0;
  // Shared across runs so that every alert of a benchmark is a new one.
  std::atomic<uint64_t>* next_seq = nullptr;
  // Called just before each POST with the seqs of the batch and the time.
  std::function<void(uint64_t first_seq, int count, Clock::time_point)> on_send;
};

struct LoadResult {
  uint64_t requests_ok = 0;      // 2xx answers
  uint64_t requests_failed = 0;  // other answers and transport errors
  uint64_t alerts_accepted = 0;  // alerts in 2xx answers, less those it dropped
  uint64_t alerts_dropped = 0;   // alerts a 2xx answer said it dropped ("dropped": N)
  double seconds = 0;            // wall time of the loop
  std::string first_error;       // the first failure, for the report
  // Open loop: latency of each answered request, in microseconds, measured
  // from its scheduled send time (so a late send counts against the server,
  // no coordinated omission). Closed loop: from the actual send.
  std::vector<int64_t> latencies_us;

  double AlertsPerSecond() const { return seconds > 0 ? alerts_accepted / seconds : 0; }
};

// Posts batches back to back on every connection for options.duration.
LoadResult RunClosedLoop(const LoadOptions& options);

// Posts one batch every batch_size/rate seconds, spread over the
// connections, for options.duration.
LoadResult RunOpenLoop(const LoadOptions& options);

// The q-quantile (0..1) of the values, in the values' unit; 0 when empty.
// Sorts `values`.
double Quantile(std::vector<int64_t>& values, double q);

}  // namespace hollowtrees::bench
