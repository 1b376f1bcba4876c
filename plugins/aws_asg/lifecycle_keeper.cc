#include "plugins/aws_asg/lifecycle_keeper.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "lib/aws/autoscaling.h"
#include "lib/common/file.h"
#include "lib/common/logging.h"
#include "nlohmann/json.hpp"
#include "spdlog/logger.h"

namespace hollowtrees::aws_asg {

using nlohmann::json;

std::string LifecycleAction::Key() const {
  return token.empty() ? absl::StrCat(group, "/", instance_id) : token;
}

std::string LifecycleAction::Describe() const {
  return absl::StrCat("hook ", hook, " of group ", group, " for ",
                      instance_id.empty() ? "an instance" : instance_id,
                      token.empty() ? "" : absl::StrCat(" (token ", token, ")"));
}

LifecycleKeeper::LifecycleKeeper(AsgApi& api, LifecycleKeeperOptions options,
                                 spdlog::logger& logger, Clock& clock)
    : api_(api), options_(std::move(options)), logger_(logger), clock_(clock) {}

LifecycleKeeper::~LifecycleKeeper() { Stop(); }

absl::Status LifecycleKeeper::Start() {
  if (absl::Status s = Load(); !s.ok()) return s;
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void LifecycleKeeper::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

size_t LifecycleKeeper::kept() const {
  absl::MutexLock lock(&mu_);
  return kept_.size();
}

void LifecycleKeeper::Run() {
  while (!stop_.WaitForNotificationWithTimeout(options_.tick)) BeatDue(clock_.Now());
}

absl::Duration LifecycleKeeper::IntervalFor(const LifecycleAction& action, absl::Time deadline) {
  auto hooks = api_.DescribeLifecycleHooks(action.group, deadline);
  absl::Duration interval = options_.default_interval;
  if (hooks.ok()) {
    for (const aws::LifecycleHook& h : *hooks) {
      if (h.name == action.hook && h.heartbeat_timeout > absl::ZeroDuration()) {
        // Three heartbeats per timeout: one lost call does not let it lapse.
        interval = h.heartbeat_timeout / 3;
      }
    }
  } else {
    logger_.warn("cannot read {}: {}; heartbeats every {}", action.Describe(), hooks.status(),
                 absl::FormatDuration(interval));
  }
  return std::max(interval, options_.min_interval);
}

absl::StatusOr<std::string> LifecycleKeeper::Keep(const LifecycleAction& action,
                                                  absl::Time deadline) {
  {
    absl::MutexLock lock(&mu_);
    auto it = kept_.find(action.Key());
    if (it != kept_.end()) {
      return absl::StrCat("already keeping ", action.Describe(), " open (heartbeat every ",
                          absl::FormatDuration(it->second.interval), ")");
    }
  }
  absl::Status beat = api_.RecordLifecycleActionHeartbeat(action.group, action.hook, action.token,
                                                          action.instance_id, deadline);
  if (aws::IsNoActiveLifecycleAction(beat)) {
    return absl::StrCat("the lifecycle action (", action.Describe(),
                        ") is already complete or expired: nothing to keep open");
  }
  if (!beat.ok()) return beat;
  heartbeats_.fetch_add(1);
  const absl::Duration interval = IntervalFor(action, deadline);
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  kept_[action.Key()] = {action, interval, now + interval, now + options_.max_keep};
  if (absl::Status s = SaveLocked(); !s.ok()) {
    logger_.error("cannot write the lifecycle state file: {}; a restart of this plugin would stop "
                  "the heartbeats of {}",
                  s, action.Describe());
  }
  logger_.info("keeping {} open: heartbeat every {}, for at most {}", action.Describe(),
               absl::FormatDuration(interval), absl::FormatDuration(options_.max_keep));
  return absl::StrCat("keeping ", action.Describe(), " open: heartbeat every ",
                      absl::FormatDuration(interval), " until it is completed (at most ",
                      absl::FormatDuration(options_.max_keep), ")");
}

absl::StatusOr<std::string> LifecycleKeeper::Complete(const LifecycleAction& action,
                                                      const std::string& result,
                                                      absl::Time deadline) {
  absl::Status s = api_.CompleteLifecycleAction(action.group, action.hook, action.token,
                                                action.instance_id, result, deadline);
  const bool gone = aws::IsNoActiveLifecycleAction(s);
  if (!s.ok() && !gone) return s;  // kept: the next attempt completes it
  {
    absl::MutexLock lock(&mu_);
    if (kept_.erase(action.Key()) > 0) {
      if (absl::Status w = SaveLocked(); !w.ok()) {
        logger_.error("cannot write the lifecycle state file: {}", w);
      }
    }
  }
  if (gone) {
    return absl::StrCat("the lifecycle action (", action.Describe(),
                        ") was already complete or expired");
  }
  logger_.info("completed {} with {}", action.Describe(), result);
  return absl::StrCat("completed ", action.Describe(), " with ", result);
}

void LifecycleKeeper::BeatDue(absl::Time now) {
  std::vector<Kept> due;
  {
    absl::MutexLock lock(&mu_);
    bool changed = false;
    for (auto it = kept_.begin(); it != kept_.end();) {
      if (now >= it->second.until) {
        logger_.warn("stopped keeping {} open: not completed within {}; Auto Scaling applies the "
                     "hook's default result when its timeout runs out",
                     it->second.action.Describe(), absl::FormatDuration(options_.max_keep));
        it = kept_.erase(it);
        changed = true;
        continue;
      }
      if (now >= it->second.next) due.push_back(it->second);
      ++it;
    }
    if (changed) (void)SaveLocked();
  }
  for (const Kept& k : due) {
    absl::Status s = api_.RecordLifecycleActionHeartbeat(
        k.action.group, k.action.hook, k.action.token, k.action.instance_id,
        absl::Now() + options_.call_timeout);
    absl::MutexLock lock(&mu_);
    auto it = kept_.find(k.action.Key());
    if (it == kept_.end()) continue;  // completed meanwhile
    if (aws::IsNoActiveLifecycleAction(s)) {
      logger_.info("stopped keeping {} open: it is no longer active (completed or expired)",
                   k.action.Describe());
      kept_.erase(it);
      (void)SaveLocked();
      continue;
    }
    if (s.ok()) {
      heartbeats_.fetch_add(1);
      it->second.next = now + it->second.interval;
    } else {
      // Tried again at the next tick after a tenth of the interval.
      logger_.warn("heartbeat for {} failed: {}", k.action.Describe(), s);
      it->second.next = now + std::max(options_.tick, it->second.interval / 10);
    }
  }
}

absl::Status LifecycleKeeper::SaveLocked() {
  if (options_.state_file.empty()) return absl::OkStatus();
  json out = json::array();
  for (const auto& [key, k] : kept_) {
    out.push_back({{"group", k.action.group},
                   {"hook", k.action.hook},
                   {"token", k.action.token},
                   {"instance_id", k.action.instance_id},
                   {"interval_ms", absl::ToInt64Milliseconds(k.interval)},
                   {"until_unix_ms", absl::ToUnixMillis(k.until)}});
  }
  return WriteFileAtomically(options_.state_file, out.dump() + "\n");
}

absl::Status LifecycleKeeper::Load() {
  if (options_.state_file.empty()) return absl::OkStatus();
  auto text = ReadFile(options_.state_file);
  if (absl::IsNotFound(text.status())) return absl::OkStatus();
  if (!text.ok()) {
    return absl::Status(text.status().code(),
                        absl::StrCat("lifecycle state file ", text.status().message()));
  }
  json in = json::parse(*text, nullptr, false);
  auto malformed = [&](const std::string& why) {
    return absl::InvalidArgumentError(
        absl::StrCat("lifecycle state file ", options_.state_file, ": ", why,
                     " (remove it to start with no hooks kept open)"));
  };
  if (!in.is_array()) return malformed("not a JSON array");
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  for (const json& e : in) {
    if (!e.is_object()) return malformed("an entry is not an object");
    Kept k;
    try {
      k.action = {e.at("group").get<std::string>(), e.at("hook").get<std::string>(),
                  e.at("token").get<std::string>(), e.at("instance_id").get<std::string>()};
      k.interval = std::max(absl::Milliseconds(e.at("interval_ms").get<int64_t>()),
                            options_.min_interval);
      k.until = absl::FromUnixMillis(e.at("until_unix_ms").get<int64_t>());
    } catch (const json::exception& ex) {
      return malformed(ex.what());
    }
    if (k.until <= now) continue;
    k.next = now;  // a heartbeat at once: the restart may have taken a while
    kept_[k.action.Key()] = k;
  }
  if (!kept_.empty()) {
    logger_.info("resuming heartbeats for {} lifecycle action(s) from {}", kept_.size(),
                 options_.state_file);
  }
  return absl::OkStatus();
}

}  // namespace hollowtrees::aws_asg
