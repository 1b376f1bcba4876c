// Tests of the EC2 DescribeInstances call for many ids and of the Auto
// Scaling lifecycle calls (lib/aws/ec2.h, lib/aws/autoscaling.h), against a
// scripted HTTP client under the Query client: the request's parameters, the
// answers' parsing, pagination and splitting, and the "no active lifecycle
// action" detection.

#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "lib/aws/autoscaling.h"
#include "lib/aws/credentials.h"
#include "lib/aws/ec2.h"
#include "lib/aws/query_client.h"
#include "lib/common/clock.h"
#include "tests/lib/aws/scripted_http.h"
#include "tests/testing/status_matchers.h"

namespace hollowtrees::aws {
namespace {

using ::hollowtrees::aws_testing::ScriptedHttp;
using ::hollowtrees::testing::IsOk;
using ::hollowtrees::testing::StatusIs;
using ::testing::HasSubstr;

// The request's form parameters by name.
std::map<std::string, std::string> Params(const http::HttpRequest& r) {
  std::map<std::string, std::string> out;
  for (auto& [k, v] : FormDecode(r.body)) out[k] = v;
  return out;
}

// The values of Filter.1.Value.N in order of N.
std::vector<std::string> FilterValues(const std::map<std::string, std::string>& p) {
  std::vector<std::string> out;
  for (int n = 1;; ++n) {
    auto it = p.find(absl::StrCat("Filter.1.Value.", n));
    if (it == p.end()) return out;
    out.push_back(it->second);
  }
}

class QueryScriptedTest : public ::testing::Test {
 protected:
  std::unique_ptr<QueryClient> Client(const std::string& service, const std::string& version) {
    return QueryClient::CreateWithHttp(
        {.endpoint = absl::StrCat("https://", service, ".us-east-1.amazonaws.com"),
         .region = "us-east-1",
         .service = service,
         .version = version,
         .retry = {.max_attempts = 3,
                   .base_delay = absl::Milliseconds(10),
                   .max_delay = absl::Milliseconds(100)}},
        std::make_unique<ScriptedHttp>(http_), creds_.get(), clock_, nullptr);
  }

  std::shared_ptr<ScriptedHttp::State> http_ = std::make_shared<ScriptedHttp::State>();
  std::unique_ptr<CredentialsProvider> creds_ =
      NewStaticCredentials({.access_key_id = "AKIDTYPED", .secret_access_key = "typed-secret"});
  FakeClock clock_;
};

// ---------------------------------------------------------------------------
// EC2 DescribeInstances for many ids.

std::string InstanceXml(const std::string& id, const std::string& type, const std::string& state,
                        bool spot, const std::map<std::string, std::string>& tags) {
  std::string tag_set;
  for (const auto& [k, v] : tags) {
    absl::StrAppend(&tag_set, "<item><key>", k, "</key><value>", v, "</value></item>");
  }
  return absl::StrCat("<item><instanceId>", id,
                      "</instanceId><imageId>ami-0abcdef1234567890</imageId>",
                      "<instanceState><code>16</code><name>", state, "</name></instanceState>",
                      "<instanceType>", type, "</instanceType>",
                      "<placement><availabilityZone>us-east-1b</availabilityZone><tenancy>default</"
                      "tenancy></placement>",
                      spot ? "<instanceLifecycle>spot</instanceLifecycle>" : "", "<tagSet>",
                      tag_set, "</tagSet></item>");
}

std::string DescribeInstancesXml(
    const std::vector<std::pair<std::string, std::string>>& reservations,
    const std::string& next_token = "") {
  std::string out =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">"
      "<requestId>8f7724cf-496f-496e-8fe3-example</requestId><reservationSet>";
  for (const auto& [owner, instances] : reservations) {
    absl::StrAppend(&out, "<item><reservationId>r-1234567890abcdef0</reservationId><ownerId>",
                    owner, "</ownerId><groupSet/><instancesSet>", instances,
                    "</instancesSet></item>");
  }
  absl::StrAppend(&out, "</reservationSet>");
  if (!next_token.empty()) absl::StrAppend(&out, "<nextToken>", next_token, "</nextToken>");
  absl::StrAppend(&out, "</DescribeInstancesResponse>");
  return out;
}

TEST_F(QueryScriptedTest, DescribeInstancesFiltersByIdSoMissingOnesAreAbsent) {
  auto client = Client("ec2", kEc2Version);
  Ec2Client ec2(*client);
  http_->Answer(
      200, DescribeInstancesXml(
               {{"123456789012",
                 InstanceXml("i-0000000000000a001", "m5.large", "running", true,
                             {{"aws:autoscaling:groupName", "spot-asg"}, {"Name", "node a"}})},
                {"210987654321",
                 InstanceXml("i-0000000000000a002", "m5a.large", "shutting-down", false, {})}}));
  ASSERT_OK_AND_ASSIGN(
      auto got,
      ec2.DescribeInstances({"i-0000000000000a001", "i-0000000000000dead", "i-0000000000000a002"}));
  auto reqs = http_->Requests();
  ASSERT_EQ(reqs.size(), 1u);
  auto p = Params(reqs[0]);
  EXPECT_EQ(p["Action"], "DescribeInstances");
  EXPECT_EQ(p["Version"], "2016-11-15");
  EXPECT_EQ(p["Filter.1.Name"], "instance-id");
  EXPECT_EQ(FilterValues(p), (std::vector<std::string>{"i-0000000000000a001", "i-0000000000000dead",
                                                       "i-0000000000000a002"}));
  for (const auto& [k, v] : p) EXPECT_FALSE(absl::StartsWith(k, "InstanceId")) << k;
  EXPECT_EQ(p.count("NextToken"), 0u);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].instance_id, "i-0000000000000a001");
  EXPECT_EQ(got[0].owner_id, "123456789012");
  EXPECT_EQ(got[0].instance_type, "m5.large");
  EXPECT_EQ(got[0].availability_zone, "us-east-1b");
  EXPECT_EQ(got[0].state, "running");
  EXPECT_EQ(got[0].lifecycle, "spot");
  EXPECT_EQ(got[0].tags, (std::map<std::string, std::string>{
                             {"Name", "node a"}, {"aws:autoscaling:groupName", "spot-asg"}}));
  EXPECT_EQ(got[1].instance_id, "i-0000000000000a002");
  EXPECT_EQ(got[1].owner_id, "210987654321");
  EXPECT_EQ(got[1].lifecycle, "");
  EXPECT_TRUE(got[1].tags.empty());
}

TEST_F(QueryScriptedTest, DescribeInstancesAsksNothingForNoIdsAndEachIdOnce) {
  auto client = Client("ec2", kEc2Version);
  Ec2Client ec2(*client);
  ASSERT_OK_AND_ASSIGN(auto none, ec2.DescribeInstances({}));
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(http_->Count(), 0u);  // an empty filter would list the whole account
  // An answer holding an instance that was not asked for (not a filter's): dropped.
  http_->Answer(200,
                DescribeInstancesXml(
                    {{"123456789012",
                      InstanceXml("i-0000000000000a001", "m5.large", "running", true, {}) +
                          InstanceXml("i-00000000000000bad", "m5.large", "running", true, {})}}));
  ASSERT_OK_AND_ASSIGN(auto got,
                       ec2.DescribeInstances({"i-0000000000000a001", "i-0000000000000a001"}));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].instance_id, "i-0000000000000a001");
  EXPECT_EQ(FilterValues(Params(http_->Requests()[0])),
            (std::vector<std::string>{"i-0000000000000a001"}));
}

TEST_F(QueryScriptedTest, DescribeInstancesSplitsAtTwoHundredAndFollowsNextToken) {
  auto client = Client("ec2", kEc2Version);
  Ec2Client ec2(*client);
  // A stand-in EC2: instances with an even number exist; 60 a page.
  http_->Handle([](const http::HttpRequest& r) -> absl::StatusOr<http::HttpResponse> {
    auto p = Params(r);
    if (p["Filter.1.Name"] != "instance-id") {
      return http::HttpResponse{400,
                                {},
                                "<Response><Errors><Error><Code>InvalidParameterValue</Code>"
                                "<Message>no filter</Message></Error></Errors></Response>"};
    }
    std::vector<std::string> existing;
    for (const std::string& id : FilterValues(p)) {
      int n = 0;
      if (absl::SimpleAtoi(id.substr(2), &n) && n % 2 == 0) existing.push_back(id);
    }
    size_t offset = 0;
    if (p.count("NextToken")) (void)absl::SimpleAtoi(p["NextToken"], &offset);
    std::string items;
    const size_t end = std::min(existing.size(), offset + 60);
    for (size_t i = offset; i < end; ++i) {
      absl::StrAppend(&items, InstanceXml(existing[i], "c5.xlarge", "running", true, {}));
    }
    return http::HttpResponse{200,
                              {},
                              DescribeInstancesXml({{"123456789012", items}},
                                                   end < existing.size() ? absl::StrCat(end) : "")};
  });
  std::vector<std::string> ids;
  std::vector<std::string> expected;
  for (int n = 0; n < 450; ++n) {
    ids.push_back(absl::StrFormat("i-%017d", n));
    if (n % 2 == 0) expected.push_back(ids.back());
  }
  ASSERT_OK_AND_ASSIGN(auto got, ec2.DescribeInstances(ids));
  std::vector<std::string> got_ids;
  for (const auto& i : got) got_ids.push_back(i.instance_id);
  EXPECT_EQ(got_ids, expected);
  // 200 ids (100 exist: 2 pages), 200 (2 pages), 50 (25: 1 page).
  auto reqs = http_->Requests();
  ASSERT_EQ(reqs.size(), 5u);
  const std::vector<size_t> sizes = {200, 200, 200, 200, 50};
  const std::vector<std::string> tokens = {"", "60", "", "60", ""};
  std::set<std::string> asked;
  for (size_t i = 0; i < reqs.size(); ++i) {
    auto p = Params(reqs[i]);
    auto values = FilterValues(p);
    EXPECT_EQ(values.size(), sizes[i]) << i;
    EXPECT_EQ(p.count("NextToken") ? p["NextToken"] : "", tokens[i]) << i;
    asked.insert(values.begin(), values.end());
  }
  EXPECT_EQ(asked.size(), 450u);
  EXPECT_EQ(FilterValues(Params(reqs[0])),
            FilterValues(Params(reqs[1])));  // same filter, next page
}

TEST_F(QueryScriptedTest, DescribeInstancesBoundsItsPagesAndPassesErrorsOn) {
  auto client = Client("ec2", kEc2Version);
  Ec2Client ec2(*client);
  http_->Answer(200, DescribeInstancesXml({}, "again"));  // a token forever
  EXPECT_THAT(ec2.DescribeInstances({"i-0000000000000a001"}, absl::InfiniteFuture(), 3),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("more than 3 pages")));
  EXPECT_EQ(http_->Count(), 3u);
  http_->Answer(403,
                "<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not "
                "authorized to perform this operation.</Message></Error></Errors><RequestID>r-1"
                "</RequestID></Response>");
  EXPECT_THAT(ec2.DescribeInstances({"i-0000000000000a001"}),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("UnauthorizedOperation")));
}

TEST_F(QueryScriptedTest, DescribeInstanceStillAsksByIdAndFillsTheOwner) {
  auto client = Client("ec2", kEc2Version);
  Ec2Client ec2(*client);
  http_->Answer(
      200, DescribeInstancesXml({{"123456789012", InstanceXml("i-0000000000000a001", "m5.large",
                                                              "running", true, {{"k", "v"}})}}));
  ASSERT_OK_AND_ASSIGN(auto one, ec2.DescribeInstance("i-0000000000000a001"));
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(one->owner_id, "123456789012");
  EXPECT_EQ(one->tags["k"], "v");
  EXPECT_EQ(Params(http_->Requests()[0])["InstanceId.1"], "i-0000000000000a001");
  http_->Answer(400,
                "<Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code><Message>The "
                "instance ID 'i-0000000000000dead' does not exist</Message></Error></Errors>"
                "<RequestID>r-2</RequestID></Response>");
  ASSERT_OK_AND_ASSIGN(auto gone, ec2.DescribeInstance("i-0000000000000dead"));
  EXPECT_FALSE(gone.has_value());
}

// ---------------------------------------------------------------------------
// Auto Scaling lifecycle actions.

constexpr char kEmptyCompleteAnswer[] =
    "<CompleteLifecycleActionResponse xmlns=\"http://autoscaling.amazonaws.com/doc/2011-01-01/\">"
    "<CompleteLifecycleActionResult/><ResponseMetadata><RequestId>r-3</RequestId>"
    "</ResponseMetadata></CompleteLifecycleActionResponse>";

std::string ValidationError(const std::string& message) {
  return absl::StrCat(
      "<ErrorResponse xmlns=\"http://autoscaling.amazonaws.com/doc/2011-01-01/\"><Error>"
      "<Type>Sender</Type><Code>ValidationError</Code><Message>",
      message,
      "</Message></Error><RequestId>5e9a4a44-2d3c-4d6b-9b1f-0example</RequestId></ErrorResponse>");
}

TEST_F(QueryScriptedTest, CompleteLifecycleActionByTokenOrInstance) {
  auto client = Client("autoscaling", kAutoScalingVersion);
  AutoScalingClient asg(*client);
  http_->Answer(200, kEmptyCompleteAnswer);
  const std::string token = "bcd2f1b8-9a78-44d3-8a7a-4dd07d7cf635";
  ASSERT_THAT(asg.CompleteLifecycleAction("spot-asg", "drain-hook", token, "i-0000000000000a001",
                                          "CONTINUE"),
              IsOk());
  ASSERT_THAT(
      asg.CompleteLifecycleAction("spot-asg", "drain-hook", "", "i-0000000000000a001", "ABANDON"),
      IsOk());
  ASSERT_THAT(asg.CompleteLifecycleAction("spot-asg", "drain-hook", token, "", "CONTINUE"), IsOk());
  auto reqs = http_->Requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(Params(reqs[0]),
            (std::map<std::string, std::string>{{"Action", "CompleteLifecycleAction"},
                                                {"Version", "2011-01-01"},
                                                {"AutoScalingGroupName", "spot-asg"},
                                                {"LifecycleHookName", "drain-hook"},
                                                {"LifecycleActionToken", token},
                                                {"InstanceId", "i-0000000000000a001"},
                                                {"LifecycleActionResult", "CONTINUE"}}));
  auto by_instance = Params(reqs[1]);
  EXPECT_EQ(by_instance.count("LifecycleActionToken"), 0u);
  EXPECT_EQ(by_instance["InstanceId"], "i-0000000000000a001");
  EXPECT_EQ(by_instance["LifecycleActionResult"], "ABANDON");
  auto by_token = Params(reqs[2]);
  EXPECT_EQ(by_token.count("InstanceId"), 0u);
  EXPECT_EQ(by_token["LifecycleActionToken"], token);
  // Refused before any call.
  EXPECT_THAT(asg.CompleteLifecycleAction("spot-asg", "drain-hook", token, "", "continue"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("CONTINUE or ABANDON")));
  EXPECT_THAT(asg.CompleteLifecycleAction("spot-asg", "drain-hook", "", "", "CONTINUE"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("token or an instance id")));
  EXPECT_THAT(asg.CompleteLifecycleAction("", "drain-hook", token, "", "CONTINUE"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("group and a hook")));
  EXPECT_EQ(http_->Count(), 3u);
}

TEST_F(QueryScriptedTest, RecordLifecycleActionHeartbeat) {
  auto client = Client("autoscaling", kAutoScalingVersion);
  AutoScalingClient asg(*client);
  http_->Answer(
      200,
      "<RecordLifecycleActionHeartbeatResponse xmlns=\"http://autoscaling.amazonaws.com/doc/"
      "2011-01-01/\"><RecordLifecycleActionHeartbeatResult/><ResponseMetadata><RequestId>r-4"
      "</RequestId></ResponseMetadata></RecordLifecycleActionHeartbeatResponse>");
  ASSERT_THAT(
      asg.RecordLifecycleActionHeartbeat("spot-asg", "drain-hook", "", "i-0000000000000a001"),
      IsOk());
  EXPECT_EQ(Params(http_->Requests()[0]),
            (std::map<std::string, std::string>{{"Action", "RecordLifecycleActionHeartbeat"},
                                                {"Version", "2011-01-01"},
                                                {"AutoScalingGroupName", "spot-asg"},
                                                {"LifecycleHookName", "drain-hook"},
                                                {"InstanceId", "i-0000000000000a001"}}));
  EXPECT_THAT(asg.RecordLifecycleActionHeartbeat("spot-asg", "drain-hook", "", ""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("token or an instance id")));
  EXPECT_EQ(http_->Count(), 1u);
}

TEST_F(QueryScriptedTest, NoActiveLifecycleActionIsRecognised) {
  auto client = Client("autoscaling", kAutoScalingVersion);
  AutoScalingClient asg(*client);
  http_->Answer(400, ValidationError(
                         "No active Lifecycle Action found with instance ID i-0000000000000a001"));
  absl::Status done =
      asg.CompleteLifecycleAction("spot-asg", "drain-hook", "", "i-0000000000000a001", "CONTINUE");
  EXPECT_THAT(
      done, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("No active Lifecycle Action")));
  EXPECT_TRUE(IsNoActiveLifecycleAction(done));
  EXPECT_EQ(http_->Count(), 1u);  // not retried
  http_->Answer(400, ValidationError("No active Lifecycle Action found with token "
                                     "bcd2f1b8-9a78-44d3-8a7a-4dd07d7cf635"));
  EXPECT_TRUE(IsNoActiveLifecycleAction(asg.RecordLifecycleActionHeartbeat(
      "spot-asg", "drain-hook", "bcd2f1b8-9a78-44d3-8a7a-4dd07d7cf635", "")));
  // Other validation errors, other codes, statuses without the AWS error: no.
  http_->Answer(400,
                ValidationError("Unable to find lifecycle hook drain-hook for group spot-asg"));
  EXPECT_FALSE(IsNoActiveLifecycleAction(asg.CompleteLifecycleAction(
      "spot-asg", "drain-hook", "", "i-0000000000000a001", "CONTINUE")));
  EXPECT_FALSE(
      IsNoActiveLifecycleAction(MakeAwsStatus({.http_status = 400,
                                               .code = "ResourceContention",
                                               .message = "No active Lifecycle Action found"})));
  EXPECT_FALSE(IsNoActiveLifecycleAction(
      absl::InvalidArgumentError("ValidationError: No active Lifecycle Action found")));
  EXPECT_FALSE(IsNoActiveLifecycleAction(absl::OkStatus()));
}

TEST_F(QueryScriptedTest, DescribeLifecycleHooks) {
  auto client = Client("autoscaling", kAutoScalingVersion);
  AutoScalingClient asg(*client);
  http_->Answer(
      200,
      R"(<DescribeLifecycleHooksResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">
  <DescribeLifecycleHooksResult>
    <LifecycleHooks>
      <member>
        <RoleARN>arn:aws:iam::123456789012:role/my-auto-scaling-role</RoleARN>
        <NotificationTargetARN>arn:aws:sqs:us-east-1:123456789012:spot-events</NotificationTargetARN>
        <HeartbeatTimeout>300</HeartbeatTimeout>
        <AutoScalingGroupName>spot-asg</AutoScalingGroupName>
        <DefaultResult>CONTINUE</DefaultResult>
        <LifecycleHookName>drain-hook</LifecycleHookName>
        <NotificationMetadata>{"cluster":"prod"}</NotificationMetadata>
        <GlobalTimeout>30000</GlobalTimeout>
        <LifecycleTransition>autoscaling:EC2_INSTANCE_TERMINATING</LifecycleTransition>
      </member>
      <member>
        <HeartbeatTimeout>3600</HeartbeatTimeout>
        <AutoScalingGroupName>spot-asg</AutoScalingGroupName>
        <DefaultResult>ABANDON</DefaultResult>
        <LifecycleHookName>warmup</LifecycleHookName>
        <GlobalTimeout>172800</GlobalTimeout>
        <LifecycleTransition>autoscaling:EC2_INSTANCE_LAUNCHING</LifecycleTransition>
      </member>
    </LifecycleHooks>
  </DescribeLifecycleHooksResult>
  <ResponseMetadata><RequestId>ec3bffad-b739-11e2-b38d-15fbEXAMPLE</RequestId></ResponseMetadata>
</DescribeLifecycleHooksResponse>)");
  ASSERT_OK_AND_ASSIGN(auto hooks, asg.DescribeLifecycleHooks("spot-asg"));
  EXPECT_EQ(Params(http_->Requests()[0]),
            (std::map<std::string, std::string>{{"Action", "DescribeLifecycleHooks"},
                                                {"Version", "2011-01-01"},
                                                {"AutoScalingGroupName", "spot-asg"}}));
  ASSERT_EQ(hooks.size(), 2u);
  EXPECT_EQ(hooks[0].name, "drain-hook");
  EXPECT_EQ(hooks[0].auto_scaling_group_name, "spot-asg");
  EXPECT_EQ(hooks[0].transition, "autoscaling:EC2_INSTANCE_TERMINATING");
  EXPECT_EQ(hooks[0].heartbeat_timeout, absl::Minutes(5));
  EXPECT_EQ(hooks[0].global_timeout, absl::Seconds(30000));
  EXPECT_EQ(hooks[0].default_result, "CONTINUE");
  EXPECT_EQ(hooks[0].notification_target_arn, "arn:aws:sqs:us-east-1:123456789012:spot-events");
  EXPECT_EQ(hooks[0].role_arn, "arn:aws:iam::123456789012:role/my-auto-scaling-role");
  EXPECT_EQ(hooks[0].notification_metadata, "{\"cluster\":\"prod\"}");
  EXPECT_EQ(hooks[1].name, "warmup");
  EXPECT_EQ(hooks[1].transition, "autoscaling:EC2_INSTANCE_LAUNCHING");
  EXPECT_EQ(hooks[1].heartbeat_timeout, absl::Hours(1));
  EXPECT_EQ(hooks[1].global_timeout, absl::Hours(48));
  EXPECT_EQ(hooks[1].default_result, "ABANDON");
  EXPECT_EQ(hooks[1].role_arn, "");
  // A group without hooks; a group that does not exist.
  http_->Answer(200,
                "<DescribeLifecycleHooksResponse><DescribeLifecycleHooksResult><LifecycleHooks/>"
                "</DescribeLifecycleHooksResult></DescribeLifecycleHooksResponse>");
  ASSERT_OK_AND_ASSIGN(auto none, asg.DescribeLifecycleHooks("plain-asg"));
  EXPECT_TRUE(none.empty());
  http_->Answer(400, ValidationError("Group nope not found"));
  EXPECT_THAT(asg.DescribeLifecycleHooks("nope"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Group nope not found")));
}

}  // namespace
}  // namespace hollowtrees::aws
