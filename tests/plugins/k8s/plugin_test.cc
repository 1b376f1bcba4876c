// The plugin: params, node lookup, outcomes, against the in-memory KubeApi.

#include "plugins/k8s/k8s_plugin.h"
#include "plugins/k8s/kube_http_api.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/common/logging.h"
#include "lib/metrics/metrics.h"
#include "tests/plugins/k8s/fake_kube_api.h"
#include "tests/testing/status_matchers.h"

namespace hollowtrees::k8s {
namespace {

using ::hollowtrees::plugin::Request;
using ::hollowtrees::plugin::Result;
using ::hollowtrees::testing::IsOk;
using ::hollowtrees::testing::StatusIs;
using ::testing::HasSubstr;
using Outcome = ::hollowtrees::plugin::v1::HandleResponse;

class OneCluster : public ClusterApis {
 public:
  explicit OneCluster(KubeApi& api) : api_(api) {}
  absl::StatusOr<KubeApi*> ForCluster(const std::string& cluster) override {
    if (cluster == "missing") return absl::NotFoundError("no kubeconfig for cluster \"missing\"");
    return &api_;
  }

 private:
  KubeApi& api_;
};

std::shared_ptr<spdlog::logger> TestLogger() {
  static auto logger = *MakeLogger("k8s-plugin-test", {.level = "warn"});
  return logger;
}

TEST(ParseParamsTest, DefaultsAndEveryKey) {
  DrainOptions defaults;
  ASSERT_OK_AND_ASSIGN(ActionParams p, ParseParams(nlohmann::json::object(), "firing", defaults));
  EXPECT_EQ(p.action, Action::kDrain);
  EXPECT_EQ(p.drain.timeout, absl::Seconds(90));
  EXPECT_TRUE(p.drain.delete_emptydir_data);
  EXPECT_TRUE(p.drain.force);
  EXPECT_TRUE(p.drain.ignore_daemonsets);
  EXPECT_FALSE(p.drain.grace_period_seconds.has_value());
  ASSERT_OK_AND_ASSIGN(p, ParseParams(nlohmann::json::object(), "resolved", defaults));
  EXPECT_EQ(p.action, Action::kUncordon);

  const nlohmann::json all = {{"action", "cordon"},
                              {"grace_period_seconds", 5},
                              {"timeout", "1m30s"},
                              {"pod_selector", "app in (web,api)"},
                              {"delete_emptydir_data", false},
                              {"force", "false"},
                              {"ignore_daemonsets", false},
                              {"dry_run", true},
                              {"force_delete_near_deadline", true},
                              {"force_delete_margin", "15s"},
                              {"evict_critical_last", true},
                              {"record_event", false},
                              {"event_message", "bye"},
                              {"taint", "spot/draining=true:NoSchedule"},
                              {"cordon_hold", "500ms"},
                              {"retry_interval", 2},
                              {"poll_interval", "250ms"}};
  ASSERT_OK_AND_ASSIGN(p, ParseParams(all, "firing", defaults));
  EXPECT_EQ(p.action, Action::kCordon);
  EXPECT_TRUE(p.drain.cordon_only);
  EXPECT_EQ(p.drain.grace_period_seconds, std::optional<int64_t>(5));
  EXPECT_EQ(p.drain.timeout, absl::Seconds(90));
  EXPECT_EQ(p.drain.pod_selector, "app in (web,api)");
  EXPECT_FALSE(p.drain.delete_emptydir_data);
  EXPECT_FALSE(p.drain.force);
  EXPECT_FALSE(p.drain.ignore_daemonsets);
  EXPECT_TRUE(p.drain.dry_run);
  EXPECT_TRUE(p.drain.force_delete_near_deadline);
  EXPECT_EQ(p.drain.force_delete_margin, absl::Seconds(15));
  EXPECT_TRUE(p.drain.evict_critical_last);
  EXPECT_FALSE(p.drain.record_event);
  EXPECT_EQ(p.drain.event_message, "bye");
  EXPECT_EQ(p.drain.taint, (Taint{"spot/draining", "true", "NoSchedule"}));
  EXPECT_EQ(p.drain.cordon_hold, absl::Milliseconds(500));
  EXPECT_EQ(p.drain.retry_interval, absl::Seconds(2));
  EXPECT_EQ(p.drain.poll_interval, absl::Milliseconds(250));
}

TEST(ParseParamsTest, BadParamsNameTheKey) {
  DrainOptions d;
  EXPECT_THAT(ParseParams({{"timout", "5s"}}, "", d),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("params.timout: unknown key")));
  EXPECT_THAT(ParseParams({{"timeout", "soon"}}, "", d),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("params.timeout")));
  EXPECT_THAT(ParseParams({{"force", "yes"}}, "", d),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("params.force: want true or false")));
  EXPECT_THAT(ParseParams({{"grace_period_seconds", -2}}, "", d),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("grace_period_seconds")));
  EXPECT_THAT(ParseParams({{"action", "reboot"}}, "", d),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("drain, cordon, uncordon or wait-ready")));
  EXPECT_THAT(ParseParams({{"pod_selector", "a in (b"}}, "", d),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("params.pod_selector")));
  EXPECT_THAT(ParseParams({{"taint", "x=y"}}, "", d),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("params.taint")));
}

class PluginTest : public ::testing::Test {
 protected:
  PluginTest() : api_(clock_), apis_(api_) {
    NodeInfo n;
    n.name = "ip-10-0-1-5.ec2.internal";
    n.provider_id = "aws:///us-east-1a/i-0aaa";
    n.addresses = {"10.0.1.5", "ip-10-0-1-5.ec2.internal"};
    api_.AddNode(n);
    NodeInfo m;
    m.name = "ip-10-0-1-6.ec2.internal";
    m.provider_id = "aws:///us-east-1b/i-0bbb";
    m.addresses = {"10.0.1.6"};
    api_.AddNode(m);
    PodInfo p;
    p.ns = "default";
    p.name = "web-1";
    p.node_name = "ip-10-0-1-6.ec2.internal";
    p.controller_kind = "ReplicaSet";
    p.controller_name = "web";
    p.labels = {{"app", "web"}};
    api_.AddPod(p);
    options_.defaults.cordon_hold = absl::ZeroDuration();
    plugin_ = std::make_unique<K8sPlugin>(options_, apis_, clock_, *TestLogger());
  }

  Result Call(std::map<std::string, std::string> labels, nlohmann::json params = {},
              std::string status = "firing", absl::Time event_time = absl::InfinitePast()) {
    Request req;
    req.event_id = "ev-1";
    req.event_time = event_time;
    req.rule = "drain_k8s_spot_instance";
    req.labels = std::move(labels);
    req.params = params.is_null() ? nlohmann::json::object() : params;
    req.status = std::move(status);
    plugin::Context ctx;
    return plugin_->Handle(req, ctx);
  }

  FakeClock clock_;
  FakeKubeApi api_;
  OneCluster apis_;
  K8sPluginOptions options_;
  std::unique_ptr<K8sPlugin> plugin_;
};

// Auto Scaling launch hooks: wait until the instance's node is Ready.
TEST_F(PluginTest, WaitReadyIsDoneOnceTheNodeIsReadyAndFailsAtItsTimeout) {
  const nlohmann::json wait = {{"action", "wait-ready"}, {"timeout", "30s"}};
  // No node for the instance yet: the fake clock runs the 30 s at once.
  const absl::Time before = clock_.Now();
  Result r = Call({{"instance_id", "i-0new"}}, wait);
  EXPECT_EQ(r.outcome, Outcome::OUTCOME_FAILED) << r.message;
  EXPECT_THAT(r.message, HasSubstr("i-0new: not Ready within 30s: no node has registered"));
  EXPECT_GE(clock_.Now() - before, absl::Seconds(29));
  EXPECT_LE(clock_.Now() - before, absl::Seconds(31));
  // Registered, not Ready yet.
  NodeInfo n;
  n.name = "ip-10-0-1-9.ec2.internal";
  n.provider_id = "aws:///us-east-1a/i-0new";
  api_.AddNode(n);
  r = Call({{"instance_id", "i-0new"}}, wait);
  EXPECT_EQ(r.outcome, Outcome::OUTCOME_FAILED) << r.message;
  EXPECT_THAT(r.message, HasSubstr("node ip-10-0-1-9.ec2.internal is not Ready"));
  // Ready.
  n.ready = true;
  api_.AddNode(n);
  r = Call({{"instance_id", "i-0new"}}, wait);
  EXPECT_EQ(r.outcome, Outcome::OUTCOME_DONE) << r.message;
  EXPECT_THAT(r.message, HasSubstr("node ip-10-0-1-9.ec2.internal is Ready"));
  EXPECT_FALSE(api_.Node("ip-10-0-1-9.ec2.internal")->unschedulable) << "waiting cordons nothing";
}

TEST(KubeHttpApiTest, ReadyComesFromTheReadyCondition) {
  auto node = [](const char* status) {
    return nlohmann::json{{"metadata", {{"name", "n"}}},
                          {"status", {{"conditions", {{{"type", "MemoryPressure"}, {"status", "False"}},
                                                      {{"type", "Ready"}, {"status", status}}}}}}};
  };
  EXPECT_TRUE(NodeFromJson(node("True")).ready);
  EXPECT_FALSE(NodeFromJson(node("False")).ready);
  EXPECT_FALSE(NodeFromJson(node("Unknown")).ready);
  EXPECT_FALSE(NodeFromJson(nlohmann::json{{"metadata", {{"name", "n"}}}}).ready);
}

TEST_F(PluginTest, FindsTheNodeByEachLabelInOrder) {
  EXPECT_EQ(*K8sPlugin::FindNode(api_, {{"node", "ip-10-0-1-5.ec2.internal"}}),
            "ip-10-0-1-5.ec2.internal");
  EXPECT_EQ(*K8sPlugin::FindNode(api_, {{"instance_id", "i-0bbb"}}), "ip-10-0-1-6.ec2.internal");
  EXPECT_EQ(*K8sPlugin::FindNode(api_, {{"instance", "10.0.1.6:9189"}}), "ip-10-0-1-6.ec2.internal");
  EXPECT_EQ(*K8sPlugin::FindNode(api_, {{"instance", "ip-10-0-1-5.ec2.internal:9100"}}),
            "ip-10-0-1-5.ec2.internal");
  EXPECT_EQ(*K8sPlugin::FindNode(api_, {{"instance", "10.0.1.5"}}), "ip-10-0-1-5.ec2.internal");
  // `node` wins over instance_id, instance_id over instance.
  EXPECT_EQ(*K8sPlugin::FindNode(api_, {{"node", "ip-10-0-1-5.ec2.internal"},
                                        {"instance_id", "i-0bbb"}}),
            "ip-10-0-1-5.ec2.internal");
  EXPECT_EQ(*K8sPlugin::FindNode(api_, {{"instance_id", "i-0aaa"}, {"instance", "10.0.1.6:1"}}),
            "ip-10-0-1-5.ec2.internal");
  EXPECT_THAT(K8sPlugin::FindNode(api_, {{"instance_id", "i-0zzz"}}),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("i-0zzz (label instance_id)")));
  EXPECT_THAT(K8sPlugin::FindNode(api_, {{"node", "gone"}}),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no node named \"gone\"")));
  EXPECT_THAT(K8sPlugin::FindNode(api_, {{"instance", "10.9.9.9:9100"}}),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("10.9.9.9")));
  EXPECT_THAT(K8sPlugin::FindNode(api_, {{"job", "x"}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("none of the labels")));
}

TEST_F(PluginTest, OutcomesForEachCase) {
  Result r = Call({{"instance_id", "i-0bbb"}, {"cluster_name", "test-cluster"}});
  EXPECT_EQ(r.outcome, Outcome::OUTCOME_DONE) << r.message;
  EXPECT_THAT(r.message, HasSubstr("cluster test-cluster: drained node ip-10-0-1-6.ec2.internal: 1 evicted"));
  EXPECT_TRUE(api_.Node("ip-10-0-1-6.ec2.internal")->unschedulable);

  r = Call({{"instance_id", "i-0bbb"}});
  EXPECT_EQ(r.outcome, Outcome::OUTCOME_DONE);
  EXPECT_THAT(r.message, HasSubstr("already drained"));

  r = Call({{"instance_id", "i-0bbb"}}, nlohmann::json::object(), "resolved");
  EXPECT_EQ(r.outcome, Outcome::OUTCOME_DONE);
  EXPECT_THAT(r.message, HasSubstr("uncordoned node ip-10-0-1-6.ec2.internal"));
  EXPECT_FALSE(api_.Node("ip-10-0-1-6.ec2.internal")->unschedulable);

  r = Call({{"alertname", "SpotTerminationNotice"}});
  EXPECT_EQ(r.outcome, Outcome::OUTCOME_SKIPPED);
  EXPECT_THAT(r.message, HasSubstr("none of the labels node, instance_id, instance"));

  r = Call({{"instance_id", "i-0nope"}});
  EXPECT_EQ(r.outcome, Outcome::OUTCOME_FAILED);
  EXPECT_THAT(r.message, HasSubstr("i-0nope"));

  r = Call({{"instance_id", "i-0aaa"}}, {{"bogus", 1}});
  EXPECT_EQ(r.outcome, Outcome::OUTCOME_FAILED);
  EXPECT_THAT(r.message, HasSubstr("params.bogus"));

  r = Call({{"instance_id", "i-0aaa"}, {"cluster_name", "missing"}});
  EXPECT_EQ(r.outcome, Outcome::OUTCOME_FAILED);
  EXPECT_THAT(r.message, HasSubstr("no kubeconfig for cluster \"missing\""));

  api_.FailNext("list_nodes", absl::UnavailableError("connection refused"));
  r = Call({{"instance_id", "i-0aaa"}});
  EXPECT_EQ(r.outcome, Outcome::OUTCOME_RETRY);

  r = Call({{"node", "ip-10-0-1-5.ec2.internal"}}, {{"action", "cordon"}});
  EXPECT_EQ(r.outcome, Outcome::OUTCOME_DONE);
  EXPECT_THAT(r.message, HasSubstr("cordoned node ip-10-0-1-5.ec2.internal (cordon only)"));
}

TEST_F(PluginTest, DeadlineOutcomeNamesEveryBlockedPodAndWhy) {
  for (const char* name : {"db-0", "db-1"}) {
    PodInfo p;
    p.ns = "prod";
    p.name = name;
    p.node_name = "ip-10-0-1-5.ec2.internal";
    p.controller_kind = "StatefulSet";
    p.labels = {{"app", "db"}};
    api_.AddPod(p);
  }
  api_.AddBudget({.ns = "prod", .name = "db-pdb", .selector = {{"app", "db"}}, .allowed = 0});
  Result r = Call({{"node", "ip-10-0-1-5.ec2.internal"}}, {{"timeout", "20s"}});
  EXPECT_EQ(r.outcome, Outcome::OUTCOME_FAILED);
  EXPECT_THAT(r.message, HasSubstr("incomplete after 20s: 2 pods remain"));
  EXPECT_THAT(r.message, HasSubstr("prod/db-0 (blocked by a PodDisruptionBudget"));
  EXPECT_THAT(r.message, HasSubstr("prod/db-1 (blocked by a PodDisruptionBudget"));
  EXPECT_THAT(r.message, HasSubstr("db-pdb"));
}

TEST_F(PluginTest, TheCallsDeadlineBoundsTheDrain) {
  PodInfo p;
  p.ns = "prod";
  p.name = "db-0";
  p.node_name = "ip-10-0-1-5.ec2.internal";
  p.controller_kind = "StatefulSet";
  p.labels = {{"app", "db"}};
  api_.AddPod(p);
  api_.AddBudget({.ns = "prod", .name = "db-pdb", .selector = {{"app", "db"}}, .allowed = 0});
  Request req;
  req.labels = {{"node", "ip-10-0-1-5.ec2.internal"}};
  plugin::Context ctx;
  // The drain runs on the simulated clock; the call deadline is wall time:
  // 12 s from now minus the 2 s margin leaves at most 10 s of drain.
  ctx.deadline = absl::Now() + absl::Seconds(12);
  const absl::Time start = clock_.Now();
  Result r = plugin_->Handle(req, ctx);
  EXPECT_EQ(r.outcome, Outcome::OUTCOME_FAILED);
  EXPECT_LE(clock_.Now() - start, absl::Seconds(10));
  EXPECT_GE(clock_.Now() - start, absl::Seconds(9));
}

TEST_F(PluginTest, MeasuresTheTimeFromTheNoticeToTheCordon) {
  metrics::Registry registry;
  plugin_->RegisterMetrics(registry);
  auto exposes = [](const std::string& rest) {
    return HasSubstr("hollowtrees_k8s_plugin_notice_to_cordon_seconds" + rest);
  };
  // Both series exist before any cordon, so that rate() and the dashboard see them.
  EXPECT_THAT(registry.Expose(), exposes(R"(_count{action="drain"} 0)"));
  EXPECT_THAT(registry.Expose(), exposes(R"(_count{action="cordon"} 0)"));

  // The notice came 7 s before the drain cordons the node (on the simulated clock).
  Result r = Call({{"instance_id", "i-0bbb"}}, {}, "firing", clock_.Now() - absl::Seconds(7));
  ASSERT_EQ(r.outcome, Outcome::OUTCOME_DONE) << r.message;
  std::string text = registry.Expose();
  EXPECT_THAT(text, exposes(R"(_count{action="drain"} 1)"));
  EXPECT_THAT(text, exposes(R"(_sum{action="drain"} 7)"));
  EXPECT_THAT(text, exposes(R"(_bucket{action="drain",le="5"} 0)"));
  EXPECT_THAT(text, exposes(R"(_bucket{action="drain",le="7.5"} 1)"));

  // A repeat on the cordoned node, a dry run, an event without a time: no cordon measured.
  Call({{"instance_id", "i-0bbb"}}, {}, "firing", clock_.Now() - absl::Seconds(60));
  Call({{"instance_id", "i-0aaa"}}, {{"dry_run", true}}, "firing", clock_.Now());
  Call({{"instance_id", "i-0aaa"}, {"cluster_name", "test-cluster"}});
  EXPECT_TRUE(api_.Node("ip-10-0-1-5.ec2.internal")->unschedulable);
  EXPECT_THAT(registry.Expose(), exposes(R"(_count{action="drain"} 1)"));

  // Cordon only (a rebalance recommendation) has its own series; a time
  // ahead of the plugin's clock (skew) counts as 0.
  ASSERT_THAT(api_.SetUnschedulable("ip-10-0-1-5.ec2.internal", false), IsOk());
  r = Call({{"instance_id", "i-0aaa"}}, {{"action", "cordon"}}, "firing",
           clock_.Now() + absl::Seconds(3));
  ASSERT_EQ(r.outcome, Outcome::OUTCOME_DONE) << r.message;
  text = registry.Expose();
  EXPECT_THAT(text, exposes(R"(_count{action="cordon"} 1)"));
  EXPECT_THAT(text, exposes(R"(_sum{action="cordon"} 0)"));
  EXPECT_THAT(text, exposes(R"(_count{action="drain"} 1)"));
}

}  // namespace
}  // namespace hollowtrees::k8s
