#pragma once

// A fake AWS endpoint for tests: one HTTP server on loopback answering the
// Query protocol of Auto Scaling (2011-01-01), EC2 (2016-11-15) and STS
// (2011-06-15), told apart by the service in the SigV4 credential scope (or,
// for unsigned STS calls, by the action), and SQS (2012-11-05) in both of the
// protocols AWS serves: AWS JSON 1.0 (X-Amz-Target: AmazonSQS.<Action>, what
// current SDKs speak) and the Query protocol (form POST, XML answers, what
// Debian's awscli/botocore speak). It keeps state (groups with bounds and
// desired capacity, lifecycle hooks and actions, instances with lifecycle
// states and tags, mixed instances policies, queues and their messages),
// verifies every request's signature against the credentials it knows and
// answers like AWS: the same XML and JSON shapes and namespaces, the same
// error codes and HTTP statuses, the same validation.
//
// SQS (fake_sqs.h): standard queues with visibility timeouts, receipt handles
// that change with every receive, delays, retention, redrive to a
// dead-letter queue, long polling (which waits in real time and returns as
// soon as a message is visible). Queue URLs are this server's own:
// http://127.0.0.1:PORT/123456789012/NAME. FIFO queues are not modelled
// (CreateQueue answers UnsupportedOperation).
//
// Thread-safe. Tests drive it through this API; the `fake-aws` binary
// serves it with a small JSON control API.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "lib/common/clock.h"
#include "lib/http/server_util.h"
#include "nlohmann/json.hpp"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace hollowtrees::testing {

struct FakeAwsOptions {
  std::string host = "127.0.0.1";
  int port = 0;
  // Requests must be signed for this region.
  std::string region = "us-east-1";
  // Long-term credentials it accepts (access key id -> secret).
  std::map<std::string, std::string> credentials = {
      {"AKIDFAKEEXAMPLE", "fakeSecretKeyForTestsOnly/EXAMPLEKEY"}};
  // AssumeRoleWithWebIdentity: accepted tokens and the lifetime of what it issues.
  std::vector<std::string> web_identity_tokens = {"fake-web-identity-token"};
  absl::Duration issued_credentials_lifetime = absl::Hours(1);
  // How far X-Amz-Date may be from the server's clock (AWS: 15 minutes).
  absl::Duration max_clock_skew = absl::Minutes(15);
  // The time of SQS (visibility timeouts, delays, retention, timestamps) and
  // of lifecycle actions (heartbeat and global timeouts). Null: RealClock().
  // Not owned; must outlive the fake. Signatures are always checked against
  // the real time, and a long poll waits in real time (rechecking this clock
  // every 50 ms).
  Clock* clock = nullptr;
};

struct FakeInstance {
  std::string id;
  std::string type = "m5.large";
  std::string az = "us-east-1a";
  std::string group;  // "" when in no group
  std::string lifecycle_state = "InService";  // Auto Scaling lifecycle
  std::string health = "Healthy";
  std::string state = "running";  // EC2 state
  bool spot = true;
  bool protected_from_scale_in = false;
  std::map<std::string, std::string> tags;
};

struct FakeGroup {
  std::string name;
  int min_size = 0;
  int max_size = 0;
  int desired = 0;
  std::vector<std::string> azs = {"us-east-1a"};
  // Instance types of a mixed instances policy; empty: a launch template only.
  std::vector<std::string> mixed_instance_types;
  std::string launch_template = "lt-0123456789abcdef0";
};

// An Auto Scaling lifecycle hook (PutLifecycleHook).
struct FakeLifecycleHook {
  std::string name;
  std::string group;
  // "autoscaling:EC2_INSTANCE_LAUNCHING" or "autoscaling:EC2_INSTANCE_TERMINATING".
  std::string transition = "autoscaling:EC2_INSTANCE_TERMINATING";
  std::string role_arn;
  // An SQS queue ARN of this fake (arn:aws:sqs:REGION:123456789012:NAME)
  // receives the notifications AWS would send it; other ARNs are kept only.
  std::string notification_target_arn;
  std::string notification_metadata;
  int heartbeat_timeout_seconds = 3600;  // 30..7200
  std::string default_result = "ABANDON";  // CONTINUE | ABANDON
};

// One lifecycle action: an instance held in Pending:Wait or Terminating:Wait
// by a hook until it is completed or times out.
struct FakeLifecycleAction {
  std::string token;  // LifecycleActionToken, a UUID
  std::string group;
  std::string hook;
  std::string instance_id;
  std::string transition;
  absl::Time started;
  // When it times out: a heartbeat moves it to now + HeartbeatTimeout, never
  // past global_deadline (started + min(100 x HeartbeatTimeout, 172800 s)).
  absl::Time deadline;
  absl::Time global_deadline;
  int heartbeats = 0;
  bool completed = false;  // by CompleteLifecycleAction
  bool expired = false;    // by the timeout, with the hook's DefaultResult
  std::string result;      // CONTINUE | ABANDON once ended, else ""
  bool completed_by_instance_id = false;  // CompleteLifecycleAction named InstanceId
};

enum class LifecycleTransition { kLaunching, kTerminating };

// A message in a fake SQS queue (not yet deleted, not yet expired).
struct FakeSqsMessage {
  std::string message_id;
  std::string body;
  // Message attributes of type String/Number (name -> value).
  std::map<std::string, std::string> string_attributes;
  int receive_count = 0;
  bool visible = false;    // a receive could return it now
  bool in_flight = false;  // received, visibility timeout not over
  bool delayed = false;    // DelaySeconds not over, never received
  absl::Time sent;
};

// A message deleted by DeleteMessage(Batch) with its current receipt handle.
struct FakeSqsDeleted {
  std::string message_id;
  std::string body;
  int receive_count = 0;
};

// Messages of a queue by state, like ApproximateNumberOfMessages*.
struct FakeSqsCounts {
  int visible = 0;
  int in_flight = 0;
  int delayed = 0;
  int deleted = 0;  // deleted so far (FakeSqsDeleted)
  int stale_deletes = 0;  // DeleteMessage calls that named an outdated handle
};

// One request the fake answered, for assertions.
struct FakeCall {
  std::string service;  // autoscaling, ec2, sts, sqs
  std::string action;
  // Query parameters as sent; for SQS over JSON, the body's top-level
  // members (strings as is, other values as JSON text).
  std::map<std::string, std::string> params;
  std::string access_key_id;
  std::string error_code;  // "" when it succeeded
  std::string protocol;    // "query" or "json"
};

class FakeAws {
 public:
  static absl::StatusOr<std::unique_ptr<FakeAws>> Start(const FakeAwsOptions& options = {});
  ~FakeAws();

  int port() const { return serving_->port(); }
  std::string endpoint() const;  // "http://127.0.0.1:PORT"
  const FakeAwsOptions& options() const { return options_; }

  // State. A group's instances are those whose `group` names it; AddGroup
  // launches nothing by itself, AddInstance joins the named group.
  void AddGroup(const FakeGroup& group);
  void AddInstance(const FakeInstance& instance);
  std::optional<FakeGroup> Group(const std::string& name);
  std::optional<FakeInstance> Instance(const std::string& id);
  // Instance ids in the group (launch order), lifecycle states of any kind.
  std::vector<std::string> GroupInstances(const std::string& name);
  // Instances the fake launched as replacements, in order.
  std::vector<std::string> Launched();
  // Replaces an instance's tags (EC2 DescribeInstances shows them in tagSet).
  // NotFound when there is no such instance.
  absl::Status SetInstanceTags(const std::string& id,
                               const std::map<std::string, std::string>& tags);

  // Auto Scaling lifecycle hooks. PutLifecycleHook creates or replaces a
  // hook as the API does (NotFound without the group; no test notification).
  absl::Status PutLifecycleHook(const FakeLifecycleHook& hook);
  std::vector<FakeLifecycleHook> LifecycleHooks(const std::string& group);
  // Starts the lifecycle action a launch or a termination of the instance
  // would start for the hook (by default the group's first hook of that
  // transition): the instance goes to Pending:Wait or Terminating:Wait, and
  // a hook with a fake SQS queue as notification target gets the message
  // Auto Scaling sends. Returns the LifecycleActionToken. FailedPrecondition
  // when the instance is in no group or the group has no such hook.
  absl::StatusOr<std::string> StartLifecycleAction(const std::string& instance_id,
                                                   LifecycleTransition transition,
                                                   const std::string& hook_name = "");
  // The action as it is now (an action past its deadline is expired first).
  std::optional<FakeLifecycleAction> LifecycleAction(const std::string& token);
  std::vector<FakeLifecycleAction> LifecycleActions();
  // Applies timeouts now (they are otherwise applied at every request and
  // every query of this API).
  void ExpireLifecycleActions();

  // SQS. Names are queue names (not URLs).
  // "http://127.0.0.1:PORT/123456789012/NAME" and "arn:aws:sqs:REGION:123456789012:NAME".
  std::string SqsQueueUrl(const std::string& name) const;
  std::string SqsQueueArn(const std::string& name) const;
  // Creates a queue as CreateQueue does (attributes by their API names,
  // e.g. {"VisibilityTimeout", "5"}); returns its URL. InvalidArgument for
  // what CreateQueue refuses.
  absl::StatusOr<std::string> CreateSqsQueue(const std::string& name,
                                             const std::map<std::string, std::string>& attributes = {});
  // Sends a message as SendMessage does (string attributes as DataType
  // String); returns its MessageId. NotFound without the queue.
  absl::StatusOr<std::string> EnqueueSqsMessage(
      const std::string& queue, const std::string& body,
      const std::map<std::string, std::string>& string_attributes = {},
      absl::Duration delay = absl::ZeroDuration());
  // NotFound without the queue.
  absl::StatusOr<FakeSqsCounts> SqsCounts(const std::string& queue);
  // Messages still in the queue, in send order.
  std::vector<FakeSqsMessage> SqsMessages(const std::string& queue);
  // Messages deleted from the queue, in order.
  std::vector<FakeSqsDeleted> SqsDeleted(const std::string& queue);
  // Faults for SQS: the next `count` calls of the action fail with
  // RequestThrottled (HTTP 403, as SQS throttles) or InternalFailure (500).
  // InjectError works for SQS too; its code is a Query code (the JSON
  // __type is derived from it: "AWS.SimpleQueueService.NonExistentQueue"
  // becomes com.amazonaws.sqs#QueueDoesNotExist).
  void InjectSqsThrottling(const std::string& action, int count = 1);
  void InjectSqsServerError(const std::string& action, int count = 1);

  // Faults: the next `count` calls of `action` (any service) fail with this
  // AWS error code and HTTP status.
  void InjectError(const std::string& action, const std::string& code, int http_status,
                   int count = 1, const std::string& message = "injected fault");
  // The same, after `skip` calls of the action have gone through.
  void InjectErrorAfter(const std::string& action, int skip, const std::string& code,
                        int http_status, int count = 1);
  // Every session token issued so far is now expired (ExpiredToken).
  void ExpireSessionTokens();
  // Adds accepted long-term credentials.
  void AddCredentials(const std::string& access_key_id, const std::string& secret);

  std::vector<FakeCall> Calls();
  // Calls of that action that succeeded.
  int CountCalls(const std::string& action, bool successful_only = true);
  void ClearCalls();

  // The whole state as JSON ({"groups": [...], "instances": [...]}) and back.
  // (SQS queues are not part of it; LoadStateJson also reads a group's
  // "lifecycle_hooks": [{"name", "transition", "heartbeat_timeout_seconds",
  // "default_result"}], which StateJson does not write.)
  nlohmann::json StateJson();
  absl::Status LoadStateJson(const nlohmann::json& state);

  // Serves the control API on the same server: GET/POST /control/state,
  // POST /control/fault {"action","code","status","count"}, GET /control/calls,
  // POST /control/sqs/queues {"name","attributes"} -> {"url"},
  // POST /control/sqs/send {"queue","body"} -> {"message_id"},
  // GET /control/sqs/counts?queue=NAME,
  // POST /control/lifecycle/start {"instance_id","transition":"launching"|"terminating","hook"} -> {"token"},
  // GET /control/lifecycle/actions.
  void EnableControlApi();

  class Impl;

 private:
  FakeAws() = default;
  FakeAwsOptions options_;
  std::unique_ptr<httplib::Server> server_;
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<http::ServingThread> serving_;  // after server_ and impl_: stops first
};

}  // namespace hollowtrees::testing
