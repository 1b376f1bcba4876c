#pragma once

// The request-path half of the engine: de-duplication of re-sent alerts and
// events, and hand-off to the dispatcher. Runs on the HTTP threads; the only
// locks are the dedup table's per-shard mutexes and the dispatcher queue's
// one post per request.

#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "engine/alerts.h"
#include "engine/cloudevents.h"
#include "engine/config.h"
#include "engine/dispatcher.h"
#include "engine/engine_metrics.h"
#include "engine/journal.h"

namespace hollowtrees::engine {

// Remembers event keys (source and id) for a window after they were last
// seen. Sharded; thread-safe.
class DedupTable {
 public:
  DedupTable(size_t max_entries, absl::Duration window);

  // True when `key` was seen within the window (and refreshes it); otherwise
  // remembers it and returns false.
  bool SeenOrInsert(const std::string& key, absl::Time now);
  // Forgets a key (an event that was refused after all, so its re-send must
  // not be taken for a duplicate).
  void Forget(const std::string& key);
  // Drops entries older than the window.
  void Sweep(absl::Time now);
  size_t size() const { return size_.load(std::memory_order_relaxed); }

 private:
  static constexpr int kShards = 64;
  struct Shard {
    absl::Mutex mu;
    absl::flat_hash_map<std::string, absl::Time> seen ABSL_GUARDED_BY(mu);
  };
  Shard& ShardFor(const std::string& key);

  const size_t max_per_shard_;
  const absl::Duration window_;
  std::array<Shard, kShards> shards_;
  std::atomic<size_t> size_{0};
};

// What happened to a request's alerts or events.
struct IntakeResult {
  int accepted = 0;
  int duplicates = 0;
  // Valid alerts not taken because the queue was full (Prometheus only:
  // it does not retry, so the engine takes what fits).
  int dropped = 0;
  std::vector<Rejection> rejected;
  // Not OK: nothing of the request was taken (queue full for a sender that
  // retries, or the journal could not commit); the answer is 503.
  absl::Status unavailable;
  // The JSON body answered to the sender.
  std::string ToJson() const;
};

class Intake {
 public:
  // References must outlive the Intake. `journal` may be null (no
  // data_dir): events are then acknowledged without being made durable.
  Intake(DedupTable& dedup, Dispatcher& dispatcher, Journal* journal, EngineMetrics& metrics,
         const IntakeConfig& config);

  // Absorbs re-sends, converts new alerts to events and submits them.
  IntakeResult AcceptAlerts(AlertBatch batch, IntakeSource source, absl::Time now);
  // The same for CloudEvents (`rejected` carried through).
  IntakeResult AcceptEvents(std::vector<EventPtr> events, std::vector<Rejection> rejected,
                            absl::Time now);
  // Counts a request refused as a whole (malformed body).
  void CountRejected(IntakeSource source, int n);

 private:
  struct SourceMetrics {
    metrics::Counter* received;
    metrics::Counter* duplicate;
    metrics::Counter* rejected;
    metrics::Counter* dropped;
  };
  SourceMetrics& For(IntakeSource source);
  // Backpressure, journal, hand-off: the common tail of both Accept calls.
  void Take(std::vector<EventPtr> fresh, IntakeSource source, IntakeResult* result);

  DedupTable& dedup_;
  Dispatcher& dispatcher_;
  Journal* journal_;
  const IntakeConfig config_;
  std::array<SourceMetrics, 4> source_metrics_;
};

}  // namespace hollowtrees::engine
