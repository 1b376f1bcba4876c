#pragma once

// The engine's domain event: a CloudEvent 1.0 with, for alerts, the alert's
// label set kept aside for matching. Immutable once made; shared between the
// intake, the dispatcher and the flow store as std::shared_ptr<const Event>.

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "io/cloudevents/v1/cloudevents.pb.h"
#include "lib/common/json_escape.h"

namespace hollowtrees::engine {

// Where an event came in. Also a metric label value. The journal stores the
// number: add new sources at the end.
enum class IntakeSource { kPrometheus, kAlertmanager, kCloudEvents, kReplay, kSqs };
absl::string_view IntakeSourceName(IntakeSource source);

enum class AlertStatus { kFiring, kResolved };

// Label sets are sorted by name; names are unique.
using Labels = std::vector<std::pair<std::string, std::string>>;

// What an alert carries besides its labels. An alert event keeps these and
// renders its JSON `data` only when something needs it (a flow starts, the
// journal writes it): most alerts are re-sends or match nothing.
struct AlertDetails {
  Labels annotations;
  absl::Time starts_at = absl::InfinitePast();  // InfinitePast: not given
  absl::Time ends_at = absl::InfinitePast();
  std::string generator_url;
  uint64_t fingerprint = 0;
};

// The value of `name` in sorted `labels`, or nullptr.
const std::string* FindLabel(const Labels& labels, absl::string_view name);

// True when `name` is a valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*).
bool IsValidLabelName(absl::string_view name);

struct Event {
  // CloudEvent required attributes.
  std::string id;
  std::string source;
  std::string type;
  // Optional attributes (empty when absent).
  std::string subject;
  std::string datacontenttype;
  std::string dataschema;
  absl::Time time = absl::InfinitePast();  // InfinitePast: absent
  // Extension attributes (lowercase a-z0-9 names), as strings.
  std::vector<std::pair<std::string, std::string>> extensions;
  // The data: JSON text when datacontenttype is JSON, else raw bytes. Empty
  // for an alert event, whose data is rendered from `alert` (Data()).
  std::string data;
  bool data_is_binary = false;
  std::optional<AlertDetails> alert;

  // For matching: the alert's labels (or data.labels of a CloudEvent).
  Labels labels;
  AlertStatus status = AlertStatus::kFiring;
  IntakeSource intake = IntakeSource::kPrometheus;
  absl::Time received = absl::InfinitePast();

  // The idempotency key: source and id (CloudEvents: duplicates may reuse them).
  std::string DedupKey() const;
  // The data as sent to plugins: `data`, or the alert as JSON (status,
  // labels, annotations, startsAt, endsAt, generatorURL, fingerprint).
  std::string Data() const;
  // The official protobuf form, as plugins receive it.
  io::cloudevents::v1::CloudEvent ToProto() const;
};

using EventPtr = std::shared_ptr<const Event>;

// A self-contained JSON form of an Event, for the journal. EventFromJson
// reverses it; InvalidArgument for text it did not write.
std::string EventToJson(const Event& event);
absl::StatusOr<EventPtr> EventFromJson(absl::string_view json);

// Alertmanager's fingerprint of a label set: FNV-1a 64 over the sorted
// name/value pairs, each followed by the byte 0xff; 16 hex digits.
uint64_t Fingerprint(const Labels& labels);
std::string FingerprintHex(uint64_t fp);

// FNV-1a 64 continued over `data` from `hash` (start: kFnvOffset).
inline constexpr uint64_t kFnvOffset = 14695981039346656037ULL;
uint64_t Fnv1a(uint64_t hash, absl::string_view data);

}  // namespace hollowtrees::engine
