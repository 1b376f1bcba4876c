#include "engine/event/event.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/escaping.h"
#include "lib/common/json_int.h"
#include "lib/common/rfc3339.h"
#include "nlohmann/json.hpp"

namespace hollowtrees::engine {

absl::string_view IntakeSourceName(IntakeSource source) {
  switch (source) {
    case IntakeSource::kPrometheus: return "prometheus";
    case IntakeSource::kAlertmanager: return "alertmanager";
    case IntakeSource::kCloudEvents: return "cloudevents";
    case IntakeSource::kReplay: return "replay";
    case IntakeSource::kSqs: return "sqs";
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

namespace {

void AppendPairs(std::string& out, const Labels& pairs) {
  out += '{';
  for (size_t i = 0; i < pairs.size(); ++i) {
    if (i > 0) out += ',';
    AppendJsonString(out, pairs[i].first);
    out += ':';
    AppendJsonString(out, pairs[i].second);
  }
  out += '}';
}

void AppendTime(std::string& out, absl::Time t) {
  if (t == absl::InfinitePast()) {
    out += "\"\"";
  } else {
    AppendJsonString(out, FormatRfc3339(t));
  }
}

}  // namespace

std::string Event::Data() const {
  if (!alert) return data;
  std::string out;
  out.reserve(256);
  out += status == AlertStatus::kResolved ? R"({"status":"resolved","labels":)"
                                          : R"({"status":"firing","labels":)";
  AppendPairs(out, labels);
  out += R"(,"annotations":)";
  AppendPairs(out, alert->annotations);
  out += R"(,"startsAt":)";
  AppendTime(out, alert->starts_at);
  out += R"(,"endsAt":)";
  AppendTime(out, alert->ends_at);
  out += R"(,"generatorURL":)";
  AppendJsonString(out, alert->generator_url);
  out += R"(,"fingerprint":")";
  out += FingerprintHex(alert->fingerprint);
  out += "\"}";
  return out;
}

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
    // Whole seconds (floored) and the nanoseconds past them: exact for any
    // year. (Unix nanoseconds saturate outside 1678..2262; fuzzing found
    // startsAt 1012-01-01 overflowing the old arithmetic.)
    const int64_t seconds = absl::ToUnixSeconds(time);
    ts->set_seconds(seconds);
    ts->set_nanos(static_cast<int32_t>(
        absl::ToInt64Nanoseconds(time - absl::FromUnixSeconds(seconds))));
  }
  for (const auto& [k, v] : extensions) attrs[k].set_ce_string(v);
  std::string d = Data();
  if (!d.empty()) {
    if (data_is_binary) {
      ce.set_binary_data(std::move(d));
    } else {
      ce.set_text_data(std::move(d));
    }
  }
  return ce;
}

namespace {

// [["name","value"],...]
void AppendPairArray(std::string& out, const Labels& pairs) {
  out += '[';
  for (size_t i = 0; i < pairs.size(); ++i) {
    if (i > 0) out += ',';
    out += '[';
    AppendJsonString(out, pairs[i].first);
    out += ',';
    AppendJsonString(out, pairs[i].second);
    out += ']';
  }
  out += ']';
}

}  // namespace

std::string EventToJson(const Event& e) {
  // Hand-written: the journal writes one per accepted event, and its size is
  // written three times (WAL, checkpoint, page cache): optional attributes
  // only when set, an alert's labels once, its generatorURL only when it is
  // not the source.
  std::string out;
  out.reserve(512);
  out += R"({"id":)";
  AppendJsonString(out, e.id);
  out += R"(,"source":)";
  AppendJsonString(out, e.source);
  out += R"(,"type":)";
  AppendJsonString(out, e.type);
  for (const auto& [name, value] : {std::pair<const char*, const std::string*>{"subject", &e.subject},
                                    {"datacontenttype", &e.datacontenttype},
                                    {"dataschema", &e.dataschema}}) {
    if (value->empty()) continue;
    absl::StrAppend(&out, ",\"", name, "\":");
    AppendJsonString(out, *value);
  }
  out += R"(,"time_ns":)";
  out += e.time == absl::InfinitePast() ? "null" : std::to_string(absl::ToUnixNanos(e.time));
  if (!e.extensions.empty()) {
    out += R"(,"extensions":)";
    AppendPairArray(out, e.extensions);
  }
  if (e.alert) {
    const AlertDetails& a = *e.alert;
    out += R"(,"alert":{"annotations":)";
    AppendPairArray(out, a.annotations);
    out += R"(,"startsAt":)";
    AppendTime(out, a.starts_at);
    out += R"(,"endsAt":)";
    AppendTime(out, a.ends_at);
    if (a.generator_url != e.source) {
      out += R"(,"url":)";
      AppendJsonString(out, a.generator_url);
    }
    out += R"(,"fp":")";
    out += FingerprintHex(a.fingerprint);
    out += "\"}";
  } else if (e.data_is_binary) {
    out += R"(,"data_b64":)";
    AppendJsonString(out, absl::Base64Escape(e.data));
  } else {
    out += R"(,"data":)";
    AppendJsonString(out, e.data);
  }
  out += R"(,"labels":)";
  AppendPairArray(out, e.labels);
  out += R"(,"resolved":)";
  out += e.status == AlertStatus::kResolved ? "true" : "false";
  out += R"(,"intake":)";
  out += std::to_string(static_cast<int>(e.intake));
  out += R"(,"received_ns":)";
  out += std::to_string(absl::ToUnixNanos(e.received));
  out += '}';
  return out;
}

namespace {

absl::Status ReadAlertTimes(const nlohmann::json& d, AlertDetails& a) {
  for (const char* field : {"startsAt", "endsAt"}) {
    const std::string text = d.at(field).get<std::string>();
    if (text.empty()) continue;
    auto t = ParseRfc3339(text);
    if (!t.ok()) return t.status();
    (std::string(field) == "startsAt" ? a.starts_at : a.ends_at) = *t;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<EventPtr> EventFromJson(absl::string_view text) {
  nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (!j.is_object()) return absl::InvalidArgumentError("journal event is not a JSON object");
  try {
    auto e = std::make_shared<Event>();
    e->id = j.at("id").get<std::string>();
    e->source = j.at("source").get<std::string>();
    e->type = j.at("type").get<std::string>();
    e->subject = j.value("subject", "");
    e->datacontenttype = j.value("datacontenttype", "");
    e->dataschema = j.value("dataschema", "");
    if (!j.at("time_ns").is_null()) e->time = absl::FromUnixNanos(JsonInteger<int64_t>(j.at("time_ns")));
    if (j.contains("extensions")) {
      e->extensions = j.at("extensions").get<std::vector<std::pair<std::string, std::string>>>();
    }
    if (j.contains("alert")) {
      const auto& d = j.at("alert");
      AlertDetails a;
      a.annotations = d.at("annotations").get<Labels>();
      if (absl::Status s = ReadAlertTimes(d, a); !s.ok()) return s;
      a.generator_url = d.contains("url") ? d.at("url").get<std::string>() : e->source;
      a.fingerprint = std::stoull(d.at("fp").get<std::string>(), nullptr, 16);
      e->alert = std::move(a);
    } else if (j.contains("data_json")) {
      // The first form of an alert (0.1.0 journals): its rendered data.
      const auto& d = j.at("data_json");
      AlertDetails a;
      for (const auto& [k, v] : d.at("annotations").items()) a.annotations.emplace_back(k, v.get<std::string>());
      if (absl::Status s = ReadAlertTimes(d, a); !s.ok()) return s;
      a.generator_url = d.at("generatorURL").get<std::string>();
      a.fingerprint = std::stoull(d.at("fingerprint").get<std::string>(), nullptr, 16);
      e->alert = std::move(a);
    } else if (j.contains("data_b64")) {
      if (!absl::Base64Unescape(j.at("data_b64").get<std::string>(), &e->data)) {
        return absl::InvalidArgumentError("journal event data is not base64");
      }
      e->data_is_binary = true;
    } else {
      e->data = j.at("data").get<std::string>();
    }
    e->labels = j.at("labels").get<Labels>();
    e->status = j.at("resolved").get<bool>() ? AlertStatus::kResolved : AlertStatus::kFiring;
    const int intake = JsonInteger<int>(j.at("intake"));
    if (intake < 0 || intake > static_cast<int>(IntakeSource::kSqs)) {
      return absl::InvalidArgumentError("journal event has an unknown intake");
    }
    e->intake = static_cast<IntakeSource>(intake);
    e->received = absl::FromUnixNanos(JsonInteger<int64_t>(j.at("received_ns")));
    return EventPtr(std::move(e));
  } catch (const std::exception& ex) {  // nlohmann and std::stoull
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

bool IsValidLabelName(absl::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                    (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

}  // namespace hollowtrees::engine
