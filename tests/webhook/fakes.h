#pragma once

// In-memory fakes of the webhook's outside systems, shared by its tests.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "webhook/admission.h"
#include "webhook/cluster_view.h"

namespace hollowtrees::webhook::testing {

// A ShareSource over a map, remembering what was consumed.
class FakeShareSource : public ShareSource {
 public:
  void Set(const std::string& key, const std::string& value) {
    absl::MutexLock lock(&mu_);
    entries_[key] = value;
  }
  void SetUnavailable(bool unavailable) {
    absl::MutexLock lock(&mu_);
    unavailable_ = unavailable;
  }
  absl::StatusOr<std::optional<std::string>> Lookup(const std::string& key) override {
    absl::MutexLock lock(&mu_);
    if (unavailable_) return absl::UnavailableError("not synced");
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  void Consumed(const std::string& key, const std::string& value) override {
    absl::MutexLock lock(&mu_);
    consumed_.push_back(key + "=" + value);
  }
  std::vector<std::string> consumed() {
    absl::MutexLock lock(&mu_);
    return consumed_;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, std::string> entries_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> consumed_ ABSL_GUARDED_BY(mu_);
  bool unavailable_ ABSL_GUARDED_BY(mu_) = false;
};

// A made-up cluster: nodes with labels, workloads with desired replicas and
// pods placed on nodes. Binding a pod is what the scheduler would do after
// the extender's answer.
class FakeCluster : public ClusterView {
 public:
  void AddNode(const std::string& name, std::map<std::string, std::string> labels) {
    absl::MutexLock lock(&mu_);
    nodes_[name] = std::move(labels);
  }
  void SetDesired(const std::string& workload, int desired) {
    absl::MutexLock lock(&mu_);
    desired_[workload] = desired;
  }
  // A pod of `workload` (uid = name), bound to `node` ("" = pending).
  void AddPod(const std::string& workload, const std::string& name, const std::string& node) {
    absl::MutexLock lock(&mu_);
    pods_[workload].push_back({name, name, node});
  }
  void Bind(const std::string& workload, const std::string& name, const std::string& node) {
    absl::MutexLock lock(&mu_);
    for (auto& p : pods_[workload]) {
      if (p.name == name) p.node = node;
    }
  }
  void RemovePod(const std::string& workload, const std::string& name) {
    absl::MutexLock lock(&mu_);
    auto& v = pods_[workload];
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (it->name == name) {
        v.erase(it);
        return;
      }
    }
  }
  // Pods as the API would show them a moment ago: binds not yet visible.
  void SetStale(bool stale) {
    absl::MutexLock lock(&mu_);
    if (stale) frozen_ = pods_;
    stale_ = stale;
  }
  void SetUnavailable(bool u) {
    absl::MutexLock lock(&mu_);
    unavailable_ = u;
  }

  absl::StatusOr<std::map<std::string, std::string>> NodeLabels(const std::string& node) override {
    absl::MutexLock lock(&mu_);
    auto it = nodes_.find(node);
    if (it == nodes_.end()) return absl::NotFoundError("node " + node + " not found");
    return it->second;
  }
  absl::StatusOr<Workload> WorkloadOf(const nlohmann::json& pod) override {
    absl::MutexLock lock(&mu_);
    if (unavailable_) return absl::UnavailableError("API down");
    const std::string workload = pod["metadata"]["labels"].value("workload", "");
    Workload w;
    w.id = workload;
    w.desired = desired_.count(workload) ? desired_[workload] : 1;
    w.pods = stale_ ? frozen_[workload] : pods_[workload];
    return w;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, std::map<std::string, std::string>> nodes_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> desired_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<WorkloadPod>> pods_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<WorkloadPod>> frozen_ ABSL_GUARDED_BY(mu_);
  bool stale_ ABSL_GUARDED_BY(mu_) = false;
  bool unavailable_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace hollowtrees::webhook::testing
