#include "tests/fakes/kube/object_store.h"

#include <httplib.h>

#include <functional>
#include <memory>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "lib/kube/label_selector.h"

namespace hollowtrees::testing {

using nlohmann::json;

namespace {

std::string Md(const json& obj, const char* field) {
  if (!obj.is_object() || !obj.contains("metadata") || !obj["metadata"].is_object()) return "";
  const json& md = obj["metadata"];
  auto it = md.find(field);
  if (it == md.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

std::map<std::string, std::string> LabelsOf(const json& obj) {
  std::map<std::string, std::string> out;
  if (obj.contains("metadata") && obj["metadata"].contains("labels") &&
      obj["metadata"]["labels"].is_object()) {
    for (auto it = obj["metadata"]["labels"].begin(); it != obj["metadata"]["labels"].end(); ++it) {
      if (it.value().is_string()) out[it.key()] = it.value().get<std::string>();
    }
  }
  return out;
}

std::string MediaType(std::string ct) {
  const size_t semi = ct.find(';');
  if (semi != std::string::npos) ct = ct.substr(0, semi);
  return ct;
}

FakeReply BadRequest(absl::string_view message) {
  return {400, StatusBody(400, "BadRequest", message)};
}

FakeReply MethodNotAllowed() {
  return {405, StatusBody(405, "MethodNotAllowed",
                          "the server does not allow this method on the requested resource")};
}

FakeReply UnsupportedMediaType() {
  return {415, StatusBody(415, "UnsupportedMediaType",
                          "the body of the request was in an unknown format")};
}

// A selector over metadata.name / metadata.namespace.
struct FieldSel {
  std::vector<std::tuple<std::string, bool, std::string>> terms;  // field, equal, value
  bool Matches(const json& obj) const {
    for (const auto& [field, equal, value] : terms) {
      const std::string v = field == "metadata.name" ? Md(obj, "name") : Md(obj, "namespace");
      if ((v == value) != equal) return false;
    }
    return true;
  }
};

absl::StatusOr<FieldSel> ParseFieldSel(absl::string_view text) {
  FieldSel sel;
  if (text.empty()) return sel;
  for (absl::string_view term : absl::StrSplit(text, ',')) {
    std::string field, value;
    bool equal = true;
    size_t pos;
    if ((pos = term.find("!=")) != absl::string_view::npos) {
      equal = false;
      field = std::string(term.substr(0, pos));
      value = std::string(term.substr(pos + 2));
    } else if ((pos = term.find("==")) != absl::string_view::npos) {
      field = std::string(term.substr(0, pos));
      value = std::string(term.substr(pos + 2));
    } else if ((pos = term.find('=')) != absl::string_view::npos) {
      field = std::string(term.substr(0, pos));
      value = std::string(term.substr(pos + 1));
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid selector: '", text, "'; can't understand '", term, "'"));
    }
    if (field != "metadata.name" && field != "metadata.namespace") {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", field,
                       "\" is not a known field selector: only \"metadata.name\", "
                       "\"metadata.namespace\""));
    }
    sel.terms.emplace_back(field, equal, value);
  }
  return sel;
}

}  // namespace

std::string ResourceType::ApiVersion() const {
  return group.empty() ? version : absl::StrCat(group, "/", version);
}

std::string ResourceType::QualifiedResource() const {
  return group.empty() ? plural : absl::StrCat(plural, ".", group);
}

std::string ResourceType::QualifiedKind() const {
  return group.empty() ? kind : absl::StrCat(kind, ".", group);
}

json StatusBody(int code, absl::string_view reason, absl::string_view message, json details) {
  json s = {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", json::object()},
            {"status", "Failure"}, {"message", message}, {"reason", reason},
            {"code", code}};
  if (!details.is_null()) s["details"] = std::move(details);
  return s;
}

FakeReply DecodeError(const ResourceType& type, absl::string_view detail) {
  return BadRequest(absl::StrFormat("%s in version \"%s\" cannot be handled as a %s: %s", type.kind,
                                    type.version, type.kind, detail));
}

const char* GoJsonKind(const json& value) {
  return value.is_string()    ? "string"
         : value.is_boolean() ? "bool"
         : value.is_array()   ? "array"
         : value.is_object()  ? "object"
         : value.is_number()  ? "number"
                              : "null";
}

FakeReply UnsupportedPatchType(absl::string_view content_type) {
  return {415, StatusBody(415, "UnsupportedMediaType",
                          absl::StrCat("the body of the request was in an unknown format - "
                                       "accepted media types include: "
                                       "application/json-patch+json, "
                                       "application/merge-patch+json, "
                                       "application/strategic-merge-patch+json (got \"",
                                       content_type, "\")"))};
}

std::string GoUnmarshalTypeError(const json& value, absl::string_view field,
                                 absl::string_view go_type) {
  std::string what = GoJsonKind(value);
  if (value.is_number() && absl::StartsWith(go_type, "int"))
    absl::StrAppend(&what, " ", value.dump());
  return absl::StrCat("json: cannot unmarshal ", what, " into Go struct field ", field, " of type ",
                      go_type);
}

namespace {

// apierrors.NewInvalid for GroupKind{group, kind}.
FakeReply InvalidGroupKind(absl::string_view group, absl::string_view kind, absl::string_view name,
                           const std::vector<FieldError>& errors) {
  json causes = json::array();
  std::vector<std::string> texts;
  for (const FieldError& e : errors) {
    causes.push_back({{"reason", e.type}, {"message", e.detail}, {"field", e.field}});
    texts.push_back(absl::StrCat(e.field, ": ", e.detail));
  }
  // field.ErrorList.ToAggregate(): one error as is, several in brackets.
  const std::string all =
      texts.size() == 1 ? texts[0] : absl::StrCat("[", absl::StrJoin(texts, ", "), "]");
  json details = {{"name", name}, {"kind", kind}, {"causes", causes}};
  if (!group.empty()) details["group"] = group;
  const std::string qualified = group.empty() ? std::string(kind) : absl::StrCat(kind, ".", group);
  return {422, StatusBody(422, "Invalid",
                          absl::StrFormat("%s \"%s\" is invalid: %s", qualified, name, all),
                          std::move(details))};
}

}  // namespace

FakeReply Invalid(const ResourceType& type, absl::string_view name,
                  const std::vector<FieldError>& errors) {
  return InvalidGroupKind(type.group, type.kind, name, errors);
}

FakeObjectStore::FakeObjectStore(ResourceType type) : type_(std::move(type)) {}

bool FakeObjectStore::Handles(const std::string& path) const {
  std::vector<std::string> p = absl::StrSplit(path, '/', absl::SkipEmpty());
  const size_t n = prefix_size();
  if (p.size() < n) return false;
  if (type_.group.empty() ? (p[0] != "api" || p[1] != type_.version)
                          : (p[0] != "apis" || p[1] != type_.group || p[2] != type_.version)) {
    return false;
  }
  if (p.size() == n + 1) return p[n] == type_.plural;
  return p.size() >= n + 3 && p.size() <= n + 4 && p[n] == "namespaces" && p[n + 2] == type_.plural;
}

json FakeObjectStore::DiscoveryEntry() const {
  json e = {{"name", type_.plural},
            {"singularName", type_.singular},
            {"namespaced", true},
            {"kind", type_.kind},
            {"verbs", {"create", "delete", "get", "list", "patch", "update", "watch"}},
            {"storageVersionHash", "fake"}};
  if (!type_.short_names.empty()) e["shortNames"] = type_.short_names;
  return e;
}

FakeReply FakeObjectStore::NotFound(const std::string& name) const {
  json details = {{"name", name}, {"kind", type_.plural}};
  if (!type_.group.empty()) details["group"] = type_.group;
  return {404, StatusBody(404, "NotFound",
                          absl::StrCat(type_.QualifiedResource(), " \"", name, "\" not found"),
                          std::move(details))};
}

FakeReply FakeObjectStore::Conflict(const std::string& name) const {
  json details = {{"name", name}, {"kind", type_.plural}};
  if (!type_.group.empty()) details["group"] = type_.group;
  return {409, StatusBody(409, "Conflict",
                          absl::StrCat("Operation cannot be fulfilled on ",
                                       type_.QualifiedResource(), " \"", name,
                                       "\": the object has been modified; please apply your "
                                       "changes to the latest version and try again"),
                          std::move(details))};
}

std::optional<FakeReply> FakeObjectStore::Check(
    const json& obj, const std::function<std::optional<FakeReply>(const json&)>& check) {
  if (!check) return std::nullopt;
  return check(obj);
}

json FakeObjectStore::Commit(const std::string& type, json obj) {
  obj["kind"] = type_.kind;
  obj["apiVersion"] = type_.ApiVersion();
  json& md = obj["metadata"];
  md["resourceVersion"] = absl::StrCat(++rv_);
  const std::string key =
      absl::StrCat(md["namespace"].get<std::string>(), "/", md["name"].get<std::string>());
  if (type == "DELETED") {
    objects_.erase(key);
  } else {
    if (md.value("uid", "").empty()) {
      md["uid"] = absl::StrFormat("%08x-0000-4000-8000-%012x",
                                  std::hash<std::string>{}(type_.plural) & 0xffffffffu, ++uid_);
    }
    if (md.value("creationTimestamp", "").empty()) {
      md["creationTimestamp"] =
          absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
    }
    objects_[key] = obj;
  }
  history_.push_back({rv_, type, obj});
  if (history_.size() > 10000) {
    compacted_rv_ = history_[history_.size() - 10000].rv;
    history_.erase(history_.begin(), history_.end() - 10000);
  }
  return obj;
}

json FakeObjectStore::Modify(const std::string& ns, const std::string& name,
                             const std::function<void(json&)>& change) {
  absl::MutexLock lock(&mu_);
  auto it = objects_.find(absl::StrCat(ns, "/", name));
  json obj =
      it != objects_.end() ? it->second : json{{"metadata", {{"name", name}, {"namespace", ns}}}};
  change(obj);
  obj["metadata"]["name"] = name;
  obj["metadata"]["namespace"] = ns;
  return Commit(it != objects_.end() ? "MODIFIED" : "ADDED", std::move(obj));
}

std::optional<json> FakeObjectStore::Get(const std::string& ns, const std::string& name) {
  absl::MutexLock lock(&mu_);
  auto it = objects_.find(absl::StrCat(ns, "/", name));
  if (it == objects_.end()) return std::nullopt;
  return it->second;
}

void FakeObjectStore::Delete(const std::string& ns, const std::string& name) {
  absl::MutexLock lock(&mu_);
  auto it = objects_.find(absl::StrCat(ns, "/", name));
  if (it != objects_.end()) Commit("DELETED", it->second);
}

void FakeObjectStore::Compact() {
  absl::MutexLock lock(&mu_);
  compacted_rv_ = rv_ + 1;
  history_.clear();
}

void FakeObjectStore::EndWatches() {
  absl::MutexLock lock(&mu_);
  ++end_generation_;
}

int FakeObjectStore::open_watches() {
  absl::MutexLock lock(&mu_);
  return open_watches_;
}

int64_t FakeObjectStore::watch_requests() {
  absl::MutexLock lock(&mu_);
  return watch_requests_;
}

void FakeObjectStore::FailNextWrites(int n, int code) {
  absl::MutexLock lock(&mu_);
  fail_writes_ = n;
  fail_code_ = code;
}

void FakeObjectStore::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutdown_ = true;
}

void FakeObjectStore::Serve(const httplib::Request& req, httplib::Response& res) {
  std::vector<std::string> p = absl::StrSplit(req.path, '/', absl::SkipEmpty());
  const size_t n = prefix_size();
  std::string ns, name;
  if (p.size() >= n + 3) ns = p[n + 1];
  if (p.size() == n + 4) name = p[n + 3];
  const std::string watch = req.get_param_value("watch");
  if (req.method == "GET" && name.empty() && (watch == "1" || watch == "true")) {
    ServeWatch(req, res, ns);
    return;
  }
  FakeReply reply = Route(req, ns, name);
  res.status = reply.code;
  res.set_content(reply.body.dump(), "application/json");
}

FakeReply FakeObjectStore::Route(const httplib::Request& req, const std::string& ns,
                                 const std::string& name) {
  const std::string& m = req.method;
  absl::MutexLock lock(&mu_);
  if (m != "GET" && fail_writes_ > 0) {
    --fail_writes_;
    const char* reason = fail_code_ == 429   ? "TooManyRequests"
                         : fail_code_ == 503 ? "ServiceUnavailable"
                                             : "InternalError";
    return {fail_code_, StatusBody(fail_code_, reason, "injected failure")};
  }
  if (name.empty()) {
    if (m == "GET") {
      auto labels = kube::LabelSelector::Parse(req.get_param_value("labelSelector"));
      if (!labels.ok()) return BadRequest(labels.status().message());
      auto fields = ParseFieldSel(req.get_param_value("fieldSelector"));
      if (!fields.ok()) return BadRequest(fields.status().message());
      json items = json::array();
      for (const auto& [key, obj] : objects_) {
        if (!ns.empty() && Md(obj, "namespace") != ns) continue;
        if (!labels->Matches(LabelsOf(obj)) || !fields->Matches(obj)) continue;
        items.push_back(obj);
      }
      return {200,
              {{"kind", absl::StrCat(type_.kind, "List")},
               {"apiVersion", type_.ApiVersion()},
               {"metadata", {{"resourceVersion", absl::StrCat(rv_)}}},
               {"items", items}}};
    }
    if (m == "POST" && !ns.empty()) return Create(req, ns);
    return MethodNotAllowed();
  }
  const std::string key = absl::StrCat(ns, "/", name);
  auto it = objects_.find(key);
  if (m == "GET") {
    if (it == objects_.end()) return NotFound(name);
    return {200, it->second};
  }
  if (m == "DELETE") {
    if (it == objects_.end()) return NotFound(name);
    const std::string uid = Md(it->second, "uid");
    Commit("DELETED", it->second);
    json details = {{"name", name}, {"kind", type_.plural}, {"uid", uid}};
    if (!type_.group.empty()) details["group"] = type_.group;
    return {200,
            {{"kind", "Status"},
             {"apiVersion", "v1"},
             {"metadata", json::object()},
             {"status", "Success"},
             {"details", details}}};
  }
  if (m == "PUT" || m == "PATCH") return Replace(req, ns, name);
  return MethodNotAllowed();
}

FakeReply FakeObjectStore::Create(const httplib::Request& req, const std::string& ns) {
  if (MediaType(req.get_header_value("Content-Type")) != "application/json") {
    return UnsupportedMediaType();
  }
  json body = json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    return BadRequest("the request body is not a JSON object");
  }
  json& md = body["metadata"];
  if (!md.is_object()) md = json::object();
  if (!md.value("namespace", "").empty() && md["namespace"] != ns) {
    return BadRequest(
        "the namespace of the provided object does not match the namespace sent on the request");
  }
  if (auto bad = Check(body, type_.decode)) return *bad;
  const std::string n = md.value("name", "");
  if (n.empty()) {
    return Invalid(type_, "",
                   {{"FieldValueRequired", "metadata.name",
                     "Required value: name or generateName is required"}});
  }
  md["namespace"] = ns;
  if (auto bad = Check(body, type_.validate)) return *bad;
  if (objects_.count(absl::StrCat(ns, "/", n))) {
    json details = {{"name", n}, {"kind", type_.plural}};
    if (!type_.group.empty()) details["group"] = type_.group;
    return {409, StatusBody(409, "AlreadyExists",
                            absl::StrCat(type_.QualifiedResource(), " \"", n, "\" already exists"),
                            std::move(details))};
  }
  return Insert(std::move(body));
}

FakeReply FakeObjectStore::Insert(json obj) {
  json& md = obj["metadata"];
  md.erase("uid");
  md.erase("resourceVersion");
  md.erase("creationTimestamp");
  return {201, Commit("ADDED", std::move(obj))};
}

FakeReply FakeObjectStore::Replace(const httplib::Request& req, const std::string& ns,
                                   const std::string& name) {
  const std::string& m = req.method;
  auto it = objects_.find(absl::StrCat(ns, "/", name));
  const std::string ct = MediaType(req.get_header_value("Content-Type"));
  json body = json::parse(req.body, nullptr, false);
  json result;
  if (m == "PUT") {
    if (ct != "application/json") return UnsupportedMediaType();
    if (body.is_discarded() || !body.is_object()) {
      return BadRequest("the request body is not a JSON object");
    }
    if (auto bad = Check(body, type_.decode)) return *bad;
    if (Md(body, "name") != name) {
      return BadRequest("the name of the object does not match the name on the URL");
    }
    if (it == objects_.end()) {
      if (!type_.allow_create_on_update) return NotFound(name);
      json& md = body["metadata"];
      if (!md.value("namespace", "").empty() && md["namespace"] != ns) {
        return BadRequest("metadata.name and metadata.namespace cannot be changed");
      }
      md["namespace"] = ns;
      if (auto bad = Check(body, type_.validate)) return *bad;
      return Insert(std::move(body));
    }
    const std::string rv = Md(body, "resourceVersion");
    if (rv.empty() && !type_.allow_unconditional_update) {
      // The registry reports it against GroupKind{group, resource}.
      return InvalidGroupKind(type_.group, type_.plural, name,
                              {{"FieldValueInvalid", "metadata.resourceVersion",
                                "Invalid value: 0: must be specified for an update"}});
    }
    if (!rv.empty() && rv != Md(it->second, "resourceVersion")) return Conflict(name);
    result = std::move(body);
  } else {
    const bool merge =
        ct == "application/merge-patch+json" || ct == "application/strategic-merge-patch+json";
    if (!merge && ct != "application/json-patch+json") return UnsupportedPatchType(ct);
    if (it == objects_.end()) return NotFound(name);
    if (body.is_discarded()) return BadRequest("the request body is not valid JSON");
    if (merge) {
      if (!body.is_object()) return BadRequest("a merge patch must be a JSON object");
      const std::string rv = Md(body, "resourceVersion");
      if (!rv.empty() && rv != Md(it->second, "resourceVersion")) return Conflict(name);
      result = it->second;
      result.merge_patch(body);
    } else {
      if (!body.is_array()) return BadRequest("a JSON patch must be a JSON array");
      try {
        result = it->second.patch(body);
      } catch (const json::exception& e) {
        return {422, StatusBody(422, "Invalid", absl::StrCat("the JSON patch failed: ", e.what()))};
      }
    }
    if (auto bad = Check(result, type_.decode)) return *bad;
  }
  if (Md(result, "name") != name ||
      (!Md(result, "namespace").empty() && Md(result, "namespace") != ns)) {
    return BadRequest("metadata.name and metadata.namespace cannot be changed");
  }
  result["metadata"]["namespace"] = ns;
  result["metadata"]["uid"] = it->second["metadata"]["uid"];
  result["metadata"]["creationTimestamp"] = it->second["metadata"]["creationTimestamp"];
  if (auto bad = Check(result, type_.validate)) return *bad;
  return {200, Commit("MODIFIED", std::move(result))};
}

void FakeObjectStore::ServeWatch(const httplib::Request& req, httplib::Response& res,
                                 const std::string& ns) {
  auto labels = kube::LabelSelector::Parse(req.get_param_value("labelSelector"));
  auto fields = ParseFieldSel(req.get_param_value("fieldSelector"));
  if (!labels.ok() || !fields.ok()) {
    res.status = 400;
    res.set_content(StatusBody(400, "BadRequest",
                               !labels.ok() ? labels.status().message() : fields.status().message())
                        .dump(),
                    "application/json");
    return;
  }
  int64_t timeout_s = 0;
  if (req.has_param("timeoutSeconds") &&
      !absl::SimpleAtoi(req.get_param_value("timeoutSeconds"), &timeout_s)) {
    res.status = 400;
    res.set_content(StatusBody(400, "BadRequest", "timeoutSeconds is not a number").dump(),
                    "application/json");
    return;
  }
  const std::string rv_text = req.get_param_value("resourceVersion");
  int64_t from = 0;
  if (!rv_text.empty() && rv_text != "0" && !absl::SimpleAtoi(rv_text, &from)) {
    res.status = 400;
    res.set_content(
        StatusBody(400, "BadRequest", absl::StrCat("invalid resource version: ", rv_text)).dump(),
        "application/json");
    return;
  }
  struct State {
    int64_t cursor = 0;                // events with rv > cursor are still to send
    std::vector<std::string> initial;  // synthetic ADDED lines
    bool expired = false;
    int64_t generation = 0;
    absl::Time deadline = absl::InfiniteFuture();
    bool counted = true;
  };
  auto state = std::make_shared<State>();
  auto matches = [ns, labels = *labels, fields = *fields](const json& obj) {
    return (ns.empty() || Md(obj, "namespace") == ns) && labels.Matches(LabelsOf(obj)) &&
           fields.Matches(obj);
  };
  {
    absl::MutexLock lock(&mu_);
    ++watch_requests_;
    ++open_watches_;
    state->generation = end_generation_;
    if (from == 0) {
      for (const auto& [key, obj] : objects_) {
        if (matches(obj))
          state->initial.push_back(json{{"type", "ADDED"}, {"object", obj}}.dump() + "\n");
      }
      state->cursor = rv_;
    } else if (from < compacted_rv_) {
      state->expired = true;
    } else {
      state->cursor = from;
    }
    if (timeout_s > 0) state->deadline = absl::Now() + absl::Seconds(timeout_s);
  }
  const int64_t current_rv = [&] {
    absl::MutexLock lock(&mu_);
    return rv_;
  }();
  res.status = 200;
  res.set_chunked_content_provider(
      "application/json",
      [this, state, matches, from, current_rv](size_t, httplib::DataSink& sink) {
        auto finish = [&](bool ok) {
          absl::MutexLock lock(&mu_);
          if (state->counted) {
            --open_watches_;
            state->counted = false;
          }
          if (ok) sink.done();
          return ok;
        };
        if (state->expired) {
          const std::string line =
              json{{"type", "ERROR"},
                   {"object", StatusBody(410, "Expired",
                                         absl::StrCat("too old resource version: ", from, " (",
                                                      current_rv, ")"))}}
                  .dump() +
              "\n";
          sink.write(line.data(), line.size());
          return finish(true);
        }
        if (!state->initial.empty()) {
          for (const auto& line : state->initial) {
            if (!sink.write(line.data(), line.size())) return finish(false);
          }
          state->initial.clear();
          return true;
        }
        std::vector<std::string> lines;
        {
          absl::MutexLock lock(&mu_);
          auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
            return shutdown_ || end_generation_ != state->generation ||
                   (!history_.empty() && history_.back().rv > state->cursor);
          };
          const absl::Time wait_until =
              std::min(state->deadline, absl::Now() + absl::Milliseconds(100));
          mu_.AwaitWithDeadline(absl::Condition(&ready), wait_until);
          if (shutdown_ || end_generation_ != state->generation) {
            if (state->counted) {
              --open_watches_;
              state->counted = false;
            }
            return false;  // drops the connection
          }
          for (const Event& e : history_) {
            if (e.rv <= state->cursor) continue;
            state->cursor = e.rv;
            if (matches(e.object)) {
              lines.push_back(json{{"type", e.type}, {"object", e.object}}.dump() + "\n");
            }
          }
        }
        for (const auto& line : lines) {
          if (!sink.write(line.data(), line.size())) return finish(false);
        }
        if (absl::Now() >= state->deadline) return finish(true);
        if (!sink.is_writable()) return finish(false);
        return true;
      },
      [this, state](bool) {
        absl::MutexLock lock(&mu_);
        if (state->counted) {
          --open_watches_;
          state->counted = false;
        }
      });
}

}  // namespace hollowtrees::testing
