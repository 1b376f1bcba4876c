// End to end: the engine with the original example rule
// (prometheus.server.alert.SpotTerminationNotice -> ht-k8s-action-plugin),
// the plugin binary with --kubeconfig-dir, and the fake API server over
// HTTPS. An alert posted over HTTP drains the node.

#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/http/http_client.h"
#include "nlohmann/json.hpp"
#include "tests/plugins/k8s/cluster_fixture.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace hollowtrees {
namespace {

using ::hollowtrees::testing::BinaryPath;
using ::hollowtrees::testing::FakeCluster;
using ::hollowtrees::testing::Subprocess;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
using nlohmann::json;

std::vector<std::string> PodsOn(testing::FakeApiServer& s, const std::string& node) {
  std::vector<std::string> out;
  for (const auto& p : s.PodsOnNode(node)) out.push_back(p["metadata"]["name"].get<std::string>());
  return out;
}

TEST(K8sEndToEndTest, AlertPostedToTheEngineDrainsTheNode) {
  auto cluster = FakeCluster::Start(testing::StandardCluster());
  ASSERT_NE(cluster, nullptr);
  const std::string dir = testing::MakeTempDir("k8s-e2e");
  ASSERT_EQ(mkdir((dir + "/kubeconfigs").c_str(), 0755), 0);
  ASSERT_EQ(mkdir((dir + "/kubeconfigs/test-cluster").c_str(), 0755), 0);
  ASSERT_EQ(mkdir((dir + "/data").c_str(), 0755), 0);
  auto kubeconfig = testing::ReadFileToString(cluster->ClientCertDataKubeconfig());
  ASSERT_THAT(kubeconfig, testing::IsOk());
  ASSERT_THAT(testing::WriteStringToFile(dir + "/kubeconfigs/test-cluster/config", *kubeconfig),
              testing::IsOk());

  auto plugin = Subprocess::Start({BinaryPath("ht-k8s-action-plugin"), "--listen", "127.0.0.1:0",
                                   "--kubeconfig-dir", dir + "/kubeconfigs", "--cordon-hold",
                                   "0s"},
                                  {}, dir);
  ASSERT_THAT(plugin, testing::IsOk());
  auto plugin_port = (*plugin)->WaitForOutput("listening on 127.0.0.1:([0-9]+)");
  ASSERT_THAT(plugin_port, testing::IsOk()) << (*plugin)->Output();

  // The original project's example rule, unchanged but for the address.
  const std::string config = absl::StrCat(R"(action_plugins:
  - name: "ht-k8s-action-plugin"
    address: "127.0.0.1:)", *plugin_port, R"("
rules:
  - name: "drain_k8s_spot_instance"
    description: "drain k8s node and replace AWS instance with a new one"
    event_type: "prometheus.server.alert.SpotTerminationNotice"
    action_plugins:
      - "ht-k8s-action-plugin"
    match:
      - cluster_name: "test-cluster"
)");
  ASSERT_THAT(testing::WriteStringToFile(dir + "/rules.yaml", config), testing::IsOk());
  auto engine = Subprocess::Start({BinaryPath("hollowtrees"), "--config", dir + "/rules.yaml",
                                   "--listen", "127.0.0.1:0", "--data-dir", dir + "/data"},
                                  {}, dir);
  ASSERT_THAT(engine, testing::IsOk());
  auto engine_port = (*engine)->WaitForOutput("listening on 127.0.0.1:([0-9]+)");
  ASSERT_THAT(engine_port, testing::IsOk()) << (*engine)->Output();

  auto http = http::NewHttpClient({.base_url = absl::StrCat("http://127.0.0.1:", *engine_port)});
  ASSERT_THAT(http, testing::IsOk());
  const std::string now = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
  const std::string later =
      absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now() + absl::Minutes(5), absl::UTCTimeZone());
  const json alerts = json::array({{{"labels",
                                     {{"alertname", "SpotTerminationNotice"},
                                      {"cluster_name", "test-cluster"},
                                      {"instance", "10.0.0.1:9189"},
                                      {"instance_id", "i-0001"},
                                      {"instance_action", "terminate"}}},
                                    {"annotations", {{"summary", "spot instance termination notice"}}},
                                    {"startsAt", now},
                                    {"endsAt", later},
                                    {"generatorURL", "http://prometheus:9090/graph?g0.expr=x"}}});
  auto resp = (*http)->Send({.method = "POST", .path = "/api/v2/alerts", .body = alerts.dump(),
                             .content_type = "application/json"});
  ASSERT_THAT(resp, testing::IsOk());
  ASSERT_LT(resp->status, 300) << resp->body;

  // Poll the fake cluster until the node is drained (bounded).
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  bool drained = false;
  while (absl::Now() < deadline && !drained) {
    auto node = cluster->server().GetNode("node-1");
    drained = node && (*node)["spec"].value("unschedulable", false) &&
              PodsOn(cluster->server(), "node-1").size() == 2;
    if (!drained) absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_TRUE(drained) << (*engine)->Output() << (*plugin)->Output();
  EXPECT_THAT(PodsOn(cluster->server(), "node-1"),
              UnorderedElementsAre("agent-node-1", "etcd-node-1"));
  EXPECT_FALSE(cluster->server().GetNode("node-2")->at("spec").value("unschedulable", false));
  ASSERT_EQ(cluster->server().Events().size(), 1u);

  // The flow reports the plugin's answer.
  std::string flows;
  while (absl::Now() < deadline) {
    auto f = (*http)->Send({.method = "GET", .path = "/api/v1/flows"});
    ASSERT_THAT(f, testing::IsOk());
    flows = f->body;
    if (flows.find("drained node node-1") != std::string::npos) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_THAT(flows, HasSubstr("drained node node-1: 5 evicted"));

  http->reset();  // close keep-alive connections so the engine stops at once
  EXPECT_EQ((*engine)->Stop(), 0);
  EXPECT_EQ((*plugin)->Stop(), 0);
}

}  // namespace
}  // namespace hollowtrees
