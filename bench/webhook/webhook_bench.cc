// webhook_bench: prints figures for spot-config-webhook, side by side.
//
//  1. POST /mutate over TLS (keep-alive, 4 client threads) against the fake
//     API server, with the ConfigMap
//       a) watched and cached (what spot-config-webhook does), and
//       b) fetched with a GET per request (what the original webhook did);
//     requests per second, latency percentiles, API requests per admission.
//  2. The extender's filter on a made-up cluster (200 nodes, a 100-replica
//     workload): decisions per second.
//
// Usage: webhook_bench [--seconds N]

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/common/logging.h"
#include "lib/http/http_client.h"
#include "lib/kube/kube_client.h"
#include "tests/fakes/kube/fake_apiserver.h"
#include "tests/fakes/kube/test_pki.h"
#include "tests/testing/subprocess.h"
#include "webhook/admission.h"
#include "webhook/configmap_shares.h"
#include "webhook/extender.h"
#include "webhook/server.h"

namespace hw = hollowtrees::webhook;
using nlohmann::json;

namespace {

// The original's way: GET the ConfigMap for every admission.
class GetPerRequest : public hw::ShareSource {
 public:
  explicit GetPerRequest(hollowtrees::kube::KubeClient& c) : c_(c) {}
  absl::StatusOr<std::optional<std::string>> Lookup(const std::string& key) override {
    auto cm = c_.Get("/api/v1/namespaces/pipeline-system/configmaps/spot-deploy-config");
    if (!cm.ok()) return cm.status();
    if (!cm->contains("data") || !(*cm)["data"].contains(key)) return std::optional<std::string>();
    return std::optional<std::string>((*cm)["data"][key].get<std::string>());
  }
  void Consumed(const std::string&, const std::string&) override {}

 private:
  hollowtrees::kube::KubeClient& c_;
};

json Review(int i) {
  json obj;
  obj["apiVersion"] = "apps/v1";
  obj["kind"] = "Deployment";
  obj["metadata"] = {{"name", absl::StrCat("web-", i % 50)}, {"namespace", "shop"},
                     {"labels", {{"release", "shop"}}}};
  obj["spec"]["template"]["spec"]["containers"] = json::array({{{"name", "c"}, {"image", "nginx"}}});
  return {{"apiVersion", "admission.k8s.io/v1"},
          {"kind", "AdmissionReview"},
          {"request",
           {{"uid", absl::StrCat("uid-", i)},
            {"kind", {{"group", "apps"}, {"version", "v1"}, {"kind", "Deployment"}}},
            {"operation", "CREATE"},
            {"namespace", "shop"},
            {"object", obj}}}};
}

struct Figures {
  double rps = 0;
  double p50_ms = 0, p99_ms = 0;
  double api_per_admission = 0;
  int64_t errors = 0;
};

Figures RunAdmission(hw::ShareSource& source, hollowtrees::testing::FakeApiServer& api,
                     const hollowtrees::testing::TestPki& pki, absl::Duration duration) {
  auto logger = *hollowtrees::MakeLogger("bench", {.level = "off"});
  auto certs = *hw::CertReloader::Create({.cert_file = pki.server_cert_file, .key_file = pki.server_key_file}, logger);
  hw::Admitter admitter(source, {}, logger);
  struct NoCluster : hw::ClusterView {
    absl::StatusOr<std::map<std::string, std::string>> NodeLabels(const std::string&) override {
      return absl::NotFoundError("none");
    }
    absl::StatusOr<hw::Workload> WorkloadOf(const json&) override { return hw::Workload{}; }
  } none;
  hw::Extender extender(none, {}, logger);
  hollowtrees::metrics::Registry registry;
  auto server = *hw::WebhookServer::Start({.listen = "127.0.0.1:0"}, *certs, admitter, extender,
                                          registry, logger);
  const int64_t api_before = api.RequestCount();
  std::atomic<int64_t> done{0}, errors{0};
  std::vector<std::vector<double>> lat(4);
  std::vector<std::thread> threads;
  const absl::Time end = absl::Now() + duration;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto client = *hollowtrees::http::NewHttpClient(
          {.base_url = absl::StrCat("https://127.0.0.1:", server->port()), .tls = {.ca_file = pki.ca_cert_file}});
      for (int i = 0; absl::Now() < end; ++i) {
        const std::string body = Review(i).dump();
        const absl::Time start = absl::Now();
        auto res = client->Send({.method = "POST", .path = "/mutate", .body = body,
                                 .content_type = "application/json"});
        lat[t].push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
        if (!res.ok() || res->status != 200 || res->body.find("\"patch\"") == std::string::npos) {
          errors.fetch_add(1);
        }
        done.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  server->Stop();
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  Figures f;
  f.rps = done.load() / absl::ToDoubleSeconds(duration);
  f.p50_ms = all.empty() ? 0 : all[all.size() / 2];
  f.p99_ms = all.empty() ? 0 : all[all.size() * 99 / 100];
  f.api_per_admission = done.load() ? double(api.RequestCount() - api_before) / done.load() : 0;
  f.errors = errors.load();
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  int seconds = 3;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--seconds") seconds = std::max(1, atoi(argv[i + 1]));
  }
  const absl::Duration duration = absl::Seconds(seconds);
  const std::string dir = hollowtrees::testing::MakeTempDir("ht-webhook-bench");
  auto pki = *hollowtrees::testing::MakeTestPki(dir);
  hollowtrees::testing::FakeApiServerOptions o;
  o.tls_cert_file = pki.server_cert_file;
  o.tls_key_file = pki.server_key_file;
  o.tokens = {"bench"};
  auto api = *hollowtrees::testing::FakeApiServer::Start(o);
  json data = json::object();
  for (int i = 0; i < 50; ++i) data[absl::StrCat("shop.deployment.web-", i)] = "30";
  for (int i = 0; i < 500; ++i) data[absl::StrCat("other.deployment.app-", i)] = "50";
  api->configmaps().Set("pipeline-system", "spot-deploy-config", data);
  hollowtrees::kube::KubeConfig config;
  config.server = api->url();
  config.tls.ca_file = pki.ca_cert_file;
  config.token = "bench";
  auto client = *hollowtrees::kube::KubeClient::Create(config);
  auto logger = *hollowtrees::MakeLogger("bench", {.level = "off"});

  std::printf("spot-config-webhook benchmark (%d s per run, 4 client threads, TLS keep-alive,\n"
              "ConfigMap with 550 entries in the fake API server over HTTPS)\n\n", seconds);
  std::printf("%-34s %12s %10s %10s %14s %8s\n", "POST /mutate, ConfigMap read by", "admissions/s",
              "p50 ms", "p99 ms", "API req/adm.", "errors");
  {
    hw::ConfigMapShares watched(*client, {.remove_consumed = false}, logger);
    watched.Start();
    watched.WaitForSync(absl::Seconds(10));
    Figures f = RunAdmission(watched, *api, pki, duration);
    std::printf("%-34s %12.0f %10.3f %10.3f %14.4f %8lld\n", "watch + cache (this webhook)", f.rps,
                f.p50_ms, f.p99_ms, f.api_per_admission, static_cast<long long>(f.errors));
    watched.Stop();
  }
  {
    GetPerRequest per_request(*client);
    Figures f = RunAdmission(per_request, *api, pki, duration);
    std::printf("%-34s %12.0f %10.3f %10.3f %14.4f %8lld\n", "GET per request (the original)", f.rps,
                f.p50_ms, f.p99_ms, f.api_per_admission, static_cast<long long>(f.errors));
  }

  // Extender decisions on a made-up cluster, in process.
  struct Cluster : hw::ClusterView {
    absl::StatusOr<std::map<std::string, std::string>> NodeLabels(const std::string& n) override {
      const int i = std::stoi(n.substr(5));
      if (i % 4 == 0) return std::map<std::string, std::string>{{"eks.amazonaws.com/capacityType", "ON_DEMAND"}};
      return std::map<std::string, std::string>{{"karpenter.sh/capacity-type", "spot"}};
    }
    absl::StatusOr<hw::Workload> WorkloadOf(const json&) override {
      hw::Workload w;
      w.id = "ReplicaSet/shop/web";
      w.desired = 100;
      for (int i = 0; i < 99; ++i) {
        w.pods.push_back({absl::StrCat("p", i), absl::StrCat("p", i), absl::StrCat("node-", i % 200)});
      }
      return w;
    }
  } cluster;
  hw::Extender ext(cluster, {}, logger);
  json items = json::array();
  for (int i = 0; i < 200; ++i) {
    std::map<std::string, std::string> labels = *cluster.NodeLabels(absl::StrCat("node-", i));
    items.push_back({{"metadata", {{"name", absl::StrCat("node-", i)}, {"labels", labels}}}});
  }
  json args = {{"pod", {{"metadata", {{"name", "web-x"}, {"uid", "x"},
                                      {"annotations", {{"app.banzaicloud.io/odPercentage", "30"}}}}}}},
               {"nodes", {{"kind", "NodeList"}, {"items", items}}}};
  json names_args = args;
  names_args.erase("nodes");
  names_args["nodenames"] = json::array();
  for (int i = 0; i < 200; ++i) names_args["nodenames"].push_back(absl::StrCat("node-", i));
  std::printf("\n%-34s %12s %10s\n", "extender (200 nodes, 99 replicas)", "decisions/s", "us each");
  for (const auto& [label, a] : {std::pair<const char*, json*>{"filter, nodes (NodeList)", &args},
                                 {"filter, nodenames", &names_args}}) {
    const absl::Time start = absl::Now();
    int n = 0;
    while (absl::Now() - start < duration) {
      auto out = ext.Filter(*a);
      if (!out.ok()) return 1;
      ++n;
    }
    const double s = absl::ToDoubleSeconds(absl::Now() - start);
    std::printf("%-34s %12.0f %10.1f\n", label, n / s, s * 1e6 / n);
  }
  api->Stop();
  return 0;
}
