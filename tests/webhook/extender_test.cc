#include "webhook/extender.h"
#include "lib/common/strict_json.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/common/clock.h"
#include "lib/common/logging.h"
#include "tests/testing/status_matchers.h"
#include "tests/webhook/fakes.h"

namespace hollowtrees::webhook {
namespace {

using ::hollowtrees::testing::IsOk;
using ::hollowtrees::testing::StatusIs;
using nlohmann::json;
using ::testing::HasSubstr;

std::shared_ptr<spdlog::logger> Logger() {
  static auto* l = new std::shared_ptr<spdlog::logger>(*MakeLogger("extender-test", {.level = "off"}));
  return *l;
}

const std::map<std::string, std::string> kEksOnDemand = {{"eks.amazonaws.com/capacityType", "ON_DEMAND"}};
const std::map<std::string, std::string> kKarpenterSpot = {{"karpenter.sh/capacity-type", "spot"}};
const std::map<std::string, std::string> kLifecycleSpot = {{"node.kubernetes.io/lifecycle", "spot"}};

json Pod(const std::string& workload, const std::string& name, const std::string& pct = "30") {
  json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata",
               {{"name", name}, {"namespace", "shop"}, {"uid", name},
                {"labels", {{"workload", workload}}}}},
              {"spec", {{"schedulerName", "spot-scheduler"}}}};
  if (!pct.empty()) pod["metadata"]["annotations"] = {{"app.banzaicloud.io/odPercentage", pct}};
  return pod;
}

class ExtenderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 1; i <= 3; ++i) cluster_.AddNode("od-" + std::to_string(i), kEksOnDemand);
    for (int i = 1; i <= 3; ++i) cluster_.AddNode("spot-" + std::to_string(i), kKarpenterSpot);
    for (int i = 4; i <= 5; ++i) cluster_.AddNode("spot-" + std::to_string(i), kLifecycleSpot);
  }

  json NodeList(const std::vector<std::string>& names) {
    json items = json::array();
    for (const auto& n : names) {
      auto labels = cluster_.NodeLabels(n);
      json node = {{"metadata", {{"name", n}}}};
      if (labels.ok() && !labels->empty()) node["metadata"]["labels"] = *labels;
      items.push_back(node);
    }
    return {{"apiVersion", "v1"}, {"kind", "NodeList"}, {"metadata", json::object()}, {"items", items}};
  }

  std::vector<std::string> AllNodes() {
    return {"od-1", "od-2", "od-3", "spot-1", "spot-2", "spot-3", "spot-4", "spot-5"};
  }

  // What kube-scheduler does with the extender: filter, prioritize the
  // survivors, take the best score (first on ties), bind. "" when no node fits.
  std::string Schedule(Extender& ext, const std::string& workload, const std::string& name,
                       bool bind = true) {
    json args = {{"pod", Pod(workload, name)}, {"nodes", NodeList(AllNodes())}};
    auto filtered = ext.Filter(args);
    EXPECT_THAT(filtered, IsOk());
    if (!filtered.ok()) return "";
    EXPECT_FALSE(filtered->contains("error")) << filtered->dump();
    std::vector<std::string> kept;
    for (const auto& n : (*filtered)["nodes"]["items"]) kept.push_back(n["metadata"]["name"]);
    if (kept.empty()) return "";
    auto scores = ext.Prioritize({{"pod", Pod(workload, name)}, {"nodes", NodeList(kept)}});
    EXPECT_THAT(scores, IsOk());
    std::string best;
    int64_t best_score = -1;
    for (const auto& hp : *scores) {
      if (hp["score"].get<int64_t>() > best_score) {
        best_score = hp["score"].get<int64_t>();
        best = hp["host"].get<std::string>();
      }
    }
    if (bind) cluster_.Bind(workload, name, best);
    return best;
  }

  int OnDemandCount(const std::string& workload, const CapacityOptions& capacity = {}) {
    auto w = cluster_.WorkloadOf(Pod(workload, "probe"));
    int n = 0;
    for (const auto& p : w->pods) {
      if (p.node.empty()) continue;
      if (ClassifyNode(*cluster_.NodeLabels(p.node), capacity) == Capacity::kOnDemand) ++n;
    }
    return n;
  }

  testing::FakeCluster cluster_;
  FakeClock clock_{absl::FromUnixSeconds(1700000000)};
  Extender ext_{cluster_, {}, Logger(), clock_};
};

TEST_F(ExtenderTest, ScaleUpKeepsTheShareAtEveryStep) {
  // 10 replicas at 30%: scaled up one replica at a time.
  for (int k = 1; k <= 10; ++k) {
    cluster_.SetDesired("web", k);
    const std::string name = "web-" + std::to_string(k);
    cluster_.AddPod("web", name, "");
    ASSERT_NE(Schedule(ext_, "web", name), "");
    const int required = (30 * k + 99) / 100;
    EXPECT_GE(OnDemandCount("web"), required) << "after " << k << " replicas";
  }
  EXPECT_EQ(OnDemandCount("web"), 3);  // at least 3, and the rest on spot
}

TEST_F(ExtenderTest, BurstWithBindsNotYetVisibleStillPlacesThree) {
  // All 10 replicas asked at once; the API does not show the binds yet (the
  // scheduler binds asynchronously), so the extender must count its own
  // recent on-demand placements.
  cluster_.SetDesired("web", 10);
  for (int k = 1; k <= 10; ++k) cluster_.AddPod("web", "web-" + std::to_string(k), "");
  cluster_.SetStale(true);
  int on_demand = 0;
  for (int k = 1; k <= 10; ++k) {
    const std::string node = Schedule(ext_, "web", "web-" + std::to_string(k));
    if (node.rfind("od-", 0) == 0) ++on_demand;
    EXPECT_GE(on_demand, std::min(k, 3)) << "after " << k << " pods";
  }
  EXPECT_EQ(on_demand, 3);
  cluster_.SetStale(false);
  EXPECT_EQ(OnDemandCount("web"), 3);
}

TEST_F(ExtenderTest, AssumedPlacementsExpire) {
  cluster_.SetDesired("web", 10);
  cluster_.AddPod("web", "web-1", "");
  // Sent to on-demand but never bound (say the bind failed).
  EXPECT_EQ(Schedule(ext_, "web", "web-1", /*bind=*/false).substr(0, 3), "od-");
  cluster_.AddPod("web", "web-2", "");
  cluster_.AddPod("web", "web-3", "");
  cluster_.AddPod("web", "web-4", "");
  EXPECT_EQ(Schedule(ext_, "web", "web-2").substr(0, 3), "od-");
  EXPECT_EQ(Schedule(ext_, "web", "web-3").substr(0, 3), "od-");
  // web-1 still counts as on-demand: 3 reached, web-4 goes to spot.
  EXPECT_EQ(Schedule(ext_, "web", "web-4").substr(0, 5), "spot-");
  clock_.Advance(absl::Seconds(61));
  // web-1's assumption has expired: only 2 on on-demand, the next goes there.
  cluster_.AddPod("web", "web-5", "");
  EXPECT_EQ(Schedule(ext_, "web", "web-5").substr(0, 3), "od-");
}

TEST_F(ExtenderTest, MisplacedReplicasAreCorrectedByNewOnes) {
  // 10 replicas already running, all on spot (placed before the share).
  cluster_.SetDesired("web", 10);
  for (int k = 1; k <= 10; ++k) {
    cluster_.AddPod("web", "web-" + std::to_string(k), "spot-" + std::to_string(1 + k % 5));
  }
  EXPECT_EQ(OnDemandCount("web"), 0);
  // Replacements (after evictions, node loss) go to on-demand until 3 are there.
  for (int k = 1; k <= 4; ++k) {
    cluster_.RemovePod("web", "web-" + std::to_string(k));
    const std::string name = "web-new-" + std::to_string(k);
    cluster_.AddPod("web", name, "");
    const std::string node = Schedule(ext_, "web", name);
    if (k <= 3) {
      EXPECT_EQ(node.substr(0, 3), "od-") << k;
    } else {
      EXPECT_EQ(node.substr(0, 5), "spot-") << k;
    }
  }
  EXPECT_EQ(OnDemandCount("web"), 3);
}

TEST_F(ExtenderTest, TooManyOnOnDemandSendsNewOnesToSpot) {
  cluster_.SetDesired("web", 10);
  for (int k = 1; k <= 9; ++k) cluster_.AddPod("web", "web-" + std::to_string(k), "od-1");
  cluster_.AddPod("web", "web-10", "");
  json args = {{"pod", Pod("web", "web-10")}, {"nodes", NodeList(AllNodes())}};
  auto filtered = ext_.Filter(args);
  ASSERT_THAT(filtered, IsOk());
  EXPECT_EQ((*filtered)["nodes"]["items"].size(), 8u);  // nothing filtered
  EXPECT_EQ(Schedule(ext_, "web", "web-10").substr(0, 5), "spot-");
}

TEST_F(ExtenderTest, FilterNamesTheShareForSpotNodes) {
  cluster_.SetDesired("web", 10);
  cluster_.AddPod("web", "web-1", "");
  auto out = ext_.Filter({{"pod", Pod("web", "web-1")}, {"nodes", NodeList(AllNodes())}});
  ASSERT_THAT(out, IsOk());
  EXPECT_EQ((*out)["nodes"]["items"].size(), 3u);
  EXPECT_EQ((*out)["nodes"]["kind"], "NodeList");
  ASSERT_EQ((*out)["failedNodes"].size(), 5u);
  EXPECT_THAT((*out)["failedNodes"]["spot-1"].get<std::string>(),
              HasSubstr("needs 3 of 10 replicas (30%) on on-demand nodes and has 0"));
}

TEST_F(ExtenderTest, NodeNamesFormIsAnsweredInKind) {
  cluster_.SetDesired("web", 10);
  cluster_.AddPod("web", "web-1", "");
  json names = json::array();
  for (const auto& n : AllNodes()) names.push_back(n);
  names.push_back("ghost");  // unknown to the cluster view
  auto out = ext_.Filter({{"pod", Pod("web", "web-1")}, {"nodenames", names}});
  ASSERT_THAT(out, IsOk());
  EXPECT_FALSE(out->contains("nodes"));
  EXPECT_EQ((*out)["nodenames"], json({"od-1", "od-2", "od-3"}));
  EXPECT_THAT((*out)["failedNodes"]["ghost"].get<std::string>(), HasSubstr("unknown"));
  auto scores = ext_.Prioritize({{"pod", Pod("web", "web-1")}, {"nodenames", names}});
  ASSERT_THAT(scores, IsOk());
  ASSERT_EQ(scores->size(), 9u);
  EXPECT_EQ((*scores)[0], json({{"host", "od-1"}, {"score", 10}}));
  EXPECT_EQ((*scores)[3], json({{"host", "spot-1"}, {"score", 0}}));
  EXPECT_EQ((*scores)[8], json({{"host", "ghost"}, {"score", 0}}));
}

TEST_F(ExtenderTest, NodesWithoutLabelsFollowTheConfiguredCapacity) {
  cluster_.AddNode("plain-1", {});
  cluster_.AddNode("plain-2", {{"kubernetes.io/os", "linux"}});
  cluster_.SetDesired("web", 2);
  cluster_.AddPod("web", "web-1", "");
  const std::vector<std::string> nodes = {"plain-1", "plain-2", "spot-1"};
  // Default: a node with no capacity label counts as on-demand.
  auto out = ext_.Filter({{"pod", Pod("web", "web-1")}, {"nodes", NodeList(nodes)}});
  ASSERT_THAT(out, IsOk());
  ASSERT_EQ((*out)["nodes"]["items"].size(), 2u);
  EXPECT_EQ((*out)["nodes"]["items"][0]["metadata"]["name"], "plain-1");
  EXPECT_TRUE((*out)["failedNodes"].contains("spot-1"));
  // Configured as spot: no node qualifies, the pod waits with reasons.
  ExtenderOptions opts;
  opts.capacity.unlabeled_capacity = Capacity::kSpot;
  Extender strict(cluster_, opts, Logger(), clock_);
  out = strict.Filter({{"pod", Pod("web", "web-1")}, {"nodes", NodeList(nodes)}});
  ASSERT_THAT(out, IsOk());
  EXPECT_TRUE((*out)["nodes"]["items"].empty());
  EXPECT_EQ((*out)["failedNodes"].size(), 3u);
  EXPECT_FALSE(out->contains("error"));
  // A cluster with no labels at all (default): pods bound to unlabeled nodes count.
  cluster_.Bind("web", "web-1", "plain-1");
  cluster_.AddPod("web", "web-2", "");
  auto scores = ext_.Prioritize({{"pod", Pod("web", "web-2")}, {"nodes", NodeList(nodes)}});
  ASSERT_THAT(scores, IsOk());
  EXPECT_EQ((*scores)[2], json({{"host", "spot-1"}, {"score", 10}}));  // share met: prefer spot
}

TEST_F(ExtenderTest, LabelPrecedenceAndCustomLabels) {
  CapacityOptions c;
  EXPECT_EQ(ClassifyNode({{"eks.amazonaws.com/capacityType", "SPOT"}}, c), Capacity::kSpot);
  EXPECT_EQ(ClassifyNode({{"karpenter.sh/capacity-type", "on-demand"}}, c), Capacity::kOnDemand);
  EXPECT_EQ(ClassifyNode({{"node.kubernetes.io/lifecycle", "normal"}}, c), Capacity::kOnDemand);
  EXPECT_EQ(ClassifyNode({{"node.kubernetes.io/lifecycle", "spot"}}, c), Capacity::kSpot);
  EXPECT_EQ(ClassifyNode({{"node.kubernetes.io/lifecycle", "weird"}}, c), Capacity::kOnDemand);
  auto pairs = ParseLabelPairs(" example.com/pool=safe , lifecycle=Ec2Spot ");
  ASSERT_THAT(pairs, IsOk());
  EXPECT_EQ(pairs->size(), 2u);
  EXPECT_EQ((*pairs)[1], std::make_pair(std::string("lifecycle"), std::string("Ec2Spot")));
  EXPECT_THAT(ParseLabelPairs("novalue"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("novalue")));
  EXPECT_THAT(ParseLabelPairs("=x"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseCapacity("maybe"), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(ExtenderTest, PodsWithoutOrWithBadAnnotationPassEverywhere) {
  cluster_.SetDesired("web", 10);
  for (const std::string pct : {"", "lots", "150"}) {
    SCOPED_TRACE(pct);
    json args = {{"pod", Pod("web", "web-1", pct)}, {"nodes", NodeList(AllNodes())}};
    auto out = ext_.Filter(args);
    ASSERT_THAT(out, IsOk());
    EXPECT_EQ((*out)["nodes"]["items"].size(), 8u);
    EXPECT_TRUE((*out)["failedNodes"].empty());
    auto scores = ext_.Prioritize(args);
    ASSERT_THAT(scores, IsOk());
    for (const auto& s : *scores) EXPECT_EQ(s["score"], 0);
  }
}

TEST_F(ExtenderTest, ZeroPercentNeedsNothingAndHundredNeedsAll) {
  cluster_.SetDesired("web", 4);
  for (int k = 1; k <= 4; ++k) cluster_.AddPod("web", "web-" + std::to_string(k), "");
  json zero = {{"pod", Pod("web", "web-1", "0")}, {"nodes", NodeList(AllNodes())}};
  EXPECT_EQ((*ext_.Filter(zero))["nodes"]["items"].size(), 8u);
  for (int k = 1; k <= 4; ++k) {
    json args = {{"pod", Pod("web", "web-" + std::to_string(k), "100")},
                 {"nodes", NodeList(AllNodes())}};
    auto out = ext_.Filter(args);
    ASSERT_THAT(out, IsOk());
    EXPECT_EQ((*out)["nodes"]["items"].size(), 3u) << k;
    cluster_.Bind("web", "web-" + std::to_string(k), "od-1");
  }
}

TEST_F(ExtenderTest, UnreadableWorkloadIsAnErrorForFilterAndNeutralForPrioritize) {
  cluster_.SetUnavailable(true);
  json args = {{"pod", Pod("web", "web-1")}, {"nodes", NodeList(AllNodes())}};
  auto out = ext_.Filter(args);
  ASSERT_THAT(out, IsOk());
  EXPECT_THAT((*out)["error"].get<std::string>(), HasSubstr("API down"));
  auto scores = ext_.Prioritize(args);
  ASSERT_THAT(scores, IsOk());
  EXPECT_EQ(scores->size(), 8u);
  for (const auto& s : *scores) EXPECT_EQ(s["score"], 0);
}

TEST_F(ExtenderTest, BadArgumentsAreRejected) {
  EXPECT_THAT(ext_.Filter(json::array()), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ext_.Filter({{"nodes", NodeList(AllNodes())}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no pod")));
  EXPECT_THAT(ext_.Filter({{"pod", Pod("web", "a")}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("neither")));
  EXPECT_THAT(ext_.Prioritize({{"pod", Pod("web", "a")}, {"nodenames", "x"}}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ext_.Filter({{"pod", Pod("web", "a")}, {"nodes", {{"items", {{{"metadata", json::object()}}}}}}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no name")));
}

// Found by tests/e2e/badinput: json::value() threw on a name of another type
// (a 500), and the strict parse refuses what crashed or fooled the server.
TEST_F(ExtenderTest, WrongTypesAreInvalidArgumentNotExceptions) {
  json args = {{"pod", Pod("web", "p1")}, {"nodes", {{"items", {{{"metadata", {{"name", 5}}}}}}}}};
  EXPECT_THAT(ext_.Filter(args).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no name")));
  args = {{"pod", Pod("web", "p1")}, {"nodenames", {"od-1"}}};
  args["pod"]["metadata"]["namespace"] = 5;
  EXPECT_THAT(ext_.Prioritize(args).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("pod.metadata.namespace")));
}

TEST(StrictJsonTest, RefusesDeepNestingDuplicatesAndNul) {
  EXPECT_THAT(ParseStrictJson(std::string(100000, '[') + std::string(100000, ']')).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("nested deeper")));
  EXPECT_THAT(ParseStrictJson(R"({"a":1,"a":2})").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("duplicate key")));
  EXPECT_THAT(ParseStrictJson(std::string("{}\0garbage", 10)).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("NUL")));
  EXPECT_THAT(ParseStrictJson(R"({"a":[1,{"b":2}],"c":{"a":1}})"), IsOk());
}

}  // namespace
}  // namespace hollowtrees::webhook
