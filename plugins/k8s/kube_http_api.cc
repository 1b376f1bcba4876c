#include "plugins/k8s/kube_http_api.h"

#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/common/status_macros.h"
#include "lib/kube/kube_error.h"

namespace hollowtrees::k8s {

using nlohmann::json;

namespace {

std::string Str(const json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

const json& Field(const json& obj, const char* key) {
  static const json* null_json = new json();
  if (!obj.is_object()) return *null_json;
  auto it = obj.find(key);
  return it == obj.end() ? *null_json : *it;
}

std::map<std::string, std::string> StringMap(const json& obj) {
  std::map<std::string, std::string> out;
  if (!obj.is_object()) return out;
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (it.value().is_string()) out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

json DeleteOptionsJson(const PodInfo& pod, std::optional<int64_t> grace) {
  json opts = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}};
  if (grace) opts["gracePeriodSeconds"] = *grace;
  if (!pod.uid.empty()) opts["preconditions"] = {{"uid", pod.uid}};
  return opts;
}

json TaintJson(const Taint& t) {
  json j = {{"key", t.key}, {"effect", t.effect}};
  if (!t.value.empty()) j["value"] = t.value;
  return j;
}

}  // namespace

NodeInfo NodeFromJson(const json& node) {
  NodeInfo n;
  const json& md = Field(node, "metadata");
  const json& spec = Field(node, "spec");
  n.name = Str(md, "name");
  n.uid = Str(md, "uid");
  n.provider_id = Str(spec, "providerID");
  n.unschedulable = Field(spec, "unschedulable").is_boolean() && spec["unschedulable"].get<bool>();
  const json& addresses = Field(Field(node, "status"), "addresses");
  if (addresses.is_array()) {
    for (const auto& a : addresses) {
      if (!Str(a, "address").empty()) n.addresses.push_back(Str(a, "address"));
    }
  }
  const json& taints = Field(spec, "taints");
  if (taints.is_array()) {
    for (const auto& t : taints) n.taints.push_back({Str(t, "key"), Str(t, "value"), Str(t, "effect")});
  }
  const json& conditions = Field(Field(node, "status"), "conditions");
  if (conditions.is_array()) {
    for (const auto& c : conditions) {
      if (Str(c, "type") == "Ready") n.ready = Str(c, "status") == "True";
    }
  }
  return n;
}

PodInfo PodFromJson(const json& pod) {
  PodInfo p;
  const json& md = Field(pod, "metadata");
  const json& spec = Field(pod, "spec");
  p.ns = Str(md, "namespace");
  p.name = Str(md, "name");
  p.uid = Str(md, "uid");
  p.labels = StringMap(Field(md, "labels"));
  p.annotations = StringMap(Field(md, "annotations"));
  p.terminating = !Field(md, "deletionTimestamp").is_null();
  const json& owners = Field(md, "ownerReferences");
  if (owners.is_array()) {
    for (const auto& o : owners) {
      if (Field(o, "controller").is_boolean() && o["controller"].get<bool>()) {
        p.controller_kind = Str(o, "kind");
        p.controller_name = Str(o, "name");
      }
    }
  }
  p.node_name = Str(spec, "nodeName");
  p.priority_class_name = Str(spec, "priorityClassName");
  if (Field(spec, "priority").is_number_integer()) p.priority = spec["priority"].get<int64_t>();
  const json& volumes = Field(spec, "volumes");
  if (volumes.is_array()) {
    for (const auto& v : volumes) {
      if (v.is_object() && v.contains("emptyDir")) p.has_emptydir = true;
    }
  }
  p.phase = Str(Field(pod, "status"), "phase");
  return p;
}

KubeHttpApi::KubeHttpApi(kube::KubeClient& client, std::string component)
    : client_(client), component_(std::move(component)) {}

absl::StatusOr<std::vector<NodeInfo>> KubeHttpApi::ListNodes() {
  HT_ASSIGN_OR_RETURN(json list, client_.List("/api/v1/nodes"));
  std::vector<NodeInfo> out;
  for (const auto& n : list["items"]) out.push_back(NodeFromJson(n));
  return out;
}

absl::StatusOr<NodeInfo> KubeHttpApi::GetNode(const std::string& name) {
  HT_ASSIGN_OR_RETURN(json node, client_.Get(kube::ResourcePath("", "v1", "nodes", "", name)));
  return NodeFromJson(node);
}

absl::Status KubeHttpApi::SetUnschedulable(const std::string& node, bool unschedulable) {
  // What kubectl cordon/uncordon send.
  const json patch = {{"spec", {{"unschedulable", unschedulable ? json(true) : json(nullptr)}}}};
  return client_
      .Patch(kube::ResourcePath("", "v1", "nodes", "", node), patch,
             kube::PatchType::kStrategicMerge)
      .status();
}

absl::Status KubeHttpApi::UpdateTaints(const std::string& node, const Taint& taint, bool add) {
  const std::string path = kube::ResourcePath("", "v1", "nodes", "", node);
  // Taints are a list without a merge key: send the whole list, guarded by
  // the resourceVersion read, and try again on a conflict.
  absl::Status last;
  for (int attempt = 0; attempt < 5; ++attempt) {
    HT_ASSIGN_OR_RETURN(json obj, client_.Get(path));
    json taints = json::array();
    bool present = false;
    const json& current = Field(Field(obj, "spec"), "taints");
    if (current.is_array()) {
      for (const auto& t : current) {
        const bool same = Str(t, "key") == taint.key && Str(t, "effect") == taint.effect;
        if (same) present = true;
        if (same && !add) continue;
        taints.push_back(t);
      }
    }
    if (add == present) return absl::OkStatus();
    if (add) taints.push_back(TaintJson(taint));
    const json patch = {
        {"metadata", {{"resourceVersion", Str(Field(obj, "metadata"), "resourceVersion")}}},
        {"spec", {{"taints", taints}}}};
    last = client_.Patch(path, patch, kube::PatchType::kMerge).status();
    if (!absl::IsAborted(last)) return last;
  }
  return last;
}

absl::Status KubeHttpApi::AddTaint(const std::string& node, const Taint& taint) {
  return UpdateTaints(node, taint, true);
}

absl::Status KubeHttpApi::RemoveTaint(const std::string& node, const Taint& taint) {
  return UpdateTaints(node, taint, false);
}

absl::StatusOr<std::vector<PodInfo>> KubeHttpApi::ListPodsOnNode(const std::string& node,
                                                                 const std::string& selector) {
  kube::ListOptions opts;
  opts.field_selector = absl::StrCat("spec.nodeName=", node);
  opts.label_selector = selector;
  HT_ASSIGN_OR_RETURN(json list, client_.List("/api/v1/pods", opts));
  std::vector<PodInfo> out;
  for (const auto& p : list["items"]) out.push_back(PodFromJson(p));
  return out;
}

absl::StatusOr<PodInfo> KubeHttpApi::GetPod(const std::string& ns, const std::string& name) {
  HT_ASSIGN_OR_RETURN(json pod, client_.Get(kube::ResourcePath("", "v1", "pods", ns, name)));
  return PodFromJson(pod);
}

absl::StatusOr<bool> KubeHttpApi::EvictionSupported() {
  HT_ASSIGN_OR_RETURN(json resources, client_.Get("/api/v1"));
  const json& list = Field(resources, "resources");
  if (!list.is_array()) return false;
  for (const auto& r : list) {
    if (Str(r, "name") == "pods/eviction") return true;
  }
  return false;
}

absl::Status KubeHttpApi::EvictPod(const PodInfo& pod, std::optional<int64_t> grace_seconds) {
  const json eviction = {{"apiVersion", "policy/v1"},
                         {"kind", "Eviction"},
                         {"metadata", {{"name", pod.name}, {"namespace", pod.ns}}},
                         {"deleteOptions", DeleteOptionsJson(pod, grace_seconds)}};
  absl::Status s =
      client_.Create(kube::ResourcePath("", "v1", "pods", pod.ns, pod.name, "eviction"), eviction)
          .status();
  if (absl::IsResourceExhausted(s)) {
    // Name the budget for the operator: the Status cause says which and why.
    auto e = kube::GetKubeError(s);
    if (e && !e->cause_message.empty()) return absl::ResourceExhaustedError(e->cause_message);
    if (e && !e->message.empty()) return absl::ResourceExhaustedError(e->message);
  }
  if (absl::IsInternal(s)) {
    // The API server refuses a pod with several budgets with a 500 that only
    // its message tells apart (kubernetes pkg/registry/core/pod/storage/
    // eviction.go); it will not heal, so it gets the contract's code.
    auto e = kube::GetKubeError(s);
    if (e && absl::StrContains(e->message, "more than one PodDisruptionBudget")) {
      return absl::FailedPreconditionError(s.message());
    }
  }
  return s;
}

absl::Status KubeHttpApi::DeletePod(const PodInfo& pod, std::optional<int64_t> grace_seconds) {
  return client_
      .Delete(kube::ResourcePath("", "v1", "pods", pod.ns, pod.name),
              DeleteOptionsJson(pod, grace_seconds))
      .status();
}

absl::StatusOr<bool> KubeHttpApi::DaemonSetExists(const std::string& ns, const std::string& name) {
  auto ds = client_.Get(kube::ResourcePath("apps", "v1", "daemonsets", ns, name));
  if (absl::IsNotFound(ds.status())) return false;
  if (!ds.ok()) return ds.status();
  return true;
}

absl::Status KubeHttpApi::RecordNodeEvent(const NodeInfo& node, const std::string& type,
                                          const std::string& reason, const std::string& message) {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  const std::string now = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
  const json event = {
      {"apiVersion", "v1"},
      {"kind", "Event"},
      {"metadata", {{"generateName", absl::StrCat(node.name, ".")}, {"namespace", "default"}}},
      // Node events use the node name as UID, as the kubelet and kubectl do.
      {"involvedObject", {{"kind", "Node"}, {"apiVersion", "v1"}, {"name", node.name},
                          {"uid", node.name}}},
      {"reason", reason},
      {"message", message},
      {"type", type},
      {"source", {{"component", component_}, {"host", host}}},
      {"firstTimestamp", now},
      {"lastTimestamp", now},
      {"count", 1},
      {"reportingComponent", component_},
      {"reportingInstance", host}};
  return client_.Create(kube::ResourcePath("", "v1", "events", "default"), event).status();
}

}  // namespace hollowtrees::k8s
