#pragma once

// A fake Kubernetes API server speaking the real wire protocol, for tests and
// benchmarks: HTTPS (or plain HTTP), bearer-token and client-certificate
// authentication (401 Status without), discovery, nodes, pods, namespaces,
// events, PodDisruptionBudgets, DaemonSets and ReplicaSets, the pods/eviction
// subresource with budget accounting, and `Table` output for kubectl;
// ConfigMaps and Leases (coordination.k8s.io/v1) with watch in their own
// stores (object_store.h).
//
// What it models:
// - Pods deleted with a grace period get metadata.deletionTimestamp and
//   disappear once the period has passed (grace 0, finished and unscheduled
//   pods at once), as the kubelet would make them.
// - Evictions are checked against PodDisruptionBudgets as the API server does:
//   429 TooManyRequests with a Status body (cause DisruptionBudget) when the
//   budget allows no disruption; 500 when several budgets select the pod;
//   finished pods and pods already terminating skip the budgets. A budget's
//   allowance is computed live: healthy (Ready, not terminating) pods minus
//   the desired healthy count (minAvailable, or expected - maxUnavailable,
//   percentages rounded up as the disruption controller does; expected pods =
//   the sum of the owning ReplicaSets' replicas, else the pods selected;
//   maxUnavailable and percentages over pods without a controller allow no
//   disruption, as the disruption controller cannot scale them).
// - Optionally (`reschedule`), a pod owned by a ReplicaSet that starts
//   terminating is replaced at once by a new Ready pod on the schedulable
//   node with the fewest pods, as controller, scheduler and kubelet together
//   would: so cordons decide where evicted work lands.
// - Strictness: unknown paths 404, wrong methods 405, bodies that are not
//   JSON 400, unsupported content types 415 (apply patches included), bad
//   selectors 400, name mismatches 400, stale resourceVersion 409.
// Deviations: strategic-merge patches are applied as JSON merge patches
// (identical for the fields drains touch: spec.unschedulable, spec.taints,
// metadata.labels/annotations); no watch except for ConfigMaps and Leases
// (object_store.h); no protobuf.
//
// Thread-safe. Time is the real clock (pods terminate in real time).

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "tests/fakes/kube/configmaps.h"
#include "tests/fakes/kube/leases.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace hollowtrees::testing {

struct FakeApiServerOptions {
  // HOST:PORT; port 0 picks a free port.
  std::string listen = "127.0.0.1:0";
  // TLS certificate and key (PEM files). Empty: plain HTTP.
  std::string tls_cert_file;
  std::string tls_key_file;
  // Client certificates signed by this CA authenticate (PEM file).
  std::string client_ca_file;
  // Accepted bearer tokens. With no tokens and no client CA, every request is
  // accepted.
  std::vector<std::string> tokens;
  // Reported by /version.
  std::string git_version = "v1.30.0";
  // Worker threads. cpp-httplib holds a thread per open keep-alive
  // connection, so this bounds the clients' connections (the real server, in
  // Go, has no such bound). Default 128.
  int threads = 128;
  // Replace terminating ReplicaSet pods (see above). Default on.
  bool reschedule = true;
};

class FakeApiServer {
 public:
  static absl::StatusOr<std::unique_ptr<FakeApiServer>> Start(const FakeApiServerOptions& options);
  ~FakeApiServer();

  int port() const { return port_; }
  // "https://127.0.0.1:PORT" (or http).
  std::string url() const;

  // State. Objects are JSON as the API would return them; missing metadata
  // (uid, resourceVersion, creationTimestamp, namespace "default") is filled
  // in. Add* replaces an object of the same name. InvalidArgument when the
  // object has no metadata.name.
  absl::Status AddNode(nlohmann::json node);
  absl::Status AddPod(nlohmann::json pod);
  absl::Status AddPodDisruptionBudget(nlohmann::json pdb);
  absl::Status AddDaemonSet(nlohmann::json ds);
  absl::Status AddReplicaSet(nlohmann::json rs);
  absl::Status AddNamespace(const std::string& name);
  // {"nodes": [...], "pods": [...], "poddisruptionbudgets": [...],
  //  "daemonsets": [...], "replicasets": [...], "namespaces": ["a", ...]}
  absl::Status LoadState(const nlohmann::json& state);

  std::optional<nlohmann::json> GetNode(const std::string& name);
  std::optional<nlohmann::json> GetPod(const std::string& ns, const std::string& name);
  // Every pod (terminated ones already swept), sorted by namespace/name.
  std::vector<nlohmann::json> Pods();
  std::vector<nlohmann::json> PodsOnNode(const std::string& node);
  std::vector<nlohmann::json> Events();
  void DeleteDaemonSet(const std::string& ns, const std::string& name);
  // Sets a pod's phase (e.g. "Succeeded") and readiness.
  absl::Status SetPodPhase(const std::string& ns, const std::string& name,
                           const std::string& phase, bool ready);

  // Faults.
  // false: pods/eviction is left out of discovery and answers 404, so
  // clients must fall back to DELETE.
  void SetEvictionServed(bool served);
  // The pod is deleted and created again under the same name with a new UID
  // (what a StatefulSet does).
  absl::Status ReplacePodWithNewUid(const std::string& ns, const std::string& name);
  // Changes a budget's minAvailable (to let a blocked eviction through).
  absl::Status SetPdbMinAvailable(const std::string& ns, const std::string& name, int value);

  // ConfigMaps, with watch (tests/fakes/kube/configmaps.h): state and faults.
  FakeConfigMaps& configmaps();
  // Leases (coordination.k8s.io/v1), with watch (tests/fakes/kube/leases.h):
  // state (Modify, Get, Delete) and faults (FailNextWrites).
  FakeLeases& leases();

  // Requests served (authenticated or not), total and by "METHOD kind" where
  // kind is the resource or subresource ("GET pods", "POST eviction").
  int64_t RequestCount();
  std::map<std::string, int64_t> RequestCounts();
  void ResetRequestCounts();

  void Stop();

  class Impl;

 private:
  FakeApiServer() = default;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace hollowtrees::testing
