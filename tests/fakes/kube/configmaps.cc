#include "tests/fakes/kube/configmaps.h"

#include <httplib.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "lib/kube/label_selector.h"

namespace hollowtrees::testing {

using nlohmann::json;

namespace {

json StatusBody(int code, absl::string_view reason, absl::string_view message,
                json details = nullptr) {
  json s = {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", json::object()},
            {"status", "Failure"}, {"message", message}, {"reason", reason},
            {"code", code}};
  if (!details.is_null()) s["details"] = std::move(details);
  return s;
}

json NotFound(const std::string& name) {
  return StatusBody(404, "NotFound", absl::StrCat("configmaps \"", name, "\" not found"),
                    {{"name", name}, {"kind", "configmaps"}});
}

json Conflict(const std::string& name) {
  return StatusBody(409, "Conflict",
                    absl::StrCat("Operation cannot be fulfilled on configmaps \"", name,
                                 "\": the object has been modified; please apply your changes "
                                 "to the latest version and try again"),
                    {{"name", name}, {"kind", "configmaps"}});
}

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

bool JsonType(std::string ct) {
  const size_t semi = ct.find(';');
  if (semi != std::string::npos) ct = ct.substr(0, semi);
  return ct == "application/json";
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
          absl::StrCat("\"", field, "\" is not a known field selector: only \"metadata.name\", "
                       "\"metadata.namespace\""));
    }
    sel.terms.emplace_back(field, equal, value);
  }
  return sel;
}

}  // namespace

bool FakeConfigMaps::Handles(const std::string& path) {
  std::vector<std::string> p = absl::StrSplit(path, '/', absl::SkipEmpty());
  if (p.size() == 3 && p[0] == "api" && p[1] == "v1" && p[2] == "configmaps") return true;
  return p.size() >= 5 && p.size() <= 6 && p[0] == "api" && p[1] == "v1" &&
         p[2] == "namespaces" && p[4] == "configmaps";
}

json FakeConfigMaps::Commit(const std::string& type, json obj) {
  obj["kind"] = "ConfigMap";
  obj["apiVersion"] = "v1";
  json& md = obj["metadata"];
  md["resourceVersion"] = absl::StrCat(++rv_);
  const std::string key = absl::StrCat(md["namespace"].get<std::string>(), "/",
                                       md["name"].get<std::string>());
  if (type == "DELETED") {
    objects_.erase(key);
  } else {
    if (md.value("uid", "").empty()) {
      md["uid"] = absl::StrFormat("c0nf1600-0000-4000-8000-%012x", ++uid_);
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

void FakeConfigMaps::Set(const std::string& ns, const std::string& name, const json& data) {
  absl::MutexLock lock(&mu_);
  const std::string key = absl::StrCat(ns, "/", name);
  auto it = objects_.find(key);
  json obj = it != objects_.end() ? it->second
                                  : json{{"metadata", {{"name", name}, {"namespace", ns}}}};
  obj["data"] = data;
  Commit(it != objects_.end() ? "MODIFIED" : "ADDED", std::move(obj));
}

std::optional<json> FakeConfigMaps::Get(const std::string& ns, const std::string& name) {
  absl::MutexLock lock(&mu_);
  auto it = objects_.find(absl::StrCat(ns, "/", name));
  if (it == objects_.end()) return std::nullopt;
  return it->second;
}

void FakeConfigMaps::Delete(const std::string& ns, const std::string& name) {
  absl::MutexLock lock(&mu_);
  auto it = objects_.find(absl::StrCat(ns, "/", name));
  if (it != objects_.end()) Commit("DELETED", it->second);
}

void FakeConfigMaps::Compact() {
  absl::MutexLock lock(&mu_);
  compacted_rv_ = rv_ + 1;
  history_.clear();
}

void FakeConfigMaps::EndWatches() {
  absl::MutexLock lock(&mu_);
  ++end_generation_;
}

int FakeConfigMaps::open_watches() {
  absl::MutexLock lock(&mu_);
  return open_watches_;
}

int64_t FakeConfigMaps::watch_requests() {
  absl::MutexLock lock(&mu_);
  return watch_requests_;
}

void FakeConfigMaps::FailNextWrites(int n, int code) {
  absl::MutexLock lock(&mu_);
  fail_writes_ = n;
  fail_code_ = code;
}

void FakeConfigMaps::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutdown_ = true;
}

void FakeConfigMaps::Serve(const httplib::Request& req, httplib::Response& res) {
  std::vector<std::string> p = absl::StrSplit(req.path, '/', absl::SkipEmpty());
  std::string ns, name;
  if (p.size() >= 5) ns = p[3];
  if (p.size() == 6) name = p[5];
  const std::string watch = req.get_param_value("watch");
  if (req.method == "GET" && name.empty() && (watch == "1" || watch == "true")) {
    ServeWatch(req, res, ns);
    return;
  }
  Reply reply = Route(req, ns, name);
  res.status = reply.code;
  res.set_content(reply.body.dump(), "application/json");
}

FakeConfigMaps::Reply FakeConfigMaps::Route(const httplib::Request& req, const std::string& ns,
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
      if (!labels.ok()) return {400, StatusBody(400, "BadRequest", labels.status().message())};
      auto fields = ParseFieldSel(req.get_param_value("fieldSelector"));
      if (!fields.ok()) return {400, StatusBody(400, "BadRequest", fields.status().message())};
      json items = json::array();
      for (const auto& [key, obj] : objects_) {
        if (!ns.empty() && Md(obj, "namespace") != ns) continue;
        if (!labels->Matches(LabelsOf(obj)) || !fields->Matches(obj)) continue;
        items.push_back(obj);
      }
      return {200,
              {{"kind", "ConfigMapList"},
               {"apiVersion", "v1"},
               {"metadata", {{"resourceVersion", absl::StrCat(rv_)}}},
               {"items", items}}};
    }
    if (m == "POST" && !ns.empty()) {
      if (!JsonType(req.get_header_value("Content-Type"))) {
        return {415, StatusBody(415, "UnsupportedMediaType",
                                "the body of the request was in an unknown format")};
      }
      json body = json::parse(req.body, nullptr, false);
      if (body.is_discarded() || !body.is_object()) {
        return {400, StatusBody(400, "BadRequest", "the request body is not a JSON object")};
      }
      json& md = body["metadata"];
      if (!md.is_object()) md = json::object();
      const std::string n = md.value("name", "");
      if (n.empty()) {
        return {422, StatusBody(422, "Invalid",
                                "ConfigMap is invalid: metadata.name: Required value: name or "
                                "generateName is required")};
      }
      if (!md.value("namespace", "").empty() && md["namespace"] != ns) {
        return {400, StatusBody(400, "BadRequest",
                                "the namespace of the provided object does not match the "
                                "namespace sent on the request")};
      }
      if (body.contains("data") && !body["data"].is_null()) {
        if (!body["data"].is_object()) {
          return {400, StatusBody(400, "BadRequest", "ConfigMap.data must be a string map")};
        }
        for (const auto& v : body["data"]) {
          if (!v.is_string()) {
            return {400, StatusBody(400, "BadRequest", "ConfigMap.data values must be strings")};
          }
        }
      }
      md["namespace"] = ns;
      if (objects_.count(absl::StrCat(ns, "/", n))) {
        return {409, StatusBody(409, "AlreadyExists",
                                absl::StrCat("configmaps \"", n, "\" already exists"),
                                {{"name", n}, {"kind", "configmaps"}})};
      }
      md.erase("uid");
      md.erase("resourceVersion");
      return {201, Commit("ADDED", std::move(body))};
    }
    return {405, StatusBody(405, "MethodNotAllowed",
                            "the server does not allow this method on the requested resource")};
  }
  const std::string key = absl::StrCat(ns, "/", name);
  auto it = objects_.find(key);
  if (m == "GET") {
    if (it == objects_.end()) return {404, NotFound(name)};
    return {200, it->second};
  }
  if (m == "DELETE") {
    if (it == objects_.end()) return {404, NotFound(name)};
    const std::string uid = Md(it->second, "uid");
    Commit("DELETED", it->second);
    return {200,
            {{"kind", "Status"},
             {"apiVersion", "v1"},
             {"metadata", json::object()},
             {"status", "Success"},
             {"details", {{"name", name}, {"kind", "configmaps"}, {"uid", uid}}}}};
  }
  if (m == "PUT" || m == "PATCH") {
    std::string ct = req.get_header_value("Content-Type");
    const size_t semi = ct.find(';');
    if (semi != std::string::npos) ct = ct.substr(0, semi);
    json body = json::parse(req.body, nullptr, false);
    json result;
    if (m == "PUT") {
      if (ct != "application/json") {
        return {415, StatusBody(415, "UnsupportedMediaType",
                                "the body of the request was in an unknown format")};
      }
      if (it == objects_.end()) return {404, NotFound(name)};
      if (body.is_discarded() || !body.is_object() || Md(body, "name") != name) {
        return {400, StatusBody(400, "BadRequest",
                                "the name of the object does not match the name on the URL")};
      }
      const std::string rv = Md(body, "resourceVersion");
      if (!rv.empty() && rv != Md(it->second, "resourceVersion")) return {409, Conflict(name)};
      result = std::move(body);
    } else {
      const bool merge = ct == "application/merge-patch+json" ||
                         ct == "application/strategic-merge-patch+json";
      if (!merge && ct != "application/json-patch+json") {
        return {415, StatusBody(415, "UnsupportedMediaType",
                                absl::StrCat("the body of the request was in an unknown format - "
                                             "accepted media types include: "
                                             "application/json-patch+json, "
                                             "application/merge-patch+json, "
                                             "application/strategic-merge-patch+json (got \"",
                                             ct, "\")"))};
      }
      if (it == objects_.end()) return {404, NotFound(name)};
      if (body.is_discarded()) {
        return {400, StatusBody(400, "BadRequest", "the request body is not valid JSON")};
      }
      if (merge) {
        if (!body.is_object()) {
          return {400, StatusBody(400, "BadRequest", "a merge patch must be a JSON object")};
        }
        const std::string rv = Md(body, "resourceVersion");
        if (!rv.empty() && rv != Md(it->second, "resourceVersion")) return {409, Conflict(name)};
        result = it->second;
        result.merge_patch(body);
      } else {
        if (!body.is_array()) {
          return {400, StatusBody(400, "BadRequest", "a JSON patch must be a JSON array")};
        }
        try {
          result = it->second.patch(body);
        } catch (const json::exception& e) {
          return {422, StatusBody(422, "Invalid", absl::StrCat("the JSON patch failed: ", e.what()))};
        }
      }
    }
    if (Md(result, "name") != name || (!Md(result, "namespace").empty() && Md(result, "namespace") != ns)) {
      return {400, StatusBody(400, "BadRequest",
                              "metadata.name and metadata.namespace cannot be changed")};
    }
    result["metadata"]["namespace"] = ns;
    result["metadata"]["uid"] = it->second["metadata"]["uid"];
    result["metadata"]["creationTimestamp"] = it->second["metadata"]["creationTimestamp"];
    if (result.contains("data") && !result["data"].is_null()) {
      bool ok = result["data"].is_object();
      if (ok) {
        for (const auto& v : result["data"]) ok = ok && v.is_string();
      }
      if (!ok) {
        return {422, StatusBody(422, "Invalid", "ConfigMap is invalid: data: values must be strings")};
      }
    }
    return {200, Commit("MODIFIED", std::move(result))};
  }
  return {405, StatusBody(405, "MethodNotAllowed",
                          "the server does not allow this method on the requested resource")};
}

void FakeConfigMaps::ServeWatch(const httplib::Request& req, httplib::Response& res,
                                const std::string& ns) {
  auto labels = kube::LabelSelector::Parse(req.get_param_value("labelSelector"));
  auto fields = ParseFieldSel(req.get_param_value("fieldSelector"));
  if (!labels.ok() || !fields.ok()) {
    res.status = 400;
    res.set_content(StatusBody(400, "BadRequest",
                               !labels.ok() ? labels.status().message()
                                            : fields.status().message())
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
    int64_t cursor = 0;         // events with rv > cursor are still to send
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
        if (matches(obj)) state->initial.push_back(json{{"type", "ADDED"}, {"object", obj}}.dump() + "\n");
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
          const absl::Time wait_until = std::min(state->deadline, absl::Now() + absl::Milliseconds(100));
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
