#pragma once

// ClusterView over the Kubernetes API (lib/kube):
// - node labels: one LIST of /api/v1/nodes, kept for `node_ttl` and listed
//   again early (at most once a second) when an unknown node is asked for;
// - a pod's workload: its controller (ownerReferences with controller=true).
//   ReplicaSets and StatefulSets are read (GET) for spec.replicas and
//   spec.selector, then their pods are LISTed by that selector and kept when
//   the same controller (by uid) owns them. Other controllers: the pods they
//   own in the namespace, the desired count being how many there are. A pod
//   without controller is a workload of one. Results are kept `workload_ttl`.
// Errors are Unavailable (API unreachable) or the API's own.

#include <map>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "lib/common/clock.h"
#include "lib/kube/kube_client.h"
#include "webhook/cluster_view.h"

namespace hollowtrees::webhook {

struct KubeClusterViewOptions {
  // Default 10 s.
  absl::Duration node_ttl = absl::Seconds(10);
  // Default 1 s: the extender also remembers its own recent placements.
  absl::Duration workload_ttl = absl::Seconds(1);
};

// Thread-safe. `client` and `clock` must outlive it.
class KubeClusterView : public ClusterView {
 public:
  KubeClusterView(kube::KubeClient& client, KubeClusterViewOptions options,
                  Clock& clock = RealClock());

  absl::StatusOr<std::map<std::string, std::string>> NodeLabels(const std::string& node) override;
  absl::StatusOr<Workload> WorkloadOf(const nlohmann::json& pod) override;

  int64_t node_lists() const;

 private:
  absl::Status RefreshNodes() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<Workload> ReadWorkload(const nlohmann::json& pod);

  kube::KubeClient& client_;
  const KubeClusterViewOptions options_;
  Clock& clock_;
  mutable absl::Mutex mu_;
  std::map<std::string, std::map<std::string, std::string>> nodes_ ABSL_GUARDED_BY(mu_);
  absl::Time nodes_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int64_t node_lists_ ABSL_GUARDED_BY(mu_) = 0;
  struct Cached {
    Workload workload;
    absl::Time at;
  };
  std::map<std::string, Cached> workloads_ ABSL_GUARDED_BY(mu_);  // by controller uid
};

// A LabelSelector object (matchLabels, matchExpressions) in string form.
// InvalidArgument for an operator it does not know.
absl::StatusOr<std::string> SelectorString(const nlohmann::json& selector);

}  // namespace hollowtrees::webhook
