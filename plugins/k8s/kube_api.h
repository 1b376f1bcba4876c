#pragma once

// What the drainer needs from Kubernetes, and nothing more. kube_http_api.h
// implements it over the API (lib/kube); tests use a stateful in-memory fake.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hollowtrees::k8s {

struct Taint {
  std::string key;
  std::string value;
  std::string effect;  // NoSchedule, PreferNoSchedule, NoExecute
  bool operator==(const Taint&) const = default;
};

struct NodeInfo {
  std::string name;
  std::string uid;
  // spec.providerID, e.g. "aws:///us-east-1a/i-0abc".
  std::string provider_id;
  bool unschedulable = false;
  // status.conditions has Ready with status True.
  bool ready = false;
  // status.addresses[].address (InternalIP, ExternalIP, Hostname, ...).
  std::vector<std::string> addresses;
  std::vector<Taint> taints;
};

struct PodInfo {
  std::string ns;
  std::string name;
  std::string uid;
  std::string node_name;
  std::string phase;  // Pending, Running, Succeeded, Failed, Unknown
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  // The controller ownerReference (controller: true), empty when unmanaged.
  std::string controller_kind;
  std::string controller_name;
  bool has_emptydir = false;
  bool terminating = false;  // metadata.deletionTimestamp set
  std::string priority_class_name;
  int64_t priority = 0;
  std::string Key() const { return ns + "/" + name; }
};

// Thread-safe implementations: the drainer calls them concurrently.
class KubeApi {
 public:
  virtual ~KubeApi() = default;

  virtual absl::StatusOr<std::vector<NodeInfo>> ListNodes() = 0;
  // NotFound when there is no such node.
  virtual absl::StatusOr<NodeInfo> GetNode(const std::string& name) = 0;
  // Cordons (true) or uncordons (false).
  virtual absl::Status SetUnschedulable(const std::string& node, bool unschedulable) = 0;
  // Adds the taint unless one with the same key and effect is there; removes
  // every taint with that key and effect.
  virtual absl::Status AddTaint(const std::string& node, const Taint& taint) = 0;
  virtual absl::Status RemoveTaint(const std::string& node, const Taint& taint) = 0;

  // Pods with spec.nodeName == node, optionally narrowed by a label selector.
  virtual absl::StatusOr<std::vector<PodInfo>> ListPodsOnNode(const std::string& node,
                                                              const std::string& selector) = 0;
  // NotFound when the pod is gone.
  virtual absl::StatusOr<PodInfo> GetPod(const std::string& ns, const std::string& name) = 0;
  // Whether the server serves pods/eviction (policy/v1).
  virtual absl::StatusOr<bool> EvictionSupported() = 0;
  // Evicts the pod (only the pod with that UID). OK: accepted. NotFound: the
  // pod is gone, or the subresource is not served. ResourceExhausted: a
  // disruption budget refuses (the message says which). FailedPrecondition:
  // the server refuses for good (several budgets; also any 4xx the API maps
  // to it). Aborted: the UID no longer matches.
  // grace: nullopt for the pod's own period.
  virtual absl::Status EvictPod(const PodInfo& pod, std::optional<int64_t> grace_seconds) = 0;
  // Deletes the pod (bypasses budgets), only the pod with that UID.
  virtual absl::Status DeletePod(const PodInfo& pod, std::optional<int64_t> grace_seconds) = 0;
  virtual absl::StatusOr<bool> DaemonSetExists(const std::string& ns, const std::string& name) = 0;
  // Records a core/v1 Event on the node. type: "Normal" or "Warning".
  virtual absl::Status RecordNodeEvent(const NodeInfo& node, const std::string& type,
                                       const std::string& reason, const std::string& message) = 0;
};

}  // namespace hollowtrees::k8s
