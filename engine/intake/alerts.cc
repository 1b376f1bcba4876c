#include "engine/intake/alerts.h"

#include <algorithm>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "lib/common/rfc3339.h"
#include "simdjson.h"

namespace hollowtrees::engine {
namespace {

namespace dom = simdjson::dom;

absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// One DOM parser per thread: it keeps its buffers between requests.
dom::parser& ThreadParser() {
  thread_local dom::parser parser;
  return parser;
}

absl::StatusOr<dom::element> ParseJson(absl::string_view body) {
  dom::element root;
  const auto error = ThreadParser().parse(body.data(), body.size()).get(root);
  if (error) {
    return absl::InvalidArgumentError(
        absl::StrCat("body is not valid JSON: ", simdjson::error_message(error)));
  }
  return root;
}

// Reads an object of strings into sorted pairs; `what` names it in errors.
absl::Status ReadStringMap(dom::element value, absl::string_view what, bool label_names,
                           Labels* out) {
  dom::object obj;
  if (value.get_object().get(obj)) return absl::InvalidArgumentError(absl::StrCat(what, " must be an object of strings"));
  out->reserve(obj.size());
  for (auto field : obj) {
    std::string_view v;
    if (field.value.get_string().get(v)) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ".", Sv(field.key), " must be a string"));
    }
    if (label_names && !IsValidLabelName(Sv(field.key))) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": invalid label name \"", Sv(field.key), "\""));
    }
    if (label_names && v.empty()) continue;  // Prometheus: empty value == absent
    out->emplace_back(std::string(field.key), std::string(v));
  }
  std::sort(out->begin(), out->end());
  for (size_t i = 1; i < out->size(); ++i) {
    if ((*out)[i].first == (*out)[i - 1].first) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": duplicate name \"", (*out)[i].first, "\""));
    }
  }
  return absl::OkStatus();
}

absl::Status ReadTime(dom::element value, absl::string_view what, absl::Time* out) {
  std::string_view s;
  if (value.get_string().get(s)) return absl::InvalidArgumentError(absl::StrCat(what, " must be a string"));
  auto t = ParseRfc3339(Sv(s));
  if (!t.ok()) return absl::InvalidArgumentError(absl::StrCat(what, ": ", t.status().message()));
  *out = *t;
  return absl::OkStatus();
}

// The year-1 zero time Go and Alertmanager write for "not set".
bool IsZeroTime(absl::Time t) { return t < absl::FromUnixSeconds(-62135596800 + 1); }

// Parses one alert object. `webhook`: the element carries `status`.
absl::Status ParseAlert(dom::element element, bool webhook, absl::Time now, ParsedAlert* a) {
  dom::object obj;
  if (element.get_object().get(obj)) return absl::InvalidArgumentError("alert must be a JSON object");
  bool have_labels = false;
  std::string_view status_text;
  // The fields read here, each at most once: simdjson keeps duplicates, and
  // a second "labels" would be merged into the first, a second "startsAt"
  // would win silently.
  static constexpr std::string_view kOurs[] = {"labels",       "annotations", "startsAt",
                                               "endsAt",       "generatorURL", "status"};
  unsigned seen = 0;
  for (auto field : obj) {
    const std::string_view key = field.key;
    for (size_t i = 0; i < std::size(kOurs); ++i) {
      if (key != kOurs[i]) continue;
      if (seen & (1u << i)) {
        return absl::InvalidArgumentError(absl::StrCat("duplicate field \"", Sv(key), "\""));
      }
      seen |= 1u << i;
    }
    if (key == "labels") {
      have_labels = true;
      if (absl::Status s = ReadStringMap(field.value, "labels", true, &a->labels); !s.ok()) return s;
    } else if (key == "annotations") {
      if (field.value.is_null()) continue;
      if (absl::Status s = ReadStringMap(field.value, "annotations", false, &a->annotations); !s.ok()) return s;
    } else if (key == "startsAt") {
      if (absl::Status s = ReadTime(field.value, "startsAt", &a->starts_at); !s.ok()) return s;
    } else if (key == "endsAt") {
      if (absl::Status s = ReadTime(field.value, "endsAt", &a->ends_at); !s.ok()) return s;
    } else if (key == "generatorURL") {
      std::string_view url;
      if (field.value.get_string().get(url)) return absl::InvalidArgumentError("generatorURL must be a string");
      a->generator_url = std::string(url);
    } else if (key == "status" && webhook) {
      if (field.value.get_string().get(status_text)) return absl::InvalidArgumentError("status must be a string");
    }
    // Other fields (fingerprint, updatedAt, receivers, ...) are not ours to check.
  }
  if (!have_labels) return absl::InvalidArgumentError("alert has no labels");
  if (FindLabel(a->labels, "alertname") == nullptr) {
    return absl::InvalidArgumentError("alert has no alertname label");
  }
  if (a->starts_at != absl::InfinitePast() && IsZeroTime(a->starts_at)) a->starts_at = absl::InfinitePast();
  if (a->ends_at != absl::InfinitePast() && IsZeroTime(a->ends_at)) a->ends_at = absl::InfinitePast();
  if (webhook) {
    if (status_text == "resolved") {
      a->status = AlertStatus::kResolved;
    } else if (status_text == "firing") {
      a->status = AlertStatus::kFiring;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("status must be \"firing\" or \"resolved\", not \"", Sv(status_text), "\""));
    }
  } else {
    a->status = (a->ends_at != absl::InfinitePast() && a->ends_at <= now) ? AlertStatus::kResolved
                                                                          : AlertStatus::kFiring;
  }
  a->fingerprint = Fingerprint(a->labels);
  a->id = FingerprintHex(a->fingerprint);
  if (a->starts_at != absl::InfinitePast()) {
    absl::StrAppend(&a->id, "-", absl::ToUnixMillis(a->starts_at));
  }
  if (a->status == AlertStatus::kResolved) a->id += "-resolved";
  return absl::OkStatus();
}

// The limits of one parsed alert.
absl::Status CheckAlertLimits(const ParsedAlert& a, const EventLimits& limits) {
  if (absl::Status s = CheckLabelLimits(a.labels, "labels", limits); !s.ok()) return s;
  if (absl::Status s = CheckLabelLimits(a.annotations, "annotations", limits); !s.ok()) return s;
  return CheckAttributeLimit("generatorURL", a.generator_url, limits);
}

absl::StatusOr<AlertBatch> ParseAlertArray(dom::array array, bool webhook, absl::Time now,
                                           const EventLimits& limits) {
  AlertBatch batch;
  batch.alerts.reserve(array.size());
  int index = 0;
  for (dom::element element : array) {
    ParsedAlert alert;
    absl::Status s = ParseAlert(element, webhook, now, &alert);
    if (s.ok()) s = CheckAlertLimits(alert, limits);
    if (!s.ok()) {
      batch.rejected.push_back({index, std::string(s.message())});
    } else {
      batch.alerts.push_back(std::move(alert));
    }
    ++index;
  }
  return batch;
}

}  // namespace

absl::StatusOr<AlertBatch> ParsePrometheusAlerts(absl::string_view body, absl::Time now,
                                                 const EventLimits& limits) {
  auto root = ParseJson(body);
  if (!root.ok()) return root.status();
  dom::array array;
  if (root->get_array().get(array)) {
    return absl::InvalidArgumentError("body must be a JSON array of alerts");
  }
  return ParseAlertArray(array, /*webhook=*/false, now, limits);
}

absl::StatusOr<AlertBatch> ParseAlertmanagerWebhook(absl::string_view body, absl::Time now,
                                                    const EventLimits& limits) {
  auto root = ParseJson(body);
  if (!root.ok()) return root.status();
  dom::object obj;
  if (root->get_object().get(obj)) {
    return absl::InvalidArgumentError("body must be an Alertmanager webhook object");
  }
  // obj["x"] finds the first of duplicate keys: refuse them instead.
  int versions = 0, alert_arrays = 0;
  for (auto field : obj) {
    versions += field.key == "version";
    alert_arrays += field.key == "alerts";
  }
  if (versions > 1 || alert_arrays > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("duplicate field \"", versions > 1 ? "version" : "alerts", "\""));
  }
  std::string_view version;
  if (obj["version"].get_string().get(version)) {
    return absl::InvalidArgumentError("webhook body has no \"version\" string");
  }
  if (version != "4") {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported webhook version \"", Sv(version), "\" (want \"4\")"));
  }
  dom::array alerts;
  if (obj["alerts"].get_array().get(alerts)) {
    return absl::InvalidArgumentError("webhook body has no \"alerts\" array");
  }
  auto batch = ParseAlertArray(alerts, /*webhook=*/true, now, limits);
  if (!batch.ok()) return batch;
  std::string_view external;
  if (!obj["externalURL"].get_string().get(external)) batch->external_url = std::string(external);
  return batch;
}

EventPtr AlertToEvent(ParsedAlert alert, IntakeSource intake, absl::string_view fallback_source,
                      absl::Time received) {
  auto e = std::make_shared<Event>();
  const std::string* name = FindLabel(alert.labels, "alertname");
  e->type = absl::StrCat("prometheus.server.alert.", name != nullptr ? *name : "");
  e->id = std::move(alert.id);
  e->source = alert.generator_url.empty() ? std::string(fallback_source) : alert.generator_url;
  e->time = alert.starts_at != absl::InfinitePast() ? alert.starts_at : received;
  e->datacontenttype = "application/json";
  e->status = alert.status;
  e->intake = intake;
  e->received = received;
  e->labels = std::move(alert.labels);
  // `data` is rendered from these when needed (Event::Data()).
  e->alert = AlertDetails{std::move(alert.annotations), alert.starts_at, alert.ends_at,
                          std::move(alert.generator_url), alert.fingerprint};
  return e;
}

}  // namespace hollowtrees::engine
