// ht-aws-asg-action-plugin through its gRPC interface, against the fake AWS
// (and the fake STS / fake IMDS for credentials): every action and outcome,
// bounds adjusted and restored, throttling retried, credentials from each
// source, expired credentials refreshed; and the binary's wiring.

#include <grpcpp/grpcpp.h>

#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "hollowtrees/plugin/v1/plugin.grpc.pb.h"
#include "lib/common/logging.h"
#include "nlohmann/json.hpp"
#include "plugins/aws_asg/aws_asg_api.h"
#include "plugins/aws_asg/aws_asg_plugin.h"
#include "plugins/sdk/server.h"
#include "tests/fakes/aws/fake_aws.h"
#include "tests/fakes/imds/fake_imds.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace hollowtrees::aws_asg {
namespace {

using ::hollowtrees::plugin::v1::HandleRequest;
using ::hollowtrees::plugin::v1::HandleResponse;
using ::hollowtrees::testing::FakeAws;
using ::hollowtrees::testing::FakeImds;
using ::hollowtrees::testing::IsOk;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kNotice[] = "prometheus.server.alert.SpotTerminationNotice";
constexpr char kExpensive[] = "prometheus.server.alert.SpotInstanceTooExpensive";

HandleRequest MakeRequest(const std::string& type, const std::string& instance_id,
                          const nlohmann::json& params = nlohmann::json::object(),
                          const std::string& status = "firing") {
  HandleRequest req;
  auto* e = req.mutable_event();
  e->set_id(absl::StrCat("evt-", type.size(), "-", instance_id));
  e->set_source("http://prometheus:9090/graph");
  e->set_spec_version("1.0");
  e->set_type(type);
  (*e->mutable_attributes())["datacontenttype"].set_ce_string("application/json");
  nlohmann::json labels = {{"alertname", type.substr(type.rfind('.') + 1)},
                           {"cluster_name", "test-cluster"}};
  if (!instance_id.empty()) labels["instance_id"] = instance_id;
  e->set_text_data(nlohmann::json({{"labels", labels}, {"status", status}}).dump());
  req.set_rule("drain_k8s_spot_instance");
  req.set_attempt(1);
  req.set_flow_id("flow-1");
  req.set_plugin("ht-aws-asg-action-plugin");
  for (auto& [k, v] : params.items()) {
    auto& field = (*req.mutable_params()->mutable_fields())[k];
    if (v.is_boolean()) field.set_bool_value(v.get<bool>());
    else if (v.is_number()) field.set_number_value(v.get<double>());
    else field.set_string_value(v.get<std::string>());
  }
  return req;
}

HandleResponse Call(hollowtrees::plugin::v1::ActionPlugin::Stub& stub, const HandleRequest& req) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  HandleResponse resp;
  grpc::Status s = stub.Handle(&ctx, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return resp;
}

class AwsAsgPluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(fake_, FakeAws::Start());
    // A spot group with a mixed instances policy, full.
    fake_->AddGroup({.name = "spot-asg", .min_size = 1, .max_size = 3, .desired = 3,
                     .azs = {"us-east-1a", "us-east-1b"},
                     .mixed_instance_types = {"m5.large", "m5a.large"}});
    fake_->AddInstance({.id = "i-0000000000000a001", .group = "spot-asg"});
    fake_->AddInstance({.id = "i-0000000000000a002", .type = "m5a.large", .az = "us-east-1b",
                        .group = "spot-asg"});
    fake_->AddInstance({.id = "i-0000000000000a003", .group = "spot-asg"});
    // A group pinned at min = max = desired.
    fake_->AddGroup({.name = "tight-asg", .min_size = 2, .max_size = 2, .desired = 2});
    fake_->AddInstance({.id = "i-0000000000000b001", .type = "c5.large", .group = "tight-asg"});
    fake_->AddInstance({.id = "i-0000000000000b002", .type = "c5.large", .group = "tight-asg"});
    // A plain group with room below.
    fake_->AddGroup({.name = "od-asg", .min_size = 0, .max_size = 3, .desired = 1});
    fake_->AddInstance({.id = "i-0000000000000c001", .type = "t3.small", .group = "od-asg",
                        .spot = false});
    // An instance in no group, one detached earlier, one terminated.
    fake_->AddInstance({.id = "i-0000000000000d001", .group = ""});
    fake_->AddInstance({.id = "i-0000000000000e001", .group = "", .lifecycle_state = "Detached",
                        .tags = {{"aws:autoscaling:groupName", "spot-asg"}}});
    fake_->AddInstance({.id = "i-0000000000000f001", .group = "", .state = "terminated"});

    dir_ = testing::MakeTempDir("aws-asg-plugin");
    auto logger = MakeLogger("ht-aws-asg-action-plugin", {.level = "warn"});
    ASSERT_THAT(logger, IsOk());
    logger_ = *logger;
  }

  void TearDown() override {
    if (server_) server_->Shutdown(absl::Seconds(1));
  }

  // Environment pointing every AWS endpoint at the fake, with nothing from outside.
  aws::Env BaseEnv() {
    return {{"AWS_ENDPOINT_URL", fake_->endpoint()},
            {"AWS_EC2_METADATA_DISABLED", "true"},
            {"AWS_CONFIG_FILE", dir_ + "/no-config"},
            {"AWS_SHARED_CREDENTIALS_FILE", dir_ + "/no-credentials"}};
  }
  aws::Env KeyEnv() {
    aws::Env env = BaseEnv();
    env["AWS_ACCESS_KEY_ID"] = "AKIDFAKEEXAMPLE";
    env["AWS_SECRET_ACCESS_KEY"] = "fakeSecretKeyForTestsOnly/EXAMPLEKEY";
    return env;
  }

  void StartPlugin(aws::Env env, int attempts = 4) {
    AwsAsgApiOptions o;
    o.region = "us-east-1";
    o.env = std::move(env);
    o.request_timeout = absl::Seconds(5);
    o.retry = {.max_attempts = attempts, .base_delay = absl::Milliseconds(2),
               .max_delay = absl::Milliseconds(20)};
    auto api = NewAwsAsgApi(o, *logger_);
    ASSERT_THAT(api, IsOk());
    api_ = std::move(*api);
    plugin_ = std::make_unique<AwsAsgPlugin>(*api_, AwsAsgPluginOptions{}, *logger_);
    auto server = plugin::PluginServer::Start(*plugin_, {.listen = "127.0.0.1:0"}, *logger_);
    ASSERT_THAT(server, IsOk());
    server_ = std::move(*server);
    auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                       grpc::InsecureChannelCredentials());
    stub_ = hollowtrees::plugin::v1::ActionPlugin::NewStub(channel);
  }

  HandleResponse Handle(const std::string& type, const std::string& id,
                        const nlohmann::json& params = nlohmann::json::object(),
                        const std::string& status = "firing") {
    return Call(*stub_, MakeRequest(type, id, params, status));
  }

  // The successful mutating calls the fake saw, as "Action key=value ...".
  std::vector<std::string> Mutations() {
    std::vector<std::string> out;
    for (const auto& c : fake_->Calls()) {
      if (!c.error_code.empty()) continue;
      if (c.action != "DetachInstances" && c.action != "UpdateAutoScalingGroup" &&
          c.action != "TerminateInstances") {
        continue;
      }
      std::string line = c.action;
      for (const auto& [k, v] : c.params) {
        if (k != "Action" && k != "Version") absl::StrAppend(&line, " ", k, "=", v);
      }
      out.push_back(line);
    }
    return out;
  }

  // Declared before the API so that they outlive its idle connections.
  std::unique_ptr<FakeAws> fake_;
  std::unique_ptr<FakeImds> imds_;
  std::string dir_;
  std::shared_ptr<spdlog::logger> logger_;
  std::unique_ptr<AsgApi> api_;
  std::unique_ptr<AwsAsgPlugin> plugin_;
  std::unique_ptr<plugin::PluginServer> server_;
  std::unique_ptr<hollowtrees::plugin::v1::ActionPlugin::Stub> stub_;
};

TEST_F(AwsAsgPluginTest, SpotTerminationNoticeReplacesByDefault) {
  StartPlugin(KeyEnv());
  HandleResponse r = Handle(kNotice, "i-0000000000000a001");
  EXPECT_EQ(r.outcome(), HandleResponse::OUTCOME_DONE) << r.message();
  EXPECT_THAT(r.message(), HasSubstr("keeping desired capacity"));
  // The diversification hook: the reclaimed pool of a mixed-instances group.
  EXPECT_THAT(r.message(), HasSubstr("reclaimed spot pool: m5.large in us-east-1a"));
  EXPECT_EQ(fake_->Instance("i-0000000000000a001")->group, "");
  EXPECT_EQ(fake_->Group("spot-asg")->desired, 3);
  ASSERT_EQ(fake_->Launched().size(), 1u);  // the replacement, at once
  EXPECT_EQ(fake_->Instance(fake_->Launched()[0])->group, "spot-asg");
  EXPECT_EQ(Mutations(), (std::vector<std::string>{
                             "DetachInstances AutoScalingGroupName=spot-asg "
                             "InstanceIds.member.1=i-0000000000000a001 "
                             "ShouldDecrementDesiredCapacity=false"}));
  // Delivery is at least once: the repeat is done, and does nothing.
  HandleResponse again = Handle(kNotice, "i-0000000000000a001");
  EXPECT_EQ(again.outcome(), HandleResponse::OUTCOME_DONE) << again.message();
  EXPECT_THAT(again.message(), HasSubstr("already detached from spot-asg"));
  EXPECT_EQ(Mutations().size(), 1u);
  EXPECT_EQ(fake_->Launched().size(), 1u);
}

TEST_F(AwsAsgPluginTest, NoMixedPolicyNoPoolReport) {
  StartPlugin(KeyEnv());
  HandleResponse r = Handle(kNotice, "i-0000000000000c001");
  EXPECT_EQ(r.outcome(), HandleResponse::OUTCOME_DONE) << r.message();
  EXPECT_THAT(r.message(), Not(HasSubstr("reclaimed spot pool")));
}

TEST_F(AwsAsgPluginTest, DetachDecrementsAndLowersTheMinimumOnlyWhenNeeded) {
  StartPlugin(KeyEnv());
  HandleResponse od = Handle(kNotice, "i-0000000000000c001", {{"action", "detach"}});
  EXPECT_EQ(od.outcome(), HandleResponse::OUTCOME_DONE) << od.message();
  EXPECT_EQ(fake_->Group("od-asg")->desired, 0);
  EXPECT_EQ(fake_->Group("od-asg")->min_size, 0);
  EXPECT_EQ(Mutations(), (std::vector<std::string>{
                             "DetachInstances AutoScalingGroupName=od-asg "
                             "InstanceIds.member.1=i-0000000000000c001 "
                             "ShouldDecrementDesiredCapacity=true"}));
  fake_->ClearCalls();
  HandleResponse tight = Handle(kNotice, "i-0000000000000b001", {{"action", "detach"}});
  EXPECT_EQ(tight.outcome(), HandleResponse::OUTCOME_DONE) << tight.message();
  EXPECT_THAT(tight.message(), HasSubstr("min lowered from 2 to 1"));
  EXPECT_EQ(fake_->Group("tight-asg")->min_size, 1);
  EXPECT_EQ(fake_->Group("tight-asg")->desired, 1);
  EXPECT_TRUE(fake_->Launched().empty());
  EXPECT_EQ(Mutations(), (std::vector<std::string>{
                             "UpdateAutoScalingGroup AutoScalingGroupName=tight-asg MinSize=1",
                             "DetachInstances AutoScalingGroupName=tight-asg "
                             "InstanceIds.member.1=i-0000000000000b001 "
                             "ShouldDecrementDesiredCapacity=true"}));
}

TEST_F(AwsAsgPluginTest, TooExpensiveSwapsByDefault) {
  StartPlugin(KeyEnv());
  HandleResponse r = Handle(kExpensive, "i-0000000000000a002");
  EXPECT_EQ(r.outcome(), HandleResponse::OUTCOME_DONE) << r.message();
  EXPECT_THAT(r.message(), HasSubstr("terminated it (shutting-down)"));
  EXPECT_THAT(r.message(), HasSubstr("m5a.large in us-east-1b"));
  EXPECT_EQ(fake_->Instance("i-0000000000000a002")->state, "shutting-down");
  EXPECT_EQ(fake_->Group("spot-asg")->desired, 3);
  EXPECT_EQ(fake_->Launched().size(), 1u);  // replaced once, not twice
  // Repeat: already terminated.
  HandleResponse again = Handle(kExpensive, "i-0000000000000a002");
  EXPECT_EQ(again.outcome(), HandleResponse::OUTCOME_DONE);
  EXPECT_THAT(again.message(), HasSubstr("already shutting-down"));
}

TEST_F(AwsAsgPluginTest, SwapOfAnAlreadyDetachedInstanceStillTerminatesIt) {
  StartPlugin(KeyEnv());
  HandleResponse r = Handle(kNotice, "i-0000000000000e001", {{"action", "swap"}});
  EXPECT_EQ(r.outcome(), HandleResponse::OUTCOME_DONE) << r.message();
  EXPECT_THAT(r.message(), HasSubstr("already detached from spot-asg"));
  EXPECT_EQ(fake_->Instance("i-0000000000000e001")->state, "shutting-down");
}

TEST_F(AwsAsgPluginTest, SurgeRaisesTheMaximumAndRestoresIt) {
  StartPlugin(KeyEnv());
  HandleResponse r = Handle(kNotice, "i-0000000000000b001", {{"surge", true}});
  EXPECT_EQ(r.outcome(), HandleResponse::OUTCOME_DONE) << r.message();
  EXPECT_THAT(r.message(), HasSubstr("max raised to 3"));
  auto g = fake_->Group("tight-asg");
  EXPECT_EQ(g->min_size, 2);
  EXPECT_EQ(g->max_size, 2);
  EXPECT_EQ(g->desired, 2);
  EXPECT_EQ(fake_->Instance("i-0000000000000b001")->group, "");
  EXPECT_EQ(fake_->Launched().size(), 1u);
  EXPECT_EQ(Mutations(), (std::vector<std::string>{
                             "UpdateAutoScalingGroup AutoScalingGroupName=tight-asg "
                             "DesiredCapacity=3 MaxSize=3",
                             "DetachInstances AutoScalingGroupName=tight-asg "
                             "InstanceIds.member.1=i-0000000000000b001 "
                             "ShouldDecrementDesiredCapacity=true",
                             "UpdateAutoScalingGroup AutoScalingGroupName=tight-asg MaxSize=2"}));
}

TEST_F(AwsAsgPluginTest, BoundsAreRestoredWhenTheDetachFails) {
  StartPlugin(KeyEnv());
  fake_->InjectError("DetachInstances", "AccessDenied", 403, 1, "not allowed");
  HandleResponse r = Handle(kNotice, "i-0000000000000b001", {{"action", "detach"}});
  EXPECT_EQ(r.outcome(), HandleResponse::OUTCOME_FAILED) << r.message();
  EXPECT_THAT(r.message(), HasSubstr("AccessDenied"));
  EXPECT_THAT(r.message(), HasSubstr("bounds of tight-asg restored"));
  EXPECT_EQ(fake_->Group("tight-asg")->min_size, 2);
  EXPECT_EQ(fake_->Group("tight-asg")->desired, 2);
  EXPECT_EQ(fake_->Instance("i-0000000000000b001")->group, "tight-asg");

  // A surge whose detach keeps failing (5xx after every retry): retry later,
  // with the maximum and the desired capacity back where they were.
  fake_->InjectError("DetachInstances", "InternalFailure", 500, 100);
  HandleResponse s = Handle(kNotice, "i-0000000000000b002", {{"surge", true}});
  EXPECT_EQ(s.outcome(), HandleResponse::OUTCOME_RETRY) << s.message();
  EXPECT_THAT(s.message(), HasSubstr("restored"));
  EXPECT_EQ(fake_->Group("tight-asg")->max_size, 2);
  EXPECT_EQ(fake_->Group("tight-asg")->desired, 2);
}

TEST_F(AwsAsgPluginTest, AFailedRestoreIsReportedLoudly) {
  StartPlugin(KeyEnv());
  fake_->InjectError("DetachInstances", "AccessDenied", 403, 1);
  // The lowering goes through; the restore (and its second try) fail.
  fake_->InjectErrorAfter("UpdateAutoScalingGroup", 1, "AccessDenied", 403, 2);
  HandleResponse r = Handle(kNotice, "i-0000000000000b001", {{"action", "detach"}});
  EXPECT_EQ(r.outcome(), HandleResponse::OUTCOME_FAILED) << r.message();
  EXPECT_THAT(r.message(), HasSubstr("RESTORING THE BOUNDS OF tight-asg FAILED"));
  EXPECT_THAT(r.message(), HasSubstr("min 2"));
}

TEST_F(AwsAsgPluginTest, ClearOutcomesForInstancesOutsideGroups) {
  StartPlugin(KeyEnv());
  HandleResponse unknown = Handle(kNotice, "i-00000000000009999");
  EXPECT_EQ(unknown.outcome(), HandleResponse::OUTCOME_DONE) << unknown.message();
  EXPECT_THAT(unknown.message(), HasSubstr("does not exist"));
  HandleResponse loner = Handle(kNotice, "i-0000000000000d001");
  EXPECT_EQ(loner.outcome(), HandleResponse::OUTCOME_SKIPPED) << loner.message();
  EXPECT_THAT(loner.message(), HasSubstr("in no Auto Scaling Group"));
  HandleResponse gone = Handle(kNotice, "i-0000000000000f001");
  EXPECT_EQ(gone.outcome(), HandleResponse::OUTCOME_DONE) << gone.message();
  EXPECT_THAT(gone.message(), HasSubstr("already terminated"));
  EXPECT_TRUE(Mutations().empty());
}

TEST_F(AwsAsgPluginTest, BadInputGetsAClearAnswer) {
  StartPlugin(KeyEnv());
  HandleResponse none = Handle(kNotice, "");
  EXPECT_EQ(none.outcome(), HandleResponse::OUTCOME_SKIPPED);
  EXPECT_THAT(none.message(), HasSubstr("no instance_id label"));
  HandleResponse bad_action = Handle(kNotice, "i-0000000000000a001", {{"action", "explode"}});
  EXPECT_EQ(bad_action.outcome(), HandleResponse::OUTCOME_FAILED);
  EXPECT_THAT(bad_action.message(), HasSubstr("want replace, detach, swap, lifecycle-heartbeat or complete-lifecycle"));
  HandleResponse bad_flag = Handle(kNotice, "i-0000000000000a001", {{"dry_run", "yes"}});
  EXPECT_EQ(bad_flag.outcome(), HandleResponse::OUTCOME_FAILED);
  EXPECT_THAT(bad_flag.message(), HasSubstr("dry_run must be true or false"));
  HandleResponse bad_id = Handle(kNotice, "ip-10-0-0-1.ec2.internal");
  EXPECT_EQ(bad_id.outcome(), HandleResponse::OUTCOME_FAILED);
  EXPECT_THAT(bad_id.message(), HasSubstr("is not an EC2 instance id"));
  HandleResponse resolved = Handle(kNotice, "i-0000000000000a001", {}, "resolved");
  EXPECT_EQ(resolved.outcome(), HandleResponse::OUTCOME_SKIPPED);
  EXPECT_TRUE(Mutations().empty());
  EXPECT_EQ(fake_->Instance("i-0000000000000a001")->group, "spot-asg");
}

TEST_F(AwsAsgPluginTest, DryRunLogsTheCallsAndChangesNothing) {
  StartPlugin(KeyEnv());
  HandleResponse r = Handle(kNotice, "i-0000000000000b001", {{"action", "detach"}, {"dry_run", true}});
  EXPECT_EQ(r.outcome(), HandleResponse::OUTCOME_DONE) << r.message();
  EXPECT_THAT(r.message(), HasSubstr("dry run (detach): would call UpdateAutoScalingGroup(tight-asg, MinSize=1"));
  EXPECT_THAT(r.message(), HasSubstr("DetachInstances(tight-asg, i-0000000000000b001, ShouldDecrementDesiredCapacity=true)"));
  HandleResponse swap = Handle(kExpensive, "i-0000000000000a003", {{"dry_run", true}});
  EXPECT_EQ(swap.outcome(), HandleResponse::OUTCOME_DONE) << swap.message();
  EXPECT_THAT(swap.message(), HasSubstr("would TerminateInstances(i-0000000000000a003)"));
  EXPECT_TRUE(Mutations().empty());
  EXPECT_EQ(fake_->Group("tight-asg")->min_size, 2);
}

TEST_F(AwsAsgPluginTest, ThrottlingIsRetried) {
  StartPlugin(KeyEnv());
  fake_->InjectError("DescribeAutoScalingInstances", "Throttling", 400, 2, "Rate exceeded");
  HandleResponse r = Handle(kNotice, "i-0000000000000a003");
  EXPECT_EQ(r.outcome(), HandleResponse::OUTCOME_DONE) << r.message();
  EXPECT_EQ(fake_->CountCalls("DescribeAutoScalingInstances", false), 3);
  // Throttled past every retry: the engine is asked to come back later.
  fake_->InjectError("DescribeInstances", "RequestLimitExceeded", 503, 100);
  HandleResponse t = Handle(kNotice, "i-0000000000000d001");
  EXPECT_EQ(t.outcome(), HandleResponse::OUTCOME_RETRY) << t.message();
  EXPECT_THAT(t.message(), HasSubstr("RequestLimitExceeded"));
  EXPECT_GT(t.retry_after().seconds(), 0);
}

TEST_F(AwsAsgPluginTest, ConcurrentDuplicateDeliveriesDetachOnce) {
  StartPlugin(KeyEnv());
  std::vector<HandleResponse> out(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] { out[i] = Handle(kNotice, "i-0000000000000a001"); });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : out) {
    EXPECT_TRUE(r.outcome() == HandleResponse::OUTCOME_DONE ||
                r.outcome() == HandleResponse::OUTCOME_RETRY)
        << r.message();
  }
  EXPECT_EQ(fake_->CountCalls("DetachInstances"), 1);
  EXPECT_EQ(fake_->Launched().size(), 1u);
}

TEST_F(AwsAsgPluginTest, CredentialsFromTheProfileFile) {
  aws::Env env = BaseEnv();
  ASSERT_THAT(testing::WriteStringToFile(dir_ + "/credentials",
                                         "[default]\naws_access_key_id = WRONG\naws_secret_access_key = x\n"
                                         "[ops]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profile-secret\n"),
              IsOk());
  env["AWS_SHARED_CREDENTIALS_FILE"] = dir_ + "/credentials";
  env["AWS_PROFILE"] = "ops";
  fake_->AddCredentials("AKIDPROFILE", "profile-secret");
  StartPlugin(env);
  HandleResponse r = Handle(kNotice, "i-0000000000000a001");
  EXPECT_EQ(r.outcome(), HandleResponse::OUTCOME_DONE) << r.message();
  EXPECT_EQ(fake_->Calls().back().access_key_id, "AKIDPROFILE");
}

TEST_F(AwsAsgPluginTest, CredentialsFromWebIdentityAndRefreshedWhenExpired) {
  aws::Env env = BaseEnv();
  ASSERT_THAT(testing::WriteStringToFile(dir_ + "/token", "fake-web-identity-token"), IsOk());
  env["AWS_ROLE_ARN"] = "arn:aws:iam::123456789012:role/hollowtrees-aws-asg";
  env["AWS_WEB_IDENTITY_TOKEN_FILE"] = dir_ + "/token";
  env.erase("AWS_ENDPOINT_URL");
  env["AWS_ENDPOINT_URL_AUTO_SCALING"] = fake_->endpoint();
  env["AWS_ENDPOINT_URL_EC2"] = fake_->endpoint();
  env["AWS_ENDPOINT_URL_STS"] = fake_->endpoint();
  StartPlugin(env);
  HandleResponse r = Handle(kNotice, "i-0000000000000a001");
  EXPECT_EQ(r.outcome(), HandleResponse::OUTCOME_DONE) << r.message();
  EXPECT_EQ(fake_->CountCalls("AssumeRoleWithWebIdentity"), 1);
  EXPECT_TRUE(absl::StartsWith(fake_->Calls().back().access_key_id, "ASIA"));
  // The session credentials expire (early, as after a revocation): the
  // plugin fetches new ones and carries on.
  fake_->ExpireSessionTokens();
  HandleResponse s = Handle(kNotice, "i-0000000000000a002");
  EXPECT_EQ(s.outcome(), HandleResponse::OUTCOME_DONE) << s.message();
  EXPECT_EQ(fake_->CountCalls("AssumeRoleWithWebIdentity"), 2);
  EXPECT_EQ(fake_->Instance("i-0000000000000a002")->group, "");
}

TEST_F(AwsAsgPluginTest, CredentialsFromTheInstanceProfileThroughImdsV2) {
  ASSERT_OK_AND_ASSIGN(imds_, FakeImds::Start());
  FakeImds* imds = imds_.get();
  imds->SetRole("eks-node", {.access_key_id = "ASIAIMDSNODE", .secret_access_key = "imds-secret",
                             .token = "imds-session", .expiration = absl::Now() + absl::Hours(6)});
  fake_->AddCredentials("ASIAIMDSNODE", "imds-secret");
  aws::Env env = BaseEnv();
  env.erase("AWS_EC2_METADATA_DISABLED");
  env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = imds->endpoint();
  StartPlugin(env);
  HandleResponse r = Handle(kNotice, "i-0000000000000a001");
  EXPECT_EQ(r.outcome(), HandleResponse::OUTCOME_DONE) << r.message();
  EXPECT_EQ(fake_->Calls().back().access_key_id, "ASIAIMDSNODE");
  EXPECT_GE(imds->token_requests(), 1);
  EXPECT_EQ(imds->unauthorized_answers(), 0);
}

TEST_F(AwsAsgPluginTest, NoCredentialsAnywhereFailsClearly) {
  StartPlugin(BaseEnv());
  HandleResponse r = Handle(kNotice, "i-0000000000000a001");
  EXPECT_EQ(r.outcome(), HandleResponse::OUTCOME_FAILED) << r.message();
  EXPECT_THAT(r.message(), HasSubstr("no AWS credentials found"));
}

// The binary: flags, environment and the gRPC service wired together.
TEST_F(AwsAsgPluginTest, TheBinaryServesTheSameActions) {
  std::vector<std::string> env;
  for (const auto& [k, v] : KeyEnv()) env.push_back(absl::StrCat(k, "=", v));
  env.push_back("AWS_REGION=");
  env.push_back("AWS_DEFAULT_REGION=");
  env.push_back("AWS_PROFILE=");
  ASSERT_OK_AND_ASSIGN(auto proc, testing::Subprocess::Start(
                                      {testing::BinaryPath("ht-aws-asg-action-plugin"), "--listen",
                                       "127.0.0.1:0", "--region", "us-east-1"},
                                      env, dir_));
  ASSERT_OK_AND_ASSIGN(std::string port, proc->WaitForOutput("listening on 127.0.0.1:(\\d+)"));
  auto channel = grpc::CreateChannel("127.0.0.1:" + port, grpc::InsecureChannelCredentials());
  auto stub = hollowtrees::plugin::v1::ActionPlugin::NewStub(channel);
  HandleResponse r = Call(*stub, MakeRequest(kNotice, "i-0000000000000a003"));
  EXPECT_EQ(r.outcome(), HandleResponse::OUTCOME_DONE) << r.message() << proc->Output();
  EXPECT_EQ(fake_->Instance("i-0000000000000a003")->group, "");
  stub.reset();
  channel.reset();
  const absl::Time t0 = absl::Now();
  EXPECT_EQ(proc->Stop(), 0);
  // An open client channel holds up the plugin's graceful stop, hence the resets above.
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5));

  // Without a region anywhere it refuses to start, saying why.
  ASSERT_OK_AND_ASSIGN(auto noregion, testing::Subprocess::Start(
                                          {testing::BinaryPath("ht-aws-asg-action-plugin"),
                                           "--listen", "127.0.0.1:0"},
                                          env, dir_));
  ASSERT_OK_AND_ASSIGN(int code, noregion->Wait(absl::Seconds(20)));
  EXPECT_NE(code, 0);
  EXPECT_THAT(noregion->Output(), HasSubstr("no AWS region"));
}

}  // namespace
}  // namespace hollowtrees::aws_asg
