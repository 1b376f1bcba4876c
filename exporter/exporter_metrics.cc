#include "exporter/exporter_metrics.h"

namespace hollowtrees::exporter {
ExporterMetrics::ExporterMetrics() {
  // The original exporter's three series first, as it exposed them.
  available_ = &registry_.AddGauge("aws_instance_metadata_service_available",
                                   "Metadata service available", {"instance_id"});
  imminent_ = &registry_.AddGauge("aws_instance_termination_imminent",
                                  "Instance is about to be terminated",
                                  {"instance_action", "instance_id"});
  termination_in_ = &registry_.AddGauge("aws_instance_termination_in",
                                        "Instance will be terminated in", {"instance_id"});
  termination_time_ = &registry_.AddGauge(
      "aws_instance_termination_time_seconds",
      "Time of the spot interruption in the notice, as a Unix timestamp", {"instance_id"});
  rebalance_ = &registry_.AddGauge("aws_instance_rebalance_recommended",
                                   "An EC2 instance rebalance recommendation is present",
                                   {"instance_id"});
  rebalance_time_ = &registry_.AddGauge("aws_instance_rebalance_notice_time_seconds",
                                        "Time of the rebalance recommendation, as a Unix timestamp",
                                        {"instance_id"});
  info_ = &registry_.AddGauge("aws_instance_info", "Instance type and placement of this instance",
                              {"availability_zone", "instance_id", "instance_type"});
  imds_version_ = &registry_.AddGauge(
      "spot_termination_exporter_imds_version",
      "Instance metadata protocol in use: 2 (session tokens), 1, 0 unknown");
  last_success_ = &registry_.AddGauge(
      "spot_termination_exporter_last_successful_poll_timestamp_seconds",
      "When the metadata service was last read completely (Unix time)");
  polls_ = &registry_.AddCounter("spot_termination_exporter_polls_total",
                                 "Polls of the metadata service by result", {"result"});
  malformed_ = &registry_.AddCounter("spot_termination_exporter_malformed_documents_total",
                                     "Metadata documents served but not understood, by path",
                                     {"path"});
  poll_duration_ = &registry_.AddHistogram("spot_termination_exporter_poll_duration_seconds",
                                           "Time to read the metadata service once", {},
                                           metrics::LatencyBuckets());
  imds_events_ = &registry_.AddCounter(
      "spot_termination_exporter_imds_events_total",
      "Instance metadata protocol events: token_fetch, token_failure, unauthorized, v1_fallback",
      {"event"});
  pushes_ = &registry_.AddCounter(
      "spot_termination_exporter_pushes_total",
      "CloudEvents pushed to the engine (fast path), by alertname and result",
      {"alertname", "result"});
  push_attempts_ = &registry_.AddCounter("spot_termination_exporter_push_attempts_total",
                                         "HTTP attempts to push CloudEvents, by result",
                                         {"result"});
  push_latency_ = &registry_.AddHistogram(
      "spot_termination_exporter_push_latency_seconds",
      "From the notice seen in the metadata to the engine's 2xx answer", {},
      metrics::LatencyBuckets());
  // Present from the start, so that rate() sees the first increment.
  polls_succeeded();
  polls_failed();
  malformed_spot_action();
  malformed_rebalance();
  poll_duration();
  push_latency();
  for (const char* e : {"token_fetch", "token_failure", "unauthorized", "v1_fallback"}) {
    imds_events_->WithLabels({e});
  }
  push_attempts("success");
  push_attempts("error");
}

void ExporterMetrics::UpdateImdsStats(const InstanceMetadata::Stats& s) {
  absl::MutexLock lock(&mu_);
  auto add = [&](const char* event, int64_t now, int64_t before) {
    if (now > before) imds_events_->WithLabels({event}).Inc(static_cast<double>(now - before));
  };
  add("token_fetch", s.token_fetches, last_stats_.token_fetches);
  add("token_failure", s.token_failures, last_stats_.token_failures);
  add("unauthorized", s.unauthorized, last_stats_.unauthorized);
  add("v1_fallback", s.v1_fallbacks, last_stats_.v1_fallbacks);
  last_stats_ = s;
}

std::string ExporterMetrics::Render(const InstanceState& state, absl::Time now,
                                    absl::Duration stale_after) {
  absl::MutexLock lock(&mu_);
  for (auto* f : {available_, imminent_, termination_in_, termination_time_, rebalance_,
                  rebalance_time_, info_}) {
    f->Clear();
  }
  const std::string& id = state.instance_id;
  const bool fresh = state.available && now - state.last_success <= stale_after;
  available_->WithLabels({id}).Set(fresh ? 1 : 0);
  if (state.spot) {
    imminent_->WithLabels({state.spot->action, id}).Set(1);
    if (state.spot->time != absl::InfinitePast()) {
      termination_time_->WithLabels({id}).Set(absl::ToDoubleSeconds(state.spot->time -
                                                                     absl::UnixEpoch()));
      const absl::Duration left = state.spot->time - now;
      if (left > absl::ZeroDuration()) {
        termination_in_->WithLabels({id}).Set(absl::ToDoubleSeconds(left));
      }
    }
  } else {
    imminent_->WithLabels({"", id}).Set(0);
  }
  rebalance_->WithLabels({id}).Set(state.rebalance ? 1 : 0);
  if (state.rebalance && state.rebalance->notice_time != absl::InfinitePast()) {
    rebalance_time_->WithLabels({id}).Set(
        absl::ToDoubleSeconds(state.rebalance->notice_time - absl::UnixEpoch()));
  }
  if (!id.empty()) {
    info_->WithLabels({state.availability_zone, id, state.instance_type}).Set(1);
  }
  imds_version_->Get().Set(state.imds_version);
  last_success_->Get().Set(state.last_success == absl::InfinitePast()
                               ? 0
                               : absl::ToDoubleSeconds(state.last_success - absl::UnixEpoch()));
  return registry_.Expose();
}

}  // namespace hollowtrees::exporter
