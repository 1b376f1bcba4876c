// ht-k8s-action-plugin: drains (cordons, uncordons) the Kubernetes node an
// event names, like `kubectl drain`.
//
//   ht-k8s-action-plugin --listen HOST:PORT [--kubeconfig FILE] [--context NAME]
//                        [--kubeconfig-dir DIR]
//
// Without --kubeconfig and --kubeconfig-dir: the in-cluster configuration.
// Flags may be written with dashes or underscores (--kubeconfig-dir).

#include <memory>

#include "absl/flags/flag.h"
#include "plugins/k8s/k8s_plugin.h"
#include "plugins/sdk/plugin_main.h"

ABSL_FLAG(std::string, kubeconfig, "", "kubeconfig file (default: in-cluster configuration)");
ABSL_FLAG(std::string, context, "", "kubeconfig context (default: current-context)");
ABSL_FLAG(std::string, kubeconfig_dir, "",
          "folder of kubeconfigs: an event's cluster_name label selects DIR/<cluster_name>/config");
ABSL_FLAG(absl::Duration, api_timeout, absl::Seconds(10), "timeout of every Kubernetes API request");
ABSL_FLAG(absl::Duration, drain_timeout, absl::Seconds(90),
          "default overall drain timeout (rule param `timeout` overrides)");
ABSL_FLAG(absl::Duration, cordon_hold, absl::Seconds(1),
          "after cordoning, wait this long for other doomed nodes' cordons before evicting");
ABSL_FLAG(int, api_parallelism, 32, "Kubernetes API calls in flight at once per cluster");

int main(int argc, char** argv) {
  using namespace hollowtrees;
  std::unique_ptr<k8s::KubeconfigClusterApis> apis;
  // PluginMain accepts dashed flags (--kubeconfig-dir) as the docs spell them.
  return plugin::PluginMain(
      argc, argv,
      {.name = "ht-k8s-action-plugin",
       .default_listen = "0.0.0.0:8887",
       .usage = "Drains the Kubernetes node an event names (kubectl drain semantics)."},
      [&apis](spdlog::logger& logger) -> absl::StatusOr<std::unique_ptr<plugin::ActionPlugin>> {
        k8s::KubeconfigClusterOptions cluster_options;
        cluster_options.kubeconfig = absl::GetFlag(FLAGS_kubeconfig);
        cluster_options.context = absl::GetFlag(FLAGS_context);
        cluster_options.kubeconfig_dir = absl::GetFlag(FLAGS_kubeconfig_dir);
        cluster_options.in_cluster = kube::InClusterOptions::FromEnvironment();
        cluster_options.client.timeout = absl::GetFlag(FLAGS_api_timeout);
        apis = std::make_unique<k8s::KubeconfigClusterApis>(cluster_options);
        // Fail fast on a broken single-cluster configuration.
        if (cluster_options.kubeconfig_dir.empty()) {
          auto api = apis->ForCluster("");
          if (!api.ok()) return api.status();
        }
        k8s::K8sPluginOptions options;
        options.defaults.timeout = absl::GetFlag(FLAGS_drain_timeout);
        options.defaults.cordon_hold = absl::GetFlag(FLAGS_cordon_hold);
        options.parallelism = absl::GetFlag(FLAGS_api_parallelism);
        return std::make_unique<k8s::K8sPlugin>(options, *apis, RealClock(), logger);
      });
}
