#pragma once

// AWS events delivered through SQS, turned into the engine's events
// (docs: DESIGN "Event sources beyond HTTP: AWS EventBridge through SQS").
// Pure functions: no I/O, no clock, no logging; thread-safe. The SQS poller
// (engine/sources/sqs_source.h) receives a message, calls ParseAwsMessage,
// looks each event's instance up (EC2 DescribeInstances, cached), calls
// InstanceLabels and ToEngineEvent, and hands the events to the Intake.
//
// What a message body may be:
// - an EventBridge event (`{"version":"0","id":...,"detail-type":...,
//   "source":...,"account":...,"time":...,"region":...,"resources":[...],
//   "detail":{...}}`) of a kind in the table below;
// - the body Auto Scaling sends to an SQS notification target of a lifecycle
//   hook itself (no envelope: `{"Origin":...,"LifecycleHookName":...,
//   "AccountId":...,"RequestId":...,"LifecycleTransition":...,
//   "AutoScalingGroupName":...,"Service":"AWS Auto Scaling","Time":...,
//   "EC2InstanceId":...,"LifecycleActionToken":...}`), or its test message
//   (`"Event": "autoscaling:TEST_NOTIFICATION"`);
// - either of those wrapped in an SNS notification (`{"Type":"Notification",
//   "MessageId":...,"TopicArn":...,"Message":"<the JSON as a string>",...}`),
//   as a queue subscribed to an SNS topic without raw message delivery gets
//   it. It is unwrapped (one level), as aws-node-termination-handler does for
//   Auto Scaling's messages: an SNS topic between EventBridge or Auto Scaling
//   and the queue is a common set-up (fan-out to mail and the queue). The SNS
//   signature is not checked: who may send to the queue (its access policy)
//   is the trust boundary, for the direct forms as well.
//
//   EventBridge detail-type (source)                  CloudEvent type
//   EC2 Spot Instance Interruption Warning (aws.ec2)  aws.ec2.spot-interruption-warning
//   EC2 Instance Rebalance Recommendation (aws.ec2)   aws.ec2.rebalance-recommendation
//   EC2 Instance State-change Notification (aws.ec2)  aws.ec2.state-change
//   EC2 Capacity Reservation Instance Interruption
//   aws.ec2.capacity-reservation-interruption-warning
//     Warning (aws.ec2)
//   AWS Health Event (aws.health), detail.service     aws.health.scheduled-change
//     "EC2", detail.eventTypeCategory "scheduledChange"
//   EC2 Instance-terminate Lifecycle Action           aws.autoscaling.terminate-lifecycle-action
//     (aws.autoscaling); the direct form with
//     LifecycleTransition autoscaling:EC2_INSTANCE_TERMINATING
//   EC2 Instance-launch Lifecycle Action              aws.autoscaling.launch-lifecycle-action
//     (aws.autoscaling); the direct form with
//     LifecycleTransition autoscaling:EC2_INSTANCE_LAUNCHING
//
// A detail-type is known only together with its source: a custom event that
// borrows "EC2 Spot Instance Interruption Warning" under another source is
// kUnknown (EventBridge refuses PutEvents with an "aws." source, so those come
// from AWS).
//
// What an event needs, and is kMalformed without (absent, not a string, empty,
// over kMaxAwsFieldBytes, or with control characters): the id (EventBridge
// `id`, direct form `RequestId`); the instance id (`detail.instance-id`,
// `EC2InstanceId`) in the form `i-` and 1 to 40 of [0-9a-z] (AWS writes 8 or 17
// hex digits); `state` of a state change; AutoScalingGroupName and
// LifecycleHookName of a lifecycle action (what CompleteLifecycleAction
// needs with the instance id); `detail` as an object; for AWS Health,
// `detail.service` and `detail.eventTypeCategory`. Optional fields (account,
// region, instance-action, LifecycleActionToken, LifecycleTransition) may be
// absent or empty (then their label is absent) but not of another type.
// `time`/`Time` that is not RFC 3339 (AWS's own examples write
// "yyyy-mm-ddThh:mm:ssZ") leaves the time absent rather than dropping an
// interruption notice over it. `resources` is read only for AWS Health (the
// Capacity Reservation example writes it as a string; it is not needed there);
// `version` is not read (the state-change example has none).
//
// AWS Health: one message can name several instances (in `resources` and in
// `detail.affectedEntities[].entityValue`, as instance ids or EC2 instance
// ARNs; other entities, such as volumes or hosts, are ignored). It gives one
// AwsEvent per instance, in the order the message names them first. Their ids
// stay stable across redeliveries because they come from the message alone:
// the EventBridge id when the message gives one event, else
// "<EventBridge id>/<instance id>" (the engine deduplicates on source and id).
// A scheduled change that names no instance gives one event without subject
// or instance_id: rules that match instance labels (cluster_name, ...) do not
// act on it; a log plugin can record it. Other Health events (another service
// or category) are kUnknown.

#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/event/event.h"
#include "lib/aws/ec2.h"

namespace hollowtrees::engine {

// Limits. A body over kMaxAwsMessageBytes is kMalformed (SQS's largest
// message is 1 MiB, EventBridge's largest event 256 KiB); the strict JSON
// parse (lib/common/strict_json.h) refuses NUL bytes, duplicate keys and
// nesting deeper than kMaxJsonDepth, in the body and in an SNS Message.
// Every string taken into an id, subject or label is at most
// kMaxAwsFieldBytes (AWS's own are far shorter: names 255, tokens 36). A
// Health event naming more than kMaxAwsInstancesPerMessage instances is
// kMalformed.
inline constexpr size_t kMaxAwsMessageBytes = 1 << 20;
inline constexpr size_t kMaxAwsFieldBytes = 1024;
inline constexpr size_t kMaxAwsInstancesPerMessage = 1000;

// What an SQS message is.
enum class AwsMessageKind {
  kEvent,             // an event of a kind in the table above
  kTestNotification,  // Auto Scaling's autoscaling:TEST_NOTIFICATION (sent when a hook's
                      // notification target is set)
  kUnknown,           // valid JSON, but not a kind we know (another detail-type/source)
  kMalformed,         // not JSON, not an object, or a known kind missing/mistyping what it needs
};
// "event", "test_notification", "unknown", "malformed" (metric label values).
absl::string_view AwsMessageKindName(AwsMessageKind kind);

struct AwsEvent {
  std::string id;       // EventBridge `id`; the direct Auto Scaling form: its RequestId
  std::string source;   // "aws.ec2", "aws.health", "aws.autoscaling"
  std::string type;     // the CloudEvent type from the table above
  std::string subject;  // the instance id ("" when the event names none)
  absl::Time time = absl::InfinitePast();     // InfinitePast: absent
  std::map<std::string, std::string> labels;  // from the message itself (below)
  // The event JSON as received: the message body (without a leading UTF-8
  // BOM), or the Message inside an SNS notification.
  std::string raw;
};

// Labels from the message (strings, present only when known and not empty):
//   instance_id                 every kind (not a Health event naming none)
//   region, account             EventBridge `region`, `account`; the direct
//                               Auto Scaling form has `AccountId` but no
//                               region: the poller may add its queue's
//   instance_action             spot and Capacity Reservation warnings
//   state                       state change
//   autoscaling_group, lifecycle_hook, lifecycle_action_token,
//   lifecycle_transition        lifecycle actions (both forms)

struct AwsMessage {
  AwsMessageKind kind = AwsMessageKind::kMalformed;
  // For kUnknown, kMalformed and kTestNotification: a short, log-ready
  // explanation (printable ASCII; text from the message is quoted, escaped
  // and cut to 100 bytes), e.g. `detail-type "EC2 AMI State Change" from
  // aws.ec2 is not an event Hollowtrees knows`. Empty for kEvent.
  std::string reason;
  // kEvent: at least one (several only for an AWS Health event naming several
  // instances); empty otherwise.
  std::vector<AwsEvent> events;
};

// Never throws; any input at all gets an answer.
AwsMessage ParseAwsMessage(absl::string_view body);

// Labels from the instance's description and tags: availability_zone,
// instance_type, autoscaling_group (tag aws:autoscaling:groupName) and
// cluster_name, the first of:
//   1. tag eks:cluster-name (EKS managed node groups),
//   2. tag aws:eks:cluster-name (set by EKS on what it creates),
//   3. a tag kubernetes.io/cluster/<name> (kops, eksctl, Karpenter, the cloud
//      provider): <name> when the instance has exactly one such tag, or else
//      when exactly one of them has the value "owned". Several with no single
//      owner name no cluster: cluster_name is left absent rather than guessed,
//      so a rule matching cluster_name does not act on another cluster's node.
// The value-carrying EKS tags come first: each names exactly one cluster and
// is set by EKS itself. Values that are empty, over kMaxAwsFieldBytes, not
// UTF-8 or with control characters are left out.
std::map<std::string, std::string> InstanceLabels(const aws::Ec2Instance& instance);

// The engine event: a CloudEvent 1.0 with id, source, type, subject and time
// from `event`, datacontenttype application/json and data
// {"labels": {...}, "event": <event.raw, embedded as JSON>} (event.raw is
// embedded as a JSON string instead if it is not a strict JSON text, so data
// is always JSON); `labels` for matching, and data.labels, are the message's
// labels plus `instance_labels`, the message's winning on a conflict; pairs
// with an invalid label name, an empty value or an invalid value (as above)
// are left out. intake = IntakeSource::kSqs, received = `received`.
EventPtr ToEngineEvent(const AwsEvent& event,
                       const std::map<std::string, std::string>& instance_labels,
                       absl::Time received);

}  // namespace hollowtrees::engine
