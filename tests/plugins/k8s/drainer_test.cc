// The drain logic against the in-memory KubeApi on a simulated clock.

#include "plugins/k8s/drainer.h"

#include <thread>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/common/logging.h"
#include "tests/plugins/k8s/fake_kube_api.h"
#include "tests/testing/status_matchers.h"

namespace hollowtrees::k8s {
namespace {

using ::hollowtrees::testing::IsOk;
using ::hollowtrees::testing::StatusIs;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

std::shared_ptr<spdlog::logger> TestLogger() {
  static auto logger = *MakeLogger("k8s-test", {.level = "warn"});
  return logger;
}

PodInfo AppPod(const std::string& name, const std::string& node = "node-1") {
  PodInfo p;
  p.ns = "default";
  p.name = name;
  p.node_name = node;
  p.controller_kind = "ReplicaSet";
  p.controller_name = "web-rs";
  p.labels = {{"app", "web"}};
  return p;
}

class DrainerTest : public ::testing::Test {
 protected:
  DrainerTest() : api_(clock_), drainer_(api_, clock_, barrier_, *TestLogger(), 8) {
    NodeInfo n;
    n.name = "node-1";
    n.provider_id = "aws:///us-east-1a/i-0001";
    api_.AddNode(n);
    NodeInfo n2;
    n2.name = "node-2";
    api_.AddNode(n2);
    options_.cordon_hold = absl::ZeroDuration();
  }

  absl::Duration Elapsed() { return clock_.Now() - start_; }

  FakeClock clock_;
  absl::Time start_ = clock_.Now();
  FakeKubeApi api_;
  CordonBarrier barrier_;
  Drainer drainer_;
  DrainOptions options_;
};

TEST_F(DrainerTest, KubectlFiltersDaemonSetMirrorEmptyDirUnmanagedFinished) {
  api_.AddDaemonSet("kube-system", "agent");
  PodInfo ds = AppPod("agent-x");
  ds.ns = "kube-system";
  ds.controller_kind = "DaemonSet";
  ds.controller_name = "agent";
  api_.AddPod(ds);
  PodInfo mirror = AppPod("etcd-node-1");
  mirror.ns = "kube-system";
  mirror.controller_kind = "Node";
  mirror.annotations = {{"kubernetes.io/config.mirror", "abc"}};
  api_.AddPod(mirror);
  PodInfo scratch = AppPod("scratch");
  scratch.has_emptydir = true;
  api_.AddPod(scratch);
  PodInfo bare = AppPod("bare");
  bare.controller_kind.clear();
  api_.AddPod(bare);
  PodInfo done = AppPod("job-done");
  done.controller_kind = "Job";
  done.phase = "Succeeded";
  api_.AddPod(done);
  api_.AddPod(AppPod("web-1"));
  api_.AddPod(AppPod("web-other", "node-2"));

  ASSERT_OK_AND_ASSIGN(DrainResult r, drainer_.Drain("node-1", options_));
  EXPECT_TRUE(r.complete) << r.Summary();
  EXPECT_TRUE(api_.Node("node-1")->unschedulable);
  EXPECT_FALSE(api_.Node("node-2")->unschedulable);
  EXPECT_THAT(api_.PodKeysOnNode("node-1"),
              UnorderedElementsAre("kube-system/agent-x", "kube-system/etcd-node-1"));
  EXPECT_THAT(api_.PodKeysOnNode("node-2"), ElementsAre("default/web-other"));
  EXPECT_EQ(r.evicted, 4);
  EXPECT_EQ(r.skipped.size(), 2u);
  EXPECT_THAT(r.Summary(), HasSubstr("drained node node-1: 4 evicted"));
  EXPECT_THAT(r.Summary(), HasSubstr("kube-system/agent-x (DaemonSet-managed)"));
  EXPECT_THAT(r.Summary(), HasSubstr("kube-system/etcd-node-1 (mirror pod)"));
  EXPECT_THAT(api_.EventReasons(),
              ElementsAre("node-1:Warning:SpotInterruption:draining: spot termination notice"));
}

TEST_F(DrainerTest, RefusesEmptyDirUnmanagedAndDaemonSetPodsWhenParamsSaySo) {
  PodInfo scratch = AppPod("scratch");
  scratch.has_emptydir = true;
  api_.AddPod(scratch);
  PodInfo bare = AppPod("bare");
  bare.controller_kind.clear();
  api_.AddPod(bare);
  api_.AddDaemonSet("default", "agent");
  PodInfo ds = AppPod("agent-x");
  ds.controller_kind = "DaemonSet";
  ds.controller_name = "agent";
  api_.AddPod(ds);
  options_.delete_emptydir_data = false;
  options_.force = false;
  options_.ignore_daemonsets = false;
  auto r = drainer_.Drain("node-1", options_);
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kFailedPrecondition,
                          HasSubstr("default/scratch uses emptyDir")));
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kFailedPrecondition,
                          HasSubstr("default/bare has no controller (set force)")));
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kFailedPrecondition,
                          HasSubstr("default/agent-x is DaemonSet-managed")));
  EXPECT_EQ(api_.Calls("evict"), 0);
  EXPECT_EQ(api_.PodKeysOnNode("node-1").size(), 3u);
}

TEST_F(DrainerTest, OnCordonedSeesEveryCordonMadeEvenWhenTheDrainThenFails) {
  std::vector<absl::Time> cordons;
  auto record = [&](absl::Time t) { cordons.push_back(t); };
  auto never = [] { return false; };
  PodInfo bare = AppPod("bare");
  bare.controller_kind.clear();
  api_.AddPod(bare);
  options_.force = false;
  clock_.Advance(absl::Seconds(3));
  EXPECT_THAT(drainer_.Drain("node-1", options_, never, record),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("default/bare")));
  EXPECT_THAT(cordons, ElementsAre(start_ + absl::Seconds(3)));
  // Already cordoned: no cordon made, no call. A dry run cordons nothing.
  options_.force = true;
  ASSERT_OK_AND_ASSIGN(DrainResult r, drainer_.Drain("node-1", options_, never, record));
  EXPECT_TRUE(r.complete);
  options_.dry_run = true;
  ASSERT_OK_AND_ASSIGN(r, drainer_.Drain("node-2", options_, never, record));
  EXPECT_EQ(cordons.size(), 1u);
}

TEST_F(DrainerTest, DaemonSetPodWhoseDaemonSetIsGoneIsDeletedWithForce) {
  PodInfo ds = AppPod("orphan-ds");
  ds.controller_kind = "DaemonSet";
  ds.controller_name = "removed";
  api_.AddPod(ds);
  ASSERT_OK_AND_ASSIGN(DrainResult r, drainer_.Drain("node-1", options_));
  EXPECT_TRUE(r.complete);
  EXPECT_THAT(api_.PodKeysOnNode("node-1"), IsEmpty());
  options_.force = false;
  api_.AddPod(ds);
  EXPECT_THAT(drainer_.Drain("node-1", options_),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("is gone")));
}

TEST_F(DrainerTest, BudgetThatBlocksThenAllowsIsRetriedUntilItAllows) {
  api_.AddPod(AppPod("web-1"));
  api_.AddBudget({.ns = "default", .name = "web-pdb", .selector = {{"app", "web"}}, .allowed = 1,
                  .allow_from = start_ + absl::Seconds(12)});
  ASSERT_OK_AND_ASSIGN(DrainResult r, drainer_.Drain("node-1", options_));
  EXPECT_TRUE(r.complete) << r.Summary();
  EXPECT_FALSE(api_.PodExists("default/web-1"));
  // Refused at 0, 5 and 10 s, accepted at 15 s (retry every 5 s, as kubectl).
  EXPECT_EQ(api_.Calls("evict"), 4);
  EXPECT_EQ(Elapsed(), absl::Seconds(15));
}

TEST_F(DrainerTest, BudgetThatNeverAllowsEndsAtTheDeadlineNamingThePod) {
  api_.AddPod(AppPod("web-1"));
  api_.AddPod(AppPod("web-2"));
  api_.AddBudget({.ns = "default", .name = "web-pdb", .selector = {{"app", "web"}}, .allowed = 1});
  options_.timeout = absl::Seconds(30);
  ASSERT_OK_AND_ASSIGN(DrainResult r, drainer_.Drain("node-1", options_));
  EXPECT_FALSE(r.complete);
  ASSERT_EQ(r.remaining.size(), 1u);
  EXPECT_THAT(r.remaining[0].reason, HasSubstr("blocked by a PodDisruptionBudget"));
  EXPECT_THAT(r.remaining[0].reason, HasSubstr("web-pdb"));
  EXPECT_THAT(r.Summary(), HasSubstr("incomplete after 30s: 1 pod remains"));
  EXPECT_EQ(Elapsed(), absl::Seconds(30));
  EXPECT_EQ(api_.PodKeysOnNode("node-1").size(), 1u);
}

TEST_F(DrainerTest, ForceDeletesWhatABudgetStillBlocksNearTheDeadline) {
  api_.AddPod(AppPod("web-1"));
  api_.AddBudget({.ns = "default", .name = "web-pdb", .selector = {{"app", "web"}}, .allowed = 0});
  options_.timeout = absl::Seconds(60);
  options_.force_delete_near_deadline = true;
  options_.force_delete_margin = absl::Seconds(10);
  ASSERT_OK_AND_ASSIGN(DrainResult r, drainer_.Drain("node-1", options_));
  EXPECT_TRUE(r.complete) << r.Summary();
  EXPECT_EQ(r.force_deleted, 1);
  EXPECT_EQ(api_.Calls("delete"), 1);
  EXPECT_EQ(Elapsed(), absl::Seconds(50));
  EXPECT_THAT(api_.GracesUsed(), ElementsAre(std::optional<int64_t>(0)));
}

TEST_F(DrainerTest, WaitsForGracePeriodAndHonoursOverride) {
  api_.AddPod(AppPod("slow"), /*grace_seconds=*/20);
  ASSERT_OK_AND_ASSIGN(DrainResult r, drainer_.Drain("node-1", options_));
  EXPECT_TRUE(r.complete);
  EXPECT_GE(Elapsed(), absl::Seconds(20));
  EXPECT_LE(Elapsed(), absl::Seconds(21));
  EXPECT_THAT(api_.GracesUsed(), ElementsAre(std::nullopt));

  api_.AddPod(AppPod("slow2"), 20);
  ASSERT_THAT(api_.SetUnschedulable("node-1", false), IsOk());
  options_.grace_period_seconds = 3;
  const absl::Time before = clock_.Now();
  ASSERT_OK_AND_ASSIGN(r, drainer_.Drain("node-1", options_));
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(clock_.Now() - before, absl::Seconds(3));
  EXPECT_EQ(api_.GracesUsed().back(), std::optional<int64_t>(3));
}

TEST_F(DrainerTest, PodReplacedByNewUidCountsAsGone) {
  api_.AddPod(AppPod("db-0"), /*grace_seconds=*/60);
  api_.ReplaceOnEvict("default/db-0");
  ASSERT_OK_AND_ASSIGN(DrainResult r, drainer_.Drain("node-1", options_));
  EXPECT_TRUE(r.complete) << r.Summary();
  // The pod of that name is there again (new UID), and the drain did not wait
  // its 60 s grace period.
  EXPECT_TRUE(api_.PodExists("default/db-0"));
  EXPECT_LT(Elapsed(), absl::Seconds(2));
}

TEST_F(DrainerTest, FallsBackToDeleteWhereEvictionIsNotServed) {
  api_.AddPod(AppPod("web-1"));
  api_.AddPod(AppPod("web-2"));
  api_.SetEvictionServed(false);
  ASSERT_OK_AND_ASSIGN(DrainResult r, drainer_.Drain("node-1", options_));
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.deleted, 2);
  EXPECT_EQ(api_.Calls("evict"), 0);
  EXPECT_EQ(api_.Calls("delete"), 2);
}

TEST_F(DrainerTest, FallsBackToDeleteWhenEvictionAnswers404ForALivePod) {
  api_.AddPod(AppPod("web-1"));
  api_.SetEviction404(true);
  ASSERT_OK_AND_ASSIGN(DrainResult r, drainer_.Drain("node-1", options_));
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.deleted, 1);
  EXPECT_EQ(api_.Calls("evict"), 1);
  EXPECT_EQ(api_.Calls("delete"), 1);
}

TEST_F(DrainerTest, SeveralBudgetsFailThatPod) {
  api_.AddPod(AppPod("web-1"));
  api_.AddBudget({.ns = "default", .name = "a", .selector = {{"app", "web"}}, .allowed = 5});
  api_.AddBudget({.ns = "default", .name = "b", .selector = {{"app", "web"}}, .allowed = 5});
  options_.timeout = absl::Seconds(20);
  api_.AddPod([] {
    PodInfo p = AppPod("free");
    p.labels = {{"app", "other"}};
    return p;
  }());
  ASSERT_OK_AND_ASSIGN(DrainResult r, drainer_.Drain("node-1", options_));
  EXPECT_FALSE(r.complete);
  ASSERT_EQ(r.remaining.size(), 1u);
  EXPECT_EQ(r.remaining[0].pod, "default/web-1");
  EXPECT_THAT(r.remaining[0].reason, HasSubstr("more than one PodDisruptionBudget"));
  EXPECT_FALSE(api_.PodExists("default/free"));
  // A refusal for good is not retried until the deadline.
  EXPECT_EQ(api_.Calls("evict"), 2);
  EXPECT_LT(Elapsed(), absl::Seconds(20));
}

TEST_F(DrainerTest, TransientErrorsAreRetried) {
  api_.AddPod(AppPod("web-1"));
  api_.FailNext("evict", absl::UnavailableError("connection refused"), 2);
  ASSERT_OK_AND_ASSIGN(DrainResult r, drainer_.Drain("node-1", options_));
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(api_.Calls("evict"), 3);
}

TEST_F(DrainerTest, CordonOnlyTaintAndDryRun) {
  api_.AddPod(AppPod("web-1"));
  DrainOptions dry = options_;
  dry.dry_run = true;
  ASSERT_OK_AND_ASSIGN(DrainResult r, drainer_.Drain("node-1", dry));
  EXPECT_THAT(r.would_evict, ElementsAre("default/web-1"));
  EXPECT_THAT(r.Summary(), HasSubstr("dry run: would cordon node node-1 and evict 1 pod"));
  EXPECT_FALSE(api_.Node("node-1")->unschedulable);
  EXPECT_TRUE(api_.PodExists("default/web-1"));
  EXPECT_EQ(api_.Calls("cordon") + api_.Calls("evict") + api_.Calls("event"), 0);

  options_.cordon_only = true;
  options_.taint = Taint{"hollowtrees.io/rebalance", "true", "PreferNoSchedule"};
  ASSERT_OK_AND_ASSIGN(r, drainer_.Drain("node-1", options_));
  EXPECT_TRUE(r.complete);
  EXPECT_THAT(r.Summary(), HasSubstr("cordoned node node-1 (cordon only)"));
  EXPECT_TRUE(api_.Node("node-1")->unschedulable);
  EXPECT_THAT(api_.Node("node-1")->taints, ElementsAre(*options_.taint));
  EXPECT_TRUE(api_.PodExists("default/web-1"));

  ASSERT_OK_AND_ASSIGN(std::string msg, drainer_.Uncordon("node-1", options_.taint, true, false));
  EXPECT_EQ(msg, "uncordoned node node-1");
  EXPECT_FALSE(api_.Node("node-1")->unschedulable);
  EXPECT_THAT(api_.Node("node-1")->taints, IsEmpty());
  ASSERT_OK_AND_ASSIGN(msg, drainer_.Uncordon("node-1", options_.taint, true, false));
  EXPECT_EQ(msg, "node node-1 already schedulable");
}

TEST_F(DrainerTest, EvictsCriticalPodsLast) {
  PodInfo critical = AppPod("dns");
  critical.priority_class_name = "system-cluster-critical";
  api_.AddPod(critical);
  api_.AddPod(AppPod("web-1"), /*grace_seconds=*/4);
  api_.AddPod(AppPod("web-2"), /*grace_seconds=*/2);
  options_.evict_critical_last = true;
  ASSERT_OK_AND_ASSIGN(DrainResult r, drainer_.Drain("node-1", options_));
  EXPECT_TRUE(r.complete);
  auto removals = api_.Removals();
  ASSERT_EQ(removals.size(), 3u);
  EXPECT_EQ(removals[2].first, "default/dns");
  // Only after both application pods were gone (web-1 took 4 s).
  EXPECT_GE(removals[2].second - start_, absl::Seconds(4));

  // Without the option all three go at once.
  api_.AddPod(critical);
  api_.AddPod(AppPod("web-3"), 4);
  ASSERT_THAT(api_.SetUnschedulable("node-1", false), IsOk());
  options_.evict_critical_last = false;
  const absl::Time t0 = clock_.Now();
  ASSERT_OK_AND_ASSIGN(r, drainer_.Drain("node-1", options_));
  removals = api_.Removals();
  EXPECT_EQ(removals.back().second, t0);
}

TEST_F(DrainerTest, SecondDeliveryOnDrainedNodeIsAQuickSuccess) {
  api_.AddPod(AppPod("web-1"));
  ASSERT_OK_AND_ASSIGN(DrainResult r, drainer_.Drain("node-1", options_));
  EXPECT_TRUE(r.complete);
  EXPECT_FALSE(r.already_drained);
  const int calls = api_.TotalCalls();
  ASSERT_OK_AND_ASSIGN(r, drainer_.Drain("node-1", options_));
  EXPECT_TRUE(r.complete);
  EXPECT_TRUE(r.already_drained);
  EXPECT_THAT(r.Summary(), HasSubstr("already drained"));
  // A node read and a pod list: no cordon, no event, no eviction.
  EXPECT_EQ(api_.TotalCalls() - calls, 2);
  EXPECT_EQ(api_.EventReasons().size(), 1u);
}

TEST_F(DrainerTest, PodSelectorNarrowsTheDrain) {
  api_.AddPod(AppPod("web-1"));
  PodInfo other = AppPod("batch-1");
  other.labels = {{"app", "batch"}};
  api_.AddPod(other);
  options_.pod_selector = "app=batch";
  ASSERT_OK_AND_ASSIGN(DrainResult r, drainer_.Drain("node-1", options_));
  EXPECT_TRUE(r.complete);
  EXPECT_THAT(api_.PodKeysOnNode("node-1"), ElementsAre("default/web-1"));
}

TEST_F(DrainerTest, UnknownNodeAndCancellation) {
  EXPECT_THAT(drainer_.Drain("nope", options_), StatusIs(absl::StatusCode::kNotFound, HasSubstr("nope")));
  api_.AddPod(AppPod("web-1"), 30);
  ASSERT_OK_AND_ASSIGN(DrainResult r, drainer_.Drain("node-1", options_, [] { return true; }));
  EXPECT_TRUE(r.cancelled);
  EXPECT_FALSE(r.complete);
}

TEST(CordonBarrierTest, EvictionsWaitForEveryAnnouncedCordon) {
  CordonBarrier barrier;
  barrier.Announce("a");
  barrier.Announce("b");
  barrier.Cordoned("a");
  absl::Notification waited;
  std::vector<std::string> left = {"x"};
  std::thread t([&] {
    left = barrier.WaitForCordons(absl::Seconds(30));
    waited.Notify();
  });
  EXPECT_FALSE(waited.WaitForNotificationWithTimeout(absl::Milliseconds(100)));
  barrier.Cordoned("b");
  EXPECT_TRUE(waited.WaitForNotificationWithTimeout(absl::Seconds(10)));
  t.join();
  EXPECT_THAT(left, IsEmpty());
  // Gives up after the wait, naming the laggard.
  barrier.Announce("c");
  EXPECT_THAT(barrier.WaitForCordons(absl::Milliseconds(10)), ElementsAre("c"));
}

TEST(TaintTest, Parse) {
  ASSERT_OK_AND_ASSIGN(Taint t, ParseTaint("spot=true:NoSchedule"));
  EXPECT_EQ(t, (Taint{"spot", "true", "NoSchedule"}));
  ASSERT_OK_AND_ASSIGN(t, ParseTaint("draining:NoExecute"));
  EXPECT_EQ(t, (Taint{"draining", "", "NoExecute"}));
  EXPECT_THAT(ParseTaint("x=y"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("KEY")));
  EXPECT_THAT(ParseTaint("x:Sometimes"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("effect")));
}

}  // namespace
}  // namespace hollowtrees::k8s
