#pragma once

// KubeApi over the Kubernetes API (lib/kube KubeClient): the requests
// `kubectl drain` makes (strategic-merge cordon, field-selector pod list,
// policy/v1 evictions, UID-preconditioned deletes, discovery of pods/eviction).

#include <string>

#include "lib/kube/kube_client.h"
#include "nlohmann/json.hpp"
#include "plugins/k8s/kube_api.h"

namespace hollowtrees::k8s {

// Thread-safe. `client` must outlive this object.
class KubeHttpApi : public KubeApi {
 public:
  // `component`: the event source component and reporting controller.
  explicit KubeHttpApi(kube::KubeClient& client, std::string component = "hollowtrees");

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
  absl::Status UpdateTaints(const std::string& node, const Taint& taint, bool add);
  kube::KubeClient& client_;
  const std::string component_;
};

// Decoding of API objects (exposed for tests).
NodeInfo NodeFromJson(const nlohmann::json& node);
PodInfo PodFromJson(const nlohmann::json& pod);

}  // namespace hollowtrees::k8s
