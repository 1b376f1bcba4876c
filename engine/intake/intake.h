#pragma once

// The request-path half of the engine: de-duplication of re-sent alerts and
// events, and hand-off to the dispatcher. Runs on the HTTP threads; the only
// locks are the dedup table's per-shard mutexes and the dispatcher queue's
// one post per request.

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "engine/intake/alerts.h"
#include "engine/intake/cloudevents.h"
#include "engine/rules/config.h"
#include "engine/intake/dedup.h"
#include "engine/dispatch/event_sink.h"
#include "engine/metrics/engine_metrics.h"
#include "engine/store/event_log.h"

namespace hollowtrees::engine {

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
  // References must outlive the Intake. `log` may be null (no data_dir):
  // events are then acknowledged without being made durable.
  Intake(DedupTable& dedup, EventSink& sink, EventLog* log, EngineMetrics& metrics,
         const IntakeConfig& config);

  // Absorbs re-sends, converts new alerts to events and submits them.
  IntakeResult AcceptAlerts(AlertBatch batch, IntakeSource source, absl::Time now);
  // The same for CloudEvents (`rejected` carried through), from the HTTP
  // endpoint or another source that retries what is not taken (SQS).
  IntakeResult AcceptEvents(std::vector<EventPtr> events, std::vector<Rejection> rejected,
                            absl::Time now, IntakeSource source = IntakeSource::kCloudEvents);
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
  EventSink& sink_;
  EventLog* log_;
  const IntakeConfig config_;
  std::array<SourceMetrics, 5> source_metrics_;
};

}  // namespace hollowtrees::engine
