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
  std::string owner_id;        // the reservation's ownerId: the AWS account
  std::map<std::string, std::string> tags;
};

// DescribeInstances takes at most this many values in one filter.
inline constexpr size_t kEc2MaxFilterValues = 200;

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
  // The instances of these ids that exist, in EC2's order; an id that no
  // longer exists is simply absent (a Filter.1.Name=instance-id filter, not
  // InstanceId.N, which fails the whole call with InvalidInstanceID.NotFound).
  // Repeated ids are asked once; up to 200 ids a request (more are split);
  // NextToken is followed, at most `max_pages` pages a request
  // (ResourceExhausted beyond). No ids: no call, an empty answer.
  absl::StatusOr<std::vector<Ec2Instance>> DescribeInstances(
      const std::vector<std::string>& instance_ids, absl::Time deadline = absl::InfiniteFuture(),
      int max_pages = 100);
  absl::StatusOr<std::vector<InstanceStateChange>> TerminateInstances(
      const std::vector<std::string>& instance_ids, absl::Time deadline = absl::InfiniteFuture());

 private:
  QueryClient& client_;
};

}  // namespace hollowtrees::aws
