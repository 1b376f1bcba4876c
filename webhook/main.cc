// spot-config-webhook: the mutating admission webhook that marks workloads
// listed in the spot deploy ConfigMap, and the scheduler extender that keeps
// their on-demand share (docs/webhook.md).

#include <csignal>
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "lib/common/daemon.h"
#include "lib/common/flags.h"
#include "lib/common/logging.h"
#include "lib/common/signals.h"
#include "lib/kube/kube_client.h"
#include "lib/kube/kube_config.h"
#include "lib/metrics/metrics.h"
#include "webhook/admission.h"
#include "webhook/capacity.h"
#include "webhook/cert_reloader.h"
#include "webhook/configmap_shares.h"
#include "webhook/extender.h"
#include "webhook/kube_cluster_view.h"
#include "webhook/server.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:8443", "HOST:PORT to serve HTTPS on");
ABSL_FLAG(std::string, tls_cert_file, "", "serving certificate (PEM), reloaded when it changes");
ABSL_FLAG(std::string, tls_private_key_file, "", "its private key (PEM)");
ABSL_FLAG(std::string, kubeconfig, "", "kubeconfig file; empty: in-cluster configuration");
ABSL_FLAG(std::string, context, "", "kubeconfig context; empty: current-context");
ABSL_FLAG(std::string, configmap_namespace, "pipeline-system",
          "namespace of the spot deploy ConfigMap");
ABSL_FLAG(std::string, configmap_name, "spot-deploy-config", "name of the spot deploy ConfigMap");
ABSL_FLAG(std::string, annotation_key, "app.banzaicloud.io/odPercentage",
          "pod template annotation carrying the on-demand percentage");
ABSL_FLAG(std::string, scheduler_name, "spot-scheduler", "schedulerName set on mutated pods");
ABSL_FLAG(std::string, release_label, "release",
          "object label whose value starts the ConfigMap key");
ABSL_FLAG(bool, remove_consumed_entries, true,
          "remove a ConfigMap entry once applied (as the original); false keeps it");
ABSL_FLAG(std::string, on_demand_labels,
          "eks.amazonaws.com/capacityType=ON_DEMAND,karpenter.sh/capacity-type=on-demand,"
          "node.kubernetes.io/lifecycle=normal,node.kubernetes.io/lifecycle=on-demand",
          "node label pairs (key=value,...) that mark on-demand nodes");
ABSL_FLAG(std::string, spot_labels,
          "eks.amazonaws.com/capacityType=SPOT,karpenter.sh/capacity-type=spot,"
          "node.kubernetes.io/lifecycle=spot",
          "node label pairs (key=value,...) that mark spot nodes");
ABSL_FLAG(std::string, unlabeled_nodes, "on-demand",
          "what a node matching no label pair counts as: on-demand or spot");
ABSL_FLAG(std::string, serve, "admission,extender",
          "what to serve: admission, extender, or both (a scheduler sidecar serves only the "
          "extender and reads no ConfigMap)");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error");
ABSL_FLAG(std::string, log_format, "text", "text or json");

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "spot-config-webhook: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace hollowtrees;  // NOLINT: main only
  InitDaemon();
  InitFlags("spot-config-webhook",
      "spot-config-webhook --listen HOST:PORT --tls-cert-file FILE --tls-private-key-file FILE "
      "[--kubeconfig FILE]");
  AcceptDashedFlags(argc, argv);
  absl::ParseCommandLine(argc, argv);
  SignalWaiter signals({SIGINT, SIGTERM});

  auto logger = MakeLogger("spot-config-webhook", {.level = absl::GetFlag(FLAGS_log_level),
                                                   .format = absl::GetFlag(FLAGS_log_format)});
  if (!logger.ok()) return Fail(std::string(logger.status().message()));

  std::vector<std::string> problems;
  if (absl::GetFlag(FLAGS_tls_cert_file).empty()) problems.push_back("--tls-cert-file is required");
  if (absl::GetFlag(FLAGS_tls_private_key_file).empty()) {
    problems.push_back("--tls-private-key-file is required");
  }
  webhook::CapacityOptions capacity;
  auto od = webhook::ParseLabelPairs(absl::GetFlag(FLAGS_on_demand_labels));
  auto spot = webhook::ParseLabelPairs(absl::GetFlag(FLAGS_spot_labels));
  auto unlabeled = webhook::ParseCapacity(absl::GetFlag(FLAGS_unlabeled_nodes));
  if (!od.ok()) problems.push_back(absl::StrCat("--on-demand-labels: ", od.status().message()));
  if (!spot.ok()) problems.push_back(absl::StrCat("--spot-labels: ", spot.status().message()));
  if (!unlabeled.ok()) {
    problems.push_back(absl::StrCat("--unlabeled-nodes: ", unlabeled.status().message()));
  }
  if (absl::GetFlag(FLAGS_annotation_key).empty()) problems.push_back("--annotation-key is empty");
  if (absl::GetFlag(FLAGS_scheduler_name).empty()) problems.push_back("--scheduler-name is empty");
  bool serve_admission = false, serve_extender = false;
  for (absl::string_view part : absl::StrSplit(absl::GetFlag(FLAGS_serve), ',', absl::SkipEmpty())) {
    if (part == "admission") {
      serve_admission = true;
    } else if (part == "extender") {
      serve_extender = true;
    } else {
      problems.push_back(absl::StrCat("--serve: unknown part \"", part,
                                      "\" (want admission and/or extender)"));
    }
  }
  if (!serve_admission && !serve_extender) problems.push_back("--serve: nothing to serve");
  auto listen = http::ParseHostPort(absl::GetFlag(FLAGS_listen));
  if (!listen.ok()) problems.push_back(absl::StrCat("--listen: ", listen.status().message()));
  if (!problems.empty()) {
    for (const auto& p : problems) std::fprintf(stderr, "spot-config-webhook: %s\n", p.c_str());
    return 1;
  }
  capacity.on_demand = *od;
  capacity.spot = *spot;
  capacity.unlabeled_capacity = *unlabeled;

  auto certs = webhook::CertReloader::Create(
      {.cert_file = absl::GetFlag(FLAGS_tls_cert_file),
       .key_file = absl::GetFlag(FLAGS_tls_private_key_file)},
      *logger);
  if (!certs.ok()) return Fail(std::string(certs.status().message()));

  const std::string kubeconfig = absl::GetFlag(FLAGS_kubeconfig);
  auto config = kubeconfig.empty()
                    ? kube::LoadInClusterConfig(kube::InClusterOptions::FromEnvironment())
                    : kube::LoadKubeconfig(kubeconfig, absl::GetFlag(FLAGS_context));
  if (!config.ok()) return Fail(std::string(config.status().message()));
  auto client = kube::KubeClient::Create(*config);
  if (!client.ok()) return Fail(std::string(client.status().message()));

  webhook::ConfigMapShares shares(**client,
                                  {.ns = absl::GetFlag(FLAGS_configmap_namespace),
                                   .name = absl::GetFlag(FLAGS_configmap_name),
                                   .remove_consumed = absl::GetFlag(FLAGS_remove_consumed_entries)},
                                  *logger);
  webhook::Admitter admitter(shares,
                             {.annotation_key = absl::GetFlag(FLAGS_annotation_key),
                              .scheduler_name = absl::GetFlag(FLAGS_scheduler_name),
                              .release_label = absl::GetFlag(FLAGS_release_label)},
                             *logger);
  webhook::KubeClusterView view(**client, {});
  webhook::Extender extender(view,
                             {.annotation_key = absl::GetFlag(FLAGS_annotation_key),
                              .capacity = capacity},
                             *logger);
  metrics::Registry registry;
  registry.AddGaugeCallback("spot_config_webhook_configmap_synced",
                            "1 once the spot deploy ConfigMap has been read.",
                            [&shares] { return shares.synced() ? 1.0 : 0.0; });
  if (serve_admission) shares.Start();
  auto server = webhook::WebhookServer::Start(
      {.listen = absl::GetFlag(FLAGS_listen),
       .ready = [&shares, serve_admission] { return !serve_admission || shares.synced(); },
       .admission = serve_admission,
       .extender = serve_extender},
      **certs, admitter, extender, registry, *logger);
  if (!server.ok()) return Fail(std::string(server.status().message()));
  (*logger)->info("listening on port {} (serving {}; ConfigMap {}/{}, {}, scheduler {})",
                  (*server)->port(), absl::GetFlag(FLAGS_serve),
                  absl::GetFlag(FLAGS_configmap_namespace), absl::GetFlag(FLAGS_configmap_name),
                  config->description, absl::GetFlag(FLAGS_scheduler_name));
  const int sig = signals.Wait();
  (*logger)->info("signal {}: stopping", sig);
  (*server)->Stop();
  shares.Stop();
  return 0;
}
