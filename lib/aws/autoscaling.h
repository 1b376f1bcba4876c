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

 private:
  QueryClient& client_;
};

}  // namespace hollowtrees::aws
