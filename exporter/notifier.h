#pragma once

// The fast path: pushes a CloudEvent straight to the Hollowtrees engine
// (POST /api/v1/events, structured mode) when a spot interruption notice or a
// rebalance recommendation appears, so that the reaction does not wait for a
// Prometheus scrape and rule evaluation.
//
// The event looks like the alert Prometheus sends later: type
// prometheus.server.alert.SpotTerminationNotice (or
// ...SpotRebalanceRecommendation), data {labels, annotations, status:
// "firing", startsAt, endsAt, generatorURL}. Its id is stable for one notice
// (instance, alertname, action and the notice's own time), so pushing it again
// after a restart is a duplicate the engine drops (dedup key source+id). With
// a rule that has `group_by: [instance_id]` and a cooldown, the engine also
// absorbs the Prometheus alert that follows: one flow, not two.
//
// Delivery: retried with exponential backoff and jitter until the engine
// answers 2xx; a 4xx other than 408 and 429 is final (the event is wrong, a
// retry would not help); bounded by `max_attempts` and `give_up_after`.
// Events are sent by a thread of the notifier; Observe() never blocks on the
// network. Thread-safe.

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "exporter/exporter_metrics.h"
#include "exporter/notice.h"
#include "lib/common/backoff.h"
#include "lib/common/clock.h"
#include "lib/http/http_client.h"

namespace spdlog {
class logger;
}

namespace hollowtrees::exporter {

inline constexpr char kTerminationAlert[] = "SpotTerminationNotice";
inline constexpr char kRebalanceAlert[] = "SpotRebalanceRecommendation";

struct NotifierOptions {
  // Where to POST, e.g. "http://engine:9092/api/v1/events". Required.
  std::string url;
  // The Kubernetes node this exporter runs on: the `node` label (the drain
  // plugin finds the node by it). Default: none.
  std::string node_name;
  // Extra labels for every event (e.g. cluster_name), Prometheus label names.
  std::vector<std::pair<std::string, std::string>> labels;
  // The CloudEvent source. Default "spot-termination-exporter".
  std::string source = "spot-termination-exporter";
  // Per HTTP attempt. Default 2 s.
  absl::Duration timeout = absl::Seconds(2);
  // Backoff before retry n is uniform in [b/2, b], b = min(max_backoff,
  // initial_backoff * 2^(n-1)). Defaults 200 ms and 5 s.
  absl::Duration initial_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(5);
  // An event is given up after this many attempts or this long after the
  // notice was seen, whichever comes first. Defaults 40 and 2 minutes (the
  // notice's own lead time).
  int max_attempts = 40;
  absl::Duration give_up_after = absl::Minutes(2);
  // The clock; not owned, outlives the notifier. Default (null): RealClock().
  Clock* clock = nullptr;
};

// One event to push.
struct PushEvent {
  std::string alertname;
  std::string id;
  std::string body;  // application/cloudevents+json
};

// The events `state` calls for (a notice, a recommendation), built as JSON;
// `seen_at` is the event's time and startsAt. Empty when the instance id is
// not known yet. Pure.
std::vector<PushEvent> BuildEvents(const InstanceState& state, const NotifierOptions& options,
                                   absl::Time seen_at);

// InvalidArgument for a bad label name, a label the exporter sets itself, or
// a bad URL.
absl::Status ValidateNotifierOptions(const NotifierOptions& options);

class Notifier {
 public:
  // `metrics` and `logger` must outlive the notifier.
  static absl::StatusOr<std::unique_ptr<Notifier>> Create(NotifierOptions options,
                                                          ExporterMetrics& metrics,
                                                          spdlog::logger& logger);
  // Stops the sending thread; events not yet delivered are dropped (logged).
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Queues the events of a new notice or recommendation in `state`; events
  // already queued or sent (by id) are not queued again.
  void Observe(const InstanceState& state);

  // Ids delivered (2xx) so far, in order. For tests and logs.
  std::vector<std::string> delivered() const;
  // Ids given up on, in order.
  std::vector<std::string> failed() const;

 private:
  struct Pending {
    PushEvent event;
    absl::Time seen_at;
    absl::Time next_at;
    int attempts = 0;
  };
  Notifier(NotifierOptions options, std::string path, std::unique_ptr<http::HttpClient> http,
           ExporterMetrics& metrics, spdlog::logger& logger);
  void Run();
  // Sends once; true when done with it (delivered or given up).
  bool Attempt(Pending& p);

  const NotifierOptions options_;
  const std::string path_;
  std::unique_ptr<http::HttpClient> http_;
  ExporterMetrics& metrics_;
  spdlog::logger& logger_;
  Clock& clock_;
  Backoff backoff_;

  mutable absl::Mutex mu_;
  std::vector<Pending> pending_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> seen_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> delivered_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> failed_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace hollowtrees::exporter
