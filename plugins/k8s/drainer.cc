#include "plugins/k8s/drainer.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/blocking_counter.h"
#include "lib/common/logging.h"
#include "lib/common/deadline.h"
#include "lib/common/status_macros.h"
#include "spdlog/spdlog.h"

namespace hollowtrees::k8s {

namespace {

constexpr char kMirrorAnnotation[] = "kubernetes.io/config.mirror";

bool Finished(const PodInfo& pod) { return pod.phase == "Succeeded" || pod.phase == "Failed"; }

std::string Secs(absl::Duration d) {
  return absl::StrCat(absl::ToDoubleSeconds(absl::Trunc(d, absl::Milliseconds(100))), "s");
}

}  // namespace

bool IsCriticalPod(const PodInfo& pod) {
  return pod.priority_class_name == "system-node-critical" ||
         pod.priority_class_name == "system-cluster-critical" || pod.priority >= 2000000000 ||
         pod.controller_kind == "DaemonSet";
}

absl::StatusOr<Taint> ParseTaint(absl::string_view text) {
  Taint t;
  const size_t colon = text.rfind(':');
  if (colon == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad taint \"", text, "\": want KEY[=VALUE]:EFFECT"));
  }
  t.effect = std::string(text.substr(colon + 1));
  absl::string_view kv = text.substr(0, colon);
  const size_t eq = kv.find('=');
  t.key = std::string(kv.substr(0, eq));
  if (eq != absl::string_view::npos) t.value = std::string(kv.substr(eq + 1));
  if (t.key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("bad taint \"", text, "\": empty key"));
  }
  if (t.effect != "NoSchedule" && t.effect != "PreferNoSchedule" && t.effect != "NoExecute") {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad taint \"", text, "\": effect must be NoSchedule, PreferNoSchedule or NoExecute"));
  }
  return t;
}

// ---- CordonBarrier ----

void CordonBarrier::Announce(const std::string& node) {
  absl::MutexLock lock(&mu_);
  ++pending_[node];
}

void CordonBarrier::Cordoned(const std::string& node) {
  absl::MutexLock lock(&mu_);
  auto it = pending_.find(node);
  if (it != pending_.end() && --it->second <= 0) pending_.erase(it);
}

void CordonBarrier::Done(const std::string& node) { Cordoned(node); }

std::vector<std::string> CordonBarrier::WaitForCordons(absl::Duration max_wait) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(
                           +[](std::map<std::string, int>* p) { return p->empty(); }, &pending_),
                       max_wait);
  std::vector<std::string> out;
  for (const auto& [node, n] : pending_) out.push_back(node);
  return out;
}

// ---- DrainResult ----

std::string DrainResult::Summary() const {
  std::string s;
  if (cancelled) {
    s = absl::StrCat("drain of node ", node, " cancelled after ", Secs(took));
  } else if (dry_run) {
    s = absl::StrCat("dry run: would cordon node ", node, " and evict ", would_evict.size(),
                     " pod", would_evict.size() == 1 ? "" : "s",
                     would_evict.empty() ? "" : ": ", absl::StrJoin(would_evict, ", "));
  } else if (cordon_only) {
    s = absl::StrCat("cordoned node ", node, " (cordon only", cordoned_now ? "" : "; it already was",
                     ")");
  } else if (already_drained) {
    s = absl::StrCat("node ", node, " already drained (cordoned, nothing to evict)");
  } else if (complete) {
    s = absl::StrCat("drained node ", node, ": ", evicted, " evicted, ", deleted, " deleted");
    if (force_deleted > 0) absl::StrAppend(&s, ", ", force_deleted, " force-deleted near the deadline");
    absl::StrAppend(&s, " in ", Secs(took));
  } else {
    s = absl::StrCat("drain of node ", node, " incomplete after ", Secs(took), ": ",
                     remaining.size(), remaining.size() == 1 ? " pod remains" : " pods remain");
  }
  if (!remaining.empty()) {
    std::vector<std::string> parts;
    for (const auto& r : remaining) parts.push_back(absl::StrCat(r.pod, " (", r.reason, ")"));
    absl::StrAppend(&s, ": ", absl::StrJoin(parts, "; "));
  }
  if (!skipped.empty()) {
    std::vector<std::string> parts;
    for (const auto& r : skipped) parts.push_back(absl::StrCat(r.pod, " (", r.reason, ")"));
    absl::StrAppend(&s, "; skipped ", skipped.size(), ": ", absl::StrJoin(parts, ", "));
  }
  return s;
}

// ---- Drainer ----

namespace {

// Where a pod to remove stands.
enum class PodState {
  kPending,      // to evict (or delete)
  kTerminating,  // accepted; waiting until it is gone
  kGone,
  kFailed,  // refused for good
};

// How a pod was removed.
enum class Removal { kNone, kEvicted, kDeleted, kForceDeleted };

struct PodWork {
  PodInfo pod;
  PodState state = PodState::kPending;
  absl::Time next = absl::InfinitePast();  // not before this
  bool use_delete = false;                 // DELETE rather than the eviction subresource
  bool critical = false;                   // waits for the application pods
  bool force_deleted = false;
  Removal how = Removal::kNone;
  std::string reason;     // why it is still there
  bool reported = false;  // its gone/failed state is logged
};

bool Outstanding(const PodWork& p) {
  return p.state == PodState::kPending || p.state == PodState::kTerminating;
}

// Whether any pod is still to remove, and any application (non-critical) one.
struct Progress {
  bool active = false;
  bool apps_left = false;
};

Progress ProgressOf(const std::vector<PodWork>& pods) {
  Progress p;
  for (const auto& pod : pods) {
    if (!Outstanding(pod)) continue;
    p.active = true;
    if (!pod.critical) p.apps_left = true;
  }
  return p;
}

// Asks to remove a pending pod: eviction, DELETE where eviction is not
// served, DELETE with grace 0 when `force`.
void RemovePod(KubeApi& api, PodWork& p, const DrainOptions& options, absl::Time now, bool force) {
  const std::optional<int64_t> grace =
      force ? std::optional<int64_t>(0) : options.grace_period_seconds;
  const absl::Status s =
      (p.use_delete || force) ? api.DeletePod(p.pod, grace) : api.EvictPod(p.pod, grace);
  if (s.ok()) {
    p.state = PodState::kTerminating;
    p.next = now;  // check at once, then every poll_interval
    p.how = force ? Removal::kForceDeleted : (p.use_delete ? Removal::kDeleted : Removal::kEvicted);
    p.force_deleted = force;
    p.reason = "terminating";
    return;
  }
  if (absl::IsNotFound(s) && !p.use_delete && !force) {
    // Gone, or the eviction subresource is not served: look.
    auto cur = api.GetPod(p.pod.ns, p.pod.name);
    if (cur.ok() && cur->uid == p.pod.uid) {
      p.use_delete = true;  // fall back to DELETE
      p.next = now;
      return;
    }
  }
  if (absl::IsNotFound(s) || absl::IsAborted(s)) {
    // Gone already, or replaced by a pod with a new UID.
    p.state = PodState::kGone;
    return;
  }
  if (absl::IsFailedPrecondition(s) && !p.use_delete && !force) {
    // The server refuses the eviction for good (KubeApi::EvictPod).
    p.state = PodState::kFailed;
    p.reason = absl::StrCat("eviction refused: ", s.message());
    return;
  }
  p.reason = absl::IsResourceExhausted(s)
                 ? absl::StrCat("blocked by a PodDisruptionBudget: ", s.message())
                 : std::string(s.message());
  p.next = now + options.retry_interval;
}

// Looks whether a terminating pod is gone; near the deadline, deletes it
// with grace 0 first.
void CheckGone(KubeApi& api, PodWork& p, const DrainOptions& options, absl::Time now, bool near) {
  if (near && !p.force_deleted) {
    // Still terminating this close to the deadline: the node takes it
    // anyway, so do not let its grace period outlast the notice.
    absl::Status s = api.DeletePod(p.pod, 0);
    p.force_deleted = true;
    if (absl::IsNotFound(s) || absl::IsAborted(s)) {
      p.state = PodState::kGone;
      return;
    }
  }
  auto cur = api.GetPod(p.pod.ns, p.pod.name);
  if (absl::IsNotFound(cur.status()) || (cur.ok() && cur->uid != p.pod.uid)) {
    p.state = PodState::kGone;
    return;
  }
  p.reason = cur.ok() ? "still terminating" : std::string(cur.status().message());
  p.next = now + options.poll_interval;
}

}  // namespace

struct Drainer::Work {
  std::vector<PodWork> pods;
  bool eviction_supported = true;
};

Drainer::Drainer(KubeApi& api, Clock& clock, CordonBarrier& barrier, spdlog::logger& logger,
                 int parallelism)
    : api_(api), clock_(clock), barrier_(barrier), logger_(logger), pool_(parallelism) {}

void Drainer::RunAll(std::vector<std::function<void()>>& tasks) {
  if (tasks.empty()) return;
  if (tasks.size() == 1) {
    tasks[0]();
    return;
  }
  absl::BlockingCounter done(static_cast<int>(tasks.size()));
  const absl::Time deadline = ScopedDeadline::Current();  // the drain's, on the pool too
  for (auto& t : tasks) {
    pool_.Schedule([&t, &done, deadline] {
      {
        ScopedDeadline scope(deadline);
        t();
      }
      done.DecrementCount();
    });
  }
  done.Wait();
}

absl::Status Drainer::Classify(const NodeInfo& node, const std::vector<PodInfo>& pods,
                               const DrainOptions& options, std::vector<PodInfo>* to_evict,
                               DrainResult* result) {
  std::vector<std::string> fatal;
  for (const PodInfo& pod : pods) {
    if (pod.annotations.count(kMirrorAnnotation)) {
      result->skipped.push_back({pod.Key(), "mirror pod"});
      continue;
    }
    if (pod.controller_kind == "DaemonSet") {
      if (!options.ignore_daemonsets) {
        fatal.push_back(absl::StrCat(pod.Key(), " is DaemonSet-managed (set ignore_daemonsets)"));
        continue;
      }
      HT_ASSIGN_OR_RETURN(bool exists, api_.DaemonSetExists(pod.ns, pod.controller_name));
      if (exists) {
        result->skipped.push_back({pod.Key(), "DaemonSet-managed"});
      } else if (options.force) {
        to_evict->push_back(pod);  // its DaemonSet is gone: nothing brings it back
      } else {
        fatal.push_back(absl::StrCat(pod.Key(), "'s DaemonSet ", pod.controller_name,
                                     " is gone (set force)"));
      }
      continue;
    }
    if (Finished(pod)) {
      to_evict->push_back(pod);
      continue;
    }
    if (pod.has_emptydir && !options.delete_emptydir_data) {
      fatal.push_back(
          absl::StrCat(pod.Key(), " uses emptyDir local storage (set delete_emptydir_data)"));
      continue;
    }
    if (pod.controller_kind.empty() && !options.force) {
      fatal.push_back(absl::StrCat(pod.Key(), " has no controller (set force)"));
      continue;
    }
    to_evict->push_back(pod);
  }
  if (!fatal.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("cannot drain node ", node.name, ": ",
                                                      absl::StrJoin(fatal, "; ")));
  }
  return absl::OkStatus();
}

absl::StatusOr<DrainResult> Drainer::Drain(
    const std::string& node_name, const DrainOptions& options,
    const std::function<bool()>& cancelled,
    const std::function<void(absl::Time cordoned_at)>& on_cordoned) {
  const absl::Time start = clock_.Now();
  const absl::Time deadline = start + options.timeout;
  // Every API call ends by the drain's deadline, even against a server that
  // answers a byte at a time (the clock may be a test's: the scope is in
  // real time).
  ScopedDeadline api_deadline(absl::Now() + options.timeout);
  DrainResult result;
  result.node = node_name;
  result.dry_run = options.dry_run;
  auto done = [&]() -> absl::StatusOr<DrainResult> {
    result.took = clock_.Now() - start;
    return std::move(result);
  };

  HT_ASSIGN_OR_RETURN(const NodeInfo node, Cordon(node_name, options, on_cordoned, &result));
  const bool was_cordoned = node.unschedulable;  // before this drain
  if (options.record_event && !options.dry_run && !was_cordoned) RecordDrainEvent(node, options);
  if (options.cordon_only) {
    result.cordon_only = true;
    result.complete = true;
    return done();
  }
  HT_ASSIGN_OR_RETURN(std::vector<PodInfo> pods,
                      api_.ListPodsOnNode(node_name, options.pod_selector));
  std::vector<PodInfo> to_evict;
  HT_RETURN_IF_ERROR(Classify(node, pods, options, &to_evict, &result));
  if (options.dry_run) {
    for (const auto& p : to_evict) result.would_evict.push_back(p.Key());
    result.complete = true;
    return done();
  }
  if (to_evict.empty()) {
    result.complete = true;
    result.already_drained = was_cordoned;
    return done();
  }
  HoldForCordons(node_name, options, deadline);
  Work work;
  HT_ASSIGN_OR_RETURN(work.eviction_supported, api_.EvictionSupported());
  for (auto& p : to_evict) {
    const bool critical = options.evict_critical_last && IsCriticalPod(p);
    work.pods.push_back(
        {.pod = std::move(p), .use_delete = !work.eviction_supported, .critical = critical});
  }
  Evict(work, options, deadline, cancelled, &result);
  Tally(work, &result);
  return done();
}

absl::StatusOr<NodeInfo> Drainer::Cordon(
    const std::string& node_name, const DrainOptions& options,
    const std::function<void(absl::Time cordoned_at)>& on_cordoned, DrainResult* result) {
  // Announced until cordoned (or failed): other drains wait before evicting.
  barrier_.Announce(node_name);
  struct Release {
    CordonBarrier& barrier;
    const std::string& node;
    ~Release() { barrier.Done(node); }
  } release{barrier_, node_name};
  HT_ASSIGN_OR_RETURN(NodeInfo node, api_.GetNode(node_name));
  if (!node.unschedulable && !options.dry_run) {
    HT_RETURN_IF_ERROR(api_.SetUnschedulable(node_name, true));
    result->cordoned_now = true;
    if (on_cordoned) on_cordoned(clock_.Now());
    logger_.info("node={} cordoned", node_name);
  }
  if (options.taint && !options.dry_run) {
    HT_RETURN_IF_ERROR(api_.AddTaint(node_name, *options.taint));
  }
  return node;
}

void Drainer::RecordDrainEvent(const NodeInfo& node, const DrainOptions& options) {
  absl::Status s =
      api_.RecordNodeEvent(node, "Warning", options.event_reason, options.event_message);
  if (!s.ok()) logger_.warn("node={} cannot record event: {}", node.name, s);
}

// Mass interruption: lets the other doomed nodes' cordons land first.
void Drainer::HoldForCordons(const std::string& node_name, const DrainOptions& options,
                             absl::Time deadline) {
  if (options.cordon_hold > absl::ZeroDuration()) {
    clock_.SleepUntil(std::min(clock_.Now() + options.cordon_hold, deadline));
  }
  std::vector<std::string> uncordoned = barrier_.WaitForCordons(
      std::max(absl::ZeroDuration(), std::min(absl::Seconds(10), deadline - clock_.Now())));
  if (!uncordoned.empty()) {
    logger_.warn("node={} evicting although doomed nodes are not cordoned yet: {}", node_name,
                 absl::StrJoin(uncordoned, ", "));
  }
}

void Drainer::Tally(const Work& work, DrainResult* result) {
  for (const auto& p : work.pods) {
    if (p.how == Removal::kEvicted) ++result->evicted;
    if (p.how == Removal::kDeleted) ++result->deleted;
    if (p.force_deleted) ++result->force_deleted;
    if (p.state != PodState::kGone) result->remaining.push_back({p.pod.Key(), p.reason});
  }
  result->complete = result->remaining.empty();
}

void Drainer::Evict(Work& work, const DrainOptions& options, absl::Time deadline,
                    const std::function<bool()>& cancelled, DrainResult* result) {
  // Bounded: each round either waits for a later time or makes progress.
  for (int round = 0; round < 1000000; ++round) {
    const absl::Time now = clock_.Now();
    const Progress progress = ProgressOf(work.pods);
    if (!progress.active) return;
    if (cancelled()) {
      result->cancelled = true;
      for (auto& p : work.pods) {
        if (Outstanding(p)) p.reason = "drain cancelled";
      }
      return;
    }
    if (now >= deadline) {
      for (auto& p : work.pods) {
        if (p.state == PodState::kPending && p.reason.empty()) {
          p.reason = "not evicted before the deadline";
        }
      }
      return;
    }
    const bool near =
        options.force_delete_near_deadline && deadline - now <= options.force_delete_margin;
    std::vector<std::function<void()>> tasks =
        RoundCalls(work, options, now, near, /*critical_open=*/!progress.apps_left || near);
    logger_.debug("node={} round {}: {} calls", result->node, round, tasks.size());
    RunAll(tasks);
    LogTransitions(work, result->node);
    if (!ProgressOf(work.pods).active) return;
    const absl::Time wake = NextWake(work, options, deadline, near);
    if (wake > clock_.Now()) clock_.SleepUntil(wake);
  }
}

// The API calls due this round: remove pending pods (critical ones only once
// `critical_open`), look whether terminating ones are gone.
std::vector<std::function<void()>> Drainer::RoundCalls(Work& work, const DrainOptions& options,
                                                       absl::Time now, bool near,
                                                       bool critical_open) {
  std::vector<std::function<void()>> tasks;
  for (auto& p : work.pods) {
    if (p.next > now) continue;
    if (p.state == PodState::kPending && (!p.critical || critical_open)) {
      tasks.push_back([this, &p, &options, now, near] { RemovePod(api_, p, options, now, near); });
    } else if (p.state == PodState::kTerminating) {
      tasks.push_back([this, &p, &options, now, near] { CheckGone(api_, p, options, now, near); });
    }
  }
  return tasks;
}

void Drainer::LogTransitions(Work& work, const std::string& node) {
  for (auto& p : work.pods) {
    if (p.reported) continue;
    if (p.state == PodState::kGone) {
      logger_.debug("node={} pod={} gone", node, p.pod.Key());
      p.reported = true;
    } else if (p.state == PodState::kFailed && !p.reason.empty()) {
      logger_.warn("node={} pod={} {}", node, p.pod.Key(), p.reason);
      p.reported = true;
    }
  }
}

// When the next thing is due: a pod's next call, the force-delete margin,
// or the deadline.
absl::Time Drainer::NextWake(const Work& work, const DrainOptions& options, absl::Time deadline,
                             bool near) {
  const bool apps_left = ProgressOf(work.pods).apps_left;
  absl::Time wake = deadline;
  for (const auto& p : work.pods) {
    if (p.state == PodState::kTerminating ||
        (p.state == PodState::kPending && (!p.critical || !apps_left || near))) {
      wake = std::min(wake, p.next);
    }
  }
  if (options.force_delete_near_deadline && !near) {
    wake = std::min(wake, deadline - options.force_delete_margin);
  }
  return wake;
}

absl::StatusOr<std::string> Drainer::Uncordon(const std::string& node_name,
                                              const std::optional<Taint>& taint,
                                              bool record_event, bool dry_run) {
  HT_ASSIGN_OR_RETURN(NodeInfo node, api_.GetNode(node_name));
  bool has_taint = false;
  if (taint) {
    for (const auto& t : node.taints) {
      if (t.key == taint->key && t.effect == taint->effect) has_taint = true;
    }
  }
  if (!node.unschedulable && !has_taint) {
    return absl::StrCat("node ", node_name, " already schedulable");
  }
  if (dry_run) return absl::StrCat("dry run: would uncordon node ", node_name);
  if (node.unschedulable) HT_RETURN_IF_ERROR(api_.SetUnschedulable(node_name, false));
  if (has_taint) HT_RETURN_IF_ERROR(api_.RemoveTaint(node_name, *taint));
  logger_.info("node={} uncordoned", node_name);
  if (record_event) {
    absl::Status s = api_.RecordNodeEvent(node, "Normal", "SpotInterruptionCancelled",
                                          "uncordoned: interruption notice resolved");
    if (!s.ok()) logger_.warn("node={} cannot record event: {}", node_name, s);
  }
  return absl::StrCat("uncordoned node ", node_name);
}

}  // namespace hollowtrees::k8s
