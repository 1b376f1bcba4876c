#include "tests/plugins/k8s/fake_kube_api.h"

#include "absl/strings/str_cat.h"
#include "lib/kube/label_selector.h"

namespace hollowtrees::k8s {

void FakeKubeApi::AddNode(NodeInfo node) {
  absl::MutexLock lock(&mu_);
  if (node.uid.empty()) node.uid = absl::StrCat("node-uid-", ++uid_counter_);
  nodes_[node.name] = std::move(node);
}

void FakeKubeApi::AddPod(PodInfo pod, int64_t grace_seconds) {
  absl::MutexLock lock(&mu_);
  if (pod.ns.empty()) pod.ns = "default";
  if (pod.uid.empty()) pod.uid = absl::StrCat("pod-uid-", ++uid_counter_);
  if (pod.phase.empty()) pod.phase = "Running";
  const std::string key = pod.Key();
  pods_[key] = Pod{std::move(pod), grace_seconds, std::nullopt};
}

void FakeKubeApi::AddBudget(Budget budget) {
  absl::MutexLock lock(&mu_);
  budgets_.push_back(std::move(budget));
}

void FakeKubeApi::AddDaemonSet(const std::string& ns, const std::string& name) {
  absl::MutexLock lock(&mu_);
  daemonsets_.insert(ns + "/" + name);
}

void FakeKubeApi::SetEvictionServed(bool served) {
  absl::MutexLock lock(&mu_);
  eviction_served_ = served;
}

void FakeKubeApi::SetEviction404(bool on) {
  absl::MutexLock lock(&mu_);
  eviction_404_ = on;
}

void FakeKubeApi::ReplaceOnEvict(const std::string& key) {
  absl::MutexLock lock(&mu_);
  replace_on_evict_.insert(key);
}

void FakeKubeApi::FailNext(const std::string& op, absl::Status status, int times) {
  absl::MutexLock lock(&mu_);
  faults_[op] = {std::move(status), times};
}

std::optional<NodeInfo> FakeKubeApi::Node(const std::string& name) {
  absl::MutexLock lock(&mu_);
  auto it = nodes_.find(name);
  if (it == nodes_.end()) return std::nullopt;
  return it->second;
}

bool FakeKubeApi::PodExists(const std::string& key) {
  absl::MutexLock lock(&mu_);
  Sweep();
  return pods_.count(key) > 0;
}

std::vector<std::string> FakeKubeApi::PodKeysOnNode(const std::string& node) {
  absl::MutexLock lock(&mu_);
  Sweep();
  std::vector<std::string> out;
  for (const auto& [k, p] : pods_) {
    if (p.info.node_name == node) out.push_back(k);
  }
  return out;
}

int FakeKubeApi::Calls(const std::string& op) {
  absl::MutexLock lock(&mu_);
  return calls_[op];
}

int FakeKubeApi::TotalCalls() {
  absl::MutexLock lock(&mu_);
  int n = 0;
  for (const auto& [k, v] : calls_) n += v;
  return n;
}

std::vector<std::string> FakeKubeApi::EventReasons() {
  absl::MutexLock lock(&mu_);
  return events_;
}

std::vector<std::pair<std::string, absl::Time>> FakeKubeApi::Removals() {
  absl::MutexLock lock(&mu_);
  return removals_;
}

std::vector<std::optional<int64_t>> FakeKubeApi::GracesUsed() {
  absl::MutexLock lock(&mu_);
  return graces_;
}

absl::Status FakeKubeApi::Enter(const std::string& op) {
  ++calls_[op];
  Sweep();
  auto it = faults_.find(op);
  if (it != faults_.end() && it->second.second > 0) {
    --it->second.second;
    return it->second.first;
  }
  return absl::OkStatus();
}

void FakeKubeApi::Sweep() {
  const absl::Time now = clock_.Now();
  for (auto it = pods_.begin(); it != pods_.end();) {
    if (it->second.gone_at && *it->second.gone_at <= now) {
      it = pods_.erase(it);
    } else {
      ++it;
    }
  }
}

absl::Status FakeKubeApi::Remove(const std::string& key, std::optional<int64_t> grace) {
  Pod& p = pods_[key];
  graces_.push_back(grace);
  removals_.emplace_back(key, clock_.Now());
  if (replace_on_evict_.count(key)) {
    replace_on_evict_.erase(key);
    p.info.uid = absl::StrCat("pod-uid-", ++uid_counter_);
    p.info.terminating = false;
    p.gone_at.reset();
    return absl::OkStatus();
  }
  const int64_t g = grace ? *grace : p.grace;
  const absl::Time at = clock_.Now() + absl::Seconds(g);
  if (!p.gone_at || at < *p.gone_at) p.gone_at = at;
  p.info.terminating = true;
  if (g == 0) pods_.erase(key);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<NodeInfo>> FakeKubeApi::ListNodes() {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Enter("list_nodes"); !s.ok()) return s;
  std::vector<NodeInfo> out;
  for (const auto& [k, n] : nodes_) out.push_back(n);
  return out;
}

absl::StatusOr<NodeInfo> FakeKubeApi::GetNode(const std::string& name) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Enter("get_node"); !s.ok()) return s;
  auto it = nodes_.find(name);
  if (it == nodes_.end()) return absl::NotFoundError(absl::StrCat("nodes \"", name, "\" not found"));
  return it->second;
}

absl::Status FakeKubeApi::SetUnschedulable(const std::string& node, bool unschedulable) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Enter("cordon"); !s.ok()) return s;
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return absl::NotFoundError(node);
  it->second.unschedulable = unschedulable;
  return absl::OkStatus();
}

absl::Status FakeKubeApi::AddTaint(const std::string& node, const Taint& taint) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Enter("taint"); !s.ok()) return s;
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return absl::NotFoundError(node);
  for (const auto& t : it->second.taints) {
    if (t.key == taint.key && t.effect == taint.effect) return absl::OkStatus();
  }
  it->second.taints.push_back(taint);
  return absl::OkStatus();
}

absl::Status FakeKubeApi::RemoveTaint(const std::string& node, const Taint& taint) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Enter("untaint"); !s.ok()) return s;
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return absl::NotFoundError(node);
  auto& ts = it->second.taints;
  ts.erase(std::remove_if(ts.begin(), ts.end(),
                          [&](const Taint& t) {
                            return t.key == taint.key && t.effect == taint.effect;
                          }),
           ts.end());
  return absl::OkStatus();
}

absl::StatusOr<std::vector<PodInfo>> FakeKubeApi::ListPodsOnNode(const std::string& node,
                                                                 const std::string& selector) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Enter("list_pods"); !s.ok()) return s;
  auto sel = kube::LabelSelector::Parse(selector);
  if (!sel.ok()) return sel.status();
  std::vector<PodInfo> out;
  for (const auto& [k, p] : pods_) {
    if (p.info.node_name == node && sel->Matches(p.info.labels)) out.push_back(p.info);
  }
  return out;
}

absl::StatusOr<PodInfo> FakeKubeApi::GetPod(const std::string& ns, const std::string& name) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Enter("get_pod"); !s.ok()) return s;
  auto it = pods_.find(ns + "/" + name);
  if (it == pods_.end()) return absl::NotFoundError(absl::StrCat("pods \"", name, "\" not found"));
  return it->second.info;
}

absl::StatusOr<bool> FakeKubeApi::EvictionSupported() {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Enter("discovery"); !s.ok()) return s;
  return eviction_served_;
}

absl::Status FakeKubeApi::EvictPod(const PodInfo& pod, std::optional<int64_t> grace_seconds) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Enter("evict"); !s.ok()) return s;
  if (!eviction_served_ || eviction_404_) {
    return absl::NotFoundError("the server could not find the requested resource");
  }
  auto it = pods_.find(pod.Key());
  if (it == pods_.end()) return absl::NotFoundError(absl::StrCat("pods \"", pod.name, "\" not found"));
  if (it->second.info.uid != pod.uid) return absl::AbortedError("Precondition failed: UID");
  const PodInfo& p = it->second.info;
  const bool finished = p.phase == "Succeeded" || p.phase == "Failed";
  if (!finished && !p.terminating) {
    std::vector<Budget*> matching;
    for (auto& b : budgets_) {
      if (b.ns != p.ns) continue;
      bool match = true;
      for (const auto& [k, v] : b.selector) {
        auto l = p.labels.find(k);
        if (l == p.labels.end() || l->second != v) match = false;
      }
      if (match) matching.push_back(&b);
    }
    if (matching.size() > 1) {
      return absl::FailedPreconditionError(
          "This pod has more than one PodDisruptionBudget, which the eviction subresource does "
          "not support.");
    }
    if (matching.size() == 1) {
      Budget& b = *matching[0];
      if (clock_.Now() < b.allow_from || b.allowed <= 0) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "Cannot evict pod as it would violate the pod's disruption budget. (The disruption "
            "budget ",
            b.name, " needs 1 healthy pods and has 1 currently)"));
      }
      --b.allowed;
    }
  }
  return Remove(pod.Key(), grace_seconds);
}

absl::Status FakeKubeApi::DeletePod(const PodInfo& pod, std::optional<int64_t> grace_seconds) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Enter("delete"); !s.ok()) return s;
  auto it = pods_.find(pod.Key());
  if (it == pods_.end()) return absl::NotFoundError(absl::StrCat("pods \"", pod.name, "\" not found"));
  if (it->second.info.uid != pod.uid) return absl::AbortedError("Precondition failed: UID");
  return Remove(pod.Key(), grace_seconds);
}

absl::StatusOr<bool> FakeKubeApi::DaemonSetExists(const std::string& ns, const std::string& name) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Enter("get_daemonset"); !s.ok()) return s;
  return daemonsets_.count(ns + "/" + name) > 0;
}

absl::Status FakeKubeApi::RecordNodeEvent(const NodeInfo& node, const std::string& type,
                                          const std::string& reason, const std::string& message) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Enter("event"); !s.ok()) return s;
  events_.push_back(absl::StrCat(node.name, ":", type, ":", reason, ":", message));
  return absl::OkStatus();
}

}  // namespace hollowtrees::k8s
