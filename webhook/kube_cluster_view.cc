#include "webhook/kube_cluster_view.h"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/common/status_macros.h"

namespace hollowtrees::webhook {

using nlohmann::json;

absl::StatusOr<std::string> SelectorString(const json& selector) {
  std::vector<std::string> terms;
  if (!selector.is_object()) return std::string();
  if (selector.contains("matchLabels") && selector["matchLabels"].is_object()) {
    for (auto it = selector["matchLabels"].begin(); it != selector["matchLabels"].end(); ++it) {
      if (it.value().is_string()) terms.push_back(absl::StrCat(it.key(), "=", it.value().get<std::string>()));
    }
  }
  if (selector.contains("matchExpressions") && selector["matchExpressions"].is_array()) {
    for (const json& e : selector["matchExpressions"]) {
      const std::string key = e.value("key", "");
      const std::string op = e.value("operator", "");
      std::vector<std::string> values;
      if (e.contains("values") && e["values"].is_array()) {
        for (const json& v : e["values"]) {
          if (v.is_string()) values.push_back(v.get<std::string>());
        }
      }
      if (op == "In") {
        terms.push_back(absl::StrCat(key, " in (", absl::StrJoin(values, ","), ")"));
      } else if (op == "NotIn") {
        terms.push_back(absl::StrCat(key, " notin (", absl::StrJoin(values, ","), ")"));
      } else if (op == "Exists") {
        terms.push_back(key);
      } else if (op == "DoesNotExist") {
        terms.push_back(absl::StrCat("!", key));
      } else {
        return absl::InvalidArgumentError(absl::StrCat("unknown selector operator \"", op, "\""));
      }
    }
  }
  return absl::StrJoin(terms, ",");
}

namespace {
absl::Status MalformedAnswer(absl::string_view path, const json::exception& e);
}  // namespace

KubeClusterView::KubeClusterView(kube::KubeClient& client, KubeClusterViewOptions options,
                                 Clock& clock)
    : client_(client), options_(options), clock_(clock) {}

int64_t KubeClusterView::node_lists() const {
  absl::MutexLock lock(&mu_);
  return node_lists_;
}

absl::Status KubeClusterView::RefreshNodes() {
  constexpr char kPath[] = "/api/v1/nodes";
  HT_ASSIGN_OR_RETURN(json list, client_.List(kPath));
  std::map<std::string, std::map<std::string, std::string>> nodes;
  try {
    if (list.contains("items") && list["items"].is_array()) {
      for (const json& n : list["items"]) {
        if (!n.is_object() || !n.contains("metadata") || !n["metadata"].is_object()) continue;
        const json& md = n["metadata"];
        auto& labels = nodes[md.value("name", "")];
        if (md.contains("labels") && md["labels"].is_object()) {
          for (auto it = md["labels"].begin(); it != md["labels"].end(); ++it) {
            if (it.value().is_string()) labels[it.key()] = it.value().get<std::string>();
          }
        }
      }
    }
  } catch (const json::exception& e) {
    return MalformedAnswer(kPath, e);
  }
  nodes_ = std::move(nodes);
  nodes_at_ = clock_.Now();
  ++node_lists_;
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, std::string>> KubeClusterView::NodeLabels(
    const std::string& node) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_.Now();
  bool fresh = now - nodes_at_ < options_.node_ttl;
  if (!fresh) {
    HT_RETURN_IF_ERROR(RefreshNodes());
    fresh = true;
  }
  auto it = nodes_.find(node);
  if (it == nodes_.end() && now - nodes_at_ >= absl::Seconds(1)) {
    HT_RETURN_IF_ERROR(RefreshNodes());
    it = nodes_.find(node);
  }
  if (it == nodes_.end()) return absl::NotFoundError(absl::StrCat("node ", node, " not found"));
  return it->second;
}

namespace {

// An answer of the API server whose fields have types other than the API's:
// the server's problem (or a proxy's), not the caller's.
absl::Status MalformedAnswer(absl::string_view path, const json::exception& e) {
  return absl::UnavailableError(
      absl::StrCat("the API server's answer to GET ", path, " is malformed: ", e.what()));
}

const json* Controller(const json& pod) {
  const json& md = pod["metadata"];
  if (!md.contains("ownerReferences") || !md["ownerReferences"].is_array()) return nullptr;
  for (const json& o : md["ownerReferences"]) {
    if (o.is_object() && o.value("controller", false)) return &o;
  }
  return nullptr;
}

bool Live(const json& pod) {
  if (pod["metadata"].contains("deletionTimestamp") &&
      !pod["metadata"]["deletionTimestamp"].is_null()) {
    return false;
  }
  std::string phase;
  if (pod.contains("status") && pod["status"].is_object()) phase = pod["status"].value("phase", "");
  return phase != "Succeeded" && phase != "Failed";
}

}  // namespace

absl::StatusOr<Workload> KubeClusterView::WorkloadOf(const json& pod) {
  if (!pod.is_object() || !pod.contains("metadata") || !pod["metadata"].is_object()) {
    return absl::InvalidArgumentError("the pod has no metadata");
  }
  const json* owner = Controller(pod);
  const std::string ns = pod["metadata"].value("namespace", "default");
  if (owner == nullptr) {
    Workload w;
    w.id = absl::StrCat("Pod/", ns, "/", pod["metadata"].value("name", ""));
    w.desired = 1;
    return w;
  }
  const std::string owner_uid = owner->value("uid", "");
  {
    absl::MutexLock lock(&mu_);
    auto it = workloads_.find(owner_uid);
    if (it != workloads_.end() && clock_.Now() - it->second.at < options_.workload_ttl) {
      return it->second.workload;
    }
  }
  HT_ASSIGN_OR_RETURN(Workload w, ReadWorkload(pod));
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_.Now();
  for (auto it = workloads_.begin(); it != workloads_.end();) {
    it = now - it->second.at >= options_.workload_ttl ? workloads_.erase(it) : std::next(it);
  }
  workloads_[owner_uid] = {w, now};
  return w;
}

absl::StatusOr<Workload> KubeClusterView::ReadWorkload(const json& pod) {
  const json& owner = *Controller(pod);
  const std::string ns = pod["metadata"].value("namespace", "default");
  const std::string kind = owner.value("kind", "");
  const std::string name = owner.value("name", "");
  const std::string uid = owner.value("uid", "");
  const std::string api_version = owner.value("apiVersion", "");
  Workload w;
  w.id = absl::StrCat(kind, "/", ns, "/", name);
  kube::ListOptions lo;
  bool count_desired = true;
  if ((kind == "ReplicaSet" || kind == "StatefulSet") && api_version == "apps/v1") {
    const std::string path = kube::ResourcePath(
        "apps", "v1", kind == "ReplicaSet" ? "replicasets" : "statefulsets", ns, name);
    HT_ASSIGN_OR_RETURN(json ctrl, client_.Get(path));
    try {
      const json spec = ctrl.is_object() && ctrl.contains("spec") && ctrl["spec"].is_object()
                            ? ctrl["spec"]
                            : json::object();
      w.desired = spec.contains("replicas") && spec["replicas"].is_number_integer()
                      ? static_cast<int>(std::clamp<int64_t>(spec["replicas"].get<int64_t>(), 0,
                                                             std::numeric_limits<int>::max()))
                      : 1;
      if (spec.contains("selector")) {
        HT_ASSIGN_OR_RETURN(lo.label_selector, SelectorString(spec["selector"]));
      }
    } catch (const json::exception& e) {
      return MalformedAnswer(path, e);
    }
    count_desired = false;
  }
  const std::string pods_path = kube::ResourcePath("", "v1", "pods", ns);
  HT_ASSIGN_OR_RETURN(json pods, client_.List(pods_path, lo));
  try {
    if (pods.contains("items") && pods["items"].is_array()) {
      for (const json& p : pods["items"]) {
        if (!p.is_object() || !p.contains("metadata") || !p["metadata"].is_object()) continue;
        const json* c = Controller(p);
        if (c == nullptr || c->value("uid", "") != uid || !Live(p)) continue;
        WorkloadPod wp;
        wp.uid = p["metadata"].value("uid", "");
        wp.name = p["metadata"].value("name", "");
        if (p.contains("spec") && p["spec"].is_object()) wp.node = p["spec"].value("nodeName", "");
        w.pods.push_back(std::move(wp));
      }
    }
  } catch (const json::exception& e) {
    return MalformedAnswer(pods_path, e);
  }
  if (count_desired) w.desired = std::max<int>(1, static_cast<int>(w.pods.size()));
  return w;
}

}  // namespace hollowtrees::webhook
