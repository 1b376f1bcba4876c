#include "engine/sources/aws_events.h"

#include <functional>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/common/rfc3339.h"
#include "lib/common/strict_json.h"
#include "nlohmann/json.hpp"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace hollowtrees::engine {
namespace {

using ::hollowtrees::testing::ReadFileToString;
using ::hollowtrees::testing::SourcePath;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;
using Map = std::map<std::string, std::string>;

const absl::Time kReceived = absl::FromUnixSeconds(1700000000);

std::string Sample(const std::string& name) {
  auto text = ReadFileToString(SourcePath("tests/engine/testdata/aws_events/" + name));
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *text : "";
}

absl::Time Time(absl::string_view text) {
  auto t = ParseRfc3339(text);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *t : absl::InfinitePast();
}

// The one event of a message that must be an event.
AwsEvent OnlyEvent(absl::string_view body) {
  AwsMessage m = ParseAwsMessage(body);
  EXPECT_EQ(m.kind, AwsMessageKind::kEvent) << m.reason;
  EXPECT_EQ(m.reason, "");
  EXPECT_EQ(m.events.size(), 1u);
  return m.events.empty() ? AwsEvent{} : m.events[0];
}

AwsMessage Expect(absl::string_view body, AwsMessageKind kind, absl::string_view reason_part) {
  AwsMessage m = ParseAwsMessage(body);
  EXPECT_EQ(m.kind, kind) << AwsMessageKindName(m.kind) << ": " << m.reason
                          << "\nfor: " << body.substr(0, 300);
  EXPECT_THAT(m.reason, HasSubstr(std::string(reason_part)));
  EXPECT_THAT(m.events, IsEmpty());
  return m;
}

nlohmann::json Data(const Event& e) { return nlohmann::json::parse(e.data); }

// ---------------------------------------------------------------------------
// The documented samples, kind by kind.

TEST(AwsEventsTest, SpotInterruptionWarningFromTheEc2Guide) {
  const std::string body = Sample("spot_interruption_warning.json");
  AwsEvent ev = OnlyEvent(body);
  EXPECT_EQ(ev.id, "12345678-1234-1234-1234-123456789012");
  EXPECT_EQ(ev.source, "aws.ec2");
  EXPECT_EQ(ev.type, "aws.ec2.spot-interruption-warning");
  EXPECT_EQ(ev.subject, "i-1234567890abcdef0");
  // The guide's "yyyy-mm-ddThh:mm:ssZ" is no time: absent, the event kept.
  EXPECT_EQ(ev.time, absl::InfinitePast());
  EXPECT_THAT(ev.labels,
              ElementsAre(Pair("account", "123456789012"), Pair("instance_action", "action"),
                          Pair("instance_id", "i-1234567890abcdef0"), Pair("region", "us-east-2")));
  EXPECT_EQ(ev.raw, body);
}

TEST(AwsEventsTest, SpotInterruptionWarningWithARealTimeAndAction) {
  std::string body = absl::StrReplaceAll(
      Sample("spot_interruption_warning.json"),
      {{"yyyy-mm-ddThh:mm:ssZ", "2024-03-05T10:11:12Z"}, {"\"action\"", "\"terminate\""}});
  AwsEvent ev = OnlyEvent(body);
  EXPECT_EQ(ev.time, Time("2024-03-05T10:11:12Z"));
  EXPECT_EQ(ev.labels["instance_action"], "terminate");
  for (const char* action : {"stop", "hibernate"}) {
    AwsEvent other =
        OnlyEvent(absl::StrReplaceAll(body, {{"\"terminate\"", absl::StrCat("\"", action, "\"")}}));
    EXPECT_EQ(other.labels["instance_action"], action);
  }
}

TEST(AwsEventsTest, RebalanceRecommendationFromTheEc2Guide) {
  AwsEvent ev = OnlyEvent(Sample("rebalance_recommendation.json"));
  EXPECT_EQ(ev.id, "12345678-1234-1234-1234-123456789012");
  EXPECT_EQ(ev.source, "aws.ec2");
  EXPECT_EQ(ev.type, "aws.ec2.rebalance-recommendation");
  EXPECT_EQ(ev.subject, "i-1234567890abcdef0");
  EXPECT_EQ(ev.time, absl::InfinitePast());
  EXPECT_THAT(ev.labels,
              ElementsAre(Pair("account", "123456789012"),
                          Pair("instance_id", "i-1234567890abcdef0"), Pair("region", "us-east-2")));
}

TEST(AwsEventsTest, StateChangeFromTheEc2Guide) {
  // The guide's example has no "version": it is not required.
  AwsEvent ev = OnlyEvent(Sample("state_change.json"));
  EXPECT_EQ(ev.id, "7bf73129-1428-4cd3-a780-95db273d1602");
  EXPECT_EQ(ev.source, "aws.ec2");
  EXPECT_EQ(ev.type, "aws.ec2.state-change");
  EXPECT_EQ(ev.subject, "i-abcd1111");
  EXPECT_EQ(ev.time, Time("2021-11-11T21:29:54Z"));
  EXPECT_THAT(ev.labels,
              ElementsAre(Pair("account", "123456789012"), Pair("instance_id", "i-abcd1111"),
                          Pair("region", "us-east-1"), Pair("state", "pending")));
}

TEST(AwsEventsTest, CapacityReservationWarningFromTheEc2GuideIsAllPlaceholders) {
  // Every value of the guide's example is a placeholder; "[instance-id]" is
  // no instance id, so the message is malformed, and says why.
  Expect(Sample("capacity_reservation_interruption_warning.json"), AwsMessageKind::kMalformed,
         "detail.instance-id \"[instance-id]\" is not an EC2 instance id");
}

TEST(AwsEventsTest, CapacityReservationWarningFilledIn) {
  AwsEvent ev = OnlyEvent(Sample("capacity_reservation_interruption_warning_filled.json"));
  EXPECT_EQ(ev.id, "0e2a7c1b-3f44-4c7e-9a55-2b1d6c0f8e91");
  EXPECT_EQ(ev.source, "aws.ec2");
  EXPECT_EQ(ev.type, "aws.ec2.capacity-reservation-interruption-warning");
  EXPECT_EQ(ev.subject, "i-0abcdef1234567890");
  EXPECT_EQ(ev.time, Time("2025-11-20T10:15:00Z"));
  EXPECT_THAT(ev.labels,
              ElementsAre(Pair("account", "123456789012"), Pair("instance_action", "terminate"),
                          Pair("instance_id", "i-0abcdef1234567890"), Pair("region", "us-east-1")));
  // The guide writes `resources` as a string: not read for this kind.
  std::string body = absl::StrReplaceAll(
      Sample("capacity_reservation_interruption_warning_filled.json"), {{"\"[instance-id]\"", ""}});
  body = absl::StrReplaceAll(
      body, {{R"(["arn:aws:ec2:us-east-1:123456789012:instance/i-0abcdef1234567890"])",
              R"("[instance arn]")"}});
  EXPECT_EQ(OnlyEvent(body).subject, "i-0abcdef1234567890");
}

TEST(AwsEventsTest, HealthScheduledChangeFromTheHealthGuide) {
  AwsEvent ev = OnlyEvent(Sample("health_scheduled_change.json"));
  // One instance (named in resources and in affectedEntities): one event,
  // with the EventBridge id itself.
  EXPECT_EQ(ev.id, "7fb65329-1628-4cf3-a740-95fg457h1402");
  EXPECT_EQ(ev.source, "aws.health");
  EXPECT_EQ(ev.type, "aws.health.scheduled-change");
  EXPECT_EQ(ev.subject, "i-12345678");
  EXPECT_EQ(ev.time, Time("2016-06-05T06:27:57Z"));
  EXPECT_THAT(ev.labels,
              ElementsAre(Pair("account", "account id"), Pair("instance_id", "i-12345678"),
                          Pair("region", "us-east-1")));
}

TEST(AwsEventsTest, HealthEventNamingSeveralInstancesGivesOneEventEach) {
  const std::string body = Sample("health_scheduled_change_several.json");
  AwsMessage m = ParseAwsMessage(body);
  ASSERT_EQ(m.kind, AwsMessageKind::kEvent) << m.reason;
  ASSERT_EQ(m.events.size(), 3u);  // the volume is not an instance
  const char* kInstances[] = {"i-0aaaaaaaaaaaaaaa1", "i-0bbbbbbbbbbbbbbb2", "i-0ccccccccccccccc3"};
  for (size_t i = 0; i < 3; ++i) {
    const AwsEvent& ev = m.events[i];
    EXPECT_EQ(ev.id, absl::StrCat("c0b8b90d-eafd-c6fd-0203-568c3c2fdc79/", kInstances[i]));
    EXPECT_EQ(ev.subject, kInstances[i]);
    EXPECT_EQ(ev.type, "aws.health.scheduled-change");
    EXPECT_EQ(ev.time, Time("2019-06-26T15:00:00Z"));
    EXPECT_THAT(ev.labels,
                ElementsAre(Pair("account", "123456789012"), Pair("instance_id", kInstances[i]),
                            Pair("region", "us-east-1")));
    EXPECT_EQ(ev.raw, body);
  }
  // A redelivery is the same events.
  AwsMessage again = ParseAwsMessage(body);
  ASSERT_EQ(again.events.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(again.events[i].id, m.events[i].id);
}

TEST(AwsEventsTest, HealthScheduledChangeNamingNoInstanceIsOneEventWithoutSubject) {
  nlohmann::json j = nlohmann::json::parse(Sample("health_scheduled_change.json"));
  j["resources"] = nlohmann::json::array({"h-0123456789abcdef0"});
  j["detail"]["affectedEntities"] =
      nlohmann::json::array({{{"entityValue", "h-0123456789abcdef0"}}});
  AwsEvent ev = OnlyEvent(j.dump());
  EXPECT_EQ(ev.id, "7fb65329-1628-4cf3-a740-95fg457h1402");
  EXPECT_EQ(ev.subject, "");
  EXPECT_EQ(ev.labels.count("instance_id"), 0u);
}

TEST(AwsEventsTest, OtherHealthEventsAreUnknown) {
  nlohmann::json j = nlohmann::json::parse(Sample("health_scheduled_change.json"));
  j["detail"]["eventTypeCategory"] = "issue";
  Expect(j.dump(), AwsMessageKind::kUnknown,
         "AWS Health event of service \"EC2\" and category \"issue\" is not an event Hollowtrees "
         "knows");
  j["detail"]["eventTypeCategory"] = "scheduledChange";
  j["detail"]["service"] = "RDS";
  Expect(j.dump(), AwsMessageKind::kUnknown, "service \"RDS\"");
  j["detail"].erase("service");
  Expect(j.dump(), AwsMessageKind::kMalformed, "detail.service is missing");
  j["detail"]["service"] = "EC2";
  j["detail"]["affectedEntities"] = "i-1";
  Expect(j.dump(), AwsMessageKind::kMalformed,
         "detail.affectedEntities is a JSON string, not an array");
  j["detail"]["affectedEntities"] = nlohmann::json::array({{{"entityValue", 5}}});
  Expect(j.dump(), AwsMessageKind::kMalformed,
         "detail.affectedEntities[0].entityValue is a JSON number");
  j["detail"].erase("affectedEntities");
  j["resources"] = nlohmann::json::array({1});
  Expect(j.dump(), AwsMessageKind::kMalformed, "resources[0] is a JSON number, not a string");
}

TEST(AwsEventsTest, HealthEventOverTheInstanceLimitIsMalformed) {
  nlohmann::json j = nlohmann::json::parse(Sample("health_scheduled_change.json"));
  j["detail"].erase("affectedEntities");
  nlohmann::json resources = nlohmann::json::array();
  for (size_t i = 0; i <= kMaxAwsInstancesPerMessage; ++i)
    resources.push_back(absl::StrCat("i-", i));
  j["resources"] = resources;
  Expect(j.dump(), AwsMessageKind::kMalformed,
         "the AWS Health event names more than 1000 instances");
  resources.erase(resources.size() - 1);
  j["resources"] = resources;
  EXPECT_EQ(ParseAwsMessage(j.dump()).events.size(), kMaxAwsInstancesPerMessage);
}

TEST(AwsEventsTest, TerminateLifecycleActionFromTheAutoScalingGuide) {
  AwsEvent ev = OnlyEvent(Sample("asg_terminate_lifecycle_action.json"));
  EXPECT_EQ(ev.id, "12345678-1234-1234-1234-123456789012");
  EXPECT_EQ(ev.source, "aws.autoscaling");
  EXPECT_EQ(ev.type, "aws.autoscaling.terminate-lifecycle-action");
  EXPECT_EQ(ev.subject, "i-1234567890abcdef0");
  EXPECT_EQ(ev.time, absl::InfinitePast());
  EXPECT_THAT(ev.labels,
              ElementsAre(Pair("account", "123456789012"), Pair("autoscaling_group", "my-asg"),
                          Pair("instance_id", "i-1234567890abcdef0"),
                          Pair("lifecycle_action_token", "87654321-4321-4321-4321-210987654321"),
                          Pair("lifecycle_hook", "my-lifecycle-hook"),
                          Pair("lifecycle_transition", "autoscaling:EC2_INSTANCE_TERMINATING"),
                          Pair("region", "us-west-2")));
}

TEST(AwsEventsTest, LaunchLifecycleActionFromTheAutoScalingGuide) {
  AwsEvent ev = OnlyEvent(Sample("asg_launch_lifecycle_action.json"));
  EXPECT_EQ(ev.id, "12345678-1234-1234-1234-123456789012");
  EXPECT_EQ(ev.source, "aws.autoscaling");
  EXPECT_EQ(ev.type, "aws.autoscaling.launch-lifecycle-action");
  EXPECT_EQ(ev.subject, "i-1234567890abcdef0");
  EXPECT_THAT(ev.labels,
              ElementsAre(Pair("account", "123456789012"), Pair("autoscaling_group", "my-asg"),
                          Pair("instance_id", "i-1234567890abcdef0"),
                          Pair("lifecycle_action_token", "87654321-4321-4321-4321-210987654321"),
                          Pair("lifecycle_hook", "my-lifecycle-hook"),
                          Pair("lifecycle_transition", "autoscaling:EC2_INSTANCE_LAUNCHING"),
                          Pair("region", "us-west-2")));
}

TEST(AwsEventsTest, TerminateLifecycleActionAsNodeTerminationHandlerSeesIt) {
  AwsEvent ev = OnlyEvent(Sample("asg_terminate_lifecycle_action_nth.json"));
  EXPECT_EQ(ev.id, "782d5b4c-0f6f-1fd6-9d62-ecf6aed0a470");
  EXPECT_EQ(ev.time, Time("2020-07-01T22:19:58Z"));
  EXPECT_EQ(ev.labels["autoscaling_group"], "testt1.demo-0a20f32c.kops.sh");
  EXPECT_EQ(ev.labels["lifecycle_hook"], "cluster-termination-handler");
  EXPECT_EQ(ev.labels["lifecycle_action_token"], "0befcbdb-6ecd-498a-9ff7-ae9b54447cd6");
  EXPECT_EQ(ev.subject, "i-0633ac2b0d9769723");
}

TEST(AwsEventsTest, LifecycleTestNotificationInsideEventBridgeDetail) {
  nlohmann::json j = nlohmann::json::parse(Sample("asg_terminate_lifecycle_action_nth.json"));
  j["detail"] = {{"Event", "autoscaling:TEST_NOTIFICATION"},
                 {"LifecycleTransition", "autoscaling:TEST_NOTIFICATION"}};
  Expect(j.dump(), AwsMessageKind::kTestNotification, "Auto Scaling test notification");
}

TEST(AwsEventsTest, TheBodyAutoScalingSendsToSqsDirectly) {
  const std::string body = Sample("sqs_terminating.json");
  AwsEvent ev = OnlyEvent(body);
  EXPECT_EQ(ev.id, "18b2ec17-3e9b-4c15-8024-ff2e8ce8786a");
  EXPECT_EQ(ev.source, "aws.autoscaling");
  EXPECT_EQ(ev.type, "aws.autoscaling.terminate-lifecycle-action");
  EXPECT_EQ(ev.subject, "i-0598c7d356eba48d7");
  EXPECT_EQ(ev.time, Time("2019-04-30T20:42:11.305Z"));
  // No region in this form.
  EXPECT_THAT(ev.labels,
              ElementsAre(Pair("account", "123456789012"), Pair("autoscaling_group", "my-asg"),
                          Pair("instance_id", "i-0598c7d356eba48d7"),
                          Pair("lifecycle_action_token", "71514b9d-6a40-4b26-8523-05e7ee35fa40"),
                          Pair("lifecycle_hook", "my-hook"),
                          Pair("lifecycle_transition", "autoscaling:EC2_INSTANCE_TERMINATING")));
  EXPECT_EQ(ev.raw, body);

  AwsEvent launch = OnlyEvent(Sample("sqs_launching.json"));
  EXPECT_EQ(launch.id, "f6e613f0-5d34-4aef-040d-19b78b000e23");
  EXPECT_EQ(launch.type, "aws.autoscaling.launch-lifecycle-action");
  EXPECT_EQ(launch.subject, "i-0faa113d8c63b3f60");
  EXPECT_EQ(launch.labels["autoscaling_group"], "CloudFormed-ASG");
  EXPECT_EQ(launch.labels["account"], "336463900088");
}

TEST(AwsEventsTest, AutoScalingTestNotification) {
  AwsMessage m =
      Expect(Sample("sqs_test_notification.json"), AwsMessageKind::kTestNotification,
             "Auto Scaling test notification for group "
             "\"ecs-default-cluster-Sandbox-EcsClusterAutoScaleGroupSandbox-CLJKMQ0V93DL\"");
  EXPECT_EQ(AwsMessageKindName(m.kind), "test_notification");
}

TEST(AwsEventsTest, AutoScalingMessagesThatAreNotLifecycleActions) {
  Expect(
      R"({"Service":"AWS Auto Scaling","Event":"autoscaling:EC2_INSTANCE_LAUNCH","AccountId":"1"})",
      AwsMessageKind::kUnknown,
      "Auto Scaling notification \"autoscaling:EC2_INSTANCE_LAUNCH\" is not an event Hollowtrees "
      "knows");
  nlohmann::json j = nlohmann::json::parse(Sample("sqs_terminating.json"));
  j["LifecycleTransition"] = "autoscaling:EC2_INSTANCE_WARMED";
  Expect(j.dump(), AwsMessageKind::kUnknown,
         "lifecycle transition \"autoscaling:EC2_INSTANCE_WARMED\"");
  j.erase("LifecycleTransition");
  Expect(j.dump(), AwsMessageKind::kMalformed, "Auto Scaling message has no LifecycleTransition");
  j["LifecycleTransition"] = "autoscaling:EC2_INSTANCE_TERMINATING";
  j.erase("RequestId");
  Expect(j.dump(), AwsMessageKind::kMalformed, "RequestId is missing");
  j["RequestId"] = "r";
  j["LifecycleHookName"] = "";
  Expect(j.dump(), AwsMessageKind::kMalformed, "LifecycleHookName is empty");
  j["LifecycleHookName"] = "h";
  j["AutoScalingGroupName"] = nlohmann::json::array();
  Expect(j.dump(), AwsMessageKind::kMalformed,
         "AutoScalingGroupName is a JSON array, not a string");
  j["AutoScalingGroupName"] = "g";
  j["EC2InstanceId"] = "i-0598c7d356eba48d7,i-1";
  Expect(j.dump(), AwsMessageKind::kMalformed,
         "EC2InstanceId \"i-0598c7d356eba48d7,i-1\" is not an EC2 instance id");
  j["EC2InstanceId"] = "i-1";
  j["LifecycleActionToken"] = nullptr;  // optional
  EXPECT_EQ(OnlyEvent(j.dump()).labels.count("lifecycle_action_token"), 0u);
}

TEST(AwsEventsTest, SnsNotificationsAreUnwrapped) {
  const std::string state_change = Sample("state_change.json");
  AwsEvent ev = OnlyEvent(Sample("sns_state_change.json"));
  EXPECT_EQ(ev.id, "7bf73129-1428-4cd3-a780-95db273d1602");
  EXPECT_EQ(ev.type, "aws.ec2.state-change");
  EXPECT_EQ(ev.raw, state_change);  // the event inside, not the SNS envelope

  AwsEvent direct = OnlyEvent(Sample("sns_sqs_terminating.json"));
  EXPECT_EQ(direct.id, "18b2ec17-3e9b-4c15-8024-ff2e8ce8786a");
  EXPECT_EQ(direct.type, "aws.autoscaling.terminate-lifecycle-action");

  nlohmann::json sns = nlohmann::json::parse(Sample("sns_state_change.json"));
  sns["Message"] = Sample("sqs_test_notification.json");
  Expect(sns.dump(), AwsMessageKind::kTestNotification,
         "SNS Message: Auto Scaling test notification");
  sns["Message"] = "not json";
  Expect(sns.dump(), AwsMessageKind::kMalformed, "SNS Message is not valid JSON");
  sns["Message"] = "[1]";
  Expect(sns.dump(), AwsMessageKind::kMalformed, "SNS Message is a JSON array, not an object");
  sns["Message"] = R"({"detail-type":"Nope","source":"aws.ec2"})";
  Expect(sns.dump(), AwsMessageKind::kUnknown, "SNS Message: detail-type \"Nope\" from aws.ec2");
  // One level only.
  nlohmann::json twice = sns;
  twice["Message"] = Sample("sns_state_change.json");
  Expect(twice.dump(), AwsMessageKind::kUnknown, "SNS Message is neither an EventBridge event");
  sns.erase("Message");
  Expect(sns.dump(), AwsMessageKind::kMalformed, "SNS notification has no Message string");
  sns["Type"] = "SubscriptionConfirmation";
  Expect(sns.dump(), AwsMessageKind::kUnknown, "SNS message of Type \"SubscriptionConfirmation\"");
}

// ---------------------------------------------------------------------------
// What is not an event.

TEST(AwsEventsTest, NotJsonOrNotAnObject) {
  Expect("", AwsMessageKind::kMalformed, "message body is not valid JSON");
  Expect("hello", AwsMessageKind::kMalformed, "message body is not valid JSON");
  Expect("{\"id\":", AwsMessageKind::kMalformed, "message body is not valid JSON");
  Expect("[]", AwsMessageKind::kMalformed, "message body is a JSON array, not an object");
  Expect("\"x\"", AwsMessageKind::kMalformed, "message body is a JSON string, not an object");
  Expect("42", AwsMessageKind::kMalformed, "message body is a JSON number, not an object");
  Expect(std::string("{}\0{}", 5), AwsMessageKind::kMalformed, "NUL byte at offset 2");
  Expect("{\"a\":\"\xff\"}", AwsMessageKind::kMalformed, "message body is not valid JSON");
  Expect(std::string(600, '[') + std::string(600, ']'), AwsMessageKind::kMalformed,
         "nested deeper than 512");
  EXPECT_EQ(AwsMessageKindName(AwsMessageKind::kMalformed), "malformed");
}

TEST(AwsEventsTest, DuplicateKeysAreMalformed) {
  // Which id would be the event's? Refused, as the engine's strict parser does.
  const std::string body =
      absl::StrReplaceAll(Sample("state_change.json"),
                          {{R"("id":"7bf73129-1428-4cd3-a780-95db273d1602",)",
                            R"("id":"7bf73129-1428-4cd3-a780-95db273d1602","id":"other",)"}});
  Expect(body, AwsMessageKind::kMalformed, "duplicate key \"id\"");
  Expect(R"({"detail-type":"x","detail":{"a":1,"a":2}})", AwsMessageKind::kMalformed,
         "duplicate key \"a\"");
}

TEST(AwsEventsTest, UnknownKinds) {
  AwsMessage m =
      Expect(R"({"version":"0","id":"1","detail-type":"EC2 AMI State Change","source":"aws.ec2",)"
             R"("detail":{}})",
             AwsMessageKind::kUnknown, "");
  EXPECT_EQ(m.reason,
            "detail-type \"EC2 AMI State Change\" from aws.ec2 is not an event Hollowtrees knows");
  EXPECT_EQ(AwsMessageKindName(m.kind), "unknown");
  // A known detail-type from another source (a custom event) is not it.
  nlohmann::json j = nlohmann::json::parse(Sample("spot_interruption_warning.json"));
  j["source"] = "my.app";
  Expect(j.dump(), AwsMessageKind::kUnknown,
         "detail-type \"EC2 Spot Instance Interruption Warning\" from my.app is not an event "
         "Hollowtrees knows");
  Expect(R"({"hello":"world"})", AwsMessageKind::kUnknown,
         "message body is neither an EventBridge event (no detail-type), an Auto Scaling lifecycle "
         "notification "
         "nor an SNS notification");
}

TEST(AwsEventsTest, KnownKindsMissingOrMistypingWhatTheyNeed) {
  const nlohmann::json spot = nlohmann::json::parse(Sample("spot_interruption_warning.json"));
  struct Case {
    const char* what;
    std::function<void(nlohmann::json&)> change;
    const char* reason;
  };
  const Case cases[] = {
      {"no detail", [](nlohmann::json& j) { j.erase("detail"); },
       "\"EC2 Spot Instance Interruption Warning\" event has no detail object"},
      {"detail a string", [](nlohmann::json& j) { j["detail"] = "x"; }, "has no detail object"},
      {"no id", [](nlohmann::json& j) { j.erase("id"); }, "id is missing"},
      {"empty id", [](nlohmann::json& j) { j["id"] = ""; }, "id is empty"},
      {"id a number", [](nlohmann::json& j) { j["id"] = 7; }, "id is a JSON number, not a string"},
      {"detail-type a number", [](nlohmann::json& j) { j["detail-type"] = 1; },
       "detail-type is a JSON number, not a string"},
      {"no source", [](nlohmann::json& j) { j.erase("source"); },
       "source is missing or not a string"},
      {"time a number", [](nlohmann::json& j) { j["time"] = 1; },
       "time is a JSON number, not a string"},
      {"account an object", [](nlohmann::json& j) { j["account"] = nlohmann::json::object(); },
       "account is a JSON object, not a string"},
      {"region a bool", [](nlohmann::json& j) { j["region"] = true; },
       "region is a JSON boolean, not a string"},
      {"no instance", [](nlohmann::json& j) { j["detail"].erase("instance-id"); },
       "detail.instance-id is missing"},
      {"instance a number", [](nlohmann::json& j) { j["detail"]["instance-id"] = 1; },
       "detail.instance-id is a JSON number, not a string"},
      {"instance not an id", [](nlohmann::json& j) { j["detail"]["instance-id"] = "vol-1"; },
       "detail.instance-id \"vol-1\" is not an EC2 instance id"},
      {"instance upper case", [](nlohmann::json& j) { j["detail"]["instance-id"] = "i-ABC"; },
       "is not an EC2 instance id"},
      {"action an array",
       [](nlohmann::json& j) { j["detail"]["instance-action"] = nlohmann::json::array(); },
       "detail.instance-action is a JSON array, not a string"},
      {"id with a control character", [](nlohmann::json& j) { j["id"] = "a\nb"; },
       "id contains a control character"},
      {"id with a C1 control character", [](nlohmann::json& j) { j["id"] = "a\xc2\x85z"; },
       "id contains a control character"},
      {"huge id", [](nlohmann::json& j) { j["id"] = std::string(kMaxAwsFieldBytes + 1, 'x'); },
       "id is longer than 1024 bytes"},
      {"huge region", [](nlohmann::json& j) { j["region"] = std::string(100000, 'x'); },
       "region is longer than 1024 bytes"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    nlohmann::json j = spot;
    c.change(j);
    Expect(j.dump(), AwsMessageKind::kMalformed, c.reason);
  }
  // An id of exactly the limit is fine.
  nlohmann::json j = spot;
  j["id"] = std::string(kMaxAwsFieldBytes, 'x');
  EXPECT_EQ(OnlyEvent(j.dump()).id.size(), kMaxAwsFieldBytes);
  // Optional fields may be absent, null or empty.
  j = spot;
  j.erase("account");
  j["region"] = "";
  j["detail"].erase("instance-action");
  j["time"] = nullptr;
  EXPECT_THAT(OnlyEvent(j.dump()).labels, ElementsAre(Pair("instance_id", "i-1234567890abcdef0")));

  nlohmann::json state = nlohmann::json::parse(Sample("state_change.json"));
  state["detail"].erase("state");
  Expect(state.dump(), AwsMessageKind::kMalformed, "detail.state is missing");
  nlohmann::json hook = nlohmann::json::parse(Sample("asg_terminate_lifecycle_action.json"));
  hook["detail"].erase("AutoScalingGroupName");
  Expect(hook.dump(), AwsMessageKind::kMalformed, "detail.AutoScalingGroupName is missing");
}

TEST(AwsEventsTest, HugeBodiesAreMalformed) {
  std::string body = Sample("state_change.json");
  body.insert(body.size() - 2,
              absl::StrCat(",\"pad\":\"", std::string(kMaxAwsMessageBytes, 'x'), "\""));
  Expect(body, AwsMessageKind::kMalformed, "message body is 1048");
  // A large but allowed body is fine (the padding is not ours to check).
  body = Sample("state_change.json");
  body.insert(body.size() - 2,
              absl::StrCat(",\"pad\":\"", std::string(kMaxAwsMessageBytes / 2, 'x'), "\""));
  EXPECT_EQ(OnlyEvent(body).id, "7bf73129-1428-4cd3-a780-95db273d1602");
}

TEST(AwsEventsTest, ReasonsArePrintableAndShort) {
  nlohmann::json j = nlohmann::json::parse(Sample("spot_interruption_warning.json"));
  j["detail-type"] = absl::StrCat("\xe2\x98\x83\n\"", std::string(500, 'y'));
  AwsMessage m =
      Expect(j.dump(), AwsMessageKind::kUnknown, "detail-type \"\\xe2\\x98\\x83\\x0a\\\"yyy");
  EXPECT_LT(m.reason.size(), 300u);
  for (char c : m.reason) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << m.reason;
}

TEST(AwsEventsTest, ABomBeforeTheJsonIsDropped) {
  const std::string body = Sample("state_change.json");
  AwsEvent ev = OnlyEvent("\xEF\xBB\xBF" + body);
  EXPECT_EQ(ev.raw, body);
}

// ---------------------------------------------------------------------------
// InstanceLabels.

aws::Ec2Instance Instance(Map tags) {
  aws::Ec2Instance i;
  i.instance_id = "i-0123456789abcdef0";
  i.instance_type = "m5.large";
  i.availability_zone = "us-east-1a";
  i.state = "running";
  i.lifecycle = "spot";
  i.tags = std::move(tags);
  return i;
}

TEST(InstanceLabelsTest, DescriptionAndGroupTag) {
  EXPECT_THAT(
      InstanceLabels(Instance({{"aws:autoscaling:groupName", "workers"}, {"Name", "n"}})),
      ElementsAre(Pair("autoscaling_group", "workers"), Pair("availability_zone", "us-east-1a"),
                  Pair("instance_type", "m5.large")));
  aws::Ec2Instance bare;
  EXPECT_THAT(InstanceLabels(bare), IsEmpty());
}

TEST(InstanceLabelsTest, ClusterNamePrecedence) {
  const auto cluster = [](Map tags) {
    Map labels = InstanceLabels(Instance(std::move(tags)));
    auto it = labels.find("cluster_name");
    return it == labels.end() ? std::string("<none>") : it->second;
  };
  EXPECT_EQ(cluster({{"eks:cluster-name", "a"},
                     {"aws:eks:cluster-name", "b"},
                     {"kubernetes.io/cluster/c", "owned"}}),
            "a");
  EXPECT_EQ(cluster({{"aws:eks:cluster-name", "b"}, {"kubernetes.io/cluster/c", "owned"}}), "b");
  EXPECT_EQ(cluster({{"kubernetes.io/cluster/c", "owned"}}), "c");
  EXPECT_EQ(cluster({{"kubernetes.io/cluster/c", "shared"}}), "c");
  // Several: the one owner, else none at all.
  EXPECT_EQ(cluster({{"kubernetes.io/cluster/c", "owned"}, {"kubernetes.io/cluster/d", "shared"}}),
            "c");
  EXPECT_EQ(cluster({{"kubernetes.io/cluster/c", "owned"}, {"kubernetes.io/cluster/d", "owned"}}),
            "<none>");
  EXPECT_EQ(cluster({{"kubernetes.io/cluster/c", "shared"}, {"kubernetes.io/cluster/d", "shared"}}),
            "<none>");
  EXPECT_EQ(cluster({{"kubernetes.io/cluster/", "owned"}}), "<none>");
  EXPECT_EQ(cluster({{"kubernetes.io/clusterx", "owned"}}), "<none>");
  // An empty EKS tag does not hide the next source.
  EXPECT_EQ(cluster({{"eks:cluster-name", ""}, {"kubernetes.io/cluster/c", "owned"}}), "c");
  // Values that cannot be label values are left out.
  EXPECT_EQ(cluster({{"eks:cluster-name", "a\x01"}}), "<none>");
  EXPECT_EQ(cluster({{"eks:cluster-name", std::string(kMaxAwsFieldBytes + 1, 'a')}}), "<none>");
  EXPECT_EQ(cluster({{"eks:cluster-name", "\xff"}}), "<none>");
}

// ---------------------------------------------------------------------------
// ToEngineEvent.

TEST(ToEngineEventTest, SpotWarningBecomesACloudEvent) {
  const std::string body = absl::StrReplaceAll(Sample("spot_interruption_warning.json"),
                                               {{"yyyy-mm-ddThh:mm:ssZ", "2024-03-05T10:11:12Z"}});
  AwsEvent aws = OnlyEvent(body);
  EventPtr e =
      ToEngineEvent(aws, InstanceLabels(Instance({{"eks:cluster-name", "prod"}})), kReceived);
  EXPECT_EQ(e->id, "12345678-1234-1234-1234-123456789012");
  EXPECT_EQ(e->source, "aws.ec2");
  EXPECT_EQ(e->type, "aws.ec2.spot-interruption-warning");
  EXPECT_EQ(e->subject, "i-1234567890abcdef0");
  EXPECT_EQ(e->time, Time("2024-03-05T10:11:12Z"));
  EXPECT_EQ(e->datacontenttype, "application/json");
  EXPECT_EQ(e->intake, IntakeSource::kSqs);
  EXPECT_EQ(e->received, kReceived);
  EXPECT_EQ(e->status, AlertStatus::kFiring);
  EXPECT_FALSE(e->alert.has_value());
  EXPECT_FALSE(e->data_is_binary);
  EXPECT_THAT(e->labels,
              ElementsAre(Pair("account", "123456789012"), Pair("availability_zone", "us-east-1a"),
                          Pair("cluster_name", "prod"), Pair("instance_action", "action"),
                          Pair("instance_id", "i-1234567890abcdef0"),
                          Pair("instance_type", "m5.large"), Pair("region", "us-east-2")));
  const nlohmann::json data = Data(*e);
  EXPECT_EQ(data["labels"], nlohmann::json({{"account", "123456789012"},
                                            {"availability_zone", "us-east-1a"},
                                            {"cluster_name", "prod"},
                                            {"instance_action", "action"},
                                            {"instance_id", "i-1234567890abcdef0"},
                                            {"instance_type", "m5.large"},
                                            {"region", "us-east-2"}}));
  // The event as received, embedded as JSON (not as a string).
  ASSERT_TRUE(data["event"].is_object());
  EXPECT_EQ(data["event"], nlohmann::json::parse(body));
  EXPECT_EQ(data.size(), 2u);
  // The whole data is the labels and the raw text, byte for byte.
  EXPECT_THAT(e->data, HasSubstr(absl::StrCat(",\"event\":", body, "}")));
  // It reaches a plugin intact.
  io::cloudevents::v1::CloudEvent proto = e->ToProto();
  EXPECT_EQ(proto.type(), "aws.ec2.spot-interruption-warning");
  EXPECT_EQ(proto.attributes().at("subject").ce_string(), "i-1234567890abcdef0");
  EXPECT_EQ(proto.text_data(), e->data);
  EXPECT_EQ(e->DedupKey(), "aws.ec2\n12345678-1234-1234-1234-123456789012");
  // And through the journal's form.
  ASSERT_OK_AND_ASSIGN(EventPtr back, EventFromJson(EventToJson(*e)));
  EXPECT_EQ(back->labels, e->labels);
  EXPECT_EQ(back->data, e->data);
  EXPECT_EQ(back->intake, IntakeSource::kSqs);
}

TEST(ToEngineEventTest, TheMessageLabelsWinOverTheInstance) {
  AwsEvent aws = OnlyEvent(Sample("sqs_terminating.json"));
  Map instance = InstanceLabels(Instance({{"aws:autoscaling:groupName", "stale-group"}}));
  instance["region"] = "us-east-1";  // what the poller may add: kept, the message has none
  EventPtr e = ToEngineEvent(aws, instance, kReceived);
  EXPECT_EQ(*FindLabel(e->labels, "autoscaling_group"), "my-asg");
  EXPECT_EQ(*FindLabel(e->labels, "region"), "us-east-1");
  EXPECT_EQ(*FindLabel(e->labels, "instance_type"), "m5.large");
  EXPECT_EQ(Data(*e)["labels"]["autoscaling_group"], "my-asg");
  EXPECT_EQ(Data(*e)["event"]["RequestId"], "18b2ec17-3e9b-4c15-8024-ff2e8ce8786a");
  EXPECT_EQ(e->time, Time("2019-04-30T20:42:11.305Z"));
}

TEST(ToEngineEventTest, HealthEventsPerInstance) {
  AwsMessage m = ParseAwsMessage(Sample("health_scheduled_change_several.json"));
  ASSERT_EQ(m.events.size(), 3u);
  EventPtr e = ToEngineEvent(m.events[1], {}, kReceived);
  EXPECT_EQ(e->id, "c0b8b90d-eafd-c6fd-0203-568c3c2fdc79/i-0bbbbbbbbbbbbbbb2");
  EXPECT_EQ(e->subject, "i-0bbbbbbbbbbbbbbb2");
  EXPECT_EQ(*FindLabel(e->labels, "instance_id"), "i-0bbbbbbbbbbbbbbb2");
  EXPECT_EQ(Data(*e)["event"]["detail"]["eventTypeCode"],
            "AWS_EC2_PERSISTENT_INSTANCE_RETIREMENT_SCHEDULED");
}

TEST(ToEngineEventTest, InvalidLabelsAreLeftOutAndDataStaysJson) {
  AwsEvent aws;
  aws.id = "x";
  aws.source = "aws.ec2";
  aws.type = "aws.ec2.state-change";
  aws.raw = "not json";
  aws.labels = {{"ok", "1"}, {"bad-name", "2"}, {"empty", ""}, {"ctl", "a\x01"}};
  EventPtr e = ToEngineEvent(aws, {{"1bad", "v"}, {"zone", "z"}, {"ok", "instance"}}, kReceived);
  EXPECT_THAT(e->labels, ElementsAre(Pair("ok", "1"), Pair("zone", "z")));
  nlohmann::json data = Data(*e);
  EXPECT_EQ(data["event"], "not json");
  aws.raw = "\xff";
  EXPECT_TRUE(Data(*ToEngineEvent(aws, {}, kReceived))["event"].is_null());
  aws.raw = R"({"a":1,"a":2})";
  EXPECT_EQ(Data(*ToEngineEvent(aws, {}, kReceived))["event"], R"({"a":1,"a":2})");
  EXPECT_TRUE(ParseStrictJson(ToEngineEvent(aws, {}, kReceived)->data).ok());
}

TEST(ToEngineEventTest, EverySampleConvertsToValidData) {
  for (const char* name :
       {"spot_interruption_warning.json", "rebalance_recommendation.json", "state_change.json",
        "capacity_reservation_interruption_warning_filled.json", "health_scheduled_change.json",
        "health_scheduled_change_several.json", "asg_launch_lifecycle_action.json",
        "asg_terminate_lifecycle_action.json", "asg_terminate_lifecycle_action_nth.json",
        "sqs_terminating.json", "sqs_launching.json", "sns_state_change.json",
        "sns_sqs_terminating.json"}) {
    SCOPED_TRACE(name);
    AwsMessage m = ParseAwsMessage(Sample(name));
    ASSERT_EQ(m.kind, AwsMessageKind::kEvent) << m.reason;
    for (const AwsEvent& ev : m.events) {
      EventPtr e = ToEngineEvent(ev, {}, kReceived);
      EXPECT_TRUE(ParseStrictJson(e->data).ok());
      EXPECT_EQ(Data(*e)["event"], nlohmann::json::parse(ev.raw));
      EXPECT_FALSE(e->id.empty());
      EXPECT_FALSE(e->source.empty());
      EXPECT_FALSE(e->type.empty());
    }
  }
}

}  // namespace
}  // namespace hollowtrees::engine
