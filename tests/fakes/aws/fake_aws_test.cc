// Proves the fake AWS behaves like AWS toward a real client: the AWS CLI
// (Debian's awscli v2, /usr/bin/aws) pointed at it with --endpoint-url signs
// its requests (which the fake verifies) and gets what the fake's state says.
// Also covers the fake-aws binary and its control API.

#include <httplib.h>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "lib/aws/credentials.h"
#include "lib/aws/query_client.h"
#include "lib/common/clock.h"
#include "nlohmann/json.hpp"
#include "tests/fakes/aws/fake_aws.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace hollowtrees::testing {
namespace {

using ::testing::HasSubstr;

struct CliResult {
  int exit_code = -1;
  std::string output;
  nlohmann::json json;
};

class AwsCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(fake_, FakeAws::Start());
    fake_->AddGroup({.name = "spot-asg", .min_size = 1, .max_size = 5, .desired = 3,
                     .azs = {"us-east-1a", "us-east-1b"},
                     .mixed_instance_types = {"m5.large", "m5a.large", "m4.large"}});
    fake_->AddGroup({.name = "od-asg", .min_size = 0, .max_size = 2, .desired = 1});
    fake_->AddInstance({.id = "i-0000000000000a001", .group = "spot-asg"});
    fake_->AddInstance({.id = "i-0000000000000a002", .type = "m5a.large", .az = "us-east-1b",
                        .group = "spot-asg"});
    fake_->AddInstance({.id = "i-0000000000000a003", .group = "spot-asg"});
    fake_->AddInstance({.id = "i-0000000000000c001", .type = "t3.small", .group = "od-asg",
                        .spot = false});
    home_ = MakeTempDir("awscli-home");
  }

  // Runs /usr/bin/aws in a clean environment that touches nothing outside:
  // env credentials, empty config files, no instance metadata.
  CliResult Aws(std::vector<std::string> args, const std::string& secret =
                                                   "fakeSecretKeyForTestsOnly/EXAMPLEKEY") {
    std::vector<std::string> argv = {
        "/usr/bin/env", "-i", "PATH=/usr/bin:/bin", "HOME=" + home_, "LANG=C.UTF-8",
        "AWS_ACCESS_KEY_ID=AKIDFAKEEXAMPLE", "AWS_SECRET_ACCESS_KEY=" + secret,
        "AWS_DEFAULT_REGION=us-east-1", "AWS_CONFIG_FILE=" + home_ + "/config",
        "AWS_SHARED_CREDENTIALS_FILE=" + home_ + "/credentials", "AWS_EC2_METADATA_DISABLED=true",
        "AWS_PAGER=", "AWS_MAX_ATTEMPTS=1", "/usr/bin/aws", "--endpoint-url", fake_->endpoint(),
        "--output", "json"};
    argv.insert(argv.end(), args.begin(), args.end());
    CliResult r;
    auto proc = Subprocess::Start(argv, {}, home_);
    EXPECT_THAT(proc, IsOk());
    if (!proc.ok()) return r;
    auto code = (*proc)->Wait(absl::Seconds(60));
    EXPECT_THAT(code, IsOk());
    r.exit_code = code.ok() ? *code : -1;
    r.output = (*proc)->Output();
    if (r.exit_code == 0 && !r.output.empty()) {
      r.json = nlohmann::json::parse(r.output, nullptr, false);
    }
    return r;
  }

  std::unique_ptr<FakeAws> fake_;
  std::string home_;
};

TEST_F(AwsCliTest, DescribeAutoScalingGroupsShowsTheFakesState) {
  CliResult r = Aws({"autoscaling", "describe-auto-scaling-groups"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto& groups = r.json["AutoScalingGroups"];
  ASSERT_EQ(groups.size(), 2u) << r.output;
  const auto& spot = groups[1]["AutoScalingGroupName"] == "spot-asg" ? groups[1] : groups[0];
  EXPECT_EQ(spot["AutoScalingGroupName"], "spot-asg");
  EXPECT_EQ(spot["MinSize"], 1);
  EXPECT_EQ(spot["MaxSize"], 5);
  EXPECT_EQ(spot["DesiredCapacity"], 3);
  ASSERT_EQ(spot["Instances"].size(), 3u);
  EXPECT_EQ(spot["Instances"][1]["InstanceId"], "i-0000000000000a002");
  EXPECT_EQ(spot["Instances"][1]["AvailabilityZone"], "us-east-1b");
  EXPECT_EQ(spot["Instances"][1]["LifecycleState"], "InService");
  EXPECT_EQ(spot["MixedInstancesPolicy"]["LaunchTemplate"]["Overrides"].size(), 3u);

  CliResult one = Aws({"autoscaling", "describe-auto-scaling-groups", "--auto-scaling-group-names",
                       "od-asg"});
  ASSERT_EQ(one.exit_code, 0) << one.output;
  ASSERT_EQ(one.json["AutoScalingGroups"].size(), 1u);
  EXPECT_EQ(one.json["AutoScalingGroups"][0]["MaxSize"], 2);
  EXPECT_FALSE(one.json["AutoScalingGroups"][0].contains("MixedInstancesPolicy"));
  // Every request was signed and verified.
  for (const FakeCall& c : fake_->Calls()) {
    EXPECT_EQ(c.access_key_id, "AKIDFAKEEXAMPLE");
    EXPECT_EQ(c.error_code, "");
  }
}

TEST_F(AwsCliTest, DescribeAutoScalingInstances) {
  CliResult r = Aws({"autoscaling", "describe-auto-scaling-instances", "--instance-ids",
                     "i-0000000000000a002", "i-0000000000000c001"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto& list = r.json["AutoScalingInstances"];
  ASSERT_EQ(list.size(), 2u) << r.output;
  EXPECT_EQ(list[0]["InstanceId"], "i-0000000000000a002");
  EXPECT_EQ(list[0]["AutoScalingGroupName"], "spot-asg");
  EXPECT_EQ(list[0]["InstanceType"], "m5a.large");
  EXPECT_EQ(list[1]["AutoScalingGroupName"], "od-asg");
  EXPECT_EQ(fake_->Calls().back().params["InstanceIds.member.2"], "i-0000000000000c001");
}

TEST_F(AwsCliTest, DetachInstancesWithAndWithoutDecrement) {
  CliResult a = Aws({"autoscaling", "detach-instances", "--auto-scaling-group-name", "spot-asg",
                     "--instance-ids", "i-0000000000000a001", "--should-decrement-desired-capacity"});
  ASSERT_EQ(a.exit_code, 0) << a.output;
  ASSERT_EQ(a.json["Activities"].size(), 1u);
  EXPECT_EQ(a.json["Activities"][0]["StatusCode"], "InProgress");
  EXPECT_EQ(fake_->Group("spot-asg")->desired, 2);
  EXPECT_EQ(fake_->Instance("i-0000000000000a001")->group, "");
  EXPECT_TRUE(fake_->Launched().empty());

  CliResult b = Aws({"autoscaling", "detach-instances", "--auto-scaling-group-name", "spot-asg",
                     "--instance-ids", "i-0000000000000a002", "--no-should-decrement-desired-capacity"});
  ASSERT_EQ(b.exit_code, 0) << b.output;
  EXPECT_EQ(fake_->Group("spot-asg")->desired, 2);
  ASSERT_EQ(fake_->Launched().size(), 1u);  // the replacement
  EXPECT_EQ(fake_->Instance(fake_->Launched()[0])->az, "us-east-1b");

  // The CLI sees the result, and AWS's validation error for a non-member.
  CliResult c = Aws({"autoscaling", "describe-auto-scaling-instances"});
  ASSERT_EQ(c.exit_code, 0) << c.output;
  EXPECT_EQ(c.json["AutoScalingInstances"].size(), 3u);
  CliResult d = Aws({"autoscaling", "detach-instances", "--auto-scaling-group-name", "spot-asg",
                     "--instance-ids", "i-0000000000000c001", "--should-decrement-desired-capacity"});
  EXPECT_NE(d.exit_code, 0);
  EXPECT_THAT(d.output, HasSubstr("ValidationError"));
  EXPECT_THAT(d.output, HasSubstr("is not part of Auto Scaling group spot-asg"));
}

TEST_F(AwsCliTest, TerminateInstances) {
  CliResult r = Aws({"ec2", "terminate-instances", "--instance-ids", "i-0000000000000c001"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto& t = r.json["TerminatingInstances"];
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0]["InstanceId"], "i-0000000000000c001");
  EXPECT_EQ(t[0]["PreviousState"]["Name"], "running");
  EXPECT_EQ(t[0]["CurrentState"]["Name"], "shutting-down");
  EXPECT_EQ(t[0]["CurrentState"]["Code"], 32);
  EXPECT_EQ(fake_->Instance("i-0000000000000c001")->state, "shutting-down");
  EXPECT_EQ(fake_->Calls().back().service, "ec2");
  // Its group replaces it.
  EXPECT_EQ(fake_->Launched().size(), 1u);

  CliResult missing = Aws({"ec2", "terminate-instances", "--instance-ids", "i-00000000000009999"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_THAT(missing.output, HasSubstr("InvalidInstanceID.NotFound"));
}

TEST_F(AwsCliTest, AWrongSignatureIsRejected) {
  CliResult r = Aws({"autoscaling", "detach-instances", "--auto-scaling-group-name", "spot-asg",
                     "--instance-ids", "i-0000000000000a001", "--should-decrement-desired-capacity"},
                    "a-wrong-secret");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("SignatureDoesNotMatch"));
  EXPECT_EQ(fake_->Group("spot-asg")->desired, 3);  // nothing changed
  EXPECT_EQ(fake_->Instance("i-0000000000000a001")->group, "spot-asg");
  CliResult ec2 = Aws({"ec2", "terminate-instances", "--instance-ids", "i-0000000000000a001"},
                      "a-wrong-secret");
  EXPECT_NE(ec2.exit_code, 0);
  EXPECT_THAT(ec2.output, HasSubstr("AuthFailure"));
  EXPECT_EQ(fake_->Instance("i-0000000000000a001")->state, "running");
}

// Rejections as AWS answers them, seen through our Query client.
TEST(FakeAwsValidationTest, RejectsWhatAwsRejects) {
  ASSERT_OK_AND_ASSIGN(auto fake, FakeAws::Start());
  fake->AddGroup({.name = "g", .min_size = 1, .max_size = 2, .desired = 1});
  fake->AddInstance({.id = "i-0000000000000a001", .group = "g"});
  auto creds = aws::NewStaticCredentials({.access_key_id = "AKIDFAKEEXAMPLE",
                                          .secret_access_key = "fakeSecretKeyForTestsOnly/EXAMPLEKEY"});
  auto client = [&](const std::string& service, const std::string& version,
                    const std::string& region = "us-east-1",
                    Clock& clock = RealClock()) {
    auto c = aws::QueryClient::Create({.endpoint = fake->endpoint(), .region = region,
                                       .service = service, .version = version,
                                       .retry = {.max_attempts = 1}},
                                      creds.get(), clock, nullptr);
    EXPECT_THAT(c, IsOk());
    return std::move(c).value();
  };
  auto expect = [](const absl::StatusOr<std::unique_ptr<pugi::xml_document>>& r,
                   const std::string& code, int status, const std::string& text) {
    ASSERT_FALSE(r.ok());
    auto e = aws::GetAwsError(r.status());
    ASSERT_TRUE(e.has_value()) << r.status();
    EXPECT_EQ(e->code, code) << e->message;
    EXPECT_EQ(e->http_status, status);
    EXPECT_THAT(e->message, HasSubstr(text));
    EXPECT_FALSE(e->request_id.empty());  // parsed from either error shape
  };
  auto asg = client("autoscaling", "2011-01-01");
  expect(asg->Call("DescribeNothing", {}), "InvalidAction", 400, "DescribeNothing");
  expect(asg->Call("DetachInstances", {{"AutoScalingGroupName", "g"},
                                       {"InstanceIds.member.1", "i-0000000000000a001"}}),
         "ValidationError", 400, "shouldDecrementDesiredCapacity");
  expect(asg->Call("UpdateAutoScalingGroup", {{"AutoScalingGroupName", "nope"}}),
         "ValidationError", 400, "not found");
  expect(asg->Call("UpdateAutoScalingGroup", {{"AutoScalingGroupName", "g"}, {"MinSize", "5"}}),
         "ValidationError", 400, "Max bound, 2, must be greater than or equal to min bound, 5");
  expect(client("autoscaling", "2010-01-01")->Call("DescribeAutoScalingGroups", {}),
         "InvalidAction", 400, "for version 2010-01-01");
  auto ec2 = client("ec2", "2016-11-15");
  expect(ec2->Call("TerminateInstances", {}), "MissingParameter", 400, "InstanceId");
  expect(ec2->Call("DescribeInstances", {{"InstanceId.1", "i-xyz"}}),
         "InvalidInstanceID.Malformed", 400, "i-xyz");
  auto sts = client("sts", "2011-06-15");
  expect(sts->Call("AssumeRoleWithWebIdentity", {{"RoleArn", "arn:aws:iam::123456789012:role/r"},
                                                 {"RoleSessionName", "s"}}),
         "MissingParameter", 400, "WebIdentityToken");
  expect(client("autoscaling", "2011-01-01", "eu-west-1")->Call("DescribeAutoScalingGroups", {}),
         "SignatureDoesNotMatch", 403, "scoped to a valid region");
  FakeClock late(absl::Now() - absl::Minutes(20));
  expect(client("autoscaling", "2011-01-01", "us-east-1", late)->Call("DescribeAutoScalingGroups", {}),
         "SignatureDoesNotMatch", 403, "Signature expired");
  // Nothing of the above changed the state.
  EXPECT_EQ(fake->Group("g")->min_size, 1);
  EXPECT_EQ(fake->Instance("i-0000000000000a001")->group, "g");
}

TEST(FakeAwsBinaryTest, ServesStateFromAFileAndTheControlApi) {
  const std::string dir = MakeTempDir("fake-aws-bin");
  ASSERT_THAT(WriteStringToFile(dir + "/state.json",
                                R"({"groups":[{"name":"g","min_size":1,"max_size":2,"desired":1}],
                                    "instances":[{"id":"i-0000000000000d001","group":"g"}]})"),
              IsOk());
  ASSERT_OK_AND_ASSIGN(auto proc, Subprocess::Start({BinaryPath("fake-aws"), "--listen",
                                                     "127.0.0.1:0", "--state", dir + "/state.json"},
                                                    {}, dir));
  ASSERT_OK_AND_ASSIGN(std::string port, proc->WaitForOutput("listening on 127.0.0.1:(\\d+)"));
  httplib::Client client("127.0.0.1", std::stoi(port));
  auto state = client.Get("/control/state");
  ASSERT_TRUE(state);
  auto j = nlohmann::json::parse(state->body);
  EXPECT_EQ(j["groups"][0]["name"], "g");
  EXPECT_EQ(j["instances"][0]["id"], "i-0000000000000d001");
  // An unsigned Query request is refused the AWS way.
  auto unsigned_call = client.Post("/", "Action=DescribeAutoScalingGroups&Version=2011-01-01",
                                   "application/x-www-form-urlencoded");
  ASSERT_TRUE(unsigned_call);
  EXPECT_EQ(unsigned_call->status, 403);
  EXPECT_THAT(unsigned_call->body, HasSubstr("<Code>MissingAuthenticationToken</Code>"));
  auto bad = client.Post("/control/state", "{not json", "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(proc->Stop(), 0);
}

}  // namespace
}  // namespace hollowtrees::testing
