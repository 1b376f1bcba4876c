#include "plugins/sdk/plugin.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"

namespace hollowtrees::plugin {

std::string Request::Label(absl::string_view name) const {
  auto it = labels.find(std::string(name));
  return it == labels.end() ? "" : it->second;
}

std::string Request::ParamString(absl::string_view key, absl::string_view def) const {
  auto it = params.find(key);
  if (it == params.end()) return std::string(def);
  if (it->is_string()) return it->get<std::string>();
  if (it->is_boolean() || it->is_number()) return it->dump();
  return std::string(def);
}

bool Request::ParamBool(absl::string_view key, bool def) const {
  auto it = params.find(key);
  if (it == params.end()) return def;
  if (it->is_boolean()) return it->get<bool>();
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    if (s == "true") return true;
    if (s == "false") return false;
  }
  return def;
}

double Request::ParamNumber(absl::string_view key, double def) const {
  auto it = params.find(key);
  if (it == params.end()) return def;
  if (it->is_number()) return it->get<double>();
  if (it->is_string()) {
    try {
      return std::stod(it->get<std::string>());
    } catch (...) {
      return def;
    }
  }
  return def;
}

Result Result::Done(std::string message) {
  return {hollowtrees::plugin::v1::HandleResponse::OUTCOME_DONE, std::move(message)};
}
Result Result::Skipped(std::string message) {
  return {hollowtrees::plugin::v1::HandleResponse::OUTCOME_SKIPPED, std::move(message)};
}
Result Result::Retry(std::string message, absl::Duration after) {
  return {hollowtrees::plugin::v1::HandleResponse::OUTCOME_RETRY, std::move(message), after};
}
Result Result::Failed(std::string message) {
  return {hollowtrees::plugin::v1::HandleResponse::OUTCOME_FAILED, std::move(message)};
}

Result Result::FromStatus(const absl::Status& status, absl::string_view prefix,
                          absl::Duration retry_after) {
  std::string msg = absl::StrCat(prefix, status.message());
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kUnknown:
      return Retry(std::move(msg), retry_after);
    default:
      return Failed(std::move(msg));
  }
}

Request DecodeRequest(const hollowtrees::plugin::v1::HandleRequest& raw) {
  Request r;
  r.raw = &raw;
  r.event_id = raw.event().id();
  r.event_type = raw.event().type();
  r.event_source = raw.event().source();
  // The engine sends `time` as a timestamp; other senders may send text.
  if (auto t = raw.event().attributes().find("time"); t != raw.event().attributes().end()) {
    if (t->second.has_ce_timestamp()) {
      r.event_time = absl::FromUnixSeconds(t->second.ce_timestamp().seconds()) +
                     absl::Nanoseconds(t->second.ce_timestamp().nanos());
    } else if (t->second.has_ce_string()) {
      absl::Time parsed;
      std::string error;
      if (absl::ParseTime(absl::RFC3339_full, t->second.ce_string(), &parsed, &error)) {
        r.event_time = parsed;
      }
    }
  }
  r.rule = raw.rule();
  r.flow_id = raw.flow_id();
  r.attempt = raw.attempt();
  const std::string& text = raw.event().has_text_data() ? raw.event().text_data()
                                                        : raw.event().binary_data();
  r.data = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (r.data.is_discarded()) r.data = nullptr;
  if (r.data.is_object()) {
    auto labels = r.data.find("labels");
    if (labels != r.data.end() && labels->is_object()) {
      for (auto& [k, v] : labels->items()) {
        if (v.is_string()) r.labels[k] = v.get<std::string>();
      }
    }
    auto status = r.data.find("status");
    if (status != r.data.end() && status->is_string()) r.status = status->get<std::string>();
  }
  if (raw.has_params()) {
    std::string json;
    if (google::protobuf::util::MessageToJsonString(raw.params(), &json).ok()) {
      r.params = nlohmann::json::parse(json, nullptr, false);
      if (!r.params.is_object()) r.params = nlohmann::json::object();
    }
  }
  return r;
}

}  // namespace hollowtrees::plugin
