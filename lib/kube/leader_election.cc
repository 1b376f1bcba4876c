#include "lib/kube/leader_election.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/common/deadline.h"
#include "lib/common/logging.h"
#include "lib/common/rfc3339.h"
#include "spdlog/spdlog.h"

namespace hollowtrees::kube {
namespace {

std::string Dur(absl::Duration d) { return absl::FormatDuration(d); }

std::string Holder(const std::string& identity) {
  return identity.empty() ? "nobody (released)" : absl::StrCat("\"", identity, "\"");
}

}  // namespace

absl::Status ValidateLeaderElectionConfig(const LeaderElectionConfig& c) {
  std::vector<std::string> problems;
  if (c.identity.empty()) problems.push_back("identity must not be empty");
  auto positive = [&problems](const char* name, absl::Duration d) {
    if (d > absl::ZeroDuration()) return true;
    problems.push_back(absl::StrCat(name, " (", Dur(d), ") must be positive"));
    return false;
  };
  const bool lease_ok = positive("lease_duration", c.lease_duration);
  const bool renew_ok = positive("renew_deadline", c.renew_deadline);
  const bool retry_ok = positive("retry_period", c.retry_period);
  if (lease_ok) {
    const absl::Duration max = absl::Seconds(std::numeric_limits<int32_t>::max());
    if (c.lease_duration < absl::Seconds(1)) {
      problems.push_back(
          absl::StrCat("lease_duration (", Dur(c.lease_duration), ") must be at least 1s"));
    } else if (c.lease_duration > max) {
      problems.push_back(
          absl::StrCat("lease_duration (", Dur(c.lease_duration), ") must be at most ", Dur(max)));
    } else if (c.lease_duration % absl::Seconds(1) != absl::ZeroDuration()) {
      problems.push_back(absl::StrCat("lease_duration (", Dur(c.lease_duration),
                                      ") must be a whole number of seconds (the Lease's "
                                      "leaseDurationSeconds is an integer)"));
    }
  }
  if (lease_ok && renew_ok && c.lease_duration <= c.renew_deadline) {
    problems.push_back(absl::StrCat("lease_duration (", Dur(c.lease_duration),
                                    ") must be greater than renew_deadline (",
                                    Dur(c.renew_deadline), ")"));
  }
  if (renew_ok && retry_ok && c.renew_deadline <= c.retry_period * kLeaderElectionJitterFactor) {
    problems.push_back(absl::StrCat(
        "renew_deadline (", Dur(c.renew_deadline), ") must be greater than 1.2 × retry_period (",
        Dur(c.retry_period), ") = ", Dur(c.retry_period * kLeaderElectionJitterFactor)));
  }
  if (problems.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(problems, "; "));
}

absl::StatusOr<std::unique_ptr<LeaderElector>> LeaderElector::Create(
    LeaseApi& api, Clock& clock, LeaderElectionConfig config, LeaderCallbacks callbacks,
    spdlog::logger& logger, std::optional<uint64_t> jitter_seed) {
  if (absl::Status s = ValidateLeaderElectionConfig(config); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("leader election: ", s.message()));
  }
  const uint64_t seed = jitter_seed ? *jitter_seed : std::random_device{}();
  return std::unique_ptr<LeaderElector>(
      new LeaderElector(api, clock, std::move(config), std::move(callbacks), logger, seed));
}

LeaderElector::LeaderElector(LeaseApi& api, Clock& clock, LeaderElectionConfig config,
                             LeaderCallbacks callbacks, spdlog::logger& logger, uint64_t seed)
    : api_(api),
      clock_(clock),
      config_(std::move(config)),
      callbacks_(std::move(callbacks)),
      logger_(logger),
      lease_(api.Describe()),
      rng_(seed) {}

LeaderElector::~LeaderElector() {
  Stop(false);
  if (thread_.joinable()) thread_.join();
}

void LeaderElector::Start() {
  absl::MutexLock lock(&mu_);
  if (started_ || stopping_ || stopped_) return;
  started_ = true;
  thread_ = std::thread([this] { Run(); });
}

void LeaderElector::Run() {
  for (;;) {
    const absl::Duration wait = Tick();
    absl::MutexLock lock(&mu_);
    // Real time: the wait must end when Stop asks, whatever clock_ is.
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), wait);
    if (stopping_) return;
  }
}

absl::Duration LeaderElector::Tick() {
  std::vector<Fired> fired;
  absl::Duration wait;
  {
    absl::MutexLock round(&round_mu_);
    const absl::Time now = clock_.Now();
    {
      absl::MutexLock lock(&mu_);
      if (stopping_ || stopped_) return config_.retry_period;
      // A round that starts late (a starved thread, a slow callback) finds
      // LeaderUntil passed: leadership ended there, whatever comes next.
      if (leading_ && now >= leader_until_) {
        StopLeading(fired, absl::StrCat("no renewal succeeded for renew_deadline (",
                                        Dur(config_.renew_deadline), ")"));
      }
    }
    round_failed_ = false;
    bool held;
    {
      // Real time on purpose: it bounds this round's HTTP requests, which
      // KubeClient measures with absl::Now().
      ScopedDeadline deadline(absl::Now() + config_.renew_deadline);
      held = TryAcquireOrRenew(now);
    }
    if (!round_failed_ && !last_failure_.empty()) {
      logger_.info("lease {}: the API server answers again", lease_);
      last_failure_.clear();
    }
    absl::MutexLock lock(&mu_);
    leader_identity_ = observed_ ? observed_->holder_identity : "";
    ReportLeader(fired);
    if (held) {
      leader_until_ = now + config_.renew_deadline;
      if (!leading_) {
        leading_ = true;
        ++transitions_;
        fired.push_back({Event::kStarted, ""});
        logger_.info("lease {}: \"{}\" became the leader (lease transitions {}), leading until {}",
                     lease_, config_.identity, observed_->lease_transitions,
                     FormatRfc3339(leader_until_, Rfc3339Fraction::kMillis));
      }
    } else if (leading_ && clock_.Now() >= leader_until_) {
      StopLeading(fired, absl::StrCat("no renewal succeeded for renew_deadline (",
                                      Dur(config_.renew_deadline), ")"));
    }
    if (leading_) {
      // Wake up at LeaderUntil at the latest, so that leadership ends on
      // time (on_stopped_leading) when renewals keep failing.
      wait = std::clamp(leader_until_ - clock_.Now(), absl::ZeroDuration(), config_.retry_period);
    } else {
      // client-go's wait.Jitter(retry_period, JitterFactor): spreads the
      // candidates' requests.
      std::uniform_real_distribution<double> jitter(0.0, kLeaderElectionJitterFactor);
      wait = config_.retry_period + config_.retry_period * jitter(rng_);
    }
  }
  Fire(fired);
  return wait;
}

bool LeaderElector::TryAcquireOrRenew(absl::Time now) {
  LeaseRecord mine;
  mine.holder_identity = config_.identity;
  mine.lease_duration_seconds = static_cast<int32_t>(absl::ToInt64Seconds(config_.lease_duration));
  mine.acquire_time = now;
  mine.renew_time = now;

  // 1. The leader's fast path: update at the version last seen, without a
  // read, while its own lease is still valid.
  if (observed_ && observed_->holder_identity == config_.identity &&
      observed_time_ + absl::Seconds(observed_->lease_duration_seconds) > now) {
    LeaseRecord renewal = mine;
    renewal.acquire_time = observed_->acquire_time;
    renewal.lease_transitions = observed_->lease_transitions;
    renewal.resource_version = observed_->resource_version;
    absl::StatusOr<LeaseRecord> updated = api_.Update(renewal);
    if (updated.ok()) {
      Observe(*updated, /*own_write=*/true);
      return true;
    }
    logger_.debug("lease {}: renewal at version {} failed ({}); reading the lease", lease_,
                  renewal.resource_version, updated.status());
  }

  // 2. Read it, or create it.
  absl::StatusOr<LeaseRecord> current = api_.Get();
  if (!current.ok()) {
    if (current.status().code() != absl::StatusCode::kNotFound) {
      Failure("reading", current.status());
      return false;
    }
    absl::StatusOr<LeaseRecord> created = api_.Create(mine);
    if (!created.ok()) {
      if (created.status().code() == absl::StatusCode::kAlreadyExists) {
        logger_.debug("lease {}: another candidate created it first", lease_);
      } else {
        Failure("creating", created.status());
      }
      return false;
    }
    Observe(*created, /*own_write=*/true);
    return true;
  }
  Observe(*current, /*own_write=*/false);

  // 3. Someone else holds it and, by our clock, it has not expired.
  if (!current->holder_identity.empty() && current->holder_identity != config_.identity &&
      observed_time_ + absl::Seconds(current->lease_duration_seconds) > now) {
    return false;
  }

  // 4. Take it (expired or released) or renew it (ours), at the version read.
  LeaseRecord update = mine;
  update.resource_version = current->resource_version;
  if (current->holder_identity == config_.identity) {
    update.acquire_time = current->acquire_time;
    update.lease_transitions = current->lease_transitions;
  } else {
    update.lease_transitions = current->lease_transitions + 1;
  }
  absl::StatusOr<LeaseRecord> updated = api_.Update(update);
  if (!updated.ok()) {
    if (updated.status().code() == absl::StatusCode::kAborted) {
      logger_.debug("lease {}: another candidate wrote it first ({})", lease_, updated.status());
    } else {
      Failure(current->holder_identity == config_.identity ? "renewing" : "acquiring",
              updated.status());
    }
    return false;
  }
  Observe(*updated, /*own_write=*/true);
  return true;
}

void LeaderElector::Observe(const LeaseRecord& record, bool own_write) {
  // client-go's observedTime: when this candidate last saw the record change
  // (or wrote it). Expiry is measured from it on our own clock.
  if (own_write || !observed_ || !observed_->SameSpec(record)) observed_time_ = clock_.Now();
  observed_ = record;
}

void LeaderElector::Failure(absl::string_view what, const absl::Status& status) {
  round_failed_ = true;
  // Once per kind of failure, not every round.
  std::string key = absl::StrCat(what, " ", absl::StatusCodeToString(status.code()));
  if (key == last_failure_) return;
  last_failure_ = std::move(key);
  absl::Time until;
  bool leading;
  {
    absl::MutexLock lock(&mu_);
    leading = leading_;
    until = leader_until_;
  }
  if (leading) {
    logger_.warn(
        "lease {}: renewal failed ({} the lease: {}); still leading until {} unless a "
        "renewal succeeds",
        lease_, what, status, FormatRfc3339(until, Rfc3339Fraction::kMillis));
  } else {
    logger_.warn("lease {}: {} the lease failed: {}; retrying every {}", lease_, what, status,
                 Dur(config_.retry_period));
  }
}

void LeaderElector::StopLeading(std::vector<Fired>& fired, absl::string_view why) {
  leading_ = false;
  leader_until_ = absl::InfinitePast();
  fired.push_back({Event::kStopped, ""});
  logger_.info("lease {}: \"{}\" stopped leading: {}", lease_, config_.identity, why);
}

void LeaderElector::ReportLeader(std::vector<Fired>& fired) {
  if (leader_identity_ == reported_leader_) return;
  reported_leader_ = leader_identity_;
  fired.push_back({Event::kNewLeader, reported_leader_});
  logger_.info("lease {}: held by {}", lease_, Holder(reported_leader_));
}

void LeaderElector::Fire(const std::vector<Fired>& fired) {
  for (const Fired& f : fired) {
    switch (f.event) {
      case Event::kStarted:
        if (callbacks_.on_started_leading) callbacks_.on_started_leading();
        break;
      case Event::kStopped:
        if (callbacks_.on_stopped_leading) callbacks_.on_stopped_leading();
        break;
      case Event::kNewLeader:
        if (callbacks_.on_new_leader) callbacks_.on_new_leader(f.identity);
        break;
    }
  }
}

void LeaderElector::Stop(bool release) {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ || stopped_) return;
    stopping_ = true;
  }
  // The round in flight ends within its deadline; Run sees stopping_. From
  // a callback (on the elector's thread), Run ends once the callback returns.
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  std::vector<Fired> fired;
  {
    absl::MutexLock round(&round_mu_);
    // client-go's release: only a lease we hold, at the version we wrote.
    if (release && observed_ && observed_->holder_identity == config_.identity) {
      const absl::Time now = clock_.Now();
      LeaseRecord released;
      released.holder_identity = "";
      released.lease_duration_seconds = 1;
      released.acquire_time = now;
      released.renew_time = now;
      released.lease_transitions = observed_->lease_transitions;
      released.resource_version = observed_->resource_version;
      ScopedDeadline deadline(absl::Now() + config_.renew_deadline);
      absl::StatusOr<LeaseRecord> updated = api_.Update(released);
      if (updated.ok()) {
        Observe(*updated, /*own_write=*/true);
        logger_.info("lease {}: released by \"{}\"", lease_, config_.identity);
      } else {
        logger_.error("lease {}: releasing failed: {}; the others take it when it expires", lease_,
                      updated.status());
      }
    }
    absl::MutexLock lock(&mu_);
    leader_identity_ = observed_ ? observed_->holder_identity : "";
    if (leading_) StopLeading(fired, release ? "stopped, lease released" : "stopped");
    stopped_ = true;
  }
  Fire(fired);
}

bool LeaderElector::IsLeader() const {
  absl::MutexLock lock(&mu_);
  return leading_;
}

absl::Time LeaderElector::LeaderUntil() const {
  absl::MutexLock lock(&mu_);
  return leader_until_;
}

std::string LeaderElector::leader_identity() const {
  absl::MutexLock lock(&mu_);
  return leader_identity_;
}

int64_t LeaderElector::transitions() const {
  absl::MutexLock lock(&mu_);
  return transitions_;
}

}  // namespace hollowtrees::kube
