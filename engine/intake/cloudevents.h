#pragma once

// CloudEvents 1.0 over HTTP (the HTTP protocol binding and the JSON event
// format): structured, batched and binary content modes.

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/event/alert.h"
#include "engine/event/event.h"
#include "engine/event/limits.h"

namespace hollowtrees::engine {

enum class CloudEventsMode { kStructured, kBatch, kBinary };

// The mode the HTTP binding assigns to a Content-Type:
// application/cloudevents-batch* -> batch, application/cloudevents* ->
// structured, anything else -> binary.
CloudEventsMode ModeForContentType(absl::string_view content_type);

struct CloudEventBatch {
  std::vector<EventPtr> events;
  std::vector<Rejection> rejected;
};

// Structured mode: one JSON event. InvalidArgument naming the problem (an
// event over `limits` too).
absl::StatusOr<EventPtr> ParseStructuredCloudEvent(absl::string_view body, absl::Time received,
                                                   const EventLimits& limits = EventLimits());

// Batch mode: a JSON array of events; bad ones are listed in `rejected`.
absl::StatusOr<CloudEventBatch> ParseCloudEventBatch(absl::string_view body, absl::Time received,
                                                     const EventLimits& limits = EventLimits());

// Binary mode: attributes in ce-* headers (percent-encoded), the body is the
// data and Content-Type its datacontenttype. `headers` are (name, value)
// pairs as received; names compare case-insensitively.
absl::StatusOr<EventPtr> ParseBinaryCloudEvent(
    const std::vector<std::pair<std::string, std::string>>& headers,
    absl::string_view content_type, absl::string_view body, absl::Time received,
    const EventLimits& limits = EventLimits());

// True for a valid CloudEvents attribute name: [a-z0-9]{1,20}.
bool IsValidAttributeName(absl::string_view name);

}  // namespace hollowtrees::engine
