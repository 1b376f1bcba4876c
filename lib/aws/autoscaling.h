#pragma once

// Typed calls of the Auto Scaling API (2011-01-01) over the Query protocol.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/aws/query_client.h"

namespace hollowtrees::aws {

inline constexpr char kAutoScalingVersion[] = "2011-01-01";

struct AsgInstance {
  std::string instance_id;
  std::string instance_type;
  std::string auto_scaling_group_name;  // set by DescribeAutoScalingInstances
  std::string availability_zone;
  std::string lifecycle_state;  // Pending, InService, Standby, Detaching, Terminating, ...
  std::string health_status;    // Healthy, Unhealthy
  bool protected_from_scale_in = false;
};

struct AutoScalingGroup {
  std::string name;
  std::string arn;
  int min_size = 0;
  int max_size = 0;
  int desired_capacity = 0;
  std::vector<std::string> availability_zones;
  std::vector<AsgInstance> instances;
  // A MixedInstancesPolicy is present; its instance type overrides.
  bool mixed_instances_policy = false;
  std::vector<std::string> override_instance_types;
  std::string status;  // "Delete in progress" while being deleted
};

// A lifecycle hook of a group (DescribeLifecycleHooks).
struct LifecycleHook {
  std::string name;
  std::string auto_scaling_group_name;
  // "autoscaling:EC2_INSTANCE_LAUNCHING" or "autoscaling:EC2_INSTANCE_TERMINATING".
  std::string transition;
  // How long an instance waits in the hook's wait state unless heartbeats
  // extend it (HeartbeatTimeout).
  absl::Duration heartbeat_timeout = absl::ZeroDuration();
  // The longest wait, heartbeats included (GlobalTimeout).
  absl::Duration global_timeout = absl::ZeroDuration();
  std::string default_result;  // "CONTINUE" or "ABANDON"
  std::string notification_target_arn;
  std::string role_arn;
  std::string notification_metadata;
};

// True for the error Auto Scaling answers when completing or heartbeating a
// lifecycle action that is no longer waiting (completed, abandoned, or timed
// out): ValidationError "No active Lifecycle Action found ...". Callers treat
// it as "already done".
bool IsNoActiveLifecycleAction(const absl::Status& status);

struct ScalingActivity {
  std::string activity_id;
  std::string description;
  std::string status_code;
};

// Thread-safe; the QueryClient (service "autoscaling") must outlive it.
class AutoScalingClient {
 public:
  explicit AutoScalingClient(QueryClient& client) : client_(client) {}

  // The instance's group membership; nullopt when it is in no group (or
  // does not exist: Auto Scaling does not tell the two apart).
  absl::StatusOr<std::optional<AsgInstance>> DescribeAutoScalingInstance(
      const std::string& instance_id, absl::Time deadline = absl::InfiniteFuture());
  // nullopt when there is no such group.
  absl::StatusOr<std::optional<AutoScalingGroup>> DescribeAutoScalingGroup(
      const std::string& name, absl::Time deadline = absl::InfiniteFuture());
  // Follows NextToken; at most `max_pages` pages.
  absl::StatusOr<std::vector<AutoScalingGroup>> DescribeAutoScalingGroups(
      const std::vector<std::string>& names, absl::Time deadline = absl::InfiniteFuture(),
      int max_pages = 100);
  absl::StatusOr<std::vector<ScalingActivity>> DetachInstances(
      const std::string& group, const std::vector<std::string>& instance_ids,
      bool should_decrement_desired_capacity, absl::Time deadline = absl::InfiniteFuture());
  // Sets the given fields only.
  absl::Status UpdateAutoScalingGroup(const std::string& group, std::optional<int> min_size,
                                      std::optional<int> max_size,
                                      std::optional<int> desired_capacity,
                                      absl::Time deadline = absl::InfiniteFuture());

  // Ends the instance's wait in the hook: `result` "CONTINUE" or "ABANDON".
  // The action is named by `token` (LifecycleActionToken) or `instance_id`,
  // either may be empty but not both (InvalidArgument, as for another
  // result, without a call). A hook no longer waiting answers an error that
  // IsNoActiveLifecycleAction recognises.
  absl::Status CompleteLifecycleAction(const std::string& group, const std::string& hook,
                                       const std::string& token, const std::string& instance_id,
                                       const std::string& result,
                                       absl::Time deadline = absl::InfiniteFuture());
  // Restarts the hook's heartbeat timeout (never past its global timeout).
  // Same naming rules and errors as CompleteLifecycleAction.
  absl::Status RecordLifecycleActionHeartbeat(const std::string& group, const std::string& hook,
                                              const std::string& token,
                                              const std::string& instance_id,
                                              absl::Time deadline = absl::InfiniteFuture());
  // Every lifecycle hook of the group (none for a group without hooks; Auto
  // Scaling answers ValidationError for a group that does not exist).
  absl::StatusOr<std::vector<LifecycleHook>> DescribeLifecycleHooks(
      const std::string& group, absl::Time deadline = absl::InfiniteFuture());

 private:
  QueryClient& client_;
};

}  // namespace hollowtrees::aws
