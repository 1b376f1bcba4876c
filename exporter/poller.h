#pragma once

// Reads the instance metadata service on a schedule of its own, so that a
// scrape never waits for it, and keeps the last InstanceState.
//
// One poll reads instance-id, instance-type and placement/availability-zone
// (until known; they do not change), then spot/instance-action and
// events/recommendations/rebalance. A poll fails as a whole when any request
// fails; the notice and recommendation then keep their last known values and
// `available` turns false. Malformed documents do not fail the poll: they are
// counted, logged once when they appear, and reported as absent.
//
// Transitions (notice appeared or gone, service lost or back, malformed
// documents) are logged once each, at the moment they happen.
//
// Thread-safe. Listeners run on the polling thread after every poll and must
// not block (the notifier only queues).

#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "exporter/exporter_metrics.h"
#include "exporter/metadata.h"
#include "exporter/notice.h"
#include "lib/common/clock.h"

namespace spdlog {
class logger;
}

namespace hollowtrees::exporter {

struct PollerOptions {
  // Time between the starts of two polls. Default 1 s.
  absl::Duration interval = absl::Seconds(1);
  // The clock; not owned, outlives the poller. Default (null): RealClock().
  Clock* clock = nullptr;
};

class MetadataPoller {
 public:
  using Listener = std::function<void(const InstanceState&)>;

  // References must outlive the poller.
  MetadataPoller(InstanceMetadata& metadata, ExporterMetrics& metrics, spdlog::logger& logger,
                 PollerOptions options = {});
  ~MetadataPoller();  // Stop()
  MetadataPoller(const MetadataPoller&) = delete;
  MetadataPoller& operator=(const MetadataPoller&) = delete;

  // Called with the state after every poll. Add before Start().
  void AddListener(Listener listener);

  // Polls once on the caller's thread, updates the state, calls the
  // listeners, and returns the new state. Do not mix with Start().
  InstanceState PollOnce();

  // Polls at once and then every `interval` on a thread of its own.
  void Start();
  // Stops the thread (waits for a poll in progress). Idempotent.
  void Stop();

  InstanceState state() const;

 private:
  void Run();
  void LogTransitions(const InstanceState& before, const InstanceState& after);

  InstanceMetadata& metadata_;
  ExporterMetrics& metrics_;
  spdlog::logger& logger_;
  const PollerOptions options_;
  Clock& clock_;
  std::vector<Listener> listeners_;

  mutable absl::Mutex mu_;
  InstanceState state_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace hollowtrees::exporter
