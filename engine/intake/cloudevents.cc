#include "engine/intake/cloudevents.h"

#include <algorithm>
#include <string>
#include <unordered_set>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/common/rfc3339.h"
#include "lib/common/strict_json.h"
#include "nlohmann/json.hpp"
#include "simdjson.h"

namespace hollowtrees::engine {
namespace {

using nlohmann::json;

bool IsJsonContentType(absl::string_view ct) {
  if (ct.empty()) return true;  // the JSON format's default
  const std::string lower = absl::AsciiStrToLower(ct);
  const absl::string_view media = absl::string_view(lower).substr(0, lower.find(';'));
  return media == "application/json" || media == "text/json" || absl::EndsWith(media, "+json");
}

// Labels and status for matching, from data.labels / data.status when the
// data is a JSON object (the exporter's direct push looks like an alert).
void ExtractMatchFields(const json& data, Event* e) {
  if (!data.is_object()) return;
  auto labels = data.find("labels");
  if (labels != data.end() && labels->is_object()) {
    for (auto& [k, v] : labels->items()) {
      if (v.is_string() && !v.get_ref<const std::string&>().empty()) {
        e->labels.emplace_back(k, v.get<std::string>());
      }
    }
    std::sort(e->labels.begin(), e->labels.end());
  }
  auto status = data.find("status");
  if (status != data.end() && status->is_string() && *status == "resolved") {
    e->status = AlertStatus::kResolved;
  }
}

// CloudEvents 1.0, type String: U+0000-U+001F and U+007F-U+009F are
// disallowed in attribute values (a NUL in an id would also cut it short in
// C APIs downstream).
absl::Status CheckAttributeText(absl::string_view name, absl::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    const bool c1 = c == 0xC2 && i + 1 < text.size() &&
                    static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
                    static_cast<unsigned char>(text[i + 1]) <= 0x9F;
    if (c < 0x20 || c == 0x7F || c1) {
      return absl::InvalidArgumentError(absl::StrCat("attribute \"", name,
                                                     "\" contains a control character at byte ", i));
    }
  }
  return absl::OkStatus();
}

// The limits of a parsed event: its attributes and data.labels.
absl::Status CheckEventLimits(const Event& e, const EventLimits& limits) {
  for (const auto& [name, value] :
       {std::pair<const char*, const std::string*>{"id", &e.id}, {"source", &e.source},
        {"type", &e.type}, {"subject", &e.subject}, {"dataschema", &e.dataschema}}) {
    if (absl::Status s = CheckAttributeLimit(name, *value, limits); !s.ok()) return s;
  }
  for (const auto& [name, value] : e.extensions) {
    if (absl::Status s = CheckAttributeLimit(name, value, limits); !s.ok()) return s;
  }
  return CheckLabelLimits(e.labels, "data.labels", limits);
}

absl::Status CheckRequired(const Event& e) {
  if (e.id.empty()) return absl::InvalidArgumentError("missing required attribute \"id\"");
  if (e.source.empty()) return absl::InvalidArgumentError("missing required attribute \"source\"");
  if (e.type.empty()) return absl::InvalidArgumentError("missing required attribute \"type\"");
  return absl::OkStatus();
}

absl::StatusOr<EventPtr> FromJsonObject(const json& obj, absl::Time received,
                                         const EventLimits& limits) {
  if (!obj.is_object()) return absl::InvalidArgumentError("event must be a JSON object");
  auto e = std::make_shared<Event>();
  e->intake = IntakeSource::kCloudEvents;
  e->received = received;
  const json* data = nullptr;
  const json* data_base64 = nullptr;
  bool have_specversion = false;
  for (auto& [key, value] : obj.items()) {
    if (key == "data") {
      data = &value;
      continue;
    }
    if (key == "data_base64") {
      data_base64 = &value;
      continue;
    }
    if (!IsValidAttributeName(key)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid attribute name \"", key, "\" (lower-case a-z and 0-9, at most 20 characters)"));
    }
    if (key == "specversion") {
      if (!value.is_string() || value != "1.0") {
        return absl::InvalidArgumentError(
            absl::StrCat("unsupported specversion ", value.dump(), " (want \"1.0\")"));
      }
      have_specversion = true;
      continue;
    }
    std::string text;
    if (value.is_string()) {
      text = value.get<std::string>();
    } else if (value.is_boolean() || value.is_number_integer()) {
      text = value.dump();
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("attribute \"", key, "\" must be a string, integer or boolean"));
    }
    if (absl::Status s = CheckAttributeText(key, text); !s.ok()) return s;
    if (key == "id") {
      e->id = std::move(text);
    } else if (key == "source") {
      e->source = std::move(text);
    } else if (key == "type") {
      e->type = std::move(text);
    } else if (key == "subject") {
      e->subject = std::move(text);
    } else if (key == "datacontenttype") {
      e->datacontenttype = std::move(text);
    } else if (key == "dataschema") {
      e->dataschema = std::move(text);
    } else if (key == "time") {
      auto t = ParseRfc3339(text);
      if (!t.ok()) return absl::InvalidArgumentError(absl::StrCat("time: ", t.status().message()));
      e->time = *t;
    } else {
      e->extensions.emplace_back(key, std::move(text));
    }
  }
  if (!have_specversion) return absl::InvalidArgumentError("missing required attribute \"specversion\"");
  if (absl::Status s = CheckRequired(*e); !s.ok()) return s;
  if (data != nullptr && data_base64 != nullptr) {
    return absl::InvalidArgumentError("an event may not have both \"data\" and \"data_base64\"");
  }
  if (data_base64 != nullptr) {
    if (!data_base64->is_string()) return absl::InvalidArgumentError("data_base64 must be a string");
    std::string decoded;
    if (!absl::Base64Unescape(data_base64->get<std::string>(), &decoded)) {
      return absl::InvalidArgumentError("data_base64 is not valid base64");
    }
    e->data = std::move(decoded);
    e->data_is_binary = true;
  } else if (data != nullptr) {
    if (IsJsonContentType(e->datacontenttype)) {
      e->data = data->dump();
      ExtractMatchFields(*data, e.get());
    } else if (data->is_string()) {
      e->data = data->get<std::string>();
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("data must be a string for datacontenttype \"", e->datacontenttype, "\""));
    }
  }
  std::sort(e->extensions.begin(), e->extensions.end());
  if (absl::Status s = CheckEventLimits(*e, limits); !s.ok()) return s;
  return EventPtr(std::move(e));
}

absl::StatusOr<json> ParseJsonBody(absl::string_view body) {
  // The strict parse (NUL bytes, depth, duplicate keys: lib/common/strict_json.h),
  // after a fast UTF-8 check whose message says so.
  if (body.find('\0') == absl::string_view::npos &&
      !simdjson::validate_utf8(body.data(), body.size())) {
    return absl::InvalidArgumentError("body is not valid JSON (not UTF-8)");
  }
  return ParseStrictJson(body);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

absl::StatusOr<std::string> PercentDecode(absl::string_view s, absl::string_view header) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size() || HexValue(s[i + 1]) < 0 || HexValue(s[i + 2]) < 0) {
      return absl::InvalidArgumentError(absl::StrCat("header ", header, ": bad percent-encoding"));
    }
    out += static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2]));
    i += 2;
  }
  // Attribute values are strings (Unicode): invalid UTF-8 could not travel
  // to a plugin in the protobuf format (found by fuzzing).
  if (!simdjson::validate_utf8(out.data(), out.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("header ", header, ": not valid UTF-8 after percent-decoding"));
  }
  return out;
}

}  // namespace

bool IsValidAttributeName(absl::string_view name) {
  if (name.empty() || name.size() > 20) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); });
}

CloudEventsMode ModeForContentType(absl::string_view content_type) {
  const std::string lower = absl::AsciiStrToLower(content_type);
  if (absl::StartsWith(lower, "application/cloudevents-batch")) return CloudEventsMode::kBatch;
  if (absl::StartsWith(lower, "application/cloudevents")) return CloudEventsMode::kStructured;
  return CloudEventsMode::kBinary;
}

absl::StatusOr<EventPtr> ParseStructuredCloudEvent(absl::string_view body, absl::Time received,
                                                   const EventLimits& limits) {
  auto parsed = ParseJsonBody(body);
  if (!parsed.ok()) return parsed.status();
  return FromJsonObject(*parsed, received, limits);
}

absl::StatusOr<CloudEventBatch> ParseCloudEventBatch(absl::string_view body, absl::Time received,
                                                     const EventLimits& limits) {
  auto parsed = ParseJsonBody(body);
  if (!parsed.ok()) return parsed.status();
  if (!parsed->is_array()) return absl::InvalidArgumentError("a batch must be a JSON array of events");
  CloudEventBatch batch;
  int index = 0;
  for (const json& item : *parsed) {
    auto e = FromJsonObject(item, received, limits);
    if (e.ok()) {
      batch.events.push_back(*std::move(e));
    } else {
      batch.rejected.push_back({index, std::string(e.status().message())});
    }
    ++index;
  }
  return batch;
}

absl::StatusOr<EventPtr> ParseBinaryCloudEvent(
    const std::vector<std::pair<std::string, std::string>>& headers,
    absl::string_view content_type, absl::string_view body, absl::Time received,
    const EventLimits& limits) {
  auto e = std::make_shared<Event>();
  e->intake = IntakeSource::kCloudEvents;
  e->received = received;
  bool have_specversion = false;
  std::unordered_set<std::string> seen;
  for (const auto& [raw_name, raw_value] : headers) {
    const std::string name = absl::AsciiStrToLower(raw_name);
    if (!absl::StartsWith(name, "ce-")) continue;
    const std::string attr = name.substr(3);
    if (!IsValidAttributeName(attr)) {
      return absl::InvalidArgumentError(absl::StrCat("header ", raw_name, ": invalid attribute name \"",
                                                     attr, "\""));
    }
    // Two headers for one attribute: which one is meant is anyone's guess.
    if (!seen.insert(attr).second) {
      return absl::InvalidArgumentError(absl::StrCat("duplicate header ", raw_name));
    }
    auto value = PercentDecode(raw_value, raw_name);
    if (!value.ok()) return value.status();
    if (absl::Status s = CheckAttributeText(attr, *value); !s.ok()) return s;
    if (attr == "specversion") {
      if (*value != "1.0") {
        return absl::InvalidArgumentError(
            absl::StrCat("unsupported specversion \"", *value, "\" (want \"1.0\")"));
      }
      have_specversion = true;
    } else if (attr == "id") {
      e->id = *std::move(value);
    } else if (attr == "source") {
      e->source = *std::move(value);
    } else if (attr == "type") {
      e->type = *std::move(value);
    } else if (attr == "subject") {
      e->subject = *std::move(value);
    } else if (attr == "dataschema") {
      e->dataschema = *std::move(value);
    } else if (attr == "datacontenttype") {
      return absl::InvalidArgumentError(
          "binary mode carries datacontenttype in Content-Type, not ce-datacontenttype");
    } else if (attr == "time") {
      auto t = ParseRfc3339(*value);
      if (!t.ok()) return absl::InvalidArgumentError(absl::StrCat("ce-time: ", t.status().message()));
      e->time = *t;
    } else {
      e->extensions.emplace_back(attr, *std::move(value));
    }
  }
  if (!have_specversion) return absl::InvalidArgumentError("missing required header ce-specversion");
  if (absl::Status s = CheckRequired(*e); !s.ok()) return s;
  if (!simdjson::validate_utf8(content_type.data(), content_type.size())) {
    return absl::InvalidArgumentError("Content-Type is not valid UTF-8");
  }
  e->datacontenttype = std::string(content_type);
  e->data = std::string(body);
  if (IsJsonContentType(content_type)) {
    if (!body.empty()) {
      auto parsed = ParseJsonBody(body);
      if (!parsed.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("body is not valid JSON but Content-Type is \"", content_type, "\""));
      }
      ExtractMatchFields(*parsed, e.get());
    }
  } else {
    // Text that is not UTF-8 travels as bytes (protobuf text_data is a string).
    e->data_is_binary = !absl::StartsWith(absl::AsciiStrToLower(content_type), "text/") ||
                        !simdjson::validate_utf8(body.data(), body.size());
  }
  std::sort(e->extensions.begin(), e->extensions.end());
  if (absl::Status s = CheckEventLimits(*e, limits); !s.ok()) return s;
  return EventPtr(std::move(e));
}

}  // namespace hollowtrees::engine
