// The plugin against the fake API server over HTTPS (real clock), and the
// fake proved against the real kubectl: same drain, same end state.

#include <unistd.h>

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/common/logging.h"
#include "lib/kube/kube_config.h"
#include "plugins/k8s/drainer.h"
#include "plugins/k8s/k8s_plugin.h"
#include "plugins/k8s/kube_http_api.h"
#include "tests/plugins/k8s/cluster_fixture.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/trickle_server.h"

namespace hollowtrees::k8s {
namespace {

using ::hollowtrees::testing::FakeCluster;
using ::hollowtrees::testing::FakeApiServer;
using ::hollowtrees::testing::StandardCluster;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
using Outcome = ::hollowtrees::plugin::v1::HandleResponse;
using nlohmann::json;

constexpr char kKubectl[] = "/usr/bin/kubectl";

std::shared_ptr<spdlog::logger> TestLogger() {
  static auto logger = *MakeLogger("k8s-e2e", {.level = "warn"});
  return logger;
}

struct PluginUnderTest {
  explicit PluginUnderTest(KubeconfigClusterOptions o, K8sPluginOptions p = {})
      : apis(std::move(o)), plugin(Fast(p), apis, RealClock(), *TestLogger()) {}
  static K8sPluginOptions Fast(K8sPluginOptions p) {
    p.defaults.cordon_hold = absl::ZeroDuration();
    p.defaults.poll_interval = absl::Milliseconds(100);
    p.defaults.retry_interval = absl::Milliseconds(200);
    return p;
  }
  plugin::Result Call(std::map<std::string, std::string> labels, json params = json::object(),
                      const std::string& status = "firing") {
    plugin::Request req;
    req.event_id = "ev-e2e";
    req.rule = "drain_k8s_spot_instance";
    req.labels = std::move(labels);
    req.params = std::move(params);
    req.status = status;
    plugin::Context ctx;
    ctx.deadline = absl::Now() + absl::Seconds(60);
    return plugin.Handle(req, ctx);
  }
  KubeconfigClusterApis apis;
  K8sPlugin plugin;
};

std::vector<std::string> PodNamesOn(FakeApiServer& s, const std::string& node) {
  std::vector<std::string> out;
  for (const auto& p : s.PodsOnNode(node)) {
    out.push_back(absl::StrCat(p["metadata"]["namespace"].get<std::string>(), "/",
                               p["metadata"]["name"].get<std::string>()));
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool Unschedulable(FakeApiServer& s, const std::string& node) {
  auto n = s.GetNode(node);
  return n && (*n)["spec"].value("unschedulable", false);
}

// Runs kubectl against the fake; returns its exit code and output.
std::pair<int, std::string> Kubectl(const std::string& kubeconfig, const std::string& cache,
                                    std::vector<std::string> args) {
  std::vector<std::string> argv = {kKubectl, "--kubeconfig", kubeconfig, "--cache-dir", cache};
  argv.insert(argv.end(), args.begin(), args.end());
  auto proc = testing::Subprocess::Start(argv);
  if (!proc.ok()) return {-1, std::string(proc.status().message())};
  auto code = (*proc)->Wait(absl::Seconds(90));
  return {code.ok() ? *code : -1, (*proc)->Output()};
}

TEST(FakeVersusKubectlTest, KubectlAndThePluginLeaveTheSameEndState) {
  if (access(kKubectl, X_OK) != 0) GTEST_SKIP() << "kubectl is not installed";
  auto a = FakeCluster::Start(StandardCluster());
  ASSERT_NE(a, nullptr);
  auto b = FakeCluster::Start(StandardCluster());
  ASSERT_NE(b, nullptr);
  const std::string cache = testing::MakeTempDir("kubectl-cache");
  const std::string kc = a->TokenKubeconfig();

  auto [code, out] = Kubectl(kc, cache, {"get", "nodes"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("node-1   Ready"));
  EXPECT_THAT(out, HasSubstr("node-2   Ready"));

  std::tie(code, out) = Kubectl(kc, cache, {"cordon", "node-2"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("node/node-2 cordoned"));
  EXPECT_TRUE(Unschedulable(a->server(), "node-2"));
  std::tie(code, out) = Kubectl(kc, cache, {"uncordon", "node-2"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_FALSE(Unschedulable(a->server(), "node-2"));

  std::tie(code, out) = Kubectl(kc, cache, {"drain", "node-1", "--ignore-daemonsets",
                                            "--delete-emptydir-data", "--force", "--timeout=60s"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("node/node-1 drained"));
  std::tie(code, out) = Kubectl(kc, cache, {"get", "nodes"});
  EXPECT_THAT(out, HasSubstr("Ready,SchedulingDisabled"));

  PluginUnderTest p({.kubeconfig = b->TokenKubeconfig()});
  plugin::Result r = p.Call({{"instance_id", "i-0001"}});
  ASSERT_EQ(r.outcome, Outcome::OUTCOME_DONE) << r.message;

  for (FakeCluster* c : {a.get(), b.get()}) {
    EXPECT_TRUE(Unschedulable(c->server(), "node-1"));
    EXPECT_FALSE(Unschedulable(c->server(), "node-2"));
    EXPECT_THAT(PodNamesOn(c->server(), "node-1"),
                UnorderedElementsAre("kube-system/agent-node-1", "kube-system/etcd-node-1"));
    // web-1, web-2 and cache-1 were replaced on node-2 by their ReplicaSets.
    EXPECT_EQ(PodNamesOn(c->server(), "node-2").size(), 5u);
    EXPECT_FALSE(c->server().GetPod("default", "bare").has_value());
    EXPECT_FALSE(c->server().GetPod("default", "job-done").has_value());
  }
  EXPECT_EQ(a->server().Pods().size(), b->server().Pods().size());
}

TEST(PluginE2eTest, DrainOverHttpsWithEventAndQuickRepeat) {
  auto c = FakeCluster::Start(StandardCluster());
  ASSERT_NE(c, nullptr);
  PluginUnderTest p({.kubeconfig = c->TokenKubeconfig()});
  plugin::Result r = p.Call({{"instance", "10.0.0.1:9189"}});
  ASSERT_EQ(r.outcome, Outcome::OUTCOME_DONE) << r.message;
  EXPECT_THAT(r.message, HasSubstr("drained node node-1: 5 evicted, 0 deleted"));
  EXPECT_THAT(r.message, HasSubstr("kube-system/agent-node-1 (DaemonSet-managed)"));
  EXPECT_THAT(r.message, HasSubstr("kube-system/etcd-node-1 (mirror pod)"));
  EXPECT_THAT(PodNamesOn(c->server(), "node-1"),
              UnorderedElementsAre("kube-system/agent-node-1", "kube-system/etcd-node-1"));
  auto events = c->server().Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["involvedObject"]["name"], "node-1");
  EXPECT_EQ(events[0]["message"], "draining: spot termination notice");

  c->server().ResetRequestCounts();
  const absl::Time t0 = absl::Now();
  r = p.Call({{"instance", "10.0.0.1:9189"}});
  EXPECT_EQ(r.outcome, Outcome::OUTCOME_DONE);
  EXPECT_THAT(r.message, HasSubstr("already drained"));
  EXPECT_LT(absl::Now() - t0, absl::Seconds(1));
  // List nodes, get node, list pods, get DaemonSet: nothing written.
  EXPECT_LE(c->server().RequestCount(), 5);
  EXPECT_EQ(c->server().RequestCounts().count("PATCH nodes"), 0u);
}

TEST(PluginE2eTest, BudgetThatNeverAllowsNamesThePodAtTheDeadline) {
  json state = StandardCluster();
  state["poddisruptionbudgets"][0]["spec"]["minAvailable"] = 3;
  auto c = FakeCluster::Start(state, {.reschedule = false});
  ASSERT_NE(c, nullptr);
  PluginUnderTest p({.kubeconfig = c->TokenKubeconfig()});
  plugin::Result r = p.Call({{"node", "node-1"}}, {{"timeout", "2s"}});
  ASSERT_EQ(r.outcome, Outcome::OUTCOME_FAILED) << r.message;
  EXPECT_THAT(r.message, HasSubstr("2 pods remain"));
  EXPECT_THAT(r.message, HasSubstr("default/web-1 (blocked by a PodDisruptionBudget"));
  EXPECT_THAT(r.message, HasSubstr("default/web-2 (blocked by a PodDisruptionBudget"));
  EXPECT_THAT(r.message, HasSubstr("The disruption budget web-pdb needs 3 healthy pods"));
  EXPECT_TRUE(c->server().GetPod("default", "web-1").has_value());
}

TEST(PluginE2eTest, BudgetThatBlocksThenAllows) {
  json state = StandardCluster();
  state["poddisruptionbudgets"][0]["spec"]["minAvailable"] = 3;
  auto c = FakeCluster::Start(state, {.reschedule = false});
  ASSERT_NE(c, nullptr);
  PluginUnderTest p({.kubeconfig = c->TokenKubeconfig()});
  std::thread relax([&] {
    // Once a refusal was seen, the budget relaxes.
    const absl::Time until = absl::Now() + absl::Seconds(20);
    while (absl::Now() < until && c->server().RequestCounts()["POST eviction"] < 4) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    (void)c->server().SetPdbMinAvailable("default", "web-pdb", 0);
  });
  plugin::Result r = p.Call({{"node", "node-1"}}, {{"timeout", "20s"}});
  relax.join();
  ASSERT_EQ(r.outcome, Outcome::OUTCOME_DONE) << r.message;
  EXPECT_FALSE(c->server().GetPod("default", "web-1").has_value());
  EXPECT_GT(c->server().RequestCounts()["POST eviction"], 5);
}

TEST(PluginE2eTest, EvictionNotServedFallsBackToDelete) {
  auto c = FakeCluster::Start(StandardCluster());
  ASSERT_NE(c, nullptr);
  c->server().SetEvictionServed(false);
  PluginUnderTest p({.kubeconfig = c->TokenKubeconfig()});
  plugin::Result r = p.Call({{"node", "node-1"}});
  ASSERT_EQ(r.outcome, Outcome::OUTCOME_DONE) << r.message;
  EXPECT_THAT(r.message, HasSubstr("0 evicted, 5 deleted"));
  auto counts = c->server().RequestCounts();
  EXPECT_EQ(counts["POST eviction"], 0);
  EXPECT_EQ(counts["DELETE pods"], 5);
}

TEST(PluginE2eTest, PodReplacedByNewUidEndsTheWait) {
  json state = StandardCluster();
  state["pods"].push_back(
      testing::PodJson("default", "db-0", "node-1", "StatefulSet", "db", /*grace=*/60));
  auto c = FakeCluster::Start(state);
  ASSERT_NE(c, nullptr);
  PluginUnderTest p({.kubeconfig = c->TokenKubeconfig()});
  std::thread replace([&] {
    const absl::Time until = absl::Now() + absl::Seconds(20);
    while (absl::Now() < until) {
      auto pod = c->server().GetPod("default", "db-0");
      if (pod && (*pod)["metadata"].contains("deletionTimestamp")) {
        (void)c->server().ReplacePodWithNewUid("default", "db-0");
        return;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
  });
  const absl::Time t0 = absl::Now();
  plugin::Result r = p.Call({{"node", "node-1"}});
  replace.join();
  ASSERT_EQ(r.outcome, Outcome::OUTCOME_DONE) << r.message;
  EXPECT_LT(absl::Now() - t0, absl::Seconds(20));  // not the 60 s grace period
  EXPECT_TRUE(c->server().GetPod("default", "db-0").has_value());
}

TEST(PluginE2eTest, EveryKindOfKubeconfigAuthenticates) {
  auto c = FakeCluster::Start(StandardCluster());
  ASSERT_NE(c, nullptr);
  const std::string token_file = absl::StrCat(c->dir(), "/token");
  ASSERT_TRUE(testing::WriteStringToFile(token_file, std::string(testing::kTestToken) + "\n").ok());
  const std::string count_file = absl::StrCat(c->dir(), "/exec-runs");
  struct Case {
    const char* name;
    std::string kubeconfig;
  };
  std::vector<Case> cases = {
      {"token", c->TokenKubeconfig()},
      {"client certificate files", c->ClientCertFilesKubeconfig()},
      {"client certificate data", c->ClientCertDataKubeconfig()},
      {"tokenFile", c->TokenFileKubeconfig("token")},
      {"exec v1", c->ExecKubeconfig("client.authentication.k8s.io/v1", count_file, 3600)},
  };
  for (const Case& k : cases) {
    PluginUnderTest p({.kubeconfig = k.kubeconfig});
    plugin::Result r = p.Call({{"node", "node-2"}}, {{"action", "cordon"}});
    EXPECT_EQ(r.outcome, Outcome::OUTCOME_DONE) << k.name << ": " << r.message;
    EXPECT_TRUE(Unschedulable(c->server(), "node-2")) << k.name;
    r = p.Call({{"node", "node-2"}}, {{"action", "uncordon"}});
    EXPECT_EQ(r.outcome, Outcome::OUTCOME_DONE) << k.name << ": " << r.message;
    EXPECT_FALSE(Unschedulable(c->server(), "node-2")) << k.name;
  }
  // The exec plugin ran once: its token was cached for the second call.
  auto runs = testing::ReadFileToString(count_file);
  ASSERT_TRUE(runs.ok());
  EXPECT_EQ(*runs, "run\n");

  PluginUnderTest bad({.kubeconfig = c->TokenKubeconfig("wrong")});
  plugin::Result r = bad.Call({{"node", "node-2"}}, {{"action", "cordon"}});
  EXPECT_EQ(r.outcome, Outcome::OUTCOME_FAILED);
  EXPECT_THAT(r.message, HasSubstr("401 Unauthorized"));
}

TEST(PluginE2eTest, InClusterConfiguration) {
  auto c = FakeCluster::Start(StandardCluster());
  ASSERT_NE(c, nullptr);
  const std::string root = testing::MakeTempDir("sa");
  ASSERT_TRUE(testing::WriteStringToFile(root + "/token", testing::kTestToken).ok());
  ASSERT_TRUE(testing::WriteStringToFile(root + "/ca.crt", c->pki().ca_cert_pem).ok());
  ASSERT_TRUE(testing::WriteStringToFile(root + "/namespace", "hollowtrees").ok());
  KubeconfigClusterOptions o;
  o.in_cluster = {.root = root, .host = "127.0.0.1", .port = absl::StrCat(c->server().port())};
  PluginUnderTest p(o);
  plugin::Result r = p.Call({{"node", "node-2"}}, {{"action", "cordon"}});
  EXPECT_EQ(r.outcome, Outcome::OUTCOME_DONE) << r.message;
  EXPECT_TRUE(Unschedulable(c->server(), "node-2"));
}

TEST(PluginE2eTest, KubeconfigDirSelectsTheClusterByName) {
  auto c = FakeCluster::Start(StandardCluster());
  ASSERT_NE(c, nullptr);
  const std::string dir = testing::MakeTempDir("kubeconfigs");
  ASSERT_EQ(mkdir((dir + "/test-cluster").c_str(), 0755), 0);
  auto text = testing::ReadFileToString(c->ClientCertDataKubeconfig());
  ASSERT_TRUE(text.ok());
  ASSERT_TRUE(testing::WriteStringToFile(dir + "/test-cluster/config", *text).ok());
  PluginUnderTest p({.kubeconfig_dir = dir});
  plugin::Result r =
      p.Call({{"cluster_name", "test-cluster"}, {"node", "node-2"}}, {{"action", "cordon"}});
  EXPECT_EQ(r.outcome, Outcome::OUTCOME_DONE) << r.message;
  EXPECT_TRUE(Unschedulable(c->server(), "node-2"));
  r = p.Call({{"cluster_name", "prod"}, {"node", "node-2"}});
  EXPECT_EQ(r.outcome, Outcome::OUTCOME_FAILED);
  EXPECT_THAT(r.message, HasSubstr(dir + "/prod/config"));
  r = p.Call({{"node", "node-2"}});
  EXPECT_EQ(r.outcome, Outcome::OUTCOME_FAILED);
  EXPECT_THAT(r.message, HasSubstr("no cluster_name label"));
}

TEST(PluginE2eTest, MassInterruptionCordonsEveryDoomedNodeBeforeEvicting) {
  json state;
  state["nodes"] = {testing::NodeJson("doomed-1", "i-d1", "10.1.0.1"),
                    testing::NodeJson("doomed-2", "i-d2", "10.1.0.2"),
                    testing::NodeJson("doomed-3", "i-d3", "10.1.0.3"),
                    testing::NodeJson("safe-1", "i-s1", "10.1.0.9")};
  state["replicasets"] = {
      {{"metadata", {{"name", "web-rs"}, {"namespace", "default"}}}, {"spec", {{"replicas", 9}}}}};
  state["pods"] = json::array();
  // safe-1 starts the busiest, so without the barrier the least-loaded rule
  // would send replacements to doomed nodes not yet cordoned.
  for (int i = 0; i < 6; ++i) {
    state["pods"].push_back(testing::PodJson("default", absl::StrCat("base-", i), "safe-1"));
  }
  for (int n = 1; n <= 3; ++n) {
    for (int i = 0; i < 3; ++i) {
      state["pods"].push_back(testing::PodJson("default", absl::StrCat("web-", n, "-", i),
                                               absl::StrCat("doomed-", n), "ReplicaSet", "web-rs",
                                               0, {{"app", "web"}}));
    }
  }
  auto c = FakeCluster::Start(state);
  ASSERT_NE(c, nullptr);
  K8sPluginOptions o;
  PluginUnderTest p({.kubeconfig = c->TokenKubeconfig()});
  std::vector<plugin::Result> results(3);
  std::vector<std::thread> threads;
  for (int n = 1; n <= 3; ++n) {
    threads.emplace_back([&, n] {
      // The notices arrive 150 ms apart; each drain holds its evictions
      // 1 s (the default) for the others' cordons.
      absl::SleepFor(absl::Milliseconds(150) * (n - 1));
      results[n - 1] = p.Call({{"instance_id", absl::StrCat("i-d", n)}}, {{"cordon_hold", "1s"}});
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : results) EXPECT_EQ(r.outcome, Outcome::OUTCOME_DONE) << r.message;
  // Nine pods, nine evictions: no replacement landed on a doomed node only to
  // be evicted again (which is what happens without the barrier).
  EXPECT_EQ(c->server().RequestCounts()["POST eviction"], 9);
  for (int n = 1; n <= 3; ++n) {
    EXPECT_TRUE(PodNamesOn(c->server(), absl::StrCat("doomed-", n)).empty())
        << "replacement landed on doomed-" << n;
  }
  EXPECT_EQ(PodNamesOn(c->server(), "safe-1").size(), 15u);
}

TEST(PluginBinaryTest, StartsWithDashedFlagsAndRefusesABrokenKubeconfig) {
  auto c = FakeCluster::Start(StandardCluster());
  ASSERT_NE(c, nullptr);
  auto proc = testing::Subprocess::Start({testing::BinaryPath("ht-k8s-action-plugin"), "--listen",
                                          "127.0.0.1:0", "--kubeconfig", c->TokenKubeconfig(),
                                          "--kubeconfig-dir=", "--log-level", "info"});
  ASSERT_TRUE(proc.ok()) << proc.status();
  EXPECT_TRUE((*proc)->WaitForOutput("listening on 127.0.0.1:([0-9]+)").ok()) << (*proc)->Output();
  EXPECT_EQ((*proc)->Stop(), 0);

  auto bad = testing::Subprocess::Start({testing::BinaryPath("ht-k8s-action-plugin"), "--listen",
                                         "127.0.0.1:0", "--kubeconfig", "/nonexistent/config"});
  ASSERT_TRUE(bad.ok());
  auto code = (*bad)->Wait(absl::Seconds(20));
  ASSERT_TRUE(code.ok());
  EXPECT_NE(*code, 0);
  EXPECT_THAT((*bad)->Output(), HasSubstr("/nonexistent/config"));
}

// Deadlines that hold: an API server that answers a byte every 50 ms (each
// byte well inside the client's 10 s per-request timeout).
class TricklingApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto slow = hollowtrees::testing::TrickleServer::Start(
        hollowtrees::testing::TrickleServer::SlowJsonAnswer(400), absl::Milliseconds(50));
    ASSERT_TRUE(slow.ok()) << slow.status();
    slow_ = std::move(*slow);
    dir_ = testing::MakeTempDir("k8s-trickle");
    kubeconfig_ = dir_ + "/kubeconfig";
    ASSERT_TRUE(testing::WriteStringToFile(
                    kubeconfig_,
                    "apiVersion: v1\nkind: Config\nclusters:\n- name: slow\n  cluster:\n"
                    "    server: " + slow_->url() +
                        "\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: c\n"
                        "  context:\n    cluster: slow\n    user: u\ncurrent-context: c\n")
                    .ok());
  }
  std::unique_ptr<hollowtrees::testing::TrickleServer> slow_;
  std::string dir_;
  std::string kubeconfig_;
};

TEST_F(TricklingApiServerTest, ADrainEndsByItsOverallTimeoutAndSaysSo) {
  auto config = kube::LoadKubeconfig(kubeconfig_, "");
  ASSERT_TRUE(config.ok()) << config.status();
  auto client = kube::KubeClient::Create(*config, {.timeout = absl::Seconds(10)});
  ASSERT_TRUE(client.ok()) << client.status();
  KubeHttpApi api(**client);
  CordonBarrier barrier;
  Drainer drainer(api, RealClock(), barrier, *TestLogger());
  DrainOptions options;
  options.timeout = absl::Seconds(1);
  options.cordon_hold = absl::ZeroDuration();
  const absl::Time started = absl::Now();
  auto result = drainer.Drain("node-1", options, [] { return false; }, nullptr);
  const absl::Duration took = absl::Now() - started;
  EXPECT_LT(took, absl::Seconds(2)) << "the drain outlived its 1 s timeout: " << result.status();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded) << result.status();
  EXPECT_THAT(result.status().message(), HasSubstr("deadline"));
  EXPECT_THAT(result.status().message(), HasSubstr("/api/v1/nodes/node-1"));
}

TEST_F(TricklingApiServerTest, APluginCallEndsByItsDeadlineWithAnOutcomeThatSaysSo) {
  // The engine's call has 3 s; the plugin keeps 2 s of margin for its
  // answer, so its API calls end after about 1 s.
  KubeconfigClusterApis apis({.kubeconfig = kubeconfig_});
  K8sPlugin plugin(PluginUnderTest::Fast({}), apis, RealClock(), *TestLogger());
  plugin::Request req;
  req.event_id = "ev-trickle";
  req.rule = "drain";
  req.labels = {{"node", "node-1"}};
  req.params = json::object();
  req.status = "firing";
  plugin::Context ctx;
  ctx.deadline = absl::Now() + absl::Seconds(3);
  const absl::Time started = absl::Now();
  plugin::Result r = plugin.Handle(req, ctx);
  const absl::Duration took = absl::Now() - started;
  EXPECT_LT(took, absl::Seconds(2)) << r.message;
  EXPECT_EQ(r.outcome, Outcome::OUTCOME_RETRY) << r.message;
  EXPECT_THAT(r.message, HasSubstr("deadline"));
}

}  // namespace
}  // namespace hollowtrees::k8s
