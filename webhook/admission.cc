#include "webhook/admission.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "lib/common/logging.h"
#include "lib/common/strict_json.h"

namespace hollowtrees::webhook {

using nlohmann::json;

absl::StatusOr<int> ParsePercentage(absl::string_view text) {
  absl::string_view t = absl::StripAsciiWhitespace(text);
  int v = 0;
  bool digits = !t.empty();
  for (char c : t) digits = digits && absl::ascii_isdigit(static_cast<unsigned char>(c));
  if (!digits || t.size() > 3 || !absl::SimpleAtoi(t, &v) || v < 0 || v > 100) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\" is not an on-demand percentage (an integer from 0 to 100)"));
  }
  return v;
}

std::string EscapeJsonPointer(absl::string_view token) {
  std::string out;
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Admitter::Admitter(ShareSource& source, AdmissionOptions options,
                   std::shared_ptr<spdlog::logger> logger)
    : source_(source), options_(std::move(options)), logger_(std::move(logger)) {}

namespace {

const json* Member(const json& obj, const char* name) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string StringMember(const json& obj, const char* name) {
  const json* m = Member(obj, name);
  return m != nullptr && m->is_string() ? m->get<std::string>() : "";
}

}  // namespace

AdmissionDecision Admitter::Decide(const json& request) {
  AdmissionDecision d;
  const json* kind = Member(request, "kind");
  const std::string kind_name = kind != nullptr ? StringMember(*kind, "kind") : "";
  const std::string group = kind != nullptr ? StringMember(*kind, "group") : "";
  const bool workload = (kind_name == "Deployment" || kind_name == "StatefulSet" ||
                         kind_name == "ReplicaSet") &&
                        (group == "apps" || group == "extensions");
  if (!workload) {
    d.result = "not_applicable";
    d.message = absl::StrCat("resource type ", kind_name.empty() ? "(none)" : kind_name,
                             group.empty() ? "" : absl::StrCat(" in group ", group),
                             " is not applicable for this webhook");
    return d;
  }
  const std::string operation = StringMember(request, "operation");
  if (!operation.empty() && operation != "CREATE" && operation != "UPDATE") {
    d.result = "not_applicable";
    d.message = absl::StrCat("operation ", operation, " is not applicable for this webhook");
    return d;
  }
  const json* object = Member(request, "object");
  const json* metadata = object != nullptr ? Member(*object, "metadata") : nullptr;
  if (object == nullptr || !object->is_object() || metadata == nullptr || !metadata->is_object()) {
    d.result = "malformed_object";
    d.message = absl::StrCat("the ", kind_name, " in the request has no metadata");
    return d;
  }
  std::string name = StringMember(*metadata, "name");
  if (name.empty()) name = StringMember(request, "name");
  const json* labels = Member(*metadata, "labels");
  const std::string release =
      labels != nullptr ? StringMember(*labels, options_.release_label.c_str()) : "";
  if (release.empty()) {
    d.result = "no_release_label";
    d.message = absl::StrCat("no ", options_.release_label, " label found");
    return d;
  }
  if (name.empty()) {
    d.result = "malformed_object";
    d.message = absl::StrCat("the ", kind_name, " has no name (generateName is not supported)");
    return d;
  }
  d.key = absl::StrCat(release, ".", absl::AsciiStrToLower(kind_name), ".", name);
  auto looked_up = source_.Lookup(d.key);
  if (!looked_up.ok()) {
    d.result = "source_unavailable";
    d.message = absl::StrCat("the spot deploy ConfigMap is not available: ",
                             looked_up.status().message());
    return d;
  }
  if (!looked_up->has_value()) {
    d.result = "not_found";
    d.message = absl::StrCat("resource ", d.key, " not found in spot deploy ConfigMap");
    return d;
  }
  const std::string raw = **looked_up;
  auto pct = ParsePercentage(raw);
  if (!pct.ok()) {
    d.result = "malformed_entry";
    d.message = absl::StrCat("spot deploy ConfigMap entry ", d.key, ": ", pct.status().message(),
                             "; not mutated");
    d.warning = absl::StrCat("spot-config-webhook: ", d.message);
    return d;
  }
  const json* spec = Member(*object, "spec");
  const json* tmpl = spec != nullptr ? Member(*spec, "template") : nullptr;
  const json* pod_spec = tmpl != nullptr ? Member(*tmpl, "spec") : nullptr;
  if (tmpl == nullptr || !tmpl->is_object() || pod_spec == nullptr || !pod_spec->is_object()) {
    d.result = "malformed_object";
    d.message = absl::StrCat("the ", kind_name, " ", name, " has no spec.template.spec");
    return d;
  }
  const std::string value = absl::StrCat(*pct);
  const json* tmeta = Member(*tmpl, "metadata");
  const json* annotations = tmeta != nullptr ? Member(*tmeta, "annotations") : nullptr;
  std::string note;
  if (tmeta == nullptr || !tmeta->is_object()) {
    d.patch.push_back({{"op", "add"},
                       {"path", "/spec/template/metadata"},
                       {"value", {{"annotations", {{options_.annotation_key, value}}}}}});
  } else if (annotations == nullptr || !annotations->is_object()) {
    d.patch.push_back({{"op", "add"},
                       {"path", "/spec/template/metadata/annotations"},
                       {"value", {{options_.annotation_key, value}}}});
  } else if (!annotations->contains(options_.annotation_key)) {
    d.patch.push_back(
        {{"op", "add"},
         {"path", absl::StrCat("/spec/template/metadata/annotations/",
                               EscapeJsonPointer(options_.annotation_key))},
         {"value", value}});
  } else {
    note = absl::StrCat("; annotation ", options_.annotation_key, " already set to ",
                        (*annotations)[options_.annotation_key].dump(), ", kept");
  }
  d.patch.push_back(
      {{"op", "add"}, {"path", "/spec/template/spec/schedulerName"}, {"value", options_.scheduler_name}});
  d.result = "patched";
  d.message = absl::StrCat(d.key, ": on-demand percentage ", value, ", scheduler ",
                           options_.scheduler_name, note);
  const json* dry = Member(request, "dryRun");
  const bool dry_run = dry != nullptr && dry->is_boolean() && dry->get<bool>();
  if (!dry_run) source_.Consumed(d.key, raw);
  return d;
}

absl::StatusOr<json> Admitter::Review(absl::string_view body, std::string* result) {
  auto parsed = ParseStrictJson(body);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the body is not a JSON object: ", parsed.status().message()));
  }
  const json review = *std::move(parsed);
  if (!review.is_object()) return absl::InvalidArgumentError("the body is not a JSON object");
  const std::string api_version = StringMember(review, "apiVersion");
  if (api_version != "admission.k8s.io/v1" && api_version != "admission.k8s.io/v1beta1") {
    return absl::InvalidArgumentError(absl::StrCat(
        "apiVersion \"", api_version,
        "\" is not admission.k8s.io/v1 or admission.k8s.io/v1beta1"));
  }
  if (StringMember(review, "kind") != "AdmissionReview") {
    return absl::InvalidArgumentError("kind is not AdmissionReview");
  }
  const json* request = Member(review, "request");
  if (request == nullptr || !request->is_object() || StringMember(*request, "uid").empty()) {
    return absl::InvalidArgumentError("the AdmissionReview has no request with a uid");
  }
  AdmissionDecision d = Decide(*request);
  json response = {{"uid", StringMember(*request, "uid")}, {"allowed", true}};
  if (!d.patch.empty()) {
    response["patchType"] = "JSONPatch";
    response["patch"] = absl::Base64Escape(d.patch.dump());
    response["status"] = {{"status", "Success"}, {"code", 200}, {"message", d.message}};
  } else {
    response["status"] = {{"status", "Success"}, {"code", 200}, {"message", d.message}};
  }
  if (!d.warning.empty()) response["warnings"] = json::array({d.warning});
  const std::string what = absl::StrCat(StringMember(*request, "namespace"), "/",
                                        StringMember(*request, "name"));
  if (d.result == "patched") {
    logger_->info("uid={} {}: patched: {}", StringMember(*request, "uid"), what, d.message);
  } else if (d.result == "malformed_entry" || d.result == "source_unavailable" ||
             d.result == "malformed_object") {
    logger_->warn("uid={} {}: not mutated: {}", StringMember(*request, "uid"), what, d.message);
  } else {
    logger_->debug("uid={} {}: not mutated: {}", StringMember(*request, "uid"), what, d.message);
  }
  if (result != nullptr) *result = d.result;
  return json{{"apiVersion", api_version}, {"kind", "AdmissionReview"}, {"response", response}};
}

}  // namespace hollowtrees::webhook
