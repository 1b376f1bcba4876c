#pragma once

// What the Auto Scaling plugin needs from AWS, as a narrow interface: the
// real implementation (aws_asg_api.h) goes over lib/aws; tests may put
// anything stateful behind it.

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lib/aws/autoscaling.h"
#include "lib/aws/ec2.h"

namespace hollowtrees::aws_asg {

// Errors are absl::Status with canonical codes (Unavailable: worth retrying),
// carrying the AWS error where there is one (aws::GetAwsError). Every call
// gives up by `deadline`. Implementations are thread-safe.
class AsgApi {
 public:
  virtual ~AsgApi() = default;
  // The instance's Auto Scaling membership (DescribeAutoScalingInstances);
  // nullopt when it is in no group.
  virtual absl::StatusOr<std::optional<aws::AsgInstance>> FindInstance(const std::string& id,
                                                                       absl::Time deadline) = 0;
  // nullopt when the group does not exist.
  virtual absl::StatusOr<std::optional<aws::AutoScalingGroup>> GetGroup(const std::string& name,
                                                                        absl::Time deadline) = 0;
  virtual absl::Status Detach(const std::string& group, const std::string& id,
                              bool decrement_desired_capacity, absl::Time deadline) = 0;
  // Sets the given fields of the group only.
  virtual absl::Status UpdateGroup(const std::string& group, std::optional<int> min_size,
                                   std::optional<int> max_size, std::optional<int> desired,
                                   absl::Time deadline) = 0;
  // The EC2 view of the instance; nullopt when EC2 does not know it.
  virtual absl::StatusOr<std::optional<aws::Ec2Instance>> DescribeInstance(const std::string& id,
                                                                           absl::Time deadline) = 0;
  // Returns the instance's new state ("shutting-down", "terminated").
  virtual absl::StatusOr<std::string> Terminate(const std::string& id, absl::Time deadline) = 0;

  // Lifecycle hooks (aws::IsNoActiveLifecycleAction tells a hook already
  // complete or expired). The defaults answer Unimplemented, for test APIs
  // that have no hooks.
  virtual absl::Status CompleteLifecycleAction(const std::string& group, const std::string& hook,
                                               const std::string& token,
                                               const std::string& instance_id,
                                               const std::string& result, absl::Time deadline) {
    return absl::UnimplementedError("lifecycle hooks");
  }
  virtual absl::Status RecordLifecycleActionHeartbeat(const std::string& group,
                                                      const std::string& hook,
                                                      const std::string& token,
                                                      const std::string& instance_id,
                                                      absl::Time deadline) {
    return absl::UnimplementedError("lifecycle hooks");
  }
  virtual absl::StatusOr<std::vector<aws::LifecycleHook>> DescribeLifecycleHooks(
      const std::string& group, absl::Time deadline) {
    return absl::UnimplementedError("lifecycle hooks");
  }
};

}  // namespace hollowtrees::aws_asg
