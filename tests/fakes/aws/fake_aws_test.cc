// Proves the fake AWS behaves like AWS toward a real client: the AWS CLI
// (Debian's awscli v2, /usr/bin/aws) pointed at it with --endpoint-url signs
// its requests (which the fake verifies) and gets what the fake's state says.
// Also covers the fake-aws binary and its control API.

#include <httplib.h>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "pugixml.hpp"
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

// SQS through the CLI: Debian's awscli 2.9.19 speaks SQS's Query protocol
// (form POST, XML answers), which the fake records per call.
TEST_F(AwsCliTest, SqsOverTheQueryProtocol) {
  CliResult c = Aws({"sqs", "create-queue", "--queue-name", "cli-q", "--attributes",
                     "VisibilityTimeout=30"});
  ASSERT_EQ(c.exit_code, 0) << c.output;
  const std::string url = c.json["QueueUrl"];
  EXPECT_EQ(url, fake_->SqsQueueUrl("cli-q"));
  EXPECT_EQ(url, fake_->endpoint() + "/123456789012/cli-q");

  CliResult sent = Aws({"sqs", "send-message", "--queue-url", url, "--message-body", "hello",
                        "--message-attributes", R"({"k":{"DataType":"String","StringValue":"v"}})"});
  ASSERT_EQ(sent.exit_code, 0) << sent.output;
  EXPECT_EQ(sent.json["MD5OfMessageBody"], "5d41402abc4b2a76b9719d911017c592");  // md5("hello")
  const std::string id = sent.json["MessageId"];

  CliResult r1 = Aws({"sqs", "receive-message", "--queue-url", url, "--wait-time-seconds", "2",
                      "--visibility-timeout", "1", "--attribute-names", "All",
                      "--message-attribute-names", "All"});
  ASSERT_EQ(r1.exit_code, 0) << r1.output;
  ASSERT_EQ(r1.json["Messages"].size(), 1u) << r1.output;
  const auto& m1 = r1.json["Messages"][0];
  EXPECT_EQ(m1["MessageId"], id);
  EXPECT_EQ(m1["Body"], "hello");
  EXPECT_EQ(m1["MD5OfBody"], "5d41402abc4b2a76b9719d911017c592");
  EXPECT_EQ(m1["Attributes"]["ApproximateReceiveCount"], "1");
  EXPECT_EQ(m1["MessageAttributes"]["k"]["StringValue"], "v");
  const std::string old_handle = m1["ReceiptHandle"];
  ASSERT_OK_AND_ASSIGN(FakeSqsCounts counts, fake_->SqsCounts("cli-q"));
  EXPECT_EQ(counts.in_flight + counts.visible, 1);

  // Redelivery: once the 1-s visibility timeout is over the long poll gets
  // it again, with a new receipt handle.
  CliResult r2 = Aws({"sqs", "receive-message", "--queue-url", url, "--wait-time-seconds", "10",
                      "--attribute-names", "ApproximateReceiveCount"});
  ASSERT_EQ(r2.exit_code, 0) << r2.output;
  ASSERT_EQ(r2.json["Messages"].size(), 1u) << r2.output;
  EXPECT_EQ(r2.json["Messages"][0]["Attributes"]["ApproximateReceiveCount"], "2");
  const std::string handle = r2.json["Messages"][0]["ReceiptHandle"];
  EXPECT_NE(handle, old_handle);

  CliResult stale_cv = Aws({"sqs", "change-message-visibility", "--queue-url", url,
                            "--receipt-handle", old_handle, "--visibility-timeout", "60"});
  EXPECT_NE(stale_cv.exit_code, 0);
  EXPECT_THAT(stale_cv.output, HasSubstr("InvalidParameterValue"));
  EXPECT_THAT(stale_cv.output, HasSubstr("not available for visibility timeout change"));
  CliResult cv = Aws({"sqs", "change-message-visibility", "--queue-url", url, "--receipt-handle",
                      handle, "--visibility-timeout", "60"});
  EXPECT_EQ(cv.exit_code, 0) << cv.output;
  ASSERT_OK_AND_ASSIGN(counts, fake_->SqsCounts("cli-q"));
  EXPECT_EQ(counts.in_flight, 1);

  // An outdated handle: DeleteMessage succeeds and the message stays.
  CliResult stale_delete = Aws({"sqs", "delete-message", "--queue-url", url, "--receipt-handle",
                                old_handle});
  EXPECT_EQ(stale_delete.exit_code, 0) << stale_delete.output;
  ASSERT_OK_AND_ASSIGN(counts, fake_->SqsCounts("cli-q"));
  EXPECT_EQ(counts.in_flight, 1);
  EXPECT_EQ(counts.stale_deletes, 1);
  CliResult del = Aws({"sqs", "delete-message", "--queue-url", url, "--receipt-handle", handle});
  EXPECT_EQ(del.exit_code, 0) << del.output;
  ASSERT_OK_AND_ASSIGN(counts, fake_->SqsCounts("cli-q"));
  EXPECT_EQ(counts.in_flight + counts.visible, 0);
  ASSERT_EQ(fake_->SqsDeleted("cli-q").size(), 1u);
  EXPECT_EQ(fake_->SqsDeleted("cli-q")[0].message_id, id);
  EXPECT_EQ(fake_->SqsDeleted("cli-q")[0].receive_count, 2);

  // Errors as AWS answers them.
  CliResult too_many = Aws({"sqs", "receive-message", "--queue-url", url,
                            "--max-number-of-messages", "11"});
  EXPECT_NE(too_many.exit_code, 0);
  EXPECT_THAT(too_many.output, HasSubstr("InvalidParameterValue"));
  EXPECT_THAT(too_many.output, HasSubstr("Must be between 1 and 10"));
  CliResult long_wait = Aws({"sqs", "receive-message", "--queue-url", url, "--wait-time-seconds", "21"});
  EXPECT_NE(long_wait.exit_code, 0);
  EXPECT_THAT(long_wait.output, HasSubstr("InvalidParameterValue"));
  CliResult unknown = Aws({"sqs", "receive-message", "--queue-url",
                           fake_->endpoint() + "/123456789012/no-such-queue"});
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_THAT(unknown.output, HasSubstr("AWS.SimpleQueueService.NonExistentQueue"));
  CliResult bad_handle = Aws({"sqs", "delete-message", "--queue-url", url, "--receipt-handle",
                              "garbage"});
  EXPECT_NE(bad_handle.exit_code, 0);
  EXPECT_THAT(bad_handle.output, HasSubstr("ReceiptHandleIsInvalid"));

  int sqs_calls = 0;
  for (const FakeCall& call : fake_->Calls()) {
    if (call.service != "sqs") continue;
    ++sqs_calls;
    EXPECT_EQ(call.protocol, "query") << call.action;
    EXPECT_EQ(call.access_key_id, "AKIDFAKEEXAMPLE");
    EXPECT_EQ(call.params.at("Version"), "2012-11-05");
  }
  EXPECT_EQ(sqs_calls, 12);
}

TEST_F(AwsCliTest, DescribeInstancesByIdsFiltersAndTags) {
  ASSERT_THAT(fake_->SetInstanceTags("i-0000000000000a001",
                                     {{"Name", "node-1"}, {"kubernetes.io/cluster/test", "owned"}}),
              IsOk());
  CliResult ids = Aws({"ec2", "describe-instances", "--instance-ids", "i-0000000000000a001",
                       "i-0000000000000c001"});
  ASSERT_EQ(ids.exit_code, 0) << ids.output;
  const auto& rs = ids.json["Reservations"];
  ASSERT_EQ(rs.size(), 2u) << ids.output;
  EXPECT_EQ(rs[0]["OwnerId"], "123456789012");
  const auto& a = rs[0]["Instances"][0];
  EXPECT_EQ(a["InstanceId"], "i-0000000000000a001");
  EXPECT_EQ(a["InstanceType"], "m5.large");
  EXPECT_EQ(a["Placement"]["AvailabilityZone"], "us-east-1a");
  EXPECT_EQ(a["InstanceLifecycle"], "spot");
  EXPECT_EQ(a["State"]["Name"], "running");
  ASSERT_EQ(a["Tags"].size(), 2u) << a.dump();
  EXPECT_EQ(a["Tags"][0]["Key"], "Name");
  EXPECT_EQ(a["Tags"][0]["Value"], "node-1");
  const auto& c = rs[1]["Instances"][0];
  EXPECT_EQ(c["InstanceType"], "t3.small");
  EXPECT_FALSE(c.contains("InstanceLifecycle"));  // on-demand
  EXPECT_EQ(c["Tags"][0]["Key"], "aws:autoscaling:groupName");
  EXPECT_EQ(fake_->Calls().back().params["InstanceId.2"], "i-0000000000000c001");

  auto count = [](const CliResult& r) {
    size_t n = 0;
    for (const auto& res : r.json["Reservations"]) n += res["Instances"].size();
    return n;
  };
  CliResult by_filter = Aws({"ec2", "describe-instances", "--filters",
                             "Name=instance-id,Values=i-0000000000000a001,i-0000000000000a002"});
  ASSERT_EQ(by_filter.exit_code, 0) << by_filter.output;
  EXPECT_EQ(count(by_filter), 2u);
  EXPECT_EQ(fake_->Calls().back().params["Filter.1.Value.2"], "i-0000000000000a002");
  CliResult by_tag = Aws({"ec2", "describe-instances", "--filters", "Name=tag:Name,Values=node-*",
                          "Name=instance-state-name,Values=running"});
  ASSERT_EQ(by_tag.exit_code, 0) << by_tag.output;
  EXPECT_EQ(count(by_tag), 1u);
  CliResult spot = Aws({"ec2", "describe-instances", "--filters",
                        "Name=instance-lifecycle,Values=spot"});
  ASSERT_EQ(spot.exit_code, 0) << spot.output;
  EXPECT_EQ(count(spot), 3u);
  // A filter matching nothing is no error.
  CliResult nothing = Aws({"ec2", "describe-instances", "--filters",
                           "Name=instance-id,Values=i-00000000000009999"});
  ASSERT_EQ(nothing.exit_code, 0) << nothing.output;
  EXPECT_EQ(nothing.json["Reservations"].size(), 0u);
  // Unknown ids are, all of them named.
  CliResult missing = Aws({"ec2", "describe-instances", "--instance-ids", "i-00000000000009998",
                           "i-0000000000000a001", "i-00000000000009999"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_THAT(missing.output, HasSubstr("InvalidInstanceID.NotFound"));
  EXPECT_THAT(missing.output, HasSubstr("i-00000000000009998, i-00000000000009999"));

  // Pagination: the CLI follows NextToken with --page-size (MaxResults).
  for (int n = 1; n <= 4; ++n) {
    fake_->AddInstance({.id = absl::StrCat("i-0000000000000e00", n), .type = "c5.large"});
  }
  fake_->ClearCalls();
  CliResult paged = Aws({"ec2", "describe-instances", "--page-size", "5"});
  ASSERT_EQ(paged.exit_code, 0) << paged.output;
  EXPECT_EQ(count(paged), 8u);
  ASSERT_EQ(fake_->Calls().size(), 2u);
  EXPECT_EQ(fake_->Calls()[0].params["MaxResults"], "5");
  EXPECT_FALSE(fake_->Calls()[1].params["NextToken"].empty());
  CliResult small = Aws({"ec2", "describe-instances", "--page-size", "4"});
  EXPECT_NE(small.exit_code, 0);
  EXPECT_THAT(small.output, HasSubstr("InvalidParameterValue"));
  CliResult with_ids = Aws({"ec2", "describe-instances", "--page-size", "5", "--instance-ids",
                            "i-0000000000000a001"});
  EXPECT_NE(with_ids.exit_code, 0);
  EXPECT_THAT(with_ids.output, HasSubstr("InvalidParameterCombination"));
}

TEST_F(AwsCliTest, LifecycleHooks) {
  ASSERT_OK_AND_ASSIGN(std::string queue_url, fake_->CreateSqsQueue("lifecycle"));
  const std::string arn = fake_->SqsQueueArn("lifecycle");
  CliResult put = Aws({"autoscaling", "put-lifecycle-hook", "--auto-scaling-group-name", "spot-asg",
                       "--lifecycle-hook-name", "drain", "--lifecycle-transition",
                       "autoscaling:EC2_INSTANCE_TERMINATING", "--heartbeat-timeout", "300",
                       "--default-result", "CONTINUE", "--notification-target-arn", arn,
                       "--role-arn", "arn:aws:iam::123456789012:role/asg-to-sqs",
                       "--notification-metadata", R"({"cluster":"test"})"});
  ASSERT_EQ(put.exit_code, 0) << put.output;
  CliResult describe = Aws({"autoscaling", "describe-lifecycle-hooks", "--auto-scaling-group-name",
                            "spot-asg"});
  ASSERT_EQ(describe.exit_code, 0) << describe.output;
  ASSERT_EQ(describe.json["LifecycleHooks"].size(), 1u) << describe.output;
  const auto& hook = describe.json["LifecycleHooks"][0];
  EXPECT_EQ(hook["LifecycleHookName"], "drain");
  EXPECT_EQ(hook["LifecycleTransition"], "autoscaling:EC2_INSTANCE_TERMINATING");
  EXPECT_EQ(hook["HeartbeatTimeout"], 300);
  EXPECT_EQ(hook["GlobalTimeout"], 30000);  // 100 x heartbeat
  EXPECT_EQ(hook["DefaultResult"], "CONTINUE");
  EXPECT_EQ(hook["NotificationTargetARN"], arn);

  ASSERT_OK_AND_ASSIGN(std::string token,
                       fake_->StartLifecycleAction("i-0000000000000a001",
                                                   LifecycleTransition::kTerminating));
  EXPECT_EQ(fake_->Instance("i-0000000000000a001")->lifecycle_state, "Terminating:Wait");
  // The queue got Auto Scaling's test notification, then the action's.
  CliResult got = Aws({"sqs", "receive-message", "--queue-url", queue_url,
                       "--max-number-of-messages", "10", "--wait-time-seconds", "1"});
  ASSERT_EQ(got.exit_code, 0) << got.output;
  ASSERT_EQ(got.json["Messages"].size(), 2u) << got.output;
  auto test_msg = nlohmann::json::parse(got.json["Messages"][0]["Body"].get<std::string>());
  EXPECT_EQ(test_msg["Event"], "autoscaling:TEST_NOTIFICATION");
  auto msg = nlohmann::json::parse(got.json["Messages"][1]["Body"].get<std::string>());
  EXPECT_EQ(msg["LifecycleActionToken"], token);
  EXPECT_EQ(msg["EC2InstanceId"], "i-0000000000000a001");
  EXPECT_EQ(msg["LifecycleTransition"], "autoscaling:EC2_INSTANCE_TERMINATING");
  EXPECT_EQ(msg["LifecycleHookName"], "drain");
  EXPECT_EQ(msg["AutoScalingGroupName"], "spot-asg");
  EXPECT_EQ(msg["NotificationMetadata"], R"({"cluster":"test"})");
  EXPECT_EQ(msg["Origin"], "AutoScalingGroup");
  EXPECT_EQ(msg["Destination"], "EC2");

  CliResult beat = Aws({"autoscaling", "record-lifecycle-action-heartbeat",
                        "--auto-scaling-group-name", "spot-asg", "--lifecycle-hook-name", "drain",
                        "--lifecycle-action-token", token});
  EXPECT_EQ(beat.exit_code, 0) << beat.output;
  EXPECT_EQ(fake_->LifecycleAction(token)->heartbeats, 1);
  CliResult done = Aws({"autoscaling", "complete-lifecycle-action", "--auto-scaling-group-name",
                        "spot-asg", "--lifecycle-hook-name", "drain", "--lifecycle-action-token",
                        token, "--lifecycle-action-result", "CONTINUE"});
  EXPECT_EQ(done.exit_code, 0) << done.output;
  std::optional<FakeLifecycleAction> action = fake_->LifecycleAction(token);
  ASSERT_TRUE(action.has_value());
  EXPECT_TRUE(action->completed);
  EXPECT_EQ(action->result, "CONTINUE");
  EXPECT_FALSE(action->completed_by_instance_id);
  EXPECT_EQ(fake_->Instance("i-0000000000000a001")->lifecycle_state, "Terminating:Proceed");

  // Completed once: AWS knows no active action with that token any more.
  CliResult again = Aws({"autoscaling", "complete-lifecycle-action", "--auto-scaling-group-name",
                         "spot-asg", "--lifecycle-hook-name", "drain", "--lifecycle-action-token",
                         token, "--lifecycle-action-result", "CONTINUE"});
  EXPECT_NE(again.exit_code, 0);
  EXPECT_THAT(again.output, HasSubstr("ValidationError"));
  EXPECT_THAT(again.output, HasSubstr("No active Lifecycle Action found with token " + token));
  CliResult late_beat = Aws({"autoscaling", "record-lifecycle-action-heartbeat",
                             "--auto-scaling-group-name", "spot-asg", "--lifecycle-hook-name",
                             "drain", "--lifecycle-action-token", token});
  EXPECT_NE(late_beat.exit_code, 0);
  EXPECT_THAT(late_beat.output, HasSubstr("No active Lifecycle Action found with token"));

  // By instance id, with ABANDON.
  ASSERT_OK_AND_ASSIGN(std::string second,
                       fake_->StartLifecycleAction("i-0000000000000a002",
                                                   LifecycleTransition::kTerminating));
  CliResult by_id = Aws({"autoscaling", "complete-lifecycle-action", "--auto-scaling-group-name",
                         "spot-asg", "--lifecycle-hook-name", "drain", "--instance-id",
                         "i-0000000000000a002", "--lifecycle-action-result", "ABANDON"});
  EXPECT_EQ(by_id.exit_code, 0) << by_id.output;
  EXPECT_TRUE(fake_->LifecycleAction(second)->completed_by_instance_id);
  EXPECT_EQ(fake_->LifecycleAction(second)->result, "ABANDON");

  // Validation.
  CliResult short_beat = Aws({"autoscaling", "put-lifecycle-hook", "--auto-scaling-group-name",
                              "spot-asg", "--lifecycle-hook-name", "x", "--lifecycle-transition",
                              "autoscaling:EC2_INSTANCE_TERMINATING", "--heartbeat-timeout", "10"});
  EXPECT_NE(short_beat.exit_code, 0);
  EXPECT_THAT(short_beat.output, HasSubstr("heartbeatTimeout"));
  CliResult bad_result = Aws({"autoscaling", "complete-lifecycle-action",
                              "--auto-scaling-group-name", "spot-asg", "--lifecycle-hook-name",
                              "drain", "--lifecycle-action-token", token,
                              "--lifecycle-action-result", "MAYBE"});
  EXPECT_NE(bad_result.exit_code, 0);
  EXPECT_THAT(bad_result.output, HasSubstr("ValidationError"));
  const std::string unknown = "00000000-0000-4000-8000-000000000000";
  CliResult bad_token = Aws({"autoscaling", "complete-lifecycle-action", "--auto-scaling-group-name",
                             "spot-asg", "--lifecycle-hook-name", "drain",
                             "--lifecycle-action-token", unknown, "--lifecycle-action-result",
                             "CONTINUE"});
  EXPECT_NE(bad_token.exit_code, 0);
  EXPECT_THAT(bad_token.output, HasSubstr("No active Lifecycle Action found with token " + unknown));
  CliResult no_queue = Aws({"autoscaling", "put-lifecycle-hook", "--auto-scaling-group-name",
                            "spot-asg", "--lifecycle-hook-name", "y", "--lifecycle-transition",
                            "autoscaling:EC2_INSTANCE_LAUNCHING", "--notification-target-arn",
                            fake_->SqsQueueArn("missing"), "--role-arn",
                            "arn:aws:iam::123456789012:role/asg-to-sqs"});
  EXPECT_NE(no_queue.exit_code, 0);
  EXPECT_THAT(no_queue.output, HasSubstr("Unable to publish test message"));
  EXPECT_EQ(fake_->LifecycleHooks("spot-asg").size(), 1u);
}

// The fake's clock drives lifecycle timeouts and SQS visibility, so these
// run without waiting.
class FakeAwsClockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakeAwsOptions options;
    options.clock = &clock_;
    ASSERT_OK_AND_ASSIGN(fake_, FakeAws::Start(options));
    fake_->AddGroup({.name = "g", .min_size = 0, .max_size = 3, .desired = 2});
    fake_->AddInstance({.id = "i-0000000000000a001", .group = "g"});
    fake_->AddInstance({.id = "i-0000000000000a002", .group = "g"});
    creds_ = aws::NewStaticCredentials({.access_key_id = "AKIDFAKEEXAMPLE",
                                        .secret_access_key = "fakeSecretKeyForTestsOnly/EXAMPLEKEY"});
  }
  std::unique_ptr<aws::QueryClient> Client(const std::string& service, const std::string& version) {
    // Signed with the real time: the fake checks signatures against it.
    auto c = aws::QueryClient::Create({.endpoint = fake_->endpoint(), .region = "us-east-1",
                                       .service = service, .version = version,
                                       .retry = {.max_attempts = 1}},
                                      creds_.get(), RealClock(), nullptr);
    EXPECT_THAT(c, IsOk());
    return std::move(c).value();
  }

  FakeClock clock_;
  std::unique_ptr<FakeAws> fake_;
  std::unique_ptr<aws::CredentialsProvider> creds_;
};

TEST_F(FakeAwsClockTest, HeartbeatsExtendUpToTheGlobalTimeoutThenTheDefaultResult) {
  ASSERT_THAT(fake_->PutLifecycleHook({.name = "h", .group = "g", .heartbeat_timeout_seconds = 60,
                                       .default_result = "ABANDON"}),
              IsOk());
  ASSERT_OK_AND_ASSIGN(std::string token, fake_->StartLifecycleAction(
                                              "i-0000000000000a001", LifecycleTransition::kTerminating));
  const absl::Time started = clock_.Now();
  auto asg = Client("autoscaling", "2011-01-01");
  const aws::QueryParams beat = {{"AutoScalingGroupName", "g"},
                                 {"LifecycleHookName", "h"},
                                 {"LifecycleActionToken", token}};
  clock_.Advance(absl::Seconds(50));
  ASSERT_THAT(asg->Call("RecordLifecycleActionHeartbeat", beat), IsOk());
  EXPECT_EQ(fake_->LifecycleAction(token)->deadline, started + absl::Seconds(110));
  clock_.Advance(absl::Seconds(50));  // past the first 60 s, within the extension
  EXPECT_FALSE(fake_->LifecycleAction(token)->expired);
  // Heartbeats never carry it past GlobalTimeout = 100 x 60 s.
  int beats = 1;
  while (clock_.Now() - started < absl::Seconds(6000) && beats < 200) {
    ASSERT_THAT(asg->Call("RecordLifecycleActionHeartbeat", beat), IsOk());
    ++beats;
    clock_.Advance(absl::Seconds(59));
  }
  std::optional<FakeLifecycleAction> a = fake_->LifecycleAction(token);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->global_deadline, started + absl::Seconds(6000));
  EXPECT_TRUE(a->expired) << "heartbeats " << a->heartbeats;
  EXPECT_FALSE(a->completed);
  EXPECT_EQ(a->result, "ABANDON");  // the hook's DefaultResult
  EXPECT_EQ(fake_->Instance("i-0000000000000a001")->lifecycle_state, "Terminating:Proceed");
  auto late = asg->Call("CompleteLifecycleAction", {{"AutoScalingGroupName", "g"},
                                                     {"LifecycleHookName", "h"},
                                                     {"LifecycleActionToken", token},
                                                     {"LifecycleActionResult", "CONTINUE"}});
  EXPECT_TRUE(aws::IsAwsError(late.status(), "ValidationError")) << late.status();
  EXPECT_THAT(late.status().message(), HasSubstr("No active Lifecycle Action found with token"));
}

TEST_F(FakeAwsClockTest, ALaunchHookHoldsTheInstanceUntilCompleted) {
  ASSERT_THAT(fake_->PutLifecycleHook({.name = "warm", .group = "g",
                                       .transition = "autoscaling:EC2_INSTANCE_LAUNCHING",
                                       .heartbeat_timeout_seconds = 30,
                                       .default_result = "CONTINUE"}),
              IsOk());
  EXPECT_FALSE(fake_->StartLifecycleAction("i-0000000000000a002", LifecycleTransition::kTerminating)
                   .ok());  // no terminating hook
  ASSERT_OK_AND_ASSIGN(std::string token, fake_->StartLifecycleAction(
                                              "i-0000000000000a002", LifecycleTransition::kLaunching));
  EXPECT_EQ(fake_->Instance("i-0000000000000a002")->lifecycle_state, "Pending:Wait");
  clock_.Advance(absl::Seconds(31));  // times out with CONTINUE
  EXPECT_TRUE(fake_->LifecycleAction(token)->expired);
  EXPECT_EQ(fake_->Instance("i-0000000000000a002")->lifecycle_state, "InService");
}

TEST_F(FakeAwsClockTest, SqsVisibilityDelayAndRetentionFollowTheClock) {
  ASSERT_THAT(fake_->CreateSqsQueue("q", {{"VisibilityTimeout", "30"},
                                          {"MessageRetentionPeriod", "600"}}),
              IsOk());
  EXPECT_FALSE(fake_->CreateSqsQueue("q", {{"VisibilityTimeout", "31"}}).ok());  // QueueAlreadyExists
  EXPECT_FALSE(fake_->CreateSqsQueue("bad name").ok());
  ASSERT_OK_AND_ASSIGN(std::string id, fake_->EnqueueSqsMessage("q", "body", {{"k", "v"}}));
  ASSERT_THAT(fake_->EnqueueSqsMessage("q", "later", {}, absl::Seconds(10)), IsOk());
  ASSERT_OK_AND_ASSIGN(FakeSqsCounts c, fake_->SqsCounts("q"));
  EXPECT_EQ(c.visible, 1);
  EXPECT_EQ(c.delayed, 1);
  auto sqs = Client("sqs", "2012-11-05");
  const aws::QueryParams receive = {{"QueueUrl", fake_->SqsQueueUrl("q")},
                                    {"MaxNumberOfMessages", "10"},
                                    {"AttributeName.1", "ApproximateReceiveCount"}};
  ASSERT_OK_AND_ASSIGN(auto r1, sqs->Call("ReceiveMessage", receive));
  pugi::xml_node m = r1->child("ReceiveMessageResponse").child("ReceiveMessageResult").child("Message");
  EXPECT_EQ(std::string(m.child_value("MessageId")), id);
  EXPECT_STREQ(m.child("Attribute").child_value("Value"), "1");
  ASSERT_OK_AND_ASSIGN(c, fake_->SqsCounts("q"));
  EXPECT_EQ(c.in_flight, 1);
  EXPECT_EQ(c.delayed, 1);
  clock_.Advance(absl::Seconds(31));  // both visible now
  ASSERT_OK_AND_ASSIGN(c, fake_->SqsCounts("q"));
  EXPECT_EQ(c.visible, 2);
  ASSERT_OK_AND_ASSIGN(auto r2, sqs->Call("ReceiveMessage", receive));
  int n = 0;
  for (pugi::xml_node x : r2->child("ReceiveMessageResponse").child("ReceiveMessageResult").children("Message")) {
    ++n;
    if (std::string(x.child_value("MessageId")) == id) {
      EXPECT_STREQ(x.child("Attribute").child_value("Value"), "2");
    }
  }
  EXPECT_EQ(n, 2);
  std::vector<FakeSqsMessage> msgs = fake_->SqsMessages("q");
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[0].string_attributes["k"], "v");
  EXPECT_TRUE(msgs[0].in_flight);
  clock_.Advance(absl::Seconds(600));  // past the retention period
  EXPECT_TRUE(fake_->SqsMessages("q").empty());
}

TEST_F(FakeAwsClockTest, InjectedSqsFaults) {
  ASSERT_THAT(fake_->CreateSqsQueue("q"), IsOk());
  auto sqs = Client("sqs", "2012-11-05");
  const aws::QueryParams get = {{"QueueUrl", fake_->SqsQueueUrl("q")},
                                {"AttributeName.1", "QueueArn"}};
  fake_->InjectSqsThrottling("GetQueueAttributes", 1);
  fake_->InjectSqsServerError("GetQueueAttributes", 1);  // replaces the one before
  auto r = sqs->Call("GetQueueAttributes", get);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(aws::GetAwsError(r.status())->code, "InternalFailure");
  EXPECT_EQ(aws::GetAwsError(r.status())->http_status, 500);
  fake_->InjectSqsThrottling("GetQueueAttributes", 2);
  for (int i = 0; i < 2; ++i) {
    r = sqs->Call("GetQueueAttributes", get);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(aws::GetAwsError(r.status())->code, "RequestThrottled");
    EXPECT_EQ(aws::GetAwsError(r.status())->http_status, 403);
  }
  EXPECT_THAT(sqs->Call("GetQueueAttributes", get), IsOk());
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
  expect(asg->Call("CompleteLifecycleAction", {{"AutoScalingGroupName", "g"},
                                               {"LifecycleHookName", "h"},
                                               {"LifecycleActionToken", "short"},
                                               {"LifecycleActionResult", "CONTINUE"}}),
         "ValidationError", 400, "'lifecycleActionToken' failed to satisfy constraint");
  expect(asg->Call("CompleteLifecycleAction", {{"AutoScalingGroupName", "g"},
                                               {"LifecycleHookName", "h"},
                                               {"LifecycleActionResult", "CONTINUE"}}),
         "ValidationError", 400, "LifecycleActionToken or InstanceId");
  expect(asg->Call("DescribeLifecycleHooks", {{"AutoScalingGroupName", "nope"}}),
         "ValidationError", 400, "not found");
  expect(asg->Call("PutLifecycleHook", {{"AutoScalingGroupName", "g"},
                                        {"LifecycleHookName", "h"}}),
         "ValidationError", 400, "LifecycleTransition");
  expect(asg->Call("PutLifecycleHook", {{"AutoScalingGroupName", "g"},
                                        {"LifecycleHookName", "h"},
                                        {"LifecycleTransition", "autoscaling:EC2_INSTANCE_LAUNCHING"},
                                        {"DefaultResult", "MAYBE"}}),
         "ValidationError", 400, "DefaultResult");
  auto ec2 = client("ec2", "2016-11-15");
  expect(ec2->Call("TerminateInstances", {}), "MissingParameter", 400, "InstanceId");
  expect(ec2->Call("DescribeInstances", {{"Filter.1.Name", "colour"}, {"Filter.1.Value.1", "x"}}),
         "InvalidParameterValue", 400, "The filter 'colour' is invalid");
  expect(ec2->Call("DescribeInstances", {{"MaxResults", "1001"}}), "InvalidParameterValue", 400,
         "maxResults");
  expect(ec2->Call("DescribeInstances", {{"MaxResults", "5"}, {"NextToken", "bogus"}}),
         "InvalidPaginationToken", 400, "pagination token");
  auto sqs = client("sqs", "2012-11-05");
  expect(sqs->Call("CreateQueue", {{"QueueName", "q"}, {"Attribute.1.Name", "VisibilityTimeout"},
                                   {"Attribute.1.Value", "43201"}}),
         "InvalidAttributeValue", 400, "VisibilityTimeout");
  expect(sqs->Call("CreateQueue", {{"QueueName", "q"}, {"Attribute.1.Name", "Colour"},
                                   {"Attribute.1.Value", "blue"}}),
         "InvalidAttributeName", 400, "Unknown Attribute Colour");
  expect(sqs->Call("CreateQueue", {{"QueueName", "q.fifo"}}),
         "AWS.SimpleQueueService.UnsupportedOperation", 400, "FIFO");
  ASSERT_THAT(sqs->Call("CreateQueue", {{"QueueName", "q"}}), IsOk());
  const std::string q = fake->SqsQueueUrl("q");
  expect(sqs->Call("SendMessage", {{"QueueUrl", q}}), "MissingParameter", 400, "MessageBody");
  expect(sqs->Call("SendMessage", {{"QueueUrl", q}, {"MessageBody", std::string("a\x01b")}}),
         "InvalidMessageContents", 400, "#x1");
  expect(sqs->Call("SendMessage", {{"QueueUrl", q}, {"MessageBody", "x"}, {"DelaySeconds", "901"}}),
         "InvalidParameterValue", 400, "DelaySeconds");
  expect(sqs->Call("ReceiveMessage", {{"QueueUrl", q}, {"MaxNumberOfMessages", "0"}}),
         "InvalidParameterValue", 400, "Must be between 1 and 10");
  expect(sqs->Call("ChangeMessageVisibility", {{"QueueUrl", q}, {"ReceiptHandle", "nope"},
                                               {"VisibilityTimeout", "5"}}),
         "ReceiptHandleIsInvalid", 404, "not a valid receipt handle");
  expect(sqs->Call("SetQueueAttributes",
                   {{"QueueUrl", q}, {"Attribute.1.Name", "RedrivePolicy"},
                    {"Attribute.1.Value", R"({"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:none","maxReceiveCount":3})"}}),
         "InvalidParameterValue", 400, "Dead-letter target does not exist");
  expect(sqs->Call("DeleteMessageBatch", {{"QueueUrl", q}}),
         "AWS.SimpleQueueService.EmptyBatchRequest", 400, "at least one");
  expect(sqs->Call("GetQueueUrl", {{"QueueName", "nope"}}),
         "AWS.SimpleQueueService.NonExistentQueue", 400, "does not exist");
  ASSERT_OK_AND_ASSIGN(FakeSqsCounts counts, fake->SqsCounts("q"));
  EXPECT_EQ(counts.visible + counts.delayed, 0);
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
                                                     "127.0.0.1:0", "--state", dir + "/state.json",
                                                     "--sqs_queues", "events,dlq"},
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
  // SQS: queues from the flag, messages and counts through the control API.
  auto sent = client.Post("/control/sqs/send", R"({"queue":"events","body":"hi"})", "application/json");
  ASSERT_TRUE(sent);
  EXPECT_EQ(sent->status, 200) << sent->body;
  auto counts = client.Get("/control/sqs/counts?queue=events");
  ASSERT_TRUE(counts);
  EXPECT_EQ(nlohmann::json::parse(counts->body)["visible"], 1) << counts->body;
  auto no_queue = client.Get("/control/sqs/counts?queue=nope");
  ASSERT_TRUE(no_queue);
  EXPECT_EQ(no_queue->status, 404);
  auto created = client.Post("/control/sqs/queues", R"({"name":"more","attributes":{"VisibilityTimeout":"5"}})",
                             "application/json");
  ASSERT_TRUE(created);
  EXPECT_EQ(nlohmann::json::parse(created->body)["url"],
            absl::StrCat("http://127.0.0.1:", port, "/123456789012/more"));
  // An unsigned JSON 1.0 call is refused in that protocol's shape.
  httplib::Headers json_headers = {{"X-Amz-Target", "AmazonSQS.ListQueues"}};
  auto unsigned_json = client.Post("/", json_headers, "{}", "application/x-amz-json-1.0");
  ASSERT_TRUE(unsigned_json);
  EXPECT_EQ(unsigned_json->status, 403);
  EXPECT_EQ(unsigned_json->get_header_value("x-amzn-query-error"), "MissingAuthenticationToken;Sender");
  EXPECT_THAT(unsigned_json->body, HasSubstr("\"__type\":\"com.amazonaws.sqs#MissingAuthenticationToken\""));
  // Lifecycle actions: no hook, no action.
  auto start = client.Post("/control/lifecycle/start", R"({"instance_id":"i-0000000000000d001"})",
                           "application/json");
  ASSERT_TRUE(start);
  EXPECT_EQ(start->status, 400) << start->body;
  EXPECT_EQ(proc->Stop(), 0);
}

}  // namespace
}  // namespace hollowtrees::testing
