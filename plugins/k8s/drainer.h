#pragma once

// The drain logic: `kubectl drain` semantics, plus what a node about to be
// reclaimed needs (a hard deadline inside the 2-minute notice, force-deleting
// what a budget still blocks near that deadline, application pods before
// critical ones, an Event on the node, cordoning every doomed node before any
// pod is evicted).

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "lib/common/clock.h"
#include "lib/common/thread_pool.h"
#include "plugins/k8s/kube_api.h"

namespace spdlog {
class logger;
}

namespace hollowtrees::k8s {

struct DrainOptions {
  // Whole drain, cordon to last pod gone. Default 90 s (inside the 120 s
  // notice, leaving time for the next plugin).
  absl::Duration timeout = absl::Seconds(90);
  // Overrides every pod's terminationGracePeriodSeconds; nullopt: the pod's.
  std::optional<int64_t> grace_period_seconds;
  // Only pods matching this label selector are evicted. Default: all.
  std::string pod_selector;
  // Evict pods using emptyDir (their data is lost). Default true.
  bool delete_emptydir_data = true;
  // Delete pods no controller manages (and DaemonSet pods whose DaemonSet is
  // gone). Default true.
  bool force = true;
  // Leave DaemonSet pods alone; false makes a DaemonSet pod a fatal error,
  // as kubectl without --ignore-daemonsets. Default true.
  bool ignore_daemonsets = true;
  // Cordon (and taint) only; evict nothing (rebalance recommendations).
  bool cordon_only = false;
  // Added to the node after the cordon when set.
  std::optional<Taint> taint;
  // Report what would be done; change nothing.
  bool dry_run = false;
  // When the deadline is this close and pods are still blocked by a budget
  // or still terminating, delete them with grace 0. Off by default.
  bool force_delete_near_deadline = false;
  absl::Duration force_delete_margin = absl::Seconds(10);
  // Evict application pods first; critical pods (priority class
  // system-node-critical / system-cluster-critical, priority >= 2e9, or
  // DaemonSet pods being removed) only once the others are gone.
  bool evict_critical_last = false;
  // Record a Kubernetes Event on the node. Default true.
  bool record_event = true;
  std::string event_reason = "SpotInterruption";
  std::string event_message = "draining: spot termination notice";
  // Wait between evictions a budget refused (kubectl: 5 s).
  absl::Duration retry_interval = absl::Seconds(5);
  // Wait between checks that an evicted pod is gone (kubectl: 1 s).
  absl::Duration poll_interval = absl::Seconds(1);
  // After cordoning, how long to wait for other doomed nodes' cordons before
  // evicting, so evicted pods do not land on a node about to go too.
  absl::Duration cordon_hold = absl::Seconds(1);
};

struct PodReport {
  std::string pod;     // namespace/name
  std::string reason;  // why it is skipped / still there
};

struct DrainResult {
  std::string node;
  // Every pod to evict is gone (or dry run / cordon only finished).
  bool complete = false;
  // The node was cordoned already and had nothing to evict.
  bool already_drained = false;
  bool cordoned_now = false;
  bool dry_run = false;
  bool cordon_only = false;
  int evicted = 0;
  int deleted = 0;
  int force_deleted = 0;
  std::vector<PodReport> skipped;
  // Dry run: what would be evicted or deleted.
  std::vector<std::string> would_evict;
  // Pods still there at the deadline (or failed), with the reason.
  std::vector<PodReport> remaining;
  bool cancelled = false;
  absl::Duration took;
  // One line for the plugin's outcome message.
  std::string Summary() const;
};

// Coordinates drains running at once, so that in a mass interruption every
// doomed node is cordoned before any pod is evicted (evicted pods must not be
// rescheduled onto the next doomed node). A drain Announce()s its node on
// arrival, reports Cordoned() once the cordon landed (or failed), and before
// its first eviction WaitForCordons() until every announced node is cordoned.
// Thread-safe.
class CordonBarrier {
 public:
  void Announce(const std::string& node);
  void Cordoned(const std::string& node);
  // Forgets the node (its drain ended).
  void Done(const std::string& node);
  // Waits (wall time, at most `max_wait`) until no announced node is still
  // uncordoned; returns the nodes still uncordoned when it gave up.
  std::vector<std::string> WaitForCordons(absl::Duration max_wait);

 private:
  absl::Mutex mu_;
  std::map<std::string, int> pending_ ABSL_GUARDED_BY(mu_);  // node -> drains not yet cordoned
};

// Thread-safe: drains of different nodes run concurrently. `api`, `clock`,
// `barrier` and `logger` must outlive the drainer.
class Drainer {
 public:
  // `parallelism`: API calls in flight at once per drainer.
  Drainer(KubeApi& api, Clock& clock, CordonBarrier& barrier, spdlog::logger& logger,
          int parallelism = 32);

  // Cordons and drains `node`. Errors: NotFound (no such node),
  // FailedPrecondition (pods that cannot be drained under the options, all
  // named, before anything is evicted), or the API's error (Unavailable...).
  // A deadline reached with pods remaining is an OK result with `remaining`
  // naming them. `cancelled` is polled; when it turns true the drain stops.
  // `on_cordoned`, when set, is called once with the clock's time as soon as
  // this drain's cordon landed (not when the node was cordoned already, nor
  // in a dry run), whatever happens to the drain afterwards.
  absl::StatusOr<DrainResult> Drain(
      const std::string& node, const DrainOptions& options,
      const std::function<bool()>& cancelled = [] { return false; },
      const std::function<void(absl::Time cordoned_at)>& on_cordoned = nullptr);

  // Uncordons the node and removes `taint` when given. Idempotent.
  absl::StatusOr<std::string> Uncordon(const std::string& node, const std::optional<Taint>& taint,
                                       bool record_event, bool dry_run);

 private:
  struct Work;
  void RunAll(std::vector<std::function<void()>>& tasks);
  absl::Status Classify(const NodeInfo& node, const std::vector<PodInfo>& pods,
                        const DrainOptions& options, std::vector<PodInfo>* to_evict,
                        DrainResult* result);
  // The steps of Drain(), in order.
  absl::StatusOr<NodeInfo> Cordon(const std::string& node, const DrainOptions& options,
                                  const std::function<void(absl::Time)>& on_cordoned,
                                  DrainResult* result);
  void RecordDrainEvent(const NodeInfo& node, const DrainOptions& options);
  void HoldForCordons(const std::string& node, const DrainOptions& options, absl::Time deadline);
  // Rounds of API calls until every pod is gone or failed, the deadline, or
  // cancellation.
  void Evict(Work& work, const DrainOptions& options, absl::Time deadline,
             const std::function<bool()>& cancelled, DrainResult* result);
  std::vector<std::function<void()>> RoundCalls(Work& work, const DrainOptions& options,
                                                absl::Time now, bool near, bool critical_open);
  void LogTransitions(Work& work, const std::string& node);
  absl::Time NextWake(const Work& work, const DrainOptions& options, absl::Time deadline,
                      bool near);
  void Tally(const Work& work, DrainResult* result);

  KubeApi& api_;
  Clock& clock_;
  CordonBarrier& barrier_;
  spdlog::logger& logger_;
  ThreadPool pool_;
};

// True for pods evicted last with evict_critical_last.
bool IsCriticalPod(const PodInfo& pod);

// Parses "key=value:Effect" or "key:Effect".
absl::StatusOr<Taint> ParseTaint(absl::string_view text);

}  // namespace hollowtrees::k8s
