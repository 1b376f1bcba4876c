#pragma once

// Parsing of what Prometheus and Alertmanager send, and conversion of an
// alert into a CloudEvent (docs/rules.md, "Events, ids and flows").
//
// The hot path parses a batch into light ParsedAlerts (labels, times, the
// stable id); only alerts that are new after de-duplication are turned into
// full Events with AlertToEvent.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/event/alert.h"
#include "engine/event/event.h"
#include "engine/event/limits.h"

namespace hollowtrees::engine {

// A Prometheus push (POST /api/v{1,2}/alerts): a JSON array of alerts. An
// alert is resolved when its endsAt is not after `now`. InvalidArgument when
// the body as a whole is unusable (not JSON, not an array); a bad alert is
// listed in `rejected` and the others are kept; so is one over `limits`.
absl::StatusOr<AlertBatch> ParsePrometheusAlerts(absl::string_view body, absl::Time now,
                                                 const EventLimits& limits = EventLimits());

// An Alertmanager webhook notification (webhook_config, version "4").
absl::StatusOr<AlertBatch> ParseAlertmanagerWebhook(absl::string_view body, absl::Time now,
                                                    const EventLimits& limits = EventLimits());

// The CloudEvent for an alert: type prometheus.server.alert.<alertname>,
// source generatorURL (else `fallback_source`), time startsAt, data the alert
// as JSON. Consumes the alert.
EventPtr AlertToEvent(ParsedAlert alert, IntakeSource intake, absl::string_view fallback_source,
                      absl::Time received);

}  // namespace hollowtrees::engine
