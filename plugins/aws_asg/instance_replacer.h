#pragma once

// The plugin's logic, without gRPC: takes a doomed instance out of its Auto
// Scaling Group so that the group starts a replacement at once.
//
// Actions:
// - replace: DetachInstances with ShouldDecrementDesiredCapacity=false; the
//   group launches a replacement at once. With `surge`, the replacement is
//   asked for first: desired capacity +1 (raising the maximum for the time
//   being where it stands in the way), then detach with decrement, then the
//   maximum restored.
// - detach: the original plugin's behaviour: detach and decrement the desired
//   capacity, lowering the minimum first where it stands in the way.
// - swap: replace, then TerminateInstances on the detached instance.
//
// Bounds changed for an action are restored when a later step fails; when
// even the restore fails the outcome says so loudly (and it is logged as an
// error). Outcomes are idempotent: an unknown instance, one already detached
// (it still carries its aws:autoscaling:groupName tag) or terminated count
// as done, since delivery is at least once.

#include <set>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "plugins/aws_asg/asg_api.h"

namespace spdlog {
class logger;
}

namespace hollowtrees::aws_asg {

enum class Action { kReplace, kDetach, kSwap };
const char* ActionName(Action a);
// "replace", "detach", "swap"; InvalidArgument otherwise.
absl::StatusOr<Action> ParseAction(absl::string_view text);

struct ReplaceRequest {
  std::string instance_id;
  Action action = Action::kReplace;
  bool dry_run = false;
  bool surge = false;
  absl::Time deadline = absl::InfiniteFuture();
  // For logs.
  std::string event_id;
  std::string rule;
};

struct ReplaceOutcome {
  enum Kind { kDone, kSkipped, kRetry, kFailed };
  Kind kind = kFailed;
  std::string message;
  // Filled where known, for callers and tests.
  std::string group;
  // "m5.large in us-east-1a" when the group has a mixed instances policy:
  // the spot pool that was reclaimed, for a later step to steer away from.
  std::string reclaimed_pool;
};

// Thread-safe. The API and logger must outlive it.
class InstanceReplacer {
 public:
  InstanceReplacer(AsgApi& api, spdlog::logger& logger) : api_(api), logger_(logger) {}
  ReplaceOutcome Run(const ReplaceRequest& request);

 private:
  ReplaceOutcome RunLocked(const ReplaceRequest& request);
  ReplaceOutcome NotInGroup(const ReplaceRequest& request, const std::string& lifecycle_group,
                            const std::string& lifecycle_state);
  ReplaceOutcome Terminate(const ReplaceRequest& request, ReplaceOutcome done);

  AsgApi& api_;
  spdlog::logger& logger_;
  absl::Mutex mu_;
  // Instances being handled now: a concurrent second delivery waits its turn.
  std::set<std::string> busy_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hollowtrees::aws_asg
