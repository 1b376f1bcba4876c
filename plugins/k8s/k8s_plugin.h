#pragma once

// ht-k8s-action-plugin's logic: finds the node an event is about, and drains,
// cordons or uncordons it as the rule's params ask (README.md lists them).
//
// Outcomes:
//   DONE     drained (or cordoned/uncordoned, or already so: a repeat delivery
//            is a quick success)
//   SKIPPED  the event names no node (none of the labels node, instance_id,
//            instance)
//   RETRY    the API server was unreachable or answered 5xx/429 outside an
//            eviction; the call was cancelled
//   FAILED   bad params; node not found (naming what was looked for); pods
//            that cannot be drained under the params; the deadline passed
//            with pods still there (each named, with the reason)

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "lib/kube/kube_client.h"
#include "lib/common/clock.h"
#include "plugins/k8s/drainer.h"
#include "plugins/k8s/kube_api.h"
#include "plugins/sdk/plugin.h"

namespace hollowtrees::metrics {
class Histogram;
}

namespace hollowtrees::k8s {

// kWaitReady: for Auto Scaling launch hooks, waits until the event's
// instance has a node that is Ready (up to `timeout`), then DONE; FAILED
// when the time runs out (the hook then lapses with its default result).
enum class Action { kDrain, kCordon, kUncordon, kWaitReady };

struct ActionParams {
  Action action = Action::kDrain;
  DrainOptions drain;
};

// Decodes a rule's params over `defaults`. `alert_status` ("firing",
// "resolved", "") picks the default action: uncordon for resolved alerts,
// drain otherwise. InvalidArgument naming the key for unknown keys and values
// of the wrong type or form.
absl::StatusOr<ActionParams> ParseParams(const nlohmann::json& params,
                                         const std::string& alert_status,
                                         const DrainOptions& defaults);

// The cluster's API for an event's cluster_name ("" when the event has none).
// Thread-safe; returned pointers live as long as the provider.
class ClusterApis {
 public:
  virtual ~ClusterApis() = default;
  // NotFound / InvalidArgument naming the kubeconfig when it cannot be used.
  virtual absl::StatusOr<KubeApi*> ForCluster(const std::string& cluster_name) = 0;
};

struct KubeconfigClusterOptions {
  // --kubeconfig (empty: in-cluster unless kubeconfig_dir is set).
  std::string kubeconfig;
  // --context (empty: current-context).
  std::string context;
  // --kubeconfig-dir: an event's cluster_name selects DIR/<cluster_name>/config.
  std::string kubeconfig_dir;
  kube::InClusterOptions in_cluster;
  kube::KubeClientOptions client;
};

// Clients made from kubeconfig files (one per cluster, made on first use and
// kept) or the in-cluster configuration.
class KubeconfigClusterApis : public ClusterApis {
 public:
  explicit KubeconfigClusterApis(KubeconfigClusterOptions options);
  ~KubeconfigClusterApis() override;
  absl::StatusOr<KubeApi*> ForCluster(const std::string& cluster_name) override;
  // Total requests made by every client (for benchmarks).
  int64_t requests_sent();

 private:
  struct Entry;
  const KubeconfigClusterOptions options_;
  absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
};

struct K8sPluginOptions {
  // Defaults for every drain; rule params override them.
  DrainOptions defaults;
  // A drain ends this long before the call's deadline, so the answer reaches
  // the engine in time. Default 2 s.
  absl::Duration deadline_margin = absl::Seconds(2);
  // API calls in flight at once per cluster. Default 32.
  int parallelism = 32;
};

// Thread-safe: the SDK calls Handle concurrently (mass interruptions).
class K8sPlugin : public plugin::ActionPlugin {
 public:
  // `apis`, `clock` and `logger` must outlive the plugin.
  K8sPlugin(K8sPluginOptions options, ClusterApis& apis, Clock& clock, spdlog::logger& logger);
  ~K8sPlugin() override;

  plugin::Result Handle(const plugin::Request& request, const plugin::Context& context) override;

  // Adds, with both children at zero:
  //   hollowtrees_k8s_plugin_notice_to_cordon_seconds{action} (histogram):
  //   seconds from the event's `time` attribute (the notice) to this
  //   plugin's cordon of the node, action "drain" or "cordon". Observed once
  //   per cordon made (a node cordoned already, a dry run, an event without
  //   a time: nothing); a time in the future (clock skew) counts as 0.
  // Call at most once, before Handle (the SDK server does).
  void RegisterMetrics(metrics::Registry& registry) override;

  // Finds the node an event names (DESIGN order: node, instance_id,
  // instance). NotFound names what was looked for; InvalidArgument when the
  // event has none of the labels. FindNodeInfo gives what the API said of
  // it; FindNode its name.
  static absl::StatusOr<NodeInfo> FindNodeInfo(KubeApi& api,
                                               const std::map<std::string, std::string>& labels);
  static absl::StatusOr<std::string> FindNode(KubeApi& api,
                                              const std::map<std::string, std::string>& labels);

 private:
  Drainer& DrainerFor(KubeApi& api);
  // Action::kWaitReady.
  plugin::Result WaitReady(KubeApi& api, const plugin::Request& request,
                           const plugin::Context& context, const DrainOptions& d,
                           const std::string& where);

  const K8sPluginOptions options_;
  // Null until RegisterMetrics; they point into its registry.
  std::atomic<metrics::Histogram*> notice_to_cordon_drain_{nullptr};
  std::atomic<metrics::Histogram*> notice_to_cordon_cordon_{nullptr};
  ClusterApis& apis_;
  Clock& clock_;
  spdlog::logger& logger_;
  // One drainer and cordon barrier per cluster.
  struct PerCluster {
    CordonBarrier barrier;
    std::unique_ptr<Drainer> drainer;
  };
  absl::Mutex mu_;
  std::map<KubeApi*, std::unique_ptr<PerCluster>> clusters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hollowtrees::k8s
