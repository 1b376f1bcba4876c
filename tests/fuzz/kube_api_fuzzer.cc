// libFuzzer target: what the Kubernetes API server answers.
//   mode 0: an error body (kube::KubeStatusError, GetKubeError)
//   mode 1: a watch stream in pieces (kube::WatchDecoder, ObjectKey)
//   mode 2: the k8s plugin's API calls (k8s::KubeHttpApi over a KubeClient):
//           lists (continue pages), nodes, pods, eviction discovery
//   mode 3: the webhook's cluster view (webhook::KubeClusterView): node
//           lists and a pod's workload (ReplicaSet/Deployment/StatefulSet...);
//           no answer may make it throw
// In modes 2 and 3 every request is answered with a status and body taken
// from the input (tests/fuzz/fuzz_http.h).
#include <fuzzer/FuzzedDataProvider.h>

#include "lib/common/clock.h"
#include "lib/kube/credentials.h"
#include "lib/kube/kube_client.h"
#include "lib/kube/kube_error.h"
#include "lib/kube/watch.h"
#include "plugins/k8s/kube_http_api.h"
#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/fuzz_http.h"
#include "webhook/kube_cluster_view.h"

namespace {

using namespace hollowtrees;

std::unique_ptr<kube::KubeClient> Client(FuzzedDataProvider& in) {
  kube::KubeConfig config;
  config.server = "https://kube.fuzz:6443";
  config.token = "fuzz-token";
  auto creds = kube::NewCredentials(config);
  if (!creds.ok()) std::abort();
  return std::make_unique<kube::KubeClient>(
      std::make_unique<fuzz::ScriptedHttp>(
          in, std::vector<int>{200, 200, 200, 201, 400, 401, 403, 404, 409, 410, 422, 429, 500,
                               503, 504}),
      *std::move(creds), kube::KubeClientOptions{});
}

void KubePlugin(FuzzedDataProvider& in) {
  auto client = Client(in);
  k8s::KubeHttpApi api(*client, "fuzz");
  for (int i = 0; i < 8 && in.remaining_bytes() > 0; ++i) {
    switch (in.ConsumeIntegralInRange(0, 9)) {
      case 0: (void)api.ListNodes(); break;
      case 1: (void)api.GetNode("node-1"); break;
      case 2: (void)api.ListPodsOnNode("node-1", "app=web"); break;
      case 3: (void)api.GetPod("shop", "web-1"); break;
      case 4: (void)api.EvictionSupported(); break;
      case 5: (void)api.DaemonSetExists("kube-system", "aws-node"); break;
      case 6: (void)api.SetUnschedulable("node-1", true); break;
      case 7: (void)api.AddTaint("node-1", {"hollowtrees.io/drain", "true", "NoSchedule"}); break;
      case 8: (void)api.RemoveTaint("node-1", {"hollowtrees.io/drain", "true", "NoSchedule"}); break;
      case 9: {
        k8s::PodInfo pod;
        pod.ns = "shop";
        pod.name = "web-1";
        pod.uid = "uid-1";
        (void)api.EvictPod(pod, 30);
        break;
      }
    }
  }
}

void ClusterView(FuzzedDataProvider& in) {
  // The pod is the caller's (ExtenderArgs), well-typed here: whatever the
  // API answers, the view returns a status and throws nothing (a malformed
  // answer is the API server's error, never a 400 blaming the caller).
  nlohmann::json owner = {{"apiVersion", in.ConsumeBool() ? "apps/v1" : "v1"},
                          {"kind", in.PickValueInArray({"ReplicaSet", "StatefulSet", "Job",
                                                        "DaemonSet"})},
                          {"name", in.ConsumeRandomLengthString(32)},
                          {"uid", in.ConsumeRandomLengthString(16)},
                          {"controller", in.ConsumeBool()}};
  nlohmann::json pod = {{"metadata",
                         {{"name", in.ConsumeRandomLengthString(32)},
                          {"namespace", in.ConsumeRandomLengthString(16)},
                          {"ownerReferences", nlohmann::json::array({owner})}}}};
  auto client = Client(in);
  FakeClock clock(fuzz::FixedNow());
  webhook::KubeClusterView view(*client, {}, clock);
  (void)view.NodeLabels("node-1");
  (void)view.WorkloadOf(pod);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 256 * 1024) return 0;
  FuzzedDataProvider in(data, size);
  switch (in.ConsumeIntegralInRange(0, 3)) {
    case 0: {
      const int status = in.ConsumeIntegralInRange(400, 599);
      const std::string body = in.ConsumeRemainingBytesAsString();
      absl::Status s = kube::KubeStatusError(status, body, "GET /api/v1/nodes/x");
      if (s.ok()) std::abort();
      auto e = kube::GetKubeError(s);
      if (!e) {
        std::fprintf(stderr, "a KubeStatusError carries no KubeError\n");
        std::abort();
      }
      break;
    }
    case 1: {
      kube::WatchDecoder decoder;
      while (in.remaining_bytes() > 0) {
        const std::string piece = in.ConsumeRandomLengthString(4096);
        absl::Status s = decoder.Feed(piece, [](kube::WatchEvent ev) {
          (void)kube::ObjectKey(ev.object);
        });
        if (!s.ok()) break;
      }
      break;
    }
    case 2:
      KubePlugin(in);
      break;
    case 3:
      ClusterView(in);
      break;
  }
  return 0;
}
