#pragma once

// A stateful in-memory KubeApi for drain tests: nodes, pods, disruption
// budgets, DaemonSets and events, on a simulated clock. Pods evicted or
// deleted with a grace period disappear when the clock passes it. Faults:
// eviction not served (discovery says so and the subresource 404s), eviction
// advertised but 404 anyway, pods replaced by a new UID when evicted, budgets
// that allow again at a given time, errors injected per operation.

#include <map>
#include <set>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "lib/common/clock.h"
#include "plugins/k8s/kube_api.h"

namespace hollowtrees::k8s {

class FakeKubeApi : public KubeApi {
 public:
  explicit FakeKubeApi(Clock& clock) : clock_(clock) {}

  struct Budget {
    std::string ns;
    std::string name;
    std::map<std::string, std::string> selector;
    // Evictions allowed until the clock reaches `allow_from`: none before it
    // (when set), `allowed` after.
    int allowed = 0;
    absl::Time allow_from = absl::InfinitePast();
  };

  // Setup (thread-safe).
  void AddNode(NodeInfo node);
  void AddPod(PodInfo pod, int64_t grace_seconds = 0);
  void AddBudget(Budget budget);
  void AddDaemonSet(const std::string& ns, const std::string& name);
  void SetEvictionServed(bool served);
  void SetEviction404(bool on);  // advertised, but answers 404
  // When the pod is evicted or deleted it comes back at once with a new UID.
  void ReplaceOnEvict(const std::string& key);
  // The next `times` calls of `op` ("evict", "delete", "get_pod", "list",
  // "cordon", ...) fail with `status`.
  void FailNext(const std::string& op, absl::Status status, int times = 1);

  // Inspection.
  std::optional<NodeInfo> Node(const std::string& name);
  bool PodExists(const std::string& key);
  std::vector<std::string> PodKeysOnNode(const std::string& node);
  int Calls(const std::string& op);
  int TotalCalls();
  std::vector<std::string> EventReasons();
  // Keys in the order their eviction/deletion was accepted, with the time.
  std::vector<std::pair<std::string, absl::Time>> Removals();
  std::vector<std::optional<int64_t>> GracesUsed();

  // KubeApi.
  absl::StatusOr<std::vector<NodeInfo>> ListNodes() override;
  absl::StatusOr<NodeInfo> GetNode(const std::string& name) override;
  absl::Status SetUnschedulable(const std::string& node, bool unschedulable) override;
  absl::Status AddTaint(const std::string& node, const Taint& taint) override;
  absl::Status RemoveTaint(const std::string& node, const Taint& taint) override;
  absl::StatusOr<std::vector<PodInfo>> ListPodsOnNode(const std::string& node,
                                                      const std::string& selector) override;
  absl::StatusOr<PodInfo> GetPod(const std::string& ns, const std::string& name) override;
  absl::StatusOr<bool> EvictionSupported() override;
  absl::Status EvictPod(const PodInfo& pod, std::optional<int64_t> grace_seconds) override;
  absl::Status DeletePod(const PodInfo& pod, std::optional<int64_t> grace_seconds) override;
  absl::StatusOr<bool> DaemonSetExists(const std::string& ns, const std::string& name) override;
  absl::Status RecordNodeEvent(const NodeInfo& node, const std::string& type,
                               const std::string& reason, const std::string& message) override;

 private:
  struct Pod {
    PodInfo info;
    int64_t grace = 0;
    std::optional<absl::Time> gone_at;
  };
  absl::Status Enter(const std::string& op) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Sweep() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Remove(const std::string& key, std::optional<int64_t> grace)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Clock& clock_;
  absl::Mutex mu_;
  std::map<std::string, NodeInfo> nodes_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Pod> pods_ ABSL_GUARDED_BY(mu_);
  std::vector<Budget> budgets_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> daemonsets_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> replace_on_evict_ ABSL_GUARDED_BY(mu_);
  bool eviction_served_ ABSL_GUARDED_BY(mu_) = true;
  bool eviction_404_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, std::pair<absl::Status, int>> faults_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> calls_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> events_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::string, absl::Time>> removals_ ABSL_GUARDED_BY(mu_);
  std::vector<std::optional<int64_t>> graces_ ABSL_GUARDED_BY(mu_);
  int uid_counter_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace hollowtrees::k8s
