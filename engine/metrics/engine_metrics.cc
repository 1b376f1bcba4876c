#include "engine/metrics/engine_metrics.h"

namespace hollowtrees::engine {

EngineMetrics::EngineMetrics(metrics::Registry& r)
    : registry(r),
      events_received(r.AddCounter("hollowtrees_events_received_total",
                                   "Alerts and events received, re-sends included, by intake source.",
                                   {"source"})),
      events_duplicate(r.AddCounter("hollowtrees_events_duplicate_total",
                                    "Received events that were re-sends of one already accepted.",
                                    {"source"})),
      events_rejected(r.AddCounter("hollowtrees_events_rejected_total",
                                   "Alerts and events refused as malformed (4xx).", {"source"})),
      events_dropped(r.AddCounter("hollowtrees_events_dropped_total",
                                  "Valid events not accepted because the queue was full.",
                                  {"source"})),
      events_unmatched(r.AddCounter("hollowtrees_events_unmatched_total",
                                    "Accepted events that no rule matched.")
                           .Get()),
      rule_matches(r.AddCounter("hollowtrees_rule_matches_total",
                                "Events matched, by rule.", {"rule"})),
      flows_started(r.AddCounter("hollowtrees_flows_started_total", "Flows started, by rule.",
                                 {"rule"})),
      flows_absorbed(r.AddCounter(
          "hollowtrees_flows_absorbed_total",
          "Matched events that started no flow because their group was running or cooling down.",
          {"rule"})),
      flows_completed(r.AddCounter("hollowtrees_flows_completed_total",
                                   "Flows finished, by rule and outcome (succeeded, failed).",
                                   {"rule", "outcome"})),
      flows_running(r.AddGauge("hollowtrees_flows_running", "Flows running or retrying now.").Get()),
      flows_queued(r.AddGauge("hollowtrees_flows_queued",
                              "Flows waiting for their rule's concurrency limit.")
                       .Get()),
      plugin_calls(r.AddCounter(
          "hollowtrees_plugin_calls_total",
          "Plugin calls by outcome: done, skipped, retry, failed, or error (no answer).",
          {"plugin", "outcome"})),
      plugin_call_duration(r.AddHistogram("hollowtrees_plugin_call_duration_seconds",
                                          "Plugin call latency, from the call to the answer.",
                                          {"plugin"}, metrics::LatencyBuckets())),
      http_requests(r.AddCounter("hollowtrees_http_requests_total",
                                 "HTTP requests by handler and status code.", {"handler", "code"})),
      http_requests_cut(r.AddCounter("hollowtrees_http_requests_cut_total",
                                     "Connections shut down because their request was not "
                                     "complete within the whole-request deadline (10 s): slow "
                                     "or stalled senders.")
                            .Get()),
      journal_moved_aside(r.AddCounter("hollowtrees_journal_moved_aside_total",
                                       "Journals that failed their integrity check at start and "
                                       "were moved aside (their state is lost).")
                              .Get()),
      config_last_reload_successful(
          r.AddGauge("hollowtrees_config_last_reload_successful",
                     "1 when the last configuration load succeeded, else 0.")
              .Get()),
      config_last_reload_success_timestamp(
          r.AddGauge("hollowtrees_config_last_reload_success_timestamp_seconds",
                     "When the configuration was last loaded successfully (Unix time).")
              .Get()),
      config_restart_required(
          r.AddGauge("hollowtrees_config_restart_required",
                     "1 while the configuration file changes a key that only a restart applies "
                     "(listen, data_dir, intake, tls, sources, ha); the running value stays in "
                     "force.",
                     {"key"})),
      leader(r.AddGauge("hollowtrees_leader",
                        "1 on the replica that acts: the holder of the Lease with `ha:`, the only "
                        "one without.")
                 .Get()),
      leader_transitions(r.AddCounter("hollowtrees_leader_transitions_total",
                                      "Times this replica started or stopped acting as the "
                                      "leader.")
                             .Get()) {
  for (const char* key : {"listen", "data_dir", "intake", "tls", "sources"}) {
    config_restart_required.WithLabels({key}).Set(0);
  }
}

}  // namespace hollowtrees::engine
