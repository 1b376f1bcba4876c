#include "engine/event.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/escaping.h"
#include "engine/rfc3339.h"
#include "nlohmann/json.hpp"

namespace hollowtrees::engine {

absl::string_view IntakeSourceName(IntakeSource source) {
  switch (source) {
    case IntakeSource::kPrometheus: return "prometheus";
    case IntakeSource::kAlertmanager: return "alertmanager";
    case IntakeSource::kCloudEvents: return "cloudevents";
    case IntakeSource::kReplay: return "replay";
  }
  return "unknown";
}

const std::string* FindLabel(const Labels& labels, absl::string_view name) {
  auto it = std::lower_bound(labels.begin(), labels.end(), name,
                             [](const auto& l, absl::string_view n) { return l.first < n; });
  if (it == labels.end() || it->first != name) return nullptr;
  return &it->second;
}

std::string Event::DedupKey() const { return absl::StrCat(source, "\n", id); }

io::cloudevents::v1::CloudEvent Event::ToProto() const {
  io::cloudevents::v1::CloudEvent ce;
  ce.set_id(id);
  ce.set_source(source);
  ce.set_spec_version("1.0");
  ce.set_type(type);
  auto& attrs = *ce.mutable_attributes();
  if (!datacontenttype.empty()) attrs["datacontenttype"].set_ce_string(datacontenttype);
  if (!dataschema.empty()) attrs["dataschema"].set_ce_uri(dataschema);
  if (!subject.empty()) attrs["subject"].set_ce_string(subject);
  if (time != absl::InfinitePast()) {
    auto* ts = attrs["time"].mutable_ce_timestamp();
    const int64_t ns = absl::ToUnixNanos(time);
    ts->set_seconds(ns >= 0 ? ns / 1000000000 : (ns - 999999999) / 1000000000);
    ts->set_nanos(static_cast<int32_t>(ns - ts->seconds() * 1000000000));
  }
  for (const auto& [k, v] : extensions) attrs[k].set_ce_string(v);
  if (!data.empty()) {
    if (data_is_binary) {
      ce.set_binary_data(data);
    } else {
      ce.set_text_data(data);
    }
  }
  return ce;
}

std::string EventToJson(const Event& e) {
  nlohmann::json j = {
      {"id", e.id},
      {"source", e.source},
      {"type", e.type},
      {"subject", e.subject},
      {"datacontenttype", e.datacontenttype},
      {"dataschema", e.dataschema},
      {"time_ns", e.time == absl::InfinitePast() ? nlohmann::json(nullptr)
                                                 : nlohmann::json(absl::ToUnixNanos(e.time))},
      {"extensions", e.extensions},
      {"data_b64", absl::Base64Escape(e.data)},
      {"data_is_binary", e.data_is_binary},
      {"labels", e.labels},
      {"resolved", e.status == AlertStatus::kResolved},
      {"intake", static_cast<int>(e.intake)},
      {"received_ns", absl::ToUnixNanos(e.received)},
  };
  return j.dump();
}

absl::StatusOr<EventPtr> EventFromJson(absl::string_view text) {
  nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (!j.is_object()) return absl::InvalidArgumentError("journal event is not a JSON object");
  try {
    auto e = std::make_shared<Event>();
    e->id = j.at("id").get<std::string>();
    e->source = j.at("source").get<std::string>();
    e->type = j.at("type").get<std::string>();
    e->subject = j.at("subject").get<std::string>();
    e->datacontenttype = j.at("datacontenttype").get<std::string>();
    e->dataschema = j.at("dataschema").get<std::string>();
    if (!j.at("time_ns").is_null()) e->time = absl::FromUnixNanos(j.at("time_ns").get<int64_t>());
    e->extensions = j.at("extensions").get<std::vector<std::pair<std::string, std::string>>>();
    if (!absl::Base64Unescape(j.at("data_b64").get<std::string>(), &e->data)) {
      return absl::InvalidArgumentError("journal event data is not base64");
    }
    e->data_is_binary = j.at("data_is_binary").get<bool>();
    e->labels = j.at("labels").get<Labels>();
    e->status = j.at("resolved").get<bool>() ? AlertStatus::kResolved : AlertStatus::kFiring;
    const int intake = j.at("intake").get<int>();
    if (intake < 0 || intake > static_cast<int>(IntakeSource::kReplay)) {
      return absl::InvalidArgumentError("journal event has an unknown intake");
    }
    e->intake = static_cast<IntakeSource>(intake);
    e->received = absl::FromUnixNanos(j.at("received_ns").get<int64_t>());
    return EventPtr(std::move(e));
  } catch (const nlohmann::json::exception& ex) {
    return absl::InvalidArgumentError(absl::StrCat("journal event: ", ex.what()));
  }
}

uint64_t Fnv1a(uint64_t hash, absl::string_view data) {
  for (unsigned char c : data) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  return hash;
}

uint64_t Fingerprint(const Labels& labels) {
  static constexpr char kSep[1] = {static_cast<char>(0xff)};
  uint64_t h = kFnvOffset;
  for (const auto& [name, value] : labels) {
    h = Fnv1a(h, name);
    h = Fnv1a(h, absl::string_view(kSep, 1));
    h = Fnv1a(h, value);
    h = Fnv1a(h, absl::string_view(kSep, 1));
  }
  return h;
}

std::string FingerprintHex(uint64_t fp) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, fp >>= 4) out[i] = kHex[fp & 0xf];
  return out;
}

}  // namespace hollowtrees::engine
