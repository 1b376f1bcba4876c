#include "tests/fakes/kube/fake_apiserver.h"

#include <httplib.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "lib/common/status_macros.h"
#include "lib/http/server_util.h"
#include "lib/kube/label_selector.h"
#include "tests/fakes/kube/configmaps.h"
#include "tests/fakes/kube/leases.h"

namespace hollowtrees::testing {

using nlohmann::json;

namespace {

struct ResourceInfo {
  const char* name;
  const char* kind;
  const char* list_kind;
  const char* group;  // "" core
  const char* version;
  bool namespaced;
  std::vector<std::string> verbs;
  std::vector<std::string> short_names;
};

const std::vector<ResourceInfo>& Resources() {
  static const auto* r = new std::vector<ResourceInfo>{
      {"namespaces", "Namespace", "NamespaceList", "", "v1", false,
       {"create", "delete", "get", "list", "patch", "update"}, {"ns"}},
      {"nodes", "Node", "NodeList", "", "v1", false,
       {"create", "delete", "get", "list", "patch", "update"}, {"no"}},
      {"pods", "Pod", "PodList", "", "v1", true,
       {"create", "delete", "get", "list", "patch", "update"}, {"po"}},
      {"events", "Event", "EventList", "", "v1", true,
       {"create", "delete", "get", "list", "patch", "update"}, {"ev"}},
      {"daemonsets", "DaemonSet", "DaemonSetList", "apps", "v1", true,
       {"create", "delete", "get", "list", "patch", "update"}, {"ds"}},
      {"replicasets", "ReplicaSet", "ReplicaSetList", "apps", "v1", true,
       {"create", "delete", "get", "list", "patch", "update"}, {"rs"}},
      {"poddisruptionbudgets", "PodDisruptionBudget", "PodDisruptionBudgetList", "policy", "v1",
       true, {"create", "delete", "get", "list", "patch", "update"}, {"pdb"}},
  };
  return *r;
}

const ResourceInfo* FindResource(absl::string_view group, absl::string_view version,
                                 absl::string_view name) {
  for (const auto& r : Resources()) {
    if (r.group == group && r.version == version && r.name == name) return &r;
  }
  return nullptr;
}

std::string ApiVersionOf(const ResourceInfo& r) {
  return std::string(r.group).empty() ? r.version : absl::StrCat(r.group, "/", r.version);
}

std::string Rfc3339(absl::Time t) { return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone()); }

std::string Key(absl::string_view ns, absl::string_view name) {
  return ns.empty() ? std::string(name) : absl::StrCat(ns, "/", name);
}

std::map<std::string, std::string> Labels(const json& obj) {
  std::map<std::string, std::string> out;
  const json* labels = nullptr;
  if (obj.contains("metadata") && obj["metadata"].contains("labels")) {
    labels = &obj["metadata"]["labels"];
  }
  if (labels != nullptr && labels->is_object()) {
    for (auto it = labels->begin(); it != labels->end(); ++it) {
      if (it.value().is_string()) out[it.key()] = it.value().get<std::string>();
    }
  }
  return out;
}

bool Terminating(const json& pod) {
  return pod["metadata"].contains("deletionTimestamp") &&
         !pod["metadata"]["deletionTimestamp"].is_null();
}

std::string Phase(const json& pod) {
  if (pod.contains("status") && pod["status"].is_object()) return pod["status"].value("phase", "");
  return "";
}

bool Ready(const json& pod) {
  if (!pod.contains("status") || !pod["status"].contains("conditions")) return false;
  for (const auto& c : pod["status"]["conditions"]) {
    if (c.value("type", "") == "Ready") return c.value("status", "") == "True";
  }
  return false;
}

bool Healthy(const json& pod) { return Phase(pod) == "Running" && Ready(pod) && !Terminating(pod); }

// Value at a dotted path as text ("" when absent; booleans as true/false).
std::string FieldValue(const json& obj, absl::string_view path) {
  const json* cur = &obj;
  for (absl::string_view part : absl::StrSplit(path, '.')) {
    if (!cur->is_object()) return "";
    auto it = cur->find(std::string(part));
    if (it == cur->end()) return "";
    cur = &*it;
  }
  if (cur->is_string()) return cur->get<std::string>();
  if (cur->is_boolean()) return cur->get<bool>() ? "true" : "false";
  if (cur->is_number()) return cur->dump();
  return "";
}

struct FieldTerm {
  std::string field;
  bool equal;
  std::string value;
};

absl::StatusOr<std::vector<FieldTerm>> ParseFieldSelector(absl::string_view text,
                                                          absl::string_view resource) {
  std::vector<FieldTerm> out;
  if (text.empty()) return out;
  static const std::map<std::string, std::vector<std::string>> kSupported = {
      {"pods",
       {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
        "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"}},
      {"events",
       {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
        "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
        "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"}},
      {"nodes", {"spec.unschedulable"}},
  };
  for (absl::string_view term : absl::StrSplit(text, ',')) {
    FieldTerm t;
    size_t pos;
    if ((pos = term.find("!=")) != absl::string_view::npos) {
      t.equal = false;
      t.field = std::string(term.substr(0, pos));
      t.value = std::string(term.substr(pos + 2));
    } else if ((pos = term.find("==")) != absl::string_view::npos) {
      t.equal = true;
      t.field = std::string(term.substr(0, pos));
      t.value = std::string(term.substr(pos + 2));
    } else if ((pos = term.find('=')) != absl::string_view::npos) {
      t.equal = true;
      t.field = std::string(term.substr(0, pos));
      t.value = std::string(term.substr(pos + 1));
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid selector: '", text, "'; can't understand '", term, "'"));
    }
    bool ok = t.field == "metadata.name" || t.field == "metadata.namespace";
    auto it = kSupported.find(std::string(resource));
    if (!ok && it != kSupported.end()) {
      ok = std::find(it->second.begin(), it->second.end(), t.field) != it->second.end();
    }
    if (!ok) return absl::InvalidArgumentError(absl::StrCat("field label not supported: ", t.field));
    out.push_back(std::move(t));
  }
  return out;
}

std::string HumanAge(absl::Duration d) {
  const int64_t s = std::max<int64_t>(0, absl::ToInt64Seconds(d));
  if (s < 120) return absl::StrCat(s, "s");
  if (s < 3600 * 2) return absl::StrCat(s / 60, "m");
  if (s < 86400 * 2) return absl::StrCat(s / 3600, "h");
  return absl::StrCat(s / 86400, "d");
}

bool JsonContentType(absl::string_view ct) {
  return ct == "application/json" || absl::StartsWith(ct, "application/json;") ||
         absl::StartsWith(ct, "application/json ");
}

}  // namespace

class FakeApiServer::Impl {
 public:
  explicit Impl(FakeApiServerOptions options) : options_(std::move(options)) {
    std::random_device rd;
    uid_seed_ = (static_cast<uint64_t>(rd()) << 32) ^ rd();
    for (const char* ns : {"default", "kube-system"}) {
      absl::MutexLock lock(&mu_);
      EnsureNamespace(ns);
    }
  }

  const FakeApiServerOptions options_;
  // ConfigMaps and Leases (with watch) live in their own stores
  // (object_store.h), which serve their paths and discovery entries.
  FakeConfigMaps configmaps_;
  FakeLeases leases_;
  std::vector<FakeObjectStore*> Stores() { return {&configmaps_, &leases_}; }
  std::unique_ptr<httplib::Server> server_;
  std::unique_ptr<http::ServingThread> serving_;  // after server_: stops first

  absl::Mutex mu_;
  // resource name -> "ns/name" (or "name") -> object
  std::map<std::string, std::map<std::string, json>> store_ ABSL_GUARDED_BY(mu_);
  // pod key -> when it disappears
  std::map<std::string, absl::Time> delete_at_ ABSL_GUARDED_BY(mu_);
  int64_t rv_ ABSL_GUARDED_BY(mu_) = 1000;
  uint64_t uid_counter_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t uid_seed_ = 0;
  bool eviction_served_ ABSL_GUARDED_BY(mu_) = true;
  int64_t total_requests_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, int64_t> counts_ ABSL_GUARDED_BY(mu_);

  // ---- state helpers (mu_ held) ----

  std::string NewUid() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const uint64_t n = ++uid_counter_;
    return absl::StrFormat("%08x-%04x-4%03x-8%03x-%012x", static_cast<uint32_t>(uid_seed_ >> 32),
                           static_cast<uint32_t>(uid_seed_ & 0xffff),
                           static_cast<uint32_t>((uid_seed_ >> 16) & 0xfff),
                           static_cast<uint32_t>((n >> 48) & 0xfff), n & 0xffffffffffffULL);
  }

  std::string NextRv() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return absl::StrCat(++rv_); }

  void EnsureNamespace(const std::string& ns) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto& nss = store_["namespaces"];
    if (nss.count(ns)) return;
    nss[ns] = {{"apiVersion", "v1"},
               {"kind", "Namespace"},
               {"metadata",
                {{"name", ns},
                 {"uid", NewUid()},
                 {"resourceVersion", NextRv()},
                 {"creationTimestamp", Rfc3339(absl::Now())}}},
               {"spec", {{"finalizers", {"kubernetes"}}}},
               {"status", {{"phase", "Active"}}}};
  }

  absl::Status Put(const ResourceInfo& r, json obj) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!obj.is_object() || !obj.contains("metadata") || !obj["metadata"].is_object() ||
        obj["metadata"].value("name", "").empty()) {
      return absl::InvalidArgumentError(absl::StrCat(r.kind, " without metadata.name"));
    }
    json& md = obj["metadata"];
    if (r.namespaced) {
      if (md.value("namespace", "").empty()) md["namespace"] = "default";
      EnsureNamespace(md["namespace"].get<std::string>());
    } else {
      md.erase("namespace");
    }
    obj["kind"] = r.kind;
    obj["apiVersion"] = ApiVersionOf(r);
    if (md.value("uid", "").empty()) md["uid"] = NewUid();
    if (md.value("creationTimestamp", "").empty()) md["creationTimestamp"] = Rfc3339(absl::Now());
    md["resourceVersion"] = NextRv();
    const std::string key = Key(md.value("namespace", ""), md["name"].get<std::string>());
    store_[r.name][key] = std::move(obj);
    return absl::OkStatus();
  }

  // Removes pods whose grace period has passed.
  void Sweep() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const absl::Time now = absl::Now();
    for (auto it = delete_at_.begin(); it != delete_at_.end();) {
      if (it->second <= now) {
        store_["pods"].erase(it->first);
        it = delete_at_.erase(it);
      } else {
        ++it;
      }
    }
  }

  // Starts a pod's graceful deletion (or deletes it at once).
  json DeletePodLocked(const std::string& key, int64_t grace) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    json& pod = store_["pods"][key];
    if (grace < 0) {
      grace = 30;
      if (pod.contains("spec") && pod["spec"].contains("terminationGracePeriodSeconds") &&
          pod["spec"]["terminationGracePeriodSeconds"].is_number_integer()) {
        grace = pod["spec"]["terminationGracePeriodSeconds"].get<int64_t>();
      }
    }
    const std::string phase = Phase(pod);
    const bool unscheduled = FieldValue(pod, "spec.nodeName").empty();
    const bool was_terminating = Terminating(pod);
    if (!was_terminating) MaybeReschedule(pod);
    json& pod2 = pod;  // std::map: inserting the replacement keeps references valid
    if (grace == 0 || phase == "Succeeded" || phase == "Failed" || unscheduled) {
      json out = pod2;
      out["metadata"]["deletionTimestamp"] = Rfc3339(absl::Now());
      out["metadata"]["deletionGracePeriodSeconds"] = 0;
      store_["pods"].erase(key);
      delete_at_.erase(key);
      return out;
    }
    const absl::Time at = absl::Now() + absl::Seconds(grace);
    auto existing = delete_at_.find(key);
    if (existing == delete_at_.end() || at < existing->second) {
      delete_at_[key] = at;
      pod2["metadata"]["deletionTimestamp"] = Rfc3339(at);
      pod2["metadata"]["deletionGracePeriodSeconds"] = grace;
      pod2["metadata"]["resourceVersion"] = NextRv();
    }
    return pod2;
  }

  // A ReplicaSet's pod leaving is replaced on a schedulable node.
  void MaybeReschedule(const json& pod) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!options_.reschedule) return;
    const std::string phase = Phase(pod);
    if (phase == "Succeeded" || phase == "Failed") return;
    std::string rs_name;
    if (pod["metadata"].contains("ownerReferences")) {
      for (const auto& o : pod["metadata"]["ownerReferences"]) {
        if (o.value("controller", false) && o.value("kind", "") == "ReplicaSet") {
          rs_name = o.value("name", "");
        }
      }
    }
    if (rs_name.empty()) return;
    // Least-loaded schedulable node.
    std::map<std::string, int> load;
    for (const auto& [k, n] : store_["nodes"]) {
      if (n.contains("spec") && n["spec"].value("unschedulable", false)) continue;
      bool tainted = false;
      if (n.contains("spec") && n["spec"].contains("taints")) {
        for (const auto& t : n["spec"]["taints"]) {
          const std::string effect = t.value("effect", "");
          if (effect == "NoSchedule" || effect == "NoExecute") tainted = true;
        }
      }
      if (tainted) continue;
      load[n["metadata"]["name"].get<std::string>()] = 0;
    }
    for (const auto& [k, p] : store_["pods"]) {
      auto it = load.find(FieldValue(p, "spec.nodeName"));
      if (it != load.end()) ++it->second;
    }
    std::string node;
    int best = 1 << 30;
    for (const auto& [name, n] : load) {
      if (n < best) {
        best = n;
        node = name;
      }
    }
    json repl = pod;
    const std::string ns = pod["metadata"].value("namespace", "default");
    std::string name;
    for (int i = 0;; ++i) {
      name = absl::StrCat(rs_name, "-r", uid_counter_ + 1 + i);
      if (!store_["pods"].count(Key(ns, name))) break;
    }
    repl["metadata"] = {{"name", name},
                        {"namespace", ns},
                        {"labels", pod["metadata"].value("labels", json::object())},
                        {"ownerReferences", pod["metadata"]["ownerReferences"]}};
    if (node.empty()) {
      repl["spec"].erase("nodeName");
      repl["status"] = {{"phase", "Pending"}};
    } else {
      repl["spec"]["nodeName"] = node;
      repl["status"] = {{"phase", "Running"},
                        {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}};
    }
    (void)Put(*FindResource("", "v1", "pods"), std::move(repl));
  }

  // Budgets that select the pod.
  std::vector<const json*> PdbsFor(const json& pod) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::vector<const json*> out;
    const std::string ns = pod["metadata"].value("namespace", "");
    const auto labels = Labels(pod);
    for (const auto& [k, pdb] : store_["poddisruptionbudgets"]) {
      if (pdb["metadata"].value("namespace", "") != ns) continue;
      if (SelectorMatches(pdb, labels)) out.push_back(&pdb);
    }
    return out;
  }

  static bool SelectorMatches(const json& pdb, const std::map<std::string, std::string>& labels) {
    if (!pdb.contains("spec") || !pdb["spec"].contains("selector")) return false;
    const json& sel = pdb["spec"]["selector"];
    if (!sel.is_object() || sel.empty()) return false;  // policy/v1: an empty selector... kept narrow
    if (sel.contains("matchLabels")) {
      for (auto it = sel["matchLabels"].begin(); it != sel["matchLabels"].end(); ++it) {
        auto l = labels.find(it.key());
        if (l == labels.end() || !it.value().is_string() || l->second != it.value().get<std::string>())
          return false;
      }
    }
    if (sel.contains("matchExpressions")) {
      for (const auto& e : sel["matchExpressions"]) {
        const std::string key = e.value("key", "");
        const std::string op = e.value("operator", "");
        std::vector<std::string> values;
        if (e.contains("values")) {
          for (const auto& v : e["values"]) values.push_back(v.get<std::string>());
        }
        auto l = labels.find(key);
        const bool has = l != labels.end();
        const bool in = has && std::find(values.begin(), values.end(), l->second) != values.end();
        if (op == "In" && !in) return false;
        if (op == "NotIn" && in) return false;
        if (op == "Exists" && !has) return false;
        if (op == "DoesNotExist" && has) return false;
      }
    }
    return true;
  }

  struct PdbState {
    int64_t expected = 0;
    int64_t healthy = 0;
    int64_t desired = 0;
    int64_t allowed = 0;
  };

  static int64_t ScaledValue(const json& v, int64_t total, bool round_up) {
    if (v.is_number_integer()) return v.get<int64_t>();
    if (v.is_string()) {
      std::string s = v.get<std::string>();
      if (absl::EndsWith(s, "%")) {
        int64_t pct = 0;
        absl::SimpleAtoi(s.substr(0, s.size() - 1), &pct);
        const double x = static_cast<double>(total) * pct / 100.0;
        return round_up ? static_cast<int64_t>(std::ceil(x)) : static_cast<int64_t>(std::floor(x));
      }
      int64_t n = 0;
      absl::SimpleAtoi(s, &n);
      return n;
    }
    return 0;
  }

  PdbState ComputePdb(const json& pdb) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    PdbState st;
    const std::string ns = pdb["metadata"].value("namespace", "");
    std::map<std::string, int64_t> controllers;
    int64_t uncontrolled = 0;
    for (const auto& [k, pod] : store_["pods"]) {
      if (pod["metadata"].value("namespace", "") != ns) continue;
      if (!SelectorMatches(pdb, Labels(pod))) continue;
      if (Healthy(pod)) ++st.healthy;
      std::string rs;
      if (pod["metadata"].contains("ownerReferences")) {
        for (const auto& o : pod["metadata"]["ownerReferences"]) {
          if (o.value("controller", false) && o.value("kind", "") == "ReplicaSet") {
            rs = o.value("name", "");
          }
        }
      }
      auto rs_it = rs.empty() ? store_["replicasets"].end() : store_["replicasets"].find(Key(ns, rs));
      if (rs_it != store_["replicasets"].end() && rs_it->second.contains("spec") &&
          rs_it->second["spec"].contains("replicas")) {
        controllers[rs] = rs_it->second["spec"]["replicas"].get<int64_t>();
      } else {
        ++uncontrolled;
      }
    }
    st.expected = uncontrolled;
    for (const auto& [name, n] : controllers) st.expected += n;
    const json& spec = pdb["spec"];
    if (spec.contains("minAvailable")) {
      st.desired = ScaledValue(spec["minAvailable"], st.expected, true);
    } else if (spec.contains("maxUnavailable")) {
      st.desired = std::max<int64_t>(0, st.expected - ScaledValue(spec["maxUnavailable"],
                                                                  st.expected, true));
    }
    st.allowed = std::max<int64_t>(0, st.healthy - st.desired);
    // As the disruption controller: maxUnavailable and percentages need the
    // scale of the pods' controllers; pods without one allow no disruption.
    const bool needs_scale =
        spec.contains("maxUnavailable") ||
        (spec.contains("minAvailable") && spec["minAvailable"].is_string());
    if (needs_scale && uncontrolled > 0) st.allowed = 0;
    return st;
  }

  json WithPdbStatus(json pdb) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const PdbState st = ComputePdb(pdb);
    pdb["status"] = {{"currentHealthy", st.healthy},
                     {"desiredHealthy", st.desired},
                     {"disruptionsAllowed", st.allowed},
                     {"expectedPods", st.expected},
                     {"observedGeneration", 1}};
    return pdb;
  }

  // ---- HTTP ----

  using Reply = FakeReply;

  bool Authenticated(const httplib::Request& req) {
    if (options_.tokens.empty() && options_.client_ca_file.empty()) return true;
    const std::string auth = req.get_header_value("Authorization");
    if (absl::StartsWith(auth, "Bearer ")) {
      const std::string token = auth.substr(7);
      for (const auto& t : options_.tokens) {
        if (t == token) return true;
      }
    }
    if (req.ssl != nullptr && !options_.client_ca_file.empty()) {
      X509* peer = SSL_get1_peer_certificate(req.ssl);
      const bool ok = peer != nullptr && SSL_get_verify_result(req.ssl) == X509_V_OK;
      if (peer != nullptr) X509_free(peer);
      if (ok) return true;
    }
    return false;
  }

  void Serve(const httplib::Request& req, httplib::Response& res) {
    Reply reply;
    {
      absl::MutexLock lock(&mu_);
      ++total_requests_;
    }
    if (!Authenticated(req)) {
      reply = {401, StatusBody(401, "Unauthorized", "Unauthorized")};
      Count(req.method, "unauthorized");
    } else {
      for (FakeObjectStore* store : Stores()) {
        if (store->Handles(req.path)) {
          Count(req.method, store->type().plural);
          store->Serve(req, res);
          return;
        }
      }
      reply = Route(req);
    }
    res.status = reply.code;
    res.set_content(reply.body.dump(), "application/json");
  }

  void Count(const std::string& method, const std::string& kind) {
    absl::MutexLock lock(&mu_);
    ++counts_[absl::StrCat(method, " ", kind)];
  }

  Reply NotFoundPath() {
    return {404, StatusBody(404, "NotFound", "the server could not find the requested resource",
                            {{}})};
  }

  Reply Route(const httplib::Request& req) {
    const std::string& path = req.path;
    std::vector<std::string> parts = absl::StrSplit(path, '/', absl::SkipEmpty());
    const std::string& m = req.method;
    // Discovery.
    if (path == "/version" || path == "/version/") {
      Count(m, "discovery");
      if (m != "GET") return MethodNotAllowed();
      return {200, VersionInfo()};
    }
    if (path == "/api" || path == "/apis" || path == "/api/v1" || path == "/apis/apps/v1" ||
        path == "/apis/policy/v1" || path == "/apis/apps" || path == "/apis/policy" ||
        path == "/apis/coordination.k8s.io" || path == "/apis/coordination.k8s.io/v1") {
      Count(m, "discovery");
      if (m != "GET") return MethodNotAllowed();
      return {200, Discovery(path)};
    }
    if (path == "/healthz" || path == "/readyz" || path == "/livez") {
      Count(m, "health");
      return {200, "ok"};
    }
    std::string group, version;
    size_t i = 0;
    if (parts.size() >= 2 && parts[0] == "api") {
      version = parts[1];
      i = 2;
    } else if (parts.size() >= 3 && parts[0] == "apis") {
      group = parts[1];
      version = parts[2];
      i = 3;
    } else {
      Count(m, "unknown");
      return NotFoundPath();
    }
    std::string ns, resource, name, sub;
    std::vector<std::string> rest(parts.begin() + i, parts.end());
    if (rest.size() >= 3 && rest[0] == "namespaces") {
      ns = rest[1];
      resource = rest[2];
      if (rest.size() >= 4) name = rest[3];
      if (rest.size() >= 5) sub = rest[4];
      if (rest.size() > 5) {
        Count(m, "unknown");
        return NotFoundPath();
      }
    } else if (!rest.empty()) {
      resource = rest[0];
      if (rest.size() >= 2) name = rest[1];
      if (rest.size() >= 3) sub = rest[2];
      if (rest.size() > 3) {
        Count(m, "unknown");
        return NotFoundPath();
      }
    }
    const ResourceInfo* r = FindResource(group, version, resource);
    Count(m, sub.empty() ? resource : sub);
    if (r == nullptr) return NotFoundPath();
    if (!ns.empty() && !r->namespaced) return NotFoundPath();
    absl::MutexLock lock(&mu_);
    Sweep();
    if (!ns.empty() && !store_["namespaces"].count(ns) && !(m == "GET" && name.empty())) {
      if (m != "DELETE" && m != "GET") {
        return {404, StatusBody(404, "NotFound", absl::StrCat("namespaces \"", ns, "\" not found"),
                                {{"name", ns}, {"kind", "namespaces"}})};
      }
    }
    if (!sub.empty()) {
      if (std::string(r->name) == "pods" && sub == "eviction" && !ns.empty()) {
        if (m != "POST") return MethodNotAllowed();
        if (!eviction_served_) return NotFoundPath();
        return Evict(req, ns, name);
      }
      return NotFoundPath();
    }
    if (name.empty()) {
      if (m == "GET") return List(req, *r, ns);
      if (m == "POST") {
        if (r->namespaced && ns.empty()) return MethodNotAllowed();
        return Create(req, *r, ns);
      }
      return MethodNotAllowed();
    }
    if (r->namespaced && ns.empty()) return NotFoundPath();
    if (m == "GET") return GetOne(req, *r, ns, name);
    if (m == "PATCH") return PatchOne(req, *r, ns, name);
    if (m == "DELETE") return DeleteOne(req, *r, ns, name);
    if (m == "PUT") return PutOne(req, *r, ns, name);
    return MethodNotAllowed();
  }

  static Reply MethodNotAllowed() {
    return {405, StatusBody(405, "MethodNotAllowed",
                            "the server does not allow this method on the requested resource")};
  }

  static Reply NotFoundObject(const ResourceInfo& r, const std::string& name) {
    return {404, StatusBody(404, "NotFound", absl::StrCat(r.name, " \"", name, "\" not found"),
                            {{"name", name}, {"kind", r.name}})};
  }

  static Reply BadRequest(absl::string_view message) {
    return {400, StatusBody(400, "BadRequest", message)};
  }

  static Reply UnsupportedMediaType(absl::string_view ct) {
    return {415, StatusBody(415, "UnsupportedMediaType",
                            absl::StrCat("the body of the request was in an unknown format - "
                                         "accepted media types include: application/json, "
                                         "application/yaml, application/vnd.kubernetes.protobuf",
                                         ct.empty() ? "" : absl::StrCat(" (got ", ct, ")")))};
  }

  json VersionInfo() const {
    std::string v = options_.git_version;
    std::vector<std::string> p = absl::StrSplit(absl::StripPrefix(v, "v"), '.');
    return {{"major", p.size() > 0 ? p[0] : "1"},
            {"minor", p.size() > 1 ? p[1] : "30"},
            {"gitVersion", v},
            {"gitCommit", "0000000000000000000000000000000000000000"},
            {"gitTreeState", "clean"},
            {"buildDate", "2024-01-01T00:00:00Z"},
            {"goVersion", "go1.22.0"},
            {"compiler", "gc"},
            {"platform", "linux/amd64"}};
  }

  json Discovery(const std::string& path) {
    if (path == "/api") {
      return {{"kind", "APIVersions"},
              {"versions", {"v1"}},
              {"serverAddressByClientCIDRs",
               {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", "127.0.0.1:443"}}}}};
    }
    auto group_json = [](const char* g) {
      const std::string gv = absl::StrCat(g, "/v1");
      return json{{"name", g},
                  {"versions", {{{"groupVersion", gv}, {"version", "v1"}}}},
                  {"preferredVersion", {{"groupVersion", gv}, {"version", "v1"}}}};
    };
    if (path == "/apis") {
      return {{"kind", "APIGroupList"},
              {"apiVersion", "v1"},
              {"groups",
               {group_json("apps"), group_json("policy"), group_json("coordination.k8s.io")}}};
    }
    // "/apis/<group>" or "/apis/<group>/v1" (Route lets only served ones in).
    std::vector<std::string> parts = absl::StrSplit(path, '/', absl::SkipEmpty());
    if (parts.size() == 2 && parts[0] == "apis") {
      json g = group_json(parts[1].c_str());
      g["kind"] = "APIGroup";
      g["apiVersion"] = "v1";
      return g;
    }
    std::string group, gv;
    if (path == "/api/v1") {
      gv = "v1";
    } else {
      group = parts[1];
      gv = absl::StrCat(group, "/v1");
    }
    json resources = json::array();
    for (const auto& r : Resources()) {
      if (r.group != group) continue;
      std::string singular = absl::AsciiStrToLower(r.kind);
      json e = {{"name", r.name},         {"singularName", singular}, {"namespaced", r.namespaced},
                {"kind", r.kind},         {"verbs", r.verbs},          {"shortNames", r.short_names},
                {"storageVersionHash", "fake"}};
      resources.push_back(e);
      if (std::string(r.name) == "pods") {
        bool served;
        {
          absl::MutexLock lock(&mu_);
          served = eviction_served_;
        }
        if (served) {
          resources.push_back({{"name", "pods/eviction"},
                               {"singularName", ""},
                               {"namespaced", true},
                               {"group", "policy"},
                               {"version", "v1"},
                               {"kind", "Eviction"},
                               {"verbs", {"create"}}});
        }
      }
    }
    for (FakeObjectStore* store : Stores()) {
      if (store->type().group == group) resources.push_back(store->DiscoveryEntry());
    }
    return {{"kind", "APIResourceList"},
            {"apiVersion", "v1"},
            {"groupVersion", gv},
            {"resources", resources}};
  }

  bool WantsTable(const httplib::Request& req) {
    return absl::StrContains(req.get_header_value("Accept"), "as=Table");
  }

  json TableOf(const httplib::Request& req, const ResourceInfo& r, const std::vector<json>& items)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const std::string rname = r.name;
    auto col = [](const char* name, const char* type, const char* format, int priority) {
      return json{{"name", name},
                  {"type", type},
                  {"format", format},
                  {"description", name},
                  {"priority", priority}};
    };
    json cols = json::array();
    cols.push_back(col("Name", "string", "name", 0));
    if (rname == "nodes") {
      cols.push_back(col("Status", "string", "", 0));
      cols.push_back(col("Roles", "string", "", 0));
      cols.push_back(col("Age", "string", "", 0));
      cols.push_back(col("Version", "string", "", 0));
    } else if (rname == "pods") {
      cols.push_back(col("Ready", "string", "", 0));
      cols.push_back(col("Status", "string", "", 0));
      cols.push_back(col("Restarts", "string", "", 0));
      cols.push_back(col("Age", "string", "", 0));
      cols.push_back(col("Node", "string", "", 1));
    } else {
      cols.push_back(col("Age", "string", "", 0));
    }
    const std::string include = req.has_param("includeObject") ? req.get_param_value("includeObject")
                                                               : "PartialObjectMetadata";
    json rows = json::array();
    const absl::Time now = absl::Now();
    for (const json& obj : items) {
      absl::Time created = now;
      std::string err;
      absl::ParseTime(absl::RFC3339_full, FieldValue(obj, "metadata.creationTimestamp"), &created,
                      &err);
      const std::string age = HumanAge(now - created);
      json cells = json::array({obj["metadata"]["name"]});
      if (rname == "nodes") {
        std::string status = "Unknown";
        if (obj.contains("status") && obj["status"].contains("conditions")) {
          for (const auto& c : obj["status"]["conditions"]) {
            if (c.value("type", "") == "Ready") {
              status = c.value("status", "") == "True" ? "Ready" : "NotReady";
            }
          }
        }
        if (obj.contains("spec") && obj["spec"].value("unschedulable", false)) {
          status += ",SchedulingDisabled";
        }
        cells.push_back(status);
        cells.push_back("<none>");
        cells.push_back(age);
        cells.push_back(FieldValue(obj, "status.nodeInfo.kubeletVersion"));
      } else if (rname == "pods") {
        cells.push_back(Ready(obj) ? "1/1" : "0/1");
        cells.push_back(Terminating(obj) ? "Terminating" : Phase(obj));
        cells.push_back(0);
        cells.push_back(age);
        cells.push_back(FieldValue(obj, "spec.nodeName"));
      } else {
        cells.push_back(age);
      }
      json row = {{"cells", cells}};
      if (include == "Object") {
        row["object"] = obj;
      } else if (include != "None") {
        row["object"] = {{"kind", "PartialObjectMetadata"},
                         {"apiVersion", "meta.k8s.io/v1"},
                         {"metadata", obj["metadata"]}};
      }
      rows.push_back(row);
    }
    return {{"kind", "Table"},
            {"apiVersion", "meta.k8s.io/v1"},
            {"metadata", {{"resourceVersion", absl::StrCat(rv_)}}},
            {"columnDefinitions", cols},
            {"rows", rows}};
  }

  json Decorate(const ResourceInfo& r, const json& obj) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (std::string(r.name) == "poddisruptionbudgets") return WithPdbStatus(obj);
    return obj;
  }

  Reply List(const httplib::Request& req, const ResourceInfo& r, const std::string& ns)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (req.has_param("watch") && req.get_param_value("watch") == "true") {
      return {405, StatusBody(405, "MethodNotAllowed", "watch is not supported by the fake")};
    }
    auto label_sel = kube::LabelSelector::Parse(req.get_param_value("labelSelector"));
    if (!label_sel.ok()) return BadRequest(label_sel.status().message());
    auto field_sel = ParseFieldSelector(req.get_param_value("fieldSelector"), r.name);
    if (!field_sel.ok()) return BadRequest(field_sel.status().message());
    int64_t limit = 0;
    if (req.has_param("limit") &&
        (!absl::SimpleAtoi(req.get_param_value("limit"), &limit) || limit < 0)) {
      return BadRequest(absl::StrCat("invalid limit \"", req.get_param_value("limit"), "\""));
    }
    int64_t start = 0;
    if (req.has_param("continue") && !req.get_param_value("continue").empty()) {
      const std::string c = req.get_param_value("continue");
      if (!absl::StartsWith(c, "fake:") || !absl::SimpleAtoi(c.substr(5), &start) || start < 0) {
        return BadRequest("continue key is not valid: malformed");
      }
    }
    std::vector<json> matched;
    for (const auto& [key, obj] : store_[r.name]) {
      if (!ns.empty() && obj["metadata"].value("namespace", "") != ns) continue;
      if (!label_sel->Matches(Labels(obj))) continue;
      bool ok = true;
      for (const FieldTerm& t : *field_sel) {
        if ((FieldValue(obj, t.field) == t.value) != t.equal) ok = false;
      }
      if (ok) matched.push_back(Decorate(r, obj));
    }
    std::string next;
    std::vector<json> page;
    for (int64_t i = start; i < static_cast<int64_t>(matched.size()); ++i) {
      if (limit > 0 && static_cast<int64_t>(page.size()) >= limit) {
        next = absl::StrCat("fake:", i);
        break;
      }
      page.push_back(std::move(matched[i]));
    }
    if (WantsTable(req)) {
      json t = TableOf(req, r, page);
      if (!next.empty()) t["metadata"]["continue"] = next;
      return {200, t};
    }
    json items = json::array();
    for (auto& o : page) items.push_back(std::move(o));
    json md = {{"resourceVersion", absl::StrCat(rv_)}};
    if (!next.empty()) md["continue"] = next;
    return {200,
            {{"kind", r.list_kind}, {"apiVersion", ApiVersionOf(r)}, {"metadata", md},
             {"items", items}}};
  }

  Reply GetOne(const httplib::Request& req, const ResourceInfo& r, const std::string& ns,
               const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = store_[r.name].find(Key(ns, name));
    if (it == store_[r.name].end()) return NotFoundObject(r, name);
    if (WantsTable(req)) return {200, TableOf(req, r, {Decorate(r, it->second)})};
    return {200, Decorate(r, it->second)};
  }

  absl::StatusOr<json> ParseBody(const httplib::Request& req) {
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded()) {
      return absl::InvalidArgumentError("the request body is not valid JSON");
    }
    return body;
  }

  Reply Create(const httplib::Request& req, const ResourceInfo& r, const std::string& ns)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const std::string ct = req.get_header_value("Content-Type");
    if (!JsonContentType(ct)) return UnsupportedMediaType(ct);
    auto body = ParseBody(req);
    if (!body.ok()) return BadRequest(body.status().message());
    if (!body->is_object()) return BadRequest(absl::StrCat("a ", r.kind, " must be a JSON object"));
    if (body->contains("kind") && (*body)["kind"] != r.kind) {
      return BadRequest(absl::StrCat("the kind \"", (*body)["kind"].dump(), "\" does not match ",
                                     r.kind));
    }
    json& md = (*body)["metadata"];
    if (!md.is_object()) md = json::object();
    if (md.value("name", "").empty()) {
      const std::string gen = md.value("generateName", "");
      if (gen.empty()) {
        return {422, StatusBody(422, "Invalid",
                                absl::StrCat(r.kind, " is invalid: metadata.name: Required value: "
                                             "name or generateName is required"))};
      }
      md["name"] = absl::StrCat(gen, absl::StrFormat("%05x", (uid_counter_ * 2654435761u) & 0xfffff));
    }
    if (r.namespaced) {
      const std::string body_ns = md.value("namespace", "");
      if (!body_ns.empty() && body_ns != ns) {
        return BadRequest("the namespace of the provided object does not match the namespace sent "
                          "on the request");
      }
      md["namespace"] = ns;
    }
    if (std::string(r.name) == "events" && (!body->contains("involvedObject") ||
                                            !(*body)["involvedObject"].is_object())) {
      return {422, StatusBody(422, "Invalid",
                              "Event is invalid: involvedObject: Required value")};
    }
    const std::string key = Key(ns, md["name"].get<std::string>());
    if (store_[r.name].count(key)) {
      return {409, StatusBody(409, "AlreadyExists",
                              absl::StrCat(r.name, " \"", md["name"].get<std::string>(),
                                           "\" already exists"),
                              {{"name", md["name"]}, {"kind", r.name}})};
    }
    md.erase("uid");
    md.erase("resourceVersion");
    md.erase("creationTimestamp");
    absl::Status s = Put(r, *body);
    if (!s.ok()) return BadRequest(s.message());
    return {201, store_[r.name][key]};
  }

  Reply PutOne(const httplib::Request& req, const ResourceInfo& r, const std::string& ns,
               const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const std::string ct = req.get_header_value("Content-Type");
    if (!JsonContentType(ct)) return UnsupportedMediaType(ct);
    auto body = ParseBody(req);
    if (!body.ok()) return BadRequest(body.status().message());
    auto it = store_[r.name].find(Key(ns, name));
    if (it == store_[r.name].end()) return NotFoundObject(r, name);
    if (!body->is_object() || FieldValue(*body, "metadata.name") != name) {
      return BadRequest("the name of the object does not match the name on the URL");
    }
    const std::string rv = FieldValue(*body, "metadata.resourceVersion");
    if (!rv.empty() && rv != FieldValue(it->second, "metadata.resourceVersion")) return Conflict(r, name);
    (*body)["metadata"]["uid"] = it->second["metadata"]["uid"];
    (*body)["metadata"]["creationTimestamp"] = it->second["metadata"]["creationTimestamp"];
    absl::Status s = Put(r, *body);
    if (!s.ok()) return BadRequest(s.message());
    return {200, store_[r.name][Key(ns, name)]};
  }

  static Reply Conflict(const ResourceInfo& r, const std::string& name) {
    return {409, StatusBody(409, "Conflict",
                            absl::StrCat("Operation cannot be fulfilled on ", r.name, " \"", name,
                                         "\": the object has been modified; please apply your "
                                         "changes to the latest version and try again"),
                            {{"name", name}, {"kind", r.name}})};
  }

  Reply PatchOne(const httplib::Request& req, const ResourceInfo& r, const std::string& ns,
                 const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::string ct = req.get_header_value("Content-Type");
    const size_t semi = ct.find(';');
    if (semi != std::string::npos) ct = ct.substr(0, semi);
    const bool merge = ct == "application/merge-patch+json" ||
                       ct == "application/strategic-merge-patch+json";
    const bool jsonpatch = ct == "application/json-patch+json";
    if (!merge && !jsonpatch) return UnsupportedPatchType(ct);
    auto it = store_[r.name].find(Key(ns, name));
    if (it == store_[r.name].end()) return NotFoundObject(r, name);
    auto patch = ParseBody(req);
    if (!patch.ok()) return BadRequest(patch.status().message());
    json result;
    if (merge) {
      if (!patch->is_object()) return BadRequest("a merge patch must be a JSON object");
      const std::string rv = FieldValue(*patch, "metadata.resourceVersion");
      if (!rv.empty() && rv != FieldValue(it->second, "metadata.resourceVersion")) {
        return Conflict(r, name);
      }
      result = it->second;
      result.merge_patch(*patch);
    } else {
      if (!patch->is_array()) return BadRequest("a JSON patch must be a JSON array");
      try {
        result = it->second.patch(*patch);
      } catch (const json::exception& e) {
        return {422, StatusBody(422, "Invalid", absl::StrCat("the JSON patch failed: ", e.what()))};
      }
    }
    if (FieldValue(result, "metadata.name") != name ||
        FieldValue(result, "metadata.namespace") != ns) {
      return BadRequest("metadata.name and metadata.namespace cannot be changed");
    }
    result["metadata"]["uid"] = it->second["metadata"]["uid"];
    absl::Status s = Put(r, std::move(result));
    if (!s.ok()) return BadRequest(s.message());
    return {200, Decorate(r, store_[r.name][Key(ns, name)])};
  }

  // DeleteOptions from the body (if any) and the query.
  absl::StatusOr<json> DeleteOptions(const httplib::Request& req) {
    json opts = json::object();
    if (!req.body.empty()) {
      const std::string ct = req.get_header_value("Content-Type");
      if (!ct.empty() && !JsonContentType(ct)) {
        return absl::InvalidArgumentError(absl::StrCat("unsupported content type ", ct));
      }
      opts = json::parse(req.body, nullptr, false);
      if (opts.is_discarded() || !opts.is_object()) {
        return absl::InvalidArgumentError("the DeleteOptions body is not a JSON object");
      }
    }
    if (req.has_param("gracePeriodSeconds")) {
      int64_t g = 0;
      if (!absl::SimpleAtoi(req.get_param_value("gracePeriodSeconds"), &g)) {
        return absl::InvalidArgumentError("gracePeriodSeconds is not a number");
      }
      opts["gracePeriodSeconds"] = g;
    }
    if (opts.contains("gracePeriodSeconds") && !opts["gracePeriodSeconds"].is_number_integer() &&
        !opts["gracePeriodSeconds"].is_null()) {
      return absl::InvalidArgumentError("gracePeriodSeconds must be an integer");
    }
    return opts;
  }

  Reply DeleteOne(const httplib::Request& req, const ResourceInfo& r, const std::string& ns,
                  const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto opts = DeleteOptions(req);
    if (!opts.ok()) return BadRequest(opts.status().message());
    const std::string key = Key(ns, name);
    auto it = store_[r.name].find(key);
    if (it == store_[r.name].end()) return NotFoundObject(r, name);
    const std::string want_uid = FieldValue(*opts, "preconditions.uid");
    if (!want_uid.empty() && want_uid != FieldValue(it->second, "metadata.uid")) {
      return {409, StatusBody(409, "Conflict",
                              absl::StrCat("Precondition failed: UID in precondition: ", want_uid,
                                           ", UID in object meta: ",
                                           FieldValue(it->second, "metadata.uid")),
                              {{"name", name}, {"kind", r.name}})};
    }
    if (std::string(r.name) == "pods") {
      int64_t grace = -1;
      if (opts->contains("gracePeriodSeconds") && (*opts)["gracePeriodSeconds"].is_number_integer()) {
        grace = (*opts)["gracePeriodSeconds"].get<int64_t>();
      }
      return {200, DeletePodLocked(key, grace)};
    }
    json out = it->second;
    store_[r.name].erase(it);
    return {200, out};
  }

  Reply Evict(const httplib::Request& req, const std::string& ns, const std::string& name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const std::string ct = req.get_header_value("Content-Type");
    if (!JsonContentType(ct)) return UnsupportedMediaType(ct);
    auto body = ParseBody(req);
    if (!body.ok()) return BadRequest(body.status().message());
    if (!body->is_object() || body->value("kind", "") != "Eviction") {
      return BadRequest("the body is not an Eviction (kind must be \"Eviction\")");
    }
    const std::string av = body->value("apiVersion", "");
    if (av != "policy/v1" && av != "policy/v1beta1") {
      return BadRequest(absl::StrCat("Eviction apiVersion \"", av,
                                     "\" is not policy/v1 or policy/v1beta1"));
    }
    if (FieldValue(*body, "metadata.name") != name) {
      return BadRequest("name in URL does not match name in Eviction object");
    }
    const std::string body_ns = FieldValue(*body, "metadata.namespace");
    if (!body_ns.empty() && body_ns != ns) {
      return BadRequest("namespace in URL does not match namespace in Eviction object");
    }
    const std::string key = Key(ns, name);
    auto it = store_["pods"].find(key);
    if (it == store_["pods"].end()) return NotFoundObject(*FindResource("", "v1", "pods"), name);
    const json& pod = it->second;
    int64_t grace = -1;
    if (body->contains("deleteOptions") && (*body)["deleteOptions"].is_object()) {
      const json& d = (*body)["deleteOptions"];
      if (d.contains("gracePeriodSeconds") && d["gracePeriodSeconds"].is_number_integer()) {
        grace = d["gracePeriodSeconds"].get<int64_t>();
      }
      const std::string want_uid = FieldValue(d, "preconditions.uid");
      if (!want_uid.empty() && want_uid != FieldValue(pod, "metadata.uid")) {
        return {409, StatusBody(409, "Conflict",
                                absl::StrCat("Precondition failed: UID in precondition: ", want_uid,
                                             ", UID in object meta: ",
                                             FieldValue(pod, "metadata.uid")))};
      }
    }
    const json success = {{"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", json::object()},
                          {"status", "Success"}, {"code", 201}};
    const std::string phase = Phase(pod);
    // Finished, pending and terminating pods skip the budgets (as the API
    // server's canIgnorePDB).
    if (phase == "Succeeded" || phase == "Failed" || phase == "Pending" || Terminating(pod)) {
      DeletePodLocked(key, grace);
      return {201, success};
    }
    std::vector<const json*> pdbs = PdbsFor(pod);
    if (pdbs.size() > 1) {
      return {500, StatusBody(500, "InternalError",
                              "This pod has more than one PodDisruptionBudget, which the eviction "
                              "subresource does not support.")};
    }
    if (pdbs.size() == 1) {
      const json& pdb = *pdbs[0];
      const PdbState st = ComputePdb(pdb);
      // An unhealthy pod may go when the budget is otherwise satisfied.
      const bool allowed = Healthy(pod) ? st.allowed > 0 : st.healthy >= st.desired;
      if (!allowed) {
        const std::string pdb_name = FieldValue(pdb, "metadata.name");
        return {429,
                StatusBody(429, "TooManyRequests",
                           "Cannot evict pod as it would violate the pod's disruption budget.",
                           {{"causes",
                             {{{"reason", "DisruptionBudget"},
                               {"message", absl::StrCat("The disruption budget ", pdb_name,
                                                        " needs ", st.desired,
                                                        " healthy pods and has ", st.healthy,
                                                        " currently")}}}}})};
      }
    }
    DeletePodLocked(key, grace);
    return {201, success};
  }
};

absl::StatusOr<std::unique_ptr<FakeApiServer>> FakeApiServer::Start(
    const FakeApiServerOptions& options) {
  auto fake = std::unique_ptr<FakeApiServer>(new FakeApiServer());
  fake->impl_ = std::make_unique<Impl>(options);
  Impl* impl = fake->impl_.get();
  if (!options.tls_cert_file.empty()) {
    const FakeApiServerOptions o = options;
    impl->server_ = std::make_unique<httplib::SSLServer>([o](SSL_CTX& ctx) {
      if (SSL_CTX_use_certificate_chain_file(&ctx, o.tls_cert_file.c_str()) != 1) return false;
      if (SSL_CTX_use_PrivateKey_file(&ctx, o.tls_key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
        return false;
      }
      if (!o.client_ca_file.empty()) {
        if (SSL_CTX_load_verify_locations(&ctx, o.client_ca_file.c_str(), nullptr) != 1) {
          return false;
        }
        SSL_CTX_set_client_CA_list(&ctx, SSL_load_client_CA_file(o.client_ca_file.c_str()));
        // Verify a client certificate when one is sent; tokens still work
        // without one (the API server's "request client cert" mode).
        SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER, nullptr);
      }
      return true;
    });
    if (!impl->server_->is_valid()) {
      return absl::InvalidArgumentError(absl::StrCat("cannot use TLS certificate ",
                                                     options.tls_cert_file, " / key ",
                                                     options.tls_key_file));
    }
  } else {
    impl->server_ = std::make_unique<httplib::Server>();
  }
  http::ConfigureServer(*impl->server_, {.threads = options.threads});
  auto handler = [impl](const httplib::Request& req, httplib::Response& res) {
    impl->Serve(req, res);
  };
  impl->server_->Get(".*", handler);
  impl->server_->Post(".*", handler);
  impl->server_->Patch(".*", handler);
  impl->server_->Put(".*", handler);
  impl->server_->Delete(".*", handler);
  HT_ASSIGN_OR_RETURN(http::HostPort hp, http::ParseHostPort(options.listen));
  // Watches hold their request open without sending for as long as no event
  // comes: no whole-request deadline here.
  HT_ASSIGN_OR_RETURN(impl->serving_,
                      http::ServingThread::Start(*impl->server_, hp,
                                                 {.request_timeout = absl::InfiniteDuration()}));
  fake->port_ = impl->serving_->port();
  return fake;
}

FakeApiServer::~FakeApiServer() { Stop(); }

void FakeApiServer::Stop() {
  if (impl_ && impl_->serving_) {
    for (FakeObjectStore* store : impl_->Stores()) store->Shutdown();
    impl_->serving_->Stop();
  }
}

std::string FakeApiServer::url() const {
  return absl::StrCat(impl_->options_.tls_cert_file.empty() ? "http" : "https", "://127.0.0.1:",
                      port_);
}

#define HT_FAKE_ADD(fn, res)                                   \
  absl::Status FakeApiServer::fn(json obj) {                   \
    absl::MutexLock lock(&impl_->mu_);                         \
    return impl_->Put(*FindResource res, std::move(obj));      \
  }
HT_FAKE_ADD(AddNode, ("", "v1", "nodes"))
HT_FAKE_ADD(AddPod, ("", "v1", "pods"))
HT_FAKE_ADD(AddPodDisruptionBudget, ("policy", "v1", "poddisruptionbudgets"))
HT_FAKE_ADD(AddDaemonSet, ("apps", "v1", "daemonsets"))
HT_FAKE_ADD(AddReplicaSet, ("apps", "v1", "replicasets"))
#undef HT_FAKE_ADD

absl::Status FakeApiServer::AddNamespace(const std::string& name) {
  absl::MutexLock lock(&impl_->mu_);
  impl_->EnsureNamespace(name);
  return absl::OkStatus();
}

absl::Status FakeApiServer::LoadState(const json& state) {
  if (!state.is_object()) return absl::InvalidArgumentError("state must be a JSON object");
  if (state.contains("namespaces")) {
    for (const auto& ns : state["namespaces"]) {
      if (!ns.is_string()) return absl::InvalidArgumentError("namespaces: want names");
      HT_RETURN_IF_ERROR(AddNamespace(ns.get<std::string>()));
    }
  }
  struct Part {
    const char* key;
    absl::Status (FakeApiServer::*add)(json);
  };
  for (const Part& p : {Part{"nodes", &FakeApiServer::AddNode},
                        Part{"replicasets", &FakeApiServer::AddReplicaSet},
                        Part{"daemonsets", &FakeApiServer::AddDaemonSet},
                        Part{"poddisruptionbudgets", &FakeApiServer::AddPodDisruptionBudget},
                        Part{"pods", &FakeApiServer::AddPod}}) {
    if (!state.contains(p.key)) continue;
    if (!state[p.key].is_array()) {
      return absl::InvalidArgumentError(absl::StrCat(p.key, ": want a list"));
    }
    for (const auto& obj : state[p.key]) {
      absl::Status s = (this->*p.add)(obj);
      if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat(p.key, ": ", s.message()));
    }
  }
  for (auto it = state.begin(); it != state.end(); ++it) {
    static const std::vector<std::string> known = {"namespaces", "nodes", "replicasets",
                                                   "daemonsets", "poddisruptionbudgets", "pods"};
    if (std::find(known.begin(), known.end(), it.key()) == known.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown state key \"", it.key(), "\""));
    }
  }
  return absl::OkStatus();
}

std::optional<json> FakeApiServer::GetNode(const std::string& name) {
  absl::MutexLock lock(&impl_->mu_);
  auto& nodes = impl_->store_["nodes"];
  auto it = nodes.find(name);
  if (it == nodes.end()) return std::nullopt;
  return it->second;
}

std::optional<json> FakeApiServer::GetPod(const std::string& ns, const std::string& name) {
  absl::MutexLock lock(&impl_->mu_);
  impl_->Sweep();
  auto& pods = impl_->store_["pods"];
  auto it = pods.find(Key(ns, name));
  if (it == pods.end()) return std::nullopt;
  return it->second;
}

std::vector<json> FakeApiServer::Pods() {
  absl::MutexLock lock(&impl_->mu_);
  impl_->Sweep();
  std::vector<json> out;
  for (const auto& [k, p] : impl_->store_["pods"]) out.push_back(p);
  return out;
}

std::vector<json> FakeApiServer::PodsOnNode(const std::string& node) {
  std::vector<json> out;
  for (auto& p : Pods()) {
    if (FieldValue(p, "spec.nodeName") == node) out.push_back(std::move(p));
  }
  return out;
}

std::vector<json> FakeApiServer::Events() {
  absl::MutexLock lock(&impl_->mu_);
  std::vector<json> out;
  for (const auto& [k, e] : impl_->store_["events"]) out.push_back(e);
  return out;
}

void FakeApiServer::DeleteDaemonSet(const std::string& ns, const std::string& name) {
  absl::MutexLock lock(&impl_->mu_);
  impl_->store_["daemonsets"].erase(Key(ns, name));
}

absl::Status FakeApiServer::SetPodPhase(const std::string& ns, const std::string& name,
                                        const std::string& phase, bool ready) {
  absl::MutexLock lock(&impl_->mu_);
  auto& pods = impl_->store_["pods"];
  auto it = pods.find(Key(ns, name));
  if (it == pods.end()) return absl::NotFoundError(absl::StrCat("no pod ", ns, "/", name));
  it->second["status"]["phase"] = phase;
  it->second["status"]["conditions"] = {{{"type", "Ready"}, {"status", ready ? "True" : "False"}}};
  it->second["metadata"]["resourceVersion"] = impl_->NextRv();
  return absl::OkStatus();
}

void FakeApiServer::SetEvictionServed(bool served) {
  absl::MutexLock lock(&impl_->mu_);
  impl_->eviction_served_ = served;
}

absl::Status FakeApiServer::ReplacePodWithNewUid(const std::string& ns, const std::string& name) {
  absl::MutexLock lock(&impl_->mu_);
  auto& pods = impl_->store_["pods"];
  auto it = pods.find(Key(ns, name));
  if (it == pods.end()) return absl::NotFoundError(absl::StrCat("no pod ", ns, "/", name));
  json pod = it->second;
  pods.erase(it);
  impl_->delete_at_.erase(Key(ns, name));
  pod["metadata"].erase("uid");
  pod["metadata"].erase("deletionTimestamp");
  pod["metadata"].erase("deletionGracePeriodSeconds");
  pod["metadata"].erase("creationTimestamp");
  return impl_->Put(*FindResource("", "v1", "pods"), std::move(pod));
}

absl::Status FakeApiServer::SetPdbMinAvailable(const std::string& ns, const std::string& name,
                                               int value) {
  absl::MutexLock lock(&impl_->mu_);
  auto& pdbs = impl_->store_["poddisruptionbudgets"];
  auto it = pdbs.find(Key(ns, name));
  if (it == pdbs.end()) return absl::NotFoundError(absl::StrCat("no budget ", ns, "/", name));
  it->second["spec"]["minAvailable"] = value;
  it->second["spec"].erase("maxUnavailable");
  it->second["metadata"]["resourceVersion"] = impl_->NextRv();
  return absl::OkStatus();
}

int64_t FakeApiServer::RequestCount() {
  absl::MutexLock lock(&impl_->mu_);
  return impl_->total_requests_;
}

std::map<std::string, int64_t> FakeApiServer::RequestCounts() {
  absl::MutexLock lock(&impl_->mu_);
  return impl_->counts_;
}

void FakeApiServer::ResetRequestCounts() {
  absl::MutexLock lock(&impl_->mu_);
  impl_->total_requests_ = 0;
  impl_->counts_.clear();
}

FakeConfigMaps& FakeApiServer::configmaps() { return impl_->configmaps_; }

FakeLeases& FakeApiServer::leases() { return impl_->leases_; }

}  // namespace hollowtrees::testing
