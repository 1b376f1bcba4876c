#pragma once

// What the on-demand share extender needs to know about the cluster: node
// labels, and a pod's workload (its controller's desired replicas and the
// pods it owns, with their nodes). kube_cluster_view.h reads it from the
// Kubernetes API with short-lived caches; tests use an in-memory fake.

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace hollowtrees::webhook {

struct WorkloadPod {
  std::string uid;
  std::string name;
  std::string node;  // "" while unscheduled
};

struct Workload {
  // "ReplicaSet/ns/web-5d8f", or "Pod/ns/name" for a pod without controller.
  std::string id;
  // The controller's spec.replicas (1 for a pod without controller).
  int desired = 1;
  // Live pods of the workload: not terminating, not finished.
  std::vector<WorkloadPod> pods;
};

// Implementations are thread-safe.
class ClusterView {
 public:
  virtual ~ClusterView() = default;
  // A node's labels. NotFound for an unknown node.
  virtual absl::StatusOr<std::map<std::string, std::string>> NodeLabels(
      const std::string& node) = 0;
  // The workload of `pod` (a Pod object as the scheduler sends it).
  // Unavailable when the API cannot be read.
  virtual absl::StatusOr<Workload> WorkloadOf(const nlohmann::json& pod) = 0;
};

}  // namespace hollowtrees::webhook
