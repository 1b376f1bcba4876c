#pragma once

#include "lib/metrics/metrics.h"

namespace hollowtrees::engine {

// The engine's own metrics, registered once and passed in by reference.
// Label values are bounded: sources and outcomes are fixed sets; rules and
// plugins come from the configuration.
struct EngineMetrics {
  explicit EngineMetrics(metrics::Registry& r);

  metrics::Registry& registry;
  metrics::Family<metrics::Counter>& events_received;   // {source}
  metrics::Family<metrics::Counter>& events_duplicate;  // {source}
  metrics::Family<metrics::Counter>& events_rejected;   // {source}
  metrics::Family<metrics::Counter>& events_dropped;    // {source}: queue full
  metrics::Counter& events_unmatched;
  metrics::Family<metrics::Counter>& rule_matches;      // {rule}
  metrics::Family<metrics::Counter>& flows_started;     // {rule}
  metrics::Family<metrics::Counter>& flows_absorbed;    // {rule}
  metrics::Family<metrics::Counter>& flows_completed;   // {rule, outcome}
  metrics::Gauge& flows_running;
  metrics::Gauge& flows_queued;
  metrics::Family<metrics::Counter>& plugin_calls;      // {plugin, outcome}
  metrics::Family<metrics::Histogram>& plugin_call_duration;  // {plugin}
  metrics::Family<metrics::Counter>& http_requests;     // {handler, code}
  metrics::Counter& http_requests_cut;
  metrics::Counter& journal_moved_aside;
  metrics::Gauge& config_last_reload_successful;
  metrics::Gauge& config_last_reload_success_timestamp;
  // {key}: 1 while the file asks for a change of a key that only a restart
  // applies (listen, data_dir, intake, tls on/off, sources).
  metrics::Family<metrics::Gauge>& config_restart_required;
  // High availability: 1 on the replica that acts (always 1 without `ha:`),
  // and how often this replica started or stopped acting.
  metrics::Gauge& leader;
  metrics::Counter& leader_transitions;
};

}  // namespace hollowtrees::engine
