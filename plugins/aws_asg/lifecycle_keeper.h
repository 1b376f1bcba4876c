#pragma once

// Auto Scaling lifecycle hooks: keeps a hook's action open while the chain
// before its completion runs (a drain can take minutes), then completes it.
//
// A rule's chain for a scale-in is: `lifecycle-heartbeat` (this plugin),
// the drain (ht-k8s-action-plugin), `complete-lifecycle` (this plugin).
// Keep() records the action and sends RecordLifecycleActionHeartbeat at
// once and then every third of the hook's heartbeat timeout, from a thread
// of its own, until Complete() is called for it, the hook answers that the
// action is no longer active (completed or expired elsewhere), or
// `max_keep` has passed (a flow that never completes must not hold an
// instance for ever). The actions kept are written to `state_file` on every
// change and read back at start, so heartbeats go on across restarts of this
// plugin (the engine's restarts do not touch them).

#include <atomic>
#include <map>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "lib/common/clock.h"
#include "plugins/aws_asg/asg_api.h"

namespace spdlog {
class logger;
}

namespace hollowtrees::aws_asg {

struct LifecycleAction {
  std::string group;        // AutoScalingGroupName
  std::string hook;         // LifecycleHookName
  std::string token;        // LifecycleActionToken (may be empty: then the instance)
  std::string instance_id;  // EC2InstanceId (may be empty: then the token)
  // The token, or the group and instance when there is none.
  std::string Key() const;
  std::string Describe() const;  // "hook H of group G for i-... (token ...)"
};

struct LifecycleKeeperOptions {
  // Where the actions kept are written ("": in memory only, lost with the
  // process).
  std::string state_file;
  // Heartbeats stop this long after Keep() whatever happens. Default 1h.
  absl::Duration max_keep = absl::Hours(1);
  // Interval when the hook's heartbeat timeout cannot be read; never less
  // than min_interval.
  absl::Duration default_interval = absl::Minutes(1);
  absl::Duration min_interval = absl::Seconds(10);
  // How often the thread looks for heartbeats due.
  absl::Duration tick = absl::Seconds(1);
  // Each AWS call's deadline.
  absl::Duration call_timeout = absl::Seconds(10);
};

class LifecycleKeeper {
 public:
  LifecycleKeeper(AsgApi& api, LifecycleKeeperOptions options, spdlog::logger& logger,
                  Clock& clock = RealClock());
  ~LifecycleKeeper();  // Stop()

  // Reads the state file (a missing file is an empty one; an unreadable or
  // malformed one is an error naming it) and starts the heartbeat thread.
  absl::Status Start();
  void Stop();

  // Starts keeping `action` open: one heartbeat now (its error, if any, is
  // returned; an action no longer active answers OK with a message saying
  // so, and is not kept), then the others from the thread. Keeping an
  // action already kept restarts nothing. The message for the outcome.
  absl::StatusOr<std::string> Keep(const LifecycleAction& action, absl::Time deadline);
  // Stops keeping `action` and completes it with `result` (CONTINUE or
  // ABANDON). An action already complete or expired is done, not an error.
  absl::StatusOr<std::string> Complete(const LifecycleAction& action, const std::string& result,
                                       absl::Time deadline);

  // For tests and metrics.
  size_t kept() const;
  int64_t heartbeats_sent() const { return heartbeats_.load(); }
  // One pass of the thread: the heartbeats due at `now`.
  void BeatDue(absl::Time now);

 private:
  struct Kept {
    LifecycleAction action;
    absl::Duration interval;
    absl::Time next;
    absl::Time until;
  };
  absl::Duration IntervalFor(const LifecycleAction& action, absl::Time deadline);
  absl::Status SaveLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Load();
  void Run();

  AsgApi& api_;
  const LifecycleKeeperOptions options_;
  spdlog::logger& logger_;
  Clock& clock_;
  std::atomic<int64_t> heartbeats_{0};

  mutable absl::Mutex mu_;
  std::map<std::string, Kept> kept_ ABSL_GUARDED_BY(mu_);

  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace hollowtrees::aws_asg
