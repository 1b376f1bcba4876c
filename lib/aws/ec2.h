#pragma once

// Typed calls of the EC2 API (2016-11-15) over the Query protocol.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/aws/query_client.h"

namespace hollowtrees::aws {

inline constexpr char kEc2Version[] = "2016-11-15";

struct Ec2Instance {
  std::string instance_id;
  std::string instance_type;
  std::string availability_zone;
  std::string state;           // pending, running, shutting-down, terminated, stopping, stopped
  std::string lifecycle;       // "spot", "scheduled" or "" (on-demand)
  std::map<std::string, std::string> tags;
};

struct InstanceStateChange {
  std::string instance_id;
  std::string previous_state;
  std::string current_state;
};

// Thread-safe; the QueryClient (service "ec2") must outlive it.
class Ec2Client {
 public:
  explicit Ec2Client(QueryClient& client) : client_(client) {}

  // nullopt when EC2 answers InvalidInstanceID.NotFound.
  absl::StatusOr<std::optional<Ec2Instance>> DescribeInstance(
      const std::string& instance_id, absl::Time deadline = absl::InfiniteFuture());
  absl::StatusOr<std::vector<InstanceStateChange>> TerminateInstances(
      const std::vector<std::string>& instance_ids, absl::Time deadline = absl::InfiniteFuture());

 private:
  QueryClient& client_;
};

}  // namespace hollowtrees::aws
