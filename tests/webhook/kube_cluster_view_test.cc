#include "webhook/kube_cluster_view.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/common/clock.h"
#include "lib/common/logging.h"
#include "tests/testing/status_matchers.h"
#include "tests/webhook/kube_fixture.h"
#include "webhook/extender.h"
#include "lib/http/http_client.h"
#include "lib/kube/credentials.h"

namespace hollowtrees::webhook {
namespace {

using ::hollowtrees::testing::IsOk;
using ::hollowtrees::testing::StatusIs;
using nlohmann::json;
using ::testing::UnorderedElementsAre;

json Node(const std::string& name, json labels) {
  return {{"metadata", {{"name", name}, {"labels", labels}}}, {"spec", json::object()}};
}

json ReplicaSet(const std::string& name, const std::string& uid, int replicas) {
  return {{"metadata", {{"name", name}, {"namespace", "shop"}, {"uid", uid}}},
          {"spec",
           {{"replicas", replicas},
            {"selector",
             {{"matchLabels", {{"app", "web"}}},
              {"matchExpressions",
               {{{"key", "pod-template-hash"}, {"operator", "In"}, {"values", {"abc"}}}}}}},
            {"template", {{"metadata", {{"labels", {{"app", "web"}, {"pod-template-hash", "abc"}}}}}}}}}};
}

json Pod(const std::string& name, const std::string& owner_uid, const std::string& node,
         const std::string& owner = "web-abc") {
  json pod = {{"metadata",
               {{"name", name},
                {"namespace", "shop"},
                {"uid", "uid-" + name},
                {"labels", {{"app", "web"}, {"pod-template-hash", "abc"}}},
                {"annotations", {{"app.banzaicloud.io/odPercentage", "30"}}},
                {"ownerReferences",
                 {{{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"}, {"name", owner},
                   {"uid", owner_uid}, {"controller", true}}}}}},
              {"spec", {{"schedulerName", "spot-scheduler"}, {"containers", {{{"name", "c"}}}}}},
              {"status", {{"phase", node.empty() ? "Pending" : "Running"}}}};
  if (!node.empty()) pod["spec"]["nodeName"] = node;
  return pod;
}

class KubeClusterViewTest : public testing::KubeFixture {
 protected:
  FakeClock clock_{absl::FromUnixSeconds(1700000000)};
};

TEST_F(KubeClusterViewTest, ReadsNodesAndRefreshesForUnknownOnes) {
  ASSERT_THAT(api_->AddNode(Node("od-1", {{"eks.amazonaws.com/capacityType", "ON_DEMAND"}})), IsOk());
  KubeClusterView view(*client_, {}, clock_);
  ASSERT_OK_AND_ASSIGN(auto labels, view.NodeLabels("od-1"));
  EXPECT_EQ(labels["eks.amazonaws.com/capacityType"], "ON_DEMAND");
  EXPECT_EQ(view.node_lists(), 1);
  EXPECT_THAT(view.NodeLabels("od-1"), IsOk());
  EXPECT_EQ(view.node_lists(), 1);  // cached
  ASSERT_THAT(api_->AddNode(Node("spot-1", {{"karpenter.sh/capacity-type", "spot"}})), IsOk());
  // Unknown within a second of the last list: not listed again (a burst of
  // lookups for a missing node must not hammer the API).
  EXPECT_THAT(view.NodeLabels("spot-1"), StatusIs(absl::StatusCode::kNotFound));
  clock_.Advance(absl::Seconds(2));
  ASSERT_OK_AND_ASSIGN(labels, view.NodeLabels("spot-1"));
  EXPECT_EQ(labels["karpenter.sh/capacity-type"], "spot");
  EXPECT_EQ(view.node_lists(), 2);
}

TEST_F(KubeClusterViewTest, WorkloadIsTheControllersLivePods) {
  ASSERT_THAT(api_->AddReplicaSet(ReplicaSet("web-abc", "rs-uid-1", 10)), IsOk());
  ASSERT_THAT(api_->AddPod(Pod("web-1", "rs-uid-1", "od-1")), IsOk());
  ASSERT_THAT(api_->AddPod(Pod("web-2", "rs-uid-1", "spot-1")), IsOk());
  ASSERT_THAT(api_->AddPod(Pod("web-3", "rs-uid-1", "")), IsOk());
  json done = Pod("web-4", "rs-uid-1", "od-1");
  done["status"]["phase"] = "Succeeded";
  ASSERT_THAT(api_->AddPod(done), IsOk());
  // Same labels, another owner (an orphan adopted elsewhere): not ours.
  ASSERT_THAT(api_->AddPod(Pod("imposter", "rs-uid-2", "od-1", "web-old")), IsOk());
  KubeClusterView view(*client_, {}, clock_);
  ASSERT_OK_AND_ASSIGN(Workload w, view.WorkloadOf(Pod("web-3", "rs-uid-1", "")));
  EXPECT_EQ(w.id, "ReplicaSet/shop/web-abc");
  EXPECT_EQ(w.desired, 10);
  std::vector<std::string> seen;
  for (const auto& p : w.pods) seen.push_back(p.name + "@" + p.node);
  EXPECT_THAT(seen, UnorderedElementsAre("web-1@od-1", "web-2@spot-1", "web-3@"));
}

TEST_F(KubeClusterViewTest, PodWithoutControllerIsAWorkloadOfOne) {
  KubeClusterView view(*client_, {});
  json pod = Pod("lonely", "x", "");
  pod["metadata"].erase("ownerReferences");
  ASSERT_OK_AND_ASSIGN(Workload w, view.WorkloadOf(pod));
  EXPECT_EQ(w.id, "Pod/shop/lonely");
  EXPECT_EQ(w.desired, 1);
}

TEST_F(KubeClusterViewTest, MissingControllerIsNotFound) {
  KubeClusterView view(*client_, {});
  EXPECT_THAT(view.WorkloadOf(Pod("web-1", "gone", "")), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(KubeClusterViewTest, SelectorStrings) {
  EXPECT_EQ(*SelectorString({{"matchLabels", {{"a", "b"}}},
                             {"matchExpressions",
                              {{{"key", "x"}, {"operator", "NotIn"}, {"values", {"1", "2"}}},
                               {{"key", "y"}, {"operator", "Exists"}},
                               {{"key", "z"}, {"operator", "DoesNotExist"}}}}}),
            "a=b,x notin (1,2),y,!z");
  EXPECT_THAT(SelectorString({{"matchExpressions", {{{"key", "x"}, {"operator", "Near"}}}}}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// An API server (or a proxy before it) whose answers have fields of other
// types than the API's: canned bodies by path, over a KubeClient.
class CannedHttp : public http::HttpClient {
 public:
  explicit CannedHttp(std::map<std::string, std::string> bodies) : bodies_(std::move(bodies)) {}
  absl::StatusOr<http::HttpResponse> Send(const http::HttpRequest& request) override {
    const std::string path = request.path.substr(0, request.path.find('?'));
    auto it = bodies_.find(path);
    if (it == bodies_.end()) return http::HttpResponse{.status = 404, .body = "{}"};
    return http::HttpResponse{.status = 200, .body = it->second};
  }
  absl::StatusOr<http::HttpResponse> SendStreaming(
      const http::HttpRequest&, const std::function<bool(absl::string_view)>&,
      http::StreamCancel*) override {
    return absl::UnimplementedError("no watches here");
  }

 private:
  std::map<std::string, std::string> bodies_;
};

std::unique_ptr<kube::KubeClient> CannedClient(std::map<std::string, std::string> bodies) {
  kube::KubeConfig config;
  config.server = "https://kube.test:6443";
  config.token = "t";
  return std::make_unique<kube::KubeClient>(std::make_unique<CannedHttp>(std::move(bodies)),
                                            *kube::NewCredentials(config),
                                            kube::KubeClientOptions{});
}

TEST(KubeClusterViewMalformedTest, AMalformedApiAnswerIsTheServersErrorNotTheCallers) {
  FakeClock clock(absl::FromUnixSeconds(1700000000));
  const json pod = Pod("web-1", "rs-uid-1", "");
  const std::string rs_path = "/apis/apps/v1/namespaces/shop/replicasets/web-abc";
  const std::string pods_path = "/api/v1/namespaces/shop/pods";
  const json good_rs = ReplicaSet("web-abc", "rs-uid-1", 3);
  json bad_selector = good_rs;
  bad_selector["spec"]["selector"]["matchExpressions"] = json::array({"not-an-object"});
  json bad_pod = Pod("web-2", "rs-uid-1", "od-1");
  bad_pod["metadata"]["ownerReferences"][0]["controller"] = "yes";  // not a bool
  json bad_name = Pod("web-3", "rs-uid-1", "od-1");
  bad_name["metadata"]["name"] = 42;
  const json good_pods = {{"kind", "PodList"}, {"items", json::array()}};
  struct Case {
    const char* what;
    std::string rs;
    std::string pods;
    std::string blamed_path;
  };
  const std::vector<Case> cases = {
      {"selector expression not an object", bad_selector.dump(), good_pods.dump(), rs_path},
      {"controller not a bool", good_rs.dump(),
       json{{"kind", "PodList"}, {"items", {bad_pod}}}.dump(), pods_path},
      {"pod name a number", good_rs.dump(),
       json{{"kind", "PodList"}, {"items", {bad_name}}}.dump(), pods_path},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    auto client = CannedClient({{rs_path, c.rs}, {pods_path, c.pods}});
    KubeClusterView view(*client, {}, clock);
    absl::StatusOr<Workload> w;
    ASSERT_NO_THROW(w = view.WorkloadOf(pod));
    EXPECT_THAT(w, StatusIs(absl::StatusCode::kUnavailable,
                            ::testing::AllOf(::testing::HasSubstr("API server's answer"),
                                             ::testing::HasSubstr(c.blamed_path))));
  }

  // Nodes: a node whose name is not a string.
  auto client = CannedClient(
      {{"/api/v1/nodes",
        json{{"kind", "NodeList"}, {"items", {{{"metadata", {{"name", 7}}}}}}}.dump()}});
  KubeClusterView view(*client, {}, clock);
  absl::StatusOr<std::map<std::string, std::string>> labels;
  ASSERT_NO_THROW(labels = view.NodeLabels("od-1"));
  EXPECT_THAT(labels, StatusIs(absl::StatusCode::kUnavailable, ::testing::HasSubstr("/api/v1/nodes")));

  // Through the extender, the scheduler gets the reason in the answer's
  // error (not a 400 blaming its ExtenderArgs).
  auto rs_client = CannedClient({{rs_path, bad_selector.dump()}, {pods_path, good_pods.dump()}});
  KubeClusterView rs_view(*rs_client, {}, clock);
  Extender ext(rs_view, {}, *MakeLogger("view-test", {.level = "off"}));
  auto filtered = ext.Filter({{"pod", pod}, {"nodenames", {"od-1"}}});
  ASSERT_THAT(filtered, IsOk());
  EXPECT_THAT((*filtered).value("error", ""), ::testing::HasSubstr("API server's answer"));
}

// The share through the fake API server: 10 replicas at 30%, scaled up one at
// a time; the scheduler's binds are written to the API.
TEST_F(KubeClusterViewTest, ScaleUpThroughTheApiKeepsTheShare) {
  for (int i = 1; i <= 2; ++i) {
    ASSERT_THAT(api_->AddNode(Node("od-" + std::to_string(i), {{"node.kubernetes.io/lifecycle", "normal"}})), IsOk());
  }
  for (int i = 1; i <= 4; ++i) {
    ASSERT_THAT(api_->AddNode(Node("spot-" + std::to_string(i), {{"eks.amazonaws.com/capacityType", "SPOT"}})), IsOk());
  }
  auto logger = *MakeLogger("view-test", {.level = "off"});
  KubeClusterView view(*client_, {.workload_ttl = absl::ZeroDuration()});
  Extender ext(view, {}, logger);
  json names = {"od-1", "od-2", "spot-1", "spot-2", "spot-3", "spot-4"};
  int on_demand = 0;
  for (int k = 1; k <= 10; ++k) {
    ASSERT_THAT(api_->AddReplicaSet(ReplicaSet("web-abc", "rs-uid-1", k)), IsOk());
    json pod = Pod("web-" + std::to_string(k), "rs-uid-1", "");
    ASSERT_THAT(api_->AddPod(pod), IsOk());
    auto filtered = ext.Filter({{"pod", pod}, {"nodenames", names}});
    ASSERT_THAT(filtered, IsOk());
    ASSERT_FALSE(filtered->contains("error")) << filtered->dump();
    auto scores = ext.Prioritize({{"pod", pod}, {"nodenames", (*filtered)["nodenames"]}});
    ASSERT_THAT(scores, IsOk());
    std::string best;
    int64_t top = -1;
    for (const auto& hp : *scores) {
      if (hp["score"].get<int64_t>() > top) {
        top = hp["score"].get<int64_t>();
        best = hp["host"];
      }
    }
    ASSERT_FALSE(best.empty());
    if (best.rfind("od-", 0) == 0) ++on_demand;
    ASSERT_THAT(api_->AddPod(Pod("web-" + std::to_string(k), "rs-uid-1", best)), IsOk());
    EXPECT_GE(on_demand, (30 * k + 99) / 100) << "after " << k;
  }
  EXPECT_EQ(on_demand, 3);
}

}  // namespace
}  // namespace hollowtrees::webhook
