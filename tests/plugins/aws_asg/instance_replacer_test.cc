// InstanceReplacer against the in-memory FakeAsgApi: the exact calls of each
// action, the races and failures that are hard to stage over HTTP, and the
// deadline handed to every call.

#include "plugins/aws_asg/instance_replacer.h"

#include "gtest/gtest.h"
#include "lib/common/logging.h"
#include "tests/plugins/aws_asg/fake_asg_api.h"
#include "tests/testing/status_matchers.h"

namespace hollowtrees::aws_asg {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class InstanceReplacerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto logger = MakeLogger("replacer-test", {.level = "off"});
    ASSERT_TRUE(logger.ok());
    logger_ = *logger;
    api_.AddGroup({.name = "tight", .min_size = 2, .max_size = 2, .desired_capacity = 2});
    api_.AddInstance({.id = "i-00000000000000a1", .group = "tight"});
    api_.AddInstance({.id = "i-00000000000000a2", .group = "tight"});
    api_.AddGroup({.name = "roomy", .min_size = 0, .max_size = 5, .desired_capacity = 2,
                   .mixed_instances_policy = true});
    api_.AddInstance({.id = "i-00000000000000b1", .type = "c5.xlarge", .az = "eu-west-1c",
                      .group = "roomy"});
    replacer_ = std::make_unique<InstanceReplacer>(api_, *logger_);
  }

  ReplaceOutcome Run(const std::string& id, Action action, bool surge = false,
                     bool dry_run = false) {
    return replacer_->Run({.instance_id = id, .action = action, .dry_run = dry_run,
                           .surge = surge, .deadline = deadline_, .event_id = "e1"});
  }

  std::shared_ptr<spdlog::logger> logger_;
  FakeAsgApi api_;
  std::unique_ptr<InstanceReplacer> replacer_;
  absl::Time deadline_ = absl::Now() + absl::Seconds(90);
};

TEST_F(InstanceReplacerTest, ReplaceDetachesKeepingCapacityAndReportsThePool) {
  ReplaceOutcome o = Run("i-00000000000000b1", Action::kReplace);
  EXPECT_EQ(o.kind, ReplaceOutcome::kDone) << o.message;
  EXPECT_EQ(o.group, "roomy");
  EXPECT_EQ(o.reclaimed_pool, "c5.xlarge in eu-west-1c");
  EXPECT_THAT(api_.calls(), ElementsAre("FindInstance i-00000000000000b1", "GetGroup roomy",
                                        "Detach roomy i-00000000000000b1 keep"));
  EXPECT_EQ(api_.Group("roomy").desired_capacity, 2);
  EXPECT_EQ(api_.launched(), 1);
  // Every call carried the event's deadline.
  for (absl::Time d : api_.deadlines()) EXPECT_EQ(d, deadline_);
}

TEST_F(InstanceReplacerTest, SurgeWithRoomRaisesDesiredOnly) {
  ReplaceOutcome o = Run("i-00000000000000b1", Action::kReplace, /*surge=*/true);
  EXPECT_EQ(o.kind, ReplaceOutcome::kDone) << o.message;
  EXPECT_THAT(api_.calls(), ElementsAre("FindInstance i-00000000000000b1", "GetGroup roomy",
                                        "UpdateGroup roomy min=- max=- desired=3",
                                        "Detach roomy i-00000000000000b1 decrement"));
  EXPECT_EQ(api_.Group("roomy").desired_capacity, 2);
  EXPECT_EQ(api_.Group("roomy").max_size, 5);
}

TEST_F(InstanceReplacerTest, DetachRaceWhereTheInstanceLeftMeanwhileIsDone) {
  // Between our look and our detach, another actor detaches the instance.
  api_.OnCall("Detach", [&] {
    api_.AddInstance({.id = "i-00000000000000a1", .lifecycle = "Detached",
                      .tags = {{"aws:autoscaling:groupName", "tight"}}});
  });
  ReplaceOutcome o = Run("i-00000000000000a1", Action::kReplace, /*surge=*/true);
  EXPECT_EQ(o.kind, ReplaceOutcome::kDone) << o.message;
  EXPECT_THAT(o.message, HasSubstr("already detached from tight"));
  EXPECT_THAT(o.message, HasSubstr("restored"));
  auto g = api_.Group("tight");
  EXPECT_EQ(g.max_size, 2);
  EXPECT_EQ(g.desired_capacity, 2);
}

TEST_F(InstanceReplacerTest, RestoreIsTriedTwiceBeforeGivingUp) {
  api_.Fail("Detach", absl::UnavailableError("connection reset"));
  // First restore fails, the second (with a fresh deadline) works.
  api_.OnCall("Detach", [&] {
    api_.Fail("UpdateGroup", absl::UnavailableError("throttled"), 1);
  });
  ReplaceOutcome o = Run("i-00000000000000a1", Action::kDetach);
  EXPECT_EQ(o.kind, ReplaceOutcome::kRetry) << o.message;
  EXPECT_THAT(o.message, HasSubstr("bounds of tight restored"));
  EXPECT_EQ(api_.Group("tight").min_size, 2);
  const auto calls = api_.calls();
  ASSERT_EQ(calls.size(), 6u);
  EXPECT_EQ(calls[2], "UpdateGroup tight min=1 max=- desired=-");
  EXPECT_EQ(calls[4], "UpdateGroup tight min=2 max=- desired=-");
  EXPECT_EQ(calls[5], "UpdateGroup tight min=2 max=- desired=-");
  EXPECT_GT(api_.deadlines()[5], absl::Now());  // the retry's own deadline
}

TEST_F(InstanceReplacerTest, SurgeDetachedButMaxNotRestoredIsAFailure) {
  api_.OnCall("Detach", [&] {
    api_.Fail("UpdateGroup", aws::MakeAwsStatus({.http_status = 403, .code = "AccessDenied",
                                                 .message = "no"}));
  });
  ReplaceOutcome o = Run("i-00000000000000a1", Action::kReplace, /*surge=*/true);
  EXPECT_EQ(o.kind, ReplaceOutcome::kFailed) << o.message;
  EXPECT_THAT(o.message, HasSubstr("detached i-00000000000000a1, but restoring tight"));
  EXPECT_EQ(api_.Get("i-00000000000000a1").group, "");
}

TEST_F(InstanceReplacerTest, ErrorsMapToOutcomes) {
  api_.Fail("FindInstance", absl::UnavailableError("timeout"));
  EXPECT_EQ(Run("i-00000000000000a1", Action::kReplace).kind, ReplaceOutcome::kRetry);
  api_.Fail("FindInstance", absl::PermissionDeniedError("denied"));
  EXPECT_EQ(Run("i-00000000000000a1", Action::kReplace).kind, ReplaceOutcome::kFailed);
  api_.Fail("GetGroup", absl::DeadlineExceededError("late"));
  EXPECT_EQ(Run("i-00000000000000a1", Action::kReplace).kind, ReplaceOutcome::kRetry);
  // A group that vanished between the two looks: try again later.
  api_.AddInstance({.id = "i-00000000000000c1", .group = "ghost"});
  ReplaceOutcome ghost = Run("i-00000000000000c1", Action::kReplace);
  EXPECT_EQ(ghost.kind, ReplaceOutcome::kRetry);
  EXPECT_THAT(ghost.message, HasSubstr("ghost"));
}

TEST_F(InstanceReplacerTest, InstancesAlreadyLeaving) {
  api_.AddInstance({.id = "i-00000000000000a3", .group = "tight", .lifecycle = "Terminating:Wait"});
  ReplaceOutcome o = Run("i-00000000000000a3", Action::kReplace);
  EXPECT_EQ(o.kind, ReplaceOutcome::kDone) << o.message;
  EXPECT_THAT(o.message, HasSubstr("already leaving tight (Terminating:Wait)"));
  EXPECT_THAT(api_.calls(), ElementsAre("FindInstance i-00000000000000a3",
                                        "DescribeInstance i-00000000000000a3"));
}

TEST_F(InstanceReplacerTest, ASecondConcurrentCallForTheSameInstanceIsToldToRetry) {
  ReplaceOutcome inner;
  api_.OnCall("GetGroup", [&] { inner = Run("i-00000000000000b1", Action::kReplace); });
  ReplaceOutcome outer = Run("i-00000000000000b1", Action::kReplace);
  EXPECT_EQ(outer.kind, ReplaceOutcome::kDone) << outer.message;
  EXPECT_EQ(inner.kind, ReplaceOutcome::kRetry);
  EXPECT_THAT(inner.message, HasSubstr("being handled by another call"));
  // Another instance is not held up.
  api_.OnCall("GetGroup", [&] { inner = Run("i-00000000000000a2", Action::kReplace); });
  EXPECT_EQ(Run("i-00000000000000a1", Action::kReplace).kind, ReplaceOutcome::kDone);
  EXPECT_EQ(inner.kind, ReplaceOutcome::kDone) << inner.message;
}

TEST_F(InstanceReplacerTest, ParsesActions) {
  EXPECT_EQ(*ParseAction("replace"), Action::kReplace);
  EXPECT_EQ(*ParseAction("detach"), Action::kDetach);
  EXPECT_EQ(*ParseAction("swap"), Action::kSwap);
  EXPECT_THAT(ParseAction("Replace"),
              testing::StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("want replace")));
}

}  // namespace
}  // namespace hollowtrees::aws_asg
