// Lifecycle hooks: the keeper and the plugin's lifecycle-heartbeat and
// complete-lifecycle actions over the real AWS client, against the fake
// Auto Scaling (its lifecycle actions time out on a fake clock, as AWS's do
// on its own).

#include "plugins/aws_asg/lifecycle_keeper.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/common/file.h"
#include "lib/common/logging.h"
#include "plugins/aws_asg/aws_asg_api.h"
#include "plugins/aws_asg/aws_asg_plugin.h"
#include "tests/fakes/aws/fake_aws.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace hollowtrees::aws_asg {
namespace {

using ::hollowtrees::testing::FakeAws;
using ::hollowtrees::testing::IsOk;
using ::testing::HasSubstr;
using Outcome = ::hollowtrees::plugin::v1::HandleResponse;

constexpr char kInstance[] = "i-0000000000000a001";

class LifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(fake_, FakeAws::Start({.clock = &clock_}));
    fake_->AddGroup({.name = "workers", .min_size = 1, .max_size = 3, .desired = 2});
    fake_->AddInstance({.id = kInstance, .group = "workers"});
    ASSERT_THAT(fake_->PutLifecycleHook({.name = "drain",
                                         .group = "workers",
                                         .heartbeat_timeout_seconds = 300,
                                         .default_result = "ABANDON"}),
                IsOk());
    dir_ = testing::MakeTempDir("asg-lifecycle");
    logger_ = *MakeLogger("ht-aws-asg-action-plugin", {.level = "warn"});
    AwsAsgApiOptions o;
    o.region = "us-east-1";
    o.env = {{"AWS_ENDPOINT_URL", fake_->endpoint()},
             {"AWS_EC2_METADATA_DISABLED", "true"},
             {"AWS_CONFIG_FILE", dir_ + "/no-config"},
             {"AWS_SHARED_CREDENTIALS_FILE", dir_ + "/no-credentials"},
             {"AWS_ACCESS_KEY_ID", "AKIDFAKEEXAMPLE"},
             {"AWS_SECRET_ACCESS_KEY", "fakeSecretKeyForTestsOnly/EXAMPLEKEY"}};
    o.retry = {.max_attempts = 2, .base_delay = absl::Milliseconds(2),
               .max_delay = absl::Milliseconds(10)};
    ASSERT_OK_AND_ASSIGN(api_, NewAwsAsgApi(o, *logger_));
  }

  std::unique_ptr<LifecycleKeeper> Keeper() {
    auto k = std::make_unique<LifecycleKeeper>(
        *api_, LifecycleKeeperOptions{.state_file = dir_ + "/lifecycle.json",
                                      .max_keep = absl::Hours(1),
                                      .tick = absl::Hours(1)},  // beats only when the test asks
        *logger_, clock_);
    EXPECT_THAT(k->Start(), IsOk());
    return k;
  }

  LifecycleAction Action(const std::string& token) {
    return {"workers", "drain", token, kInstance};
  }

  FakeClock clock_{absl::Now()};
  std::unique_ptr<FakeAws> fake_;
  std::string dir_;
  std::shared_ptr<spdlog::logger> logger_;
  std::unique_ptr<AsgApi> api_;
};

TEST_F(LifecycleTest, HeartbeatsKeepTheHookOpenAcrossARestartUntilItIsCompleted) {
  ASSERT_OK_AND_ASSIGN(const std::string token,
                       fake_->StartLifecycleAction(kInstance, testing::LifecycleTransition::kTerminating,
                                                   "drain"));
  auto keeper = Keeper();
  ASSERT_OK_AND_ASSIGN(std::string msg, keeper->Keep(Action(token), absl::InfiniteFuture()));
  EXPECT_THAT(msg, HasSubstr("heartbeat every 1m40s"));  // a third of 300 s
  EXPECT_EQ(fake_->LifecycleAction(token)->heartbeats, 1);
  EXPECT_EQ(keeper->kept(), 1u);

  // A drain of 12 minutes, the hook's timeout 5: the heartbeats hold it.
  for (int i = 0; i < 4; ++i) {
    clock_.Advance(absl::Seconds(100));
    keeper->BeatDue(clock_.Now());
  }
  EXPECT_EQ(fake_->LifecycleAction(token)->heartbeats, 5);
  // The plugin restarts: the new one reads the state file and beats at once.
  keeper.reset();
  clock_.Advance(absl::Seconds(200));  // 200 s without a heartbeat: within 300
  keeper = Keeper();
  EXPECT_EQ(keeper->kept(), 1u);
  keeper->BeatDue(clock_.Now());
  EXPECT_EQ(fake_->LifecycleAction(token)->heartbeats, 6);
  for (int i = 0; i < 2; ++i) {
    clock_.Advance(absl::Seconds(100));
    keeper->BeatDue(clock_.Now());
  }
  auto action = fake_->LifecycleAction(token);
  ASSERT_TRUE(action.has_value());
  EXPECT_FALSE(action->expired) << "the hook timed out while it was kept open";
  EXPECT_FALSE(action->completed);

  ASSERT_OK_AND_ASSIGN(msg, keeper->Complete(Action(token), "CONTINUE", absl::InfiniteFuture()));
  EXPECT_THAT(msg, HasSubstr("completed hook drain of group workers"));
  action = fake_->LifecycleAction(token);
  EXPECT_TRUE(action->completed);
  EXPECT_EQ(action->result, "CONTINUE");
  EXPECT_EQ(keeper->kept(), 0u);
  ASSERT_OK_AND_ASSIGN(std::string state, ReadFile(dir_ + "/lifecycle.json"));
  EXPECT_EQ(state, "[]\n");
  // No more heartbeats for it.
  const int beats = action->heartbeats;
  clock_.Advance(absl::Seconds(150));
  keeper->BeatDue(clock_.Now());
  EXPECT_EQ(fake_->LifecycleAction(token)->heartbeats, beats);

  // Completing again (a redelivery, a retry) is done, not an error.
  ASSERT_OK_AND_ASSIGN(msg, keeper->Complete(Action(token), "CONTINUE", absl::InfiniteFuture()));
  EXPECT_THAT(msg, HasSubstr("already complete or expired"));
}

TEST_F(LifecycleTest, WithoutHeartbeatsTheHookLapsesWhichIsWhatTheKeeperPrevents) {
  ASSERT_OK_AND_ASSIGN(const std::string token,
                       fake_->StartLifecycleAction(kInstance, testing::LifecycleTransition::kTerminating,
                                                   "drain"));
  clock_.Advance(absl::Seconds(301));
  auto keeper = Keeper();
  ASSERT_OK_AND_ASSIGN(std::string msg, keeper->Keep(Action(token), absl::InfiniteFuture()));
  EXPECT_THAT(msg, HasSubstr("already complete or expired"));
  EXPECT_EQ(keeper->kept(), 0u);
  auto action = fake_->LifecycleAction(token);
  EXPECT_TRUE(action->expired);
  EXPECT_EQ(action->result, "ABANDON");
}

TEST_F(LifecycleTest, AHookCompletedElsewhereStopsTheHeartbeats) {
  ASSERT_OK_AND_ASSIGN(const std::string token,
                       fake_->StartLifecycleAction(kInstance, testing::LifecycleTransition::kTerminating,
                                                   "drain"));
  auto keeper = Keeper();
  ASSERT_THAT(keeper->Keep(Action(token), absl::InfiniteFuture()), IsOk());
  ASSERT_THAT(api_->CompleteLifecycleAction("workers", "drain", token, "", "ABANDON",
                                            absl::InfiniteFuture()),
              IsOk());
  clock_.Advance(absl::Seconds(100));
  keeper->BeatDue(clock_.Now());
  EXPECT_EQ(keeper->kept(), 0u);
}

TEST_F(LifecycleTest, AMalformedStateFileIsAnErrorNamingIt) {
  ASSERT_THAT(WriteFileAtomically(dir_ + "/lifecycle.json", "{not json"), IsOk());
  LifecycleKeeper k(*api_, {.state_file = dir_ + "/lifecycle.json"}, *logger_, clock_);
  absl::Status s = k.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr(dir_ + "/lifecycle.json"));
}

TEST_F(LifecycleTest, ThePluginsLifecycleActions) {
  ASSERT_OK_AND_ASSIGN(const std::string token,
                       fake_->StartLifecycleAction(kInstance, testing::LifecycleTransition::kTerminating,
                                                   "drain"));
  auto keeper = Keeper();
  AwsAsgPlugin plugin(*api_, {}, *logger_, keeper.get());
  auto request = [&](const std::string& action, nlohmann::json params = nlohmann::json::object()) {
    plugin::Request r;
    r.event_id = "req-1";
    r.rule = "scale_in";
    r.event_type = "aws.autoscaling.terminate-lifecycle-action";
    r.labels = {{"autoscaling_group", "workers"}, {"lifecycle_hook", "drain"},
                {"lifecycle_action_token", token}, {"instance_id", kInstance}};
    params["action"] = action;
    r.params = params;
    return r;
  };
  plugin::Context ctx;
  ctx.deadline = absl::Now() + absl::Seconds(10);

  plugin::Result r = plugin.Handle(request("lifecycle-heartbeat"), ctx);
  EXPECT_EQ(r.outcome, Outcome::OUTCOME_DONE) << r.message;
  EXPECT_THAT(r.message, HasSubstr("keeping hook drain of group workers"));
  r = plugin.Handle(request("complete-lifecycle", {{"result", "maybe"}}), ctx);
  EXPECT_EQ(r.outcome, Outcome::OUTCOME_FAILED);
  EXPECT_THAT(r.message, HasSubstr("CONTINUE or ABANDON"));
  r = plugin.Handle(request("complete-lifecycle", {{"result", "ABANDON"}}), ctx);
  EXPECT_EQ(r.outcome, Outcome::OUTCOME_DONE) << r.message;
  EXPECT_EQ(fake_->LifecycleAction(token)->result, "ABANDON");
  r = plugin.Handle(request("complete-lifecycle"), ctx);
  EXPECT_EQ(r.outcome, Outcome::OUTCOME_DONE) << r.message;
  EXPECT_THAT(r.message, HasSubstr("already complete"));

  plugin::Request spot = request("complete-lifecycle");
  spot.labels = {{"instance_id", kInstance}};
  r = plugin.Handle(spot, ctx);
  EXPECT_EQ(r.outcome, Outcome::OUTCOME_SKIPPED);
  EXPECT_THAT(r.message, HasSubstr("not a lifecycle action"));
}

}  // namespace
}  // namespace hollowtrees::aws_asg
