#include "engine/sources/aws_events.h"

#include <exception>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "lib/common/json_escape.h"
#include "lib/common/rfc3339.h"
#include "lib/common/strict_json.h"
#include "nlohmann/json.hpp"
#include "simdjson.h"

namespace hollowtrees::engine {
namespace {

using nlohmann::json;

constexpr char kTestNotificationEvent[] = "autoscaling:TEST_NOTIFICATION";
constexpr char kTerminating[] = "autoscaling:EC2_INSTANCE_TERMINATING";
constexpr char kLaunching[] = "autoscaling:EC2_INSTANCE_LAUNCHING";
constexpr char kUtf8Bom[] = "\xEF\xBB\xBF";
constexpr size_t kReasonQuoteBytes = 100;
constexpr size_t kMaxInstanceIdChars = 40;

enum class Kind {
  kSpot,
  kRebalance,
  kStateChange,
  kCapacityReservation,
  kHealth,
  kTerminate,
  kLaunch
};

struct KnownEvent {
  absl::string_view source;
  absl::string_view detail_type;
  absl::string_view type;
  Kind kind;
};

constexpr KnownEvent kKnownEvents[] = {
    {"aws.ec2", "EC2 Spot Instance Interruption Warning", "aws.ec2.spot-interruption-warning",
     Kind::kSpot},
    {"aws.ec2", "EC2 Instance Rebalance Recommendation", "aws.ec2.rebalance-recommendation",
     Kind::kRebalance},
    {"aws.ec2", "EC2 Instance State-change Notification", "aws.ec2.state-change",
     Kind::kStateChange},
    {"aws.ec2", "EC2 Capacity Reservation Instance Interruption Warning",
     "aws.ec2.capacity-reservation-interruption-warning", Kind::kCapacityReservation},
    {"aws.health", "AWS Health Event", "aws.health.scheduled-change", Kind::kHealth},
    {"aws.autoscaling", "EC2 Instance-terminate Lifecycle Action",
     "aws.autoscaling.terminate-lifecycle-action", Kind::kTerminate},
    {"aws.autoscaling", "EC2 Instance-launch Lifecycle Action",
     "aws.autoscaling.launch-lifecycle-action", Kind::kLaunch},
};

constexpr absl::string_view kTerminateType = "aws.autoscaling.terminate-lifecycle-action";
constexpr absl::string_view kLaunchType = "aws.autoscaling.launch-lifecycle-action";

// Text from the message in a reason: printable ASCII only (other bytes as
// \xNN), so a log line stays one line and a terminal shows what was sent;
// cut to `max` bytes. `quoted`: '"' and '\\' escaped too.
std::string Printable(absl::string_view s, bool quoted = false, size_t max = kReasonQuoteBytes) {
  const bool cut = s.size() > max;
  if (cut) s = s.substr(0, max);
  std::string out;
  out.reserve(s.size() + 8);
  for (const char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (quoted && (c == '"' || c == '\\')) {
      out += '\\';
      out += ch;
    } else if (c >= 0x20 && c < 0x7F) {
      out += ch;
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  if (cut) out += "...";
  return out;
}

std::string Quote(absl::string_view s) {
  return absl::StrCat("\"", Printable(s, /*quoted=*/true), "\"");
}

// Why `s` cannot be an id, subject or label value; "" when it can.
std::string TextProblem(absl::string_view s) {
  if (s.size() > kMaxAwsFieldBytes)
    return absl::StrCat("is longer than ", kMaxAwsFieldBytes, " bytes");
  if (!simdjson::validate_utf8(s.data(), s.size())) return "is not UTF-8";
  // CloudEvents attribute values exclude U+0000-U+001F and U+007F-U+009F;
  // label values that reach logs and Kubernetes are held to the same.
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const bool c1 = c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) <= 0x9F;
    if (c < 0x20 || c == 0x7F || c1) return "contains a control character";
  }
  return "";
}

// AWS writes "i-" and 8 or 17 lower-case hex digits; this also takes the
// short ids of test set-ups ("i-1") but nothing that could carry a separator
// into a Kubernetes selector or an API call.
bool IsInstanceId(absl::string_view s) {
  if (!absl::StartsWith(s, "i-")) return false;
  const absl::string_view rest = s.substr(2);
  if (rest.empty() || rest.size() > kMaxInstanceIdChars) return false;
  for (const char c : rest) {
    if (!absl::ascii_isdigit(c) && !(c >= 'a' && c <= 'z')) return false;
  }
  return true;
}

// The instance id in an id or an EC2 instance ARN
// (arn:PARTITION:ec2:REGION:ACCOUNT:instance/i-...), else nullopt.
std::optional<std::string> InstanceIdIn(absl::string_view s) {
  if (IsInstanceId(s)) return std::string(s);
  if (!absl::StartsWith(s, "arn:")) return std::nullopt;
  const std::vector<absl::string_view> parts = absl::StrSplit(s, absl::MaxSplits(':', 5));
  if (parts.size() != 6 || parts[2] != "ec2" || !absl::StartsWith(parts[5], "instance/"))
    return std::nullopt;
  const absl::string_view id = parts[5].substr(9);
  if (!IsInstanceId(id)) return std::nullopt;
  return std::string(id);
}

AwsMessage Outcome(AwsMessageKind kind, std::string reason) {
  AwsMessage m;
  m.kind = kind;
  m.reason = std::move(reason);
  return m;
}
AwsMessage Malformed(std::string reason) {
  return Outcome(AwsMessageKind::kMalformed, std::move(reason));
}
AwsMessage Unknown(std::string reason) {
  return Outcome(AwsMessageKind::kUnknown, std::move(reason));
}

// Reads a string field of `obj`. Absent, null or "" leaves `out` empty;
// `required` makes that an error. Anything else that is not a valid string
// is an error. Errors name the field as `prefix` + `key`.
bool ReadString(const json& obj, absl::string_view prefix, const char* key, bool required,
                std::string* out, std::string* error) {
  out->clear();
  const auto it = obj.find(key);
  if (it != obj.end() && !it->is_null()) {
    if (!it->is_string()) {
      *error = absl::StrCat(prefix, key, " is a JSON ", it->type_name(), ", not a string");
      return false;
    }
    const std::string& value = it->get_ref<const std::string&>();
    if (std::string problem = TextProblem(value); !problem.empty()) {
      *error = absl::StrCat(prefix, key, " ", problem);
      return false;
    }
    *out = value;
  }
  if (required && out->empty()) {
    *error =
        absl::StrCat(prefix, key, it == obj.end() || it->is_null() ? " is missing" : " is empty");
    return false;
  }
  return true;
}

bool ReadInstanceId(const json& obj, absl::string_view prefix, const char* key, std::string* out,
                    std::string* error) {
  if (!ReadString(obj, prefix, key, /*required=*/true, out, error)) return false;
  if (!IsInstanceId(*out)) {
    *error = absl::StrCat(prefix, key, " ", Quote(*out), " is not an EC2 instance id");
    return false;
  }
  return true;
}

// An optional string that becomes label `label` when not empty.
bool ReadLabel(const json& obj, absl::string_view prefix, const char* key, const char* label,
               AwsEvent* ev, std::string* error) {
  std::string value;
  if (!ReadString(obj, prefix, key, /*required=*/false, &value, error)) return false;
  if (!value.empty()) ev->labels[label] = std::move(value);
  return true;
}

// The time, when it is an RFC 3339 string. A string that is not leaves it
// absent: the notice matters more than its timestamp (AWS's own examples
// write "yyyy-mm-ddThh:mm:ssZ").
bool ReadTime(const json& obj, const char* key, absl::Time* out, std::string* error) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return true;
  if (!it->is_string()) {
    *error = absl::StrCat(key, " is a JSON ", it->type_name(), ", not a string");
    return false;
  }
  if (auto t = ParseRfc3339(it->get_ref<const std::string&>()); t.ok()) *out = *t;
  return true;
}

// The lifecycle action's fields, in EventBridge's detail and in the body
// Auto Scaling sends to SQS alike.
bool ReadLifecycleAction(const json& obj, absl::string_view prefix, AwsEvent* ev,
                         std::string* error) {
  std::string instance_id, group, hook;
  if (!ReadInstanceId(obj, prefix, "EC2InstanceId", &instance_id, error) ||
      !ReadString(obj, prefix, "AutoScalingGroupName", /*required=*/true, &group, error) ||
      !ReadString(obj, prefix, "LifecycleHookName", /*required=*/true, &hook, error) ||
      !ReadLabel(obj, prefix, "LifecycleActionToken", "lifecycle_action_token", ev, error) ||
      !ReadLabel(obj, prefix, "LifecycleTransition", "lifecycle_transition", ev, error)) {
    return false;
  }
  ev->subject = instance_id;
  ev->labels["instance_id"] = std::move(instance_id);
  ev->labels["autoscaling_group"] = std::move(group);
  ev->labels["lifecycle_hook"] = std::move(hook);
  return true;
}

bool IsTestNotification(const json& obj) {
  for (const char* key : {"Event", "LifecycleTransition"}) {
    const auto it = obj.find(key);
    if (it != obj.end() && it->is_string() && *it == kTestNotificationEvent) return true;
  }
  return false;
}

AwsMessage TestNotification(const json& obj) {
  std::string reason = "Auto Scaling test notification";
  const auto group = obj.find("AutoScalingGroupName");
  if (group != obj.end() && group->is_string()) {
    absl::StrAppend(&reason, " for group ", Quote(group->get_ref<const std::string&>()));
  }
  return Outcome(AwsMessageKind::kTestNotification, std::move(reason));
}

AwsMessage OneEvent(AwsEvent ev) {
  AwsMessage m;
  m.kind = AwsMessageKind::kEvent;
  m.events.push_back(std::move(ev));
  return m;
}

// The instances an AWS Health event names: `resources` and
// detail.affectedEntities[].entityValue, as ids or EC2 instance ARNs, first
// appearance first, each once.
bool HealthInstances(const json& obj, const json& detail, std::vector<std::string>* ids,
                     std::string* error) {
  std::set<std::string> seen;
  // False once over the limit: a 1 MiB body can name 100,000 ids.
  const auto add = [&](const std::string& value) {
    std::optional<std::string> id = InstanceIdIn(value);
    if (!id || !seen.insert(*id).second) return true;
    ids->push_back(*std::move(id));
    if (ids->size() <= kMaxAwsInstancesPerMessage) return true;
    *error = absl::StrCat("the AWS Health event names more than ", kMaxAwsInstancesPerMessage,
                          " instances");
    return false;
  };
  if (const auto res = obj.find("resources"); res != obj.end() && !res->is_null()) {
    if (!res->is_array()) {
      *error = absl::StrCat("resources is a JSON ", res->type_name(), ", not an array");
      return false;
    }
    for (size_t i = 0; i < res->size(); ++i) {
      const json& r = (*res)[i];
      if (!r.is_string()) {
        *error = absl::StrCat("resources[", i, "] is a JSON ", r.type_name(), ", not a string");
        return false;
      }
      if (!add(r.get_ref<const std::string&>())) return false;
    }
  }
  if (const auto ents = detail.find("affectedEntities"); ents != detail.end() && !ents->is_null()) {
    if (!ents->is_array()) {
      *error =
          absl::StrCat("detail.affectedEntities is a JSON ", ents->type_name(), ", not an array");
      return false;
    }
    for (size_t i = 0; i < ents->size(); ++i) {
      const json& entity = (*ents)[i];
      if (!entity.is_object()) {
        *error = absl::StrCat("detail.affectedEntities[", i, "] is a JSON ", entity.type_name(),
                              ", not an object");
        return false;
      }
      const auto value = entity.find("entityValue");
      if (value == entity.end() || value->is_null()) continue;
      if (!value->is_string()) {
        *error = absl::StrCat("detail.affectedEntities[", i, "].entityValue is a JSON ",
                              value->type_name(), ", not a string");
        return false;
      }
      if (!add(value->get_ref<const std::string&>())) return false;
    }
  }
  return true;
}

AwsMessage FromEventBridge(const json& obj, absl::string_view raw) {
  const json& dt = obj["detail-type"];
  if (!dt.is_string())
    return Malformed(absl::StrCat("detail-type is a JSON ", dt.type_name(), ", not a string"));
  const auto src = obj.find("source");
  if (src == obj.end() || !src->is_string()) return Malformed("source is missing or not a string");
  const std::string& detail_type = dt.get_ref<const std::string&>();
  const std::string& source = src->get_ref<const std::string&>();
  const KnownEvent* known = nullptr;
  for (const KnownEvent& k : kKnownEvents) {
    if (k.source == source && k.detail_type == detail_type) known = &k;
  }
  if (known == nullptr) {
    return Unknown(absl::StrCat("detail-type ", Quote(detail_type), " from ",
                                source.empty() ? "\"\"" : Printable(source),
                                " is not an event Hollowtrees knows"));
  }

  AwsEvent ev;
  ev.source = std::string(known->source);
  ev.type = std::string(known->type);
  ev.raw = std::string(raw);
  std::string error;
  if (!ReadString(obj, "", "id", /*required=*/true, &ev.id, &error) ||
      !ReadTime(obj, "time", &ev.time, &error) ||
      !ReadLabel(obj, "", "account", "account", &ev, &error) ||
      !ReadLabel(obj, "", "region", "region", &ev, &error)) {
    return Malformed(std::move(error));
  }
  const auto detail_it = obj.find("detail");
  if (detail_it == obj.end() || !detail_it->is_object()) {
    return Malformed(absl::StrCat(Quote(detail_type), " event has no detail object"));
  }
  const json& detail = *detail_it;

  switch (known->kind) {
    case Kind::kSpot:
    case Kind::kRebalance:
    case Kind::kStateChange:
    case Kind::kCapacityReservation: {
      std::string instance_id;
      if (!ReadInstanceId(detail, "detail.", "instance-id", &instance_id, &error))
        return Malformed(error);
      if (known->kind == Kind::kSpot || known->kind == Kind::kCapacityReservation) {
        if (!ReadLabel(detail, "detail.", "instance-action", "instance_action", &ev, &error))
          return Malformed(error);
      }
      if (known->kind == Kind::kStateChange) {
        std::string state;
        if (!ReadString(detail, "detail.", "state", /*required=*/true, &state, &error))
          return Malformed(error);
        ev.labels["state"] = std::move(state);
      }
      ev.subject = instance_id;
      ev.labels["instance_id"] = std::move(instance_id);
      return OneEvent(std::move(ev));
    }
    case Kind::kHealth: {
      std::string service, category;
      if (!ReadString(detail, "detail.", "service", /*required=*/true, &service, &error) ||
          !ReadString(detail, "detail.", "eventTypeCategory", /*required=*/true, &category,
                      &error)) {
        return Malformed(std::move(error));
      }
      if (service != "EC2" || category != "scheduledChange") {
        return Unknown(absl::StrCat(
            "AWS Health event of service ", Quote(service), " and category ", Quote(category),
            " is not an event Hollowtrees knows (only EC2 scheduledChange)"));
      }
      std::vector<std::string> instances;
      if (!HealthInstances(obj, detail, &instances, &error)) return Malformed(std::move(error));
      if (instances.size() <= 1) {
        if (!instances.empty()) {
          ev.subject = instances[0];
          ev.labels["instance_id"] = instances[0];
        }
        return OneEvent(std::move(ev));
      }
      AwsMessage m;
      m.kind = AwsMessageKind::kEvent;
      m.events.reserve(instances.size());
      for (const std::string& instance : instances) {
        AwsEvent one = ev;
        // Distinct per instance (the engine deduplicates on source and id),
        // and the same on every redelivery: from the message alone.
        one.id = absl::StrCat(ev.id, "/", instance);
        one.subject = instance;
        one.labels["instance_id"] = instance;
        m.events.push_back(std::move(one));
      }
      return m;
    }
    case Kind::kTerminate:
    case Kind::kLaunch: {
      if (IsTestNotification(detail)) return TestNotification(detail);
      if (!ReadLifecycleAction(detail, "detail.", &ev, &error)) return Malformed(std::move(error));
      return OneEvent(std::move(ev));
    }
  }
  return Malformed("unreachable kind");
}

// The body Auto Scaling sends to an SQS (or SNS) notification target itself.
AwsMessage FromAutoScaling(const json& obj, absl::string_view raw) {
  std::string error, event, transition;
  if (!ReadString(obj, "", "Event", /*required=*/false, &event, &error) ||
      !ReadString(obj, "", "LifecycleTransition", /*required=*/false, &transition, &error)) {
    return Malformed(std::move(error));
  }
  if (IsTestNotification(obj)) return TestNotification(obj);
  if (!event.empty()) {
    // autoscaling:EC2_INSTANCE_LAUNCH and the other group notifications.
    return Unknown(absl::StrCat("Auto Scaling notification ", Quote(event),
                                " is not an event Hollowtrees knows"));
  }
  AwsEvent ev;
  if (transition == kTerminating) {
    ev.type = std::string(kTerminateType);
  } else if (transition == kLaunching) {
    ev.type = std::string(kLaunchType);
  } else if (transition.empty()) {
    return Malformed("Auto Scaling message has no LifecycleTransition");
  } else {
    return Unknown(absl::StrCat("Auto Scaling lifecycle transition ", Quote(transition),
                                " is not an event Hollowtrees knows"));
  }
  ev.source = "aws.autoscaling";
  ev.raw = std::string(raw);
  // No region in this form: the poller may add its queue's region.
  if (!ReadString(obj, "", "RequestId", /*required=*/true, &ev.id, &error) ||
      !ReadTime(obj, "Time", &ev.time, &error) ||
      !ReadLabel(obj, "", "AccountId", "account", &ev, &error) ||
      !ReadLifecycleAction(obj, "", &ev, &error)) {
    return Malformed(std::move(error));
  }
  return OneEvent(std::move(ev));
}

absl::string_view WithoutBom(absl::string_view s) {
  if (absl::StartsWith(s, kUtf8Bom)) s.remove_prefix(3);
  return s;
}

// `what` names the text in reasons ("message body", "SNS Message").
AwsMessage Classify(absl::string_view text, absl::string_view what, bool inside_sns) {
  if (text.size() > kMaxAwsMessageBytes) {
    return Malformed(
        absl::StrCat(what, " is ", text.size(), " bytes, over the limit of ", kMaxAwsMessageBytes));
  }
  const absl::string_view raw = WithoutBom(text);
  absl::StatusOr<json> parsed = ParseStrictJson(raw);
  if (!parsed.ok()) {
    // "body is not valid JSON: duplicate key \"...\"" -> "<what> is not ...".
    absl::string_view message = parsed.status().message();
    absl::ConsumePrefix(&message, "body");
    return Malformed(absl::StrCat(what, Printable(message, /*quoted=*/false, /*max=*/300)));
  }
  const json& obj = *parsed;
  if (!obj.is_object())
    return Malformed(absl::StrCat(what, " is a JSON ", obj.type_name(), ", not an object"));

  // SNS (without raw message delivery): unwrap once.
  if (!inside_sns && obj.contains("Type") && obj.contains("TopicArn")) {
    const json& type = obj["Type"];
    if (!type.is_string())
      return Malformed(absl::StrCat("SNS Type is a JSON ", type.type_name(), ", not a string"));
    if (type != "Notification") {
      return Unknown(absl::StrCat("SNS message of Type ", Quote(type.get_ref<const std::string&>()),
                                  " is not a notification"));
    }
    const auto message = obj.find("Message");
    if (message == obj.end() || !message->is_string())
      return Malformed("SNS notification has no Message string");
    AwsMessage inner =
        Classify(message->get_ref<const std::string&>(), "SNS Message", /*inside_sns=*/true);
    if (inner.kind != AwsMessageKind::kEvent && !absl::StartsWith(inner.reason, "SNS Message")) {
      inner.reason = absl::StrCat("SNS Message: ", inner.reason);
    }
    return inner;
  }
  if (obj.contains("detail-type")) return FromEventBridge(obj, raw);
  if (obj.contains("LifecycleTransition") || obj.contains("Event") ||
      obj.contains("EC2InstanceId") ||
      (obj.contains("Service") && obj["Service"] == "AWS Auto Scaling")) {
    return FromAutoScaling(obj, raw);
  }
  return Unknown(absl::StrCat(what,
                              " is neither an EventBridge event (no detail-type), an Auto Scaling ",
                              "lifecycle notification nor an SNS notification"));
}

bool IsJsonText(absl::string_view s) {
  return !absl::StartsWith(s, kUtf8Bom) && ParseStrictJson(s).ok();
}

}  // namespace

absl::string_view AwsMessageKindName(AwsMessageKind kind) {
  switch (kind) {
    case AwsMessageKind::kEvent:
      return "event";
    case AwsMessageKind::kTestNotification:
      return "test_notification";
    case AwsMessageKind::kUnknown:
      return "unknown";
    case AwsMessageKind::kMalformed:
      return "malformed";
  }
  return "malformed";
}

AwsMessage ParseAwsMessage(absl::string_view body) {
  // The code above checks every type before it reads a value, so nlohmann
  // should never throw; an allocation can. Either way the answer is
  // "malformed", never an exception into the poller.
  try {
    return Classify(body, "message body", /*inside_sns=*/false);
  } catch (const std::exception& e) {
    return Malformed(absl::StrCat("message could not be read: ", Printable(e.what())));
  } catch (...) {
    return Malformed("message could not be read");
  }
}

std::map<std::string, std::string> InstanceLabels(const aws::Ec2Instance& instance) {
  std::map<std::string, std::string> labels;
  const auto put = [&labels](const char* name, const std::string& value) {
    if (!value.empty() && TextProblem(value).empty()) labels[name] = value;
  };
  const auto tag = [&instance](const std::string& key) -> std::string {
    const auto it = instance.tags.find(key);
    return it == instance.tags.end() ? "" : it->second;
  };
  put("availability_zone", instance.availability_zone);
  put("instance_type", instance.instance_type);
  put("autoscaling_group", tag("aws:autoscaling:groupName"));

  std::string cluster = tag("eks:cluster-name");
  if (cluster.empty()) cluster = tag("aws:eks:cluster-name");
  if (cluster.empty()) {
    constexpr absl::string_view kPrefix = "kubernetes.io/cluster/";
    std::vector<std::string> all, owned;
    for (auto it = instance.tags.lower_bound(std::string(kPrefix));
         it != instance.tags.end() && absl::StartsWith(it->first, kPrefix); ++it) {
      std::string name = it->first.substr(kPrefix.size());
      if (name.empty()) continue;
      if (it->second == "owned") owned.push_back(name);
      all.push_back(std::move(name));
    }
    if (all.size() == 1) {
      cluster = all[0];
    } else if (owned.size() == 1) {
      cluster = owned[0];
    }
  }
  put("cluster_name", cluster);
  return labels;
}

EventPtr ToEngineEvent(const AwsEvent& event,
                       const std::map<std::string, std::string>& instance_labels,
                       absl::Time received) {
  auto e = std::make_shared<Event>();
  e->id = event.id;
  e->source = event.source;
  e->type = event.type;
  e->subject = event.subject;
  e->time = event.time;
  e->datacontenttype = "application/json";
  e->intake = IntakeSource::kSqs;
  e->received = received;
  e->status = AlertStatus::kFiring;

  // The message's labels win over the instance's: the message is what AWS
  // says of this very event (a lifecycle action must be completed for the
  // group and hook it names), while the description comes from a cache and
  // tags can be stale or edited (an instance detached from its group keeps
  // no aws:autoscaling:groupName, one being detached may still show it).
  std::map<std::string, std::string> merged = instance_labels;
  for (const auto& [name, value] : event.labels) merged[name] = value;
  e->labels.reserve(merged.size());
  for (auto& [name, value] : merged) {
    if (IsValidLabelName(name) && !value.empty() && TextProblem(value).empty()) {
      e->labels.emplace_back(name, value);  // std::map order: sorted, unique, as Labels requires
    }
  }

  std::string& data = e->data;
  data.reserve(event.raw.size() + 64 * e->labels.size() + 32);
  data += R"({"labels":{)";
  for (size_t i = 0; i < e->labels.size(); ++i) {
    if (i > 0) data += ',';
    AppendJsonString(data, e->labels[i].first);
    data += ':';
    AppendJsonString(data, e->labels[i].second);
  }
  data += R"(},"event":)";
  if (IsJsonText(event.raw)) {
    data += event.raw;
  } else if (simdjson::validate_utf8(event.raw.data(), event.raw.size())) {
    // Not what ParseAwsMessage makes; kept, as a string, so data stays JSON.
    AppendJsonString(data, event.raw);
  } else {
    data += "null";
  }
  data += '}';
  return e;
}

}  // namespace hollowtrees::engine
