#pragma once

// The exporter's exposition: the original exporter's series, kept exactly
// (names and label sets), the new series (rebalance, instance info), and the
// exporter's own health counters.
//
//   aws_instance_metadata_service_available{instance_id}        1 | 0
//   aws_instance_termination_imminent{instance_action,instance_id}  1 | 0
//       (without a notice: instance_action="" and 0, always present)
//   aws_instance_termination_in{instance_id}                    seconds left
//       (only while a notice with a future time is present)
//   aws_instance_termination_time_seconds{instance_id}          the notice's time (Unix)
//   aws_instance_rebalance_recommended{instance_id}             1 | 0
//   aws_instance_rebalance_notice_time_seconds{instance_id}     the recommendation's time
//   aws_instance_info{availability_zone,instance_id,instance_type}  1
//   spot_termination_exporter_*                                 polls, errors, IMDS
//                                                               protocol, pushes
//
// Thread-safe: counters may be updated from any thread; Render() serialises
// itself.

#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "exporter/metadata.h"
#include "exporter/notice.h"
#include "lib/metrics/metrics.h"

namespace hollowtrees::exporter {

class ExporterMetrics {
 public:
  ExporterMetrics();
  ExporterMetrics(const ExporterMetrics&) = delete;
  ExporterMetrics& operator=(const ExporterMetrics&) = delete;

  // The text exposition for `state` as of `now`. The metadata service counts
  // as available only when the last poll succeeded and is not older than
  // `stale_after` (a poller that stopped making progress is not trusted).
  std::string Render(const InstanceState& state, absl::Time now, absl::Duration stale_after);

  // Adds what changed in the metadata client's counters since the last call.
  void UpdateImdsStats(const InstanceMetadata::Stats& stats);

  // Updated by the poller.
  metrics::Counter& polls_succeeded() { return polls_->WithLabels({"success"}); }
  metrics::Counter& polls_failed() { return polls_->WithLabels({"failure"}); }
  metrics::Counter& malformed_spot_action() {
    return malformed_->WithLabels({"spot/instance-action"});
  }
  metrics::Counter& malformed_rebalance() {
    return malformed_->WithLabels({"events/recommendations/rebalance"});
  }
  metrics::Histogram& poll_duration() { return poll_duration_->Get(); }
  // Updated by the notifier.
  metrics::Counter& pushed(const std::string& alertname) {
    return pushes_->WithLabels({alertname, "delivered"});
  }
  metrics::Counter& push_failed(const std::string& alertname) {
    return pushes_->WithLabels({alertname, "failed"});
  }
  metrics::Counter& push_attempts(const std::string& result) {
    return push_attempts_->WithLabels({result});
  }
  metrics::Histogram& push_latency() { return push_latency_->Get(); }

 private:
  metrics::Registry registry_;
  // Families whose children are rebuilt from the state at each Render().
  metrics::Family<metrics::Gauge>* available_;
  metrics::Family<metrics::Gauge>* imminent_;
  metrics::Family<metrics::Gauge>* termination_in_;
  metrics::Family<metrics::Gauge>* termination_time_;
  metrics::Family<metrics::Gauge>* rebalance_;
  metrics::Family<metrics::Gauge>* rebalance_time_;
  metrics::Family<metrics::Gauge>* info_;
  metrics::Family<metrics::Gauge>* imds_version_;
  metrics::Family<metrics::Gauge>* last_success_;
  metrics::Family<metrics::Counter>* polls_;
  metrics::Family<metrics::Counter>* malformed_;
  metrics::Family<metrics::Counter>* imds_events_;
  metrics::Family<metrics::Counter>* pushes_;
  metrics::Family<metrics::Counter>* push_attempts_;
  metrics::Family<metrics::Histogram>* poll_duration_;
  metrics::Family<metrics::Histogram>* push_latency_;

  absl::Mutex mu_;
  InstanceMetadata::Stats last_stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hollowtrees::exporter
