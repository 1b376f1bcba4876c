#pragma once

// Bounds on what one alert or event may carry, so that nothing accepted
// grows the journal, the dedup table or a plugin call without limit (a
// plugin refuses a gRPC message over 4 MiB: an event it can never receive
// would retry until it is a dead letter). Prometheus and Alertmanager set no
// such bounds; these are far above what real alerts carry.

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "engine/event/event.h"

namespace hollowtrees::engine {

struct EventLimits {
  // Labels of one alert or event (annotations are counted apart, with the
  // same bound). intake.max_labels.
  size_t max_labels = 256;
  // Bytes of a label or annotation name. intake.max_label_name_bytes.
  size_t max_label_name_bytes = 1024;
  // Bytes of a label or annotation value. intake.max_label_value_bytes.
  size_t max_label_value_bytes = 16384;
  // Bytes of an alert's generatorURL and of each CloudEvent attribute (id,
  // source, type, subject, dataschema, extensions). intake.max_attribute_bytes.
  size_t max_attribute_bytes = 8192;

  bool operator==(const EventLimits&) const = default;
};

// InvalidArgument naming the first bound `labels` exceed; `what` names them
// in the message ("labels", "annotations", "data.labels").
absl::Status CheckLabelLimits(const Labels& labels, absl::string_view what,
                              const EventLimits& limits);
// InvalidArgument when `value` is longer than max_attribute_bytes.
absl::Status CheckAttributeLimit(absl::string_view name, absl::string_view value,
                                 const EventLimits& limits);

}  // namespace hollowtrees::engine
