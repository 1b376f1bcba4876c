#pragma once

// Leader election on a Kubernetes Lease: client-go's algorithm
// (k8s.io/client-go/tools/leaderelection), in our style.
//
// Every round (Tick) a candidate reads the Lease and:
// - creates it, holding it, when there is none;
// - leaves it alone while another holder's lease has not expired. Expiry is
//   judged on this candidate's own clock, never on the times written in the
//   Lease (another machine's clock): the lease expires lease_duration after
//   this candidate last saw the record change (its "observed time");
// - otherwise takes or renews it with an update at the version it read, so
//   of two candidates racing for it one wins and the other gets a 409
//   Conflict (a lost round). A released lease (holder "") may be taken at
//   once.
// The leader renews every retry_period. When no renewal has succeeded for
// renew_deadline, it stops leading (on_stopped_leading) and goes on as a
// candidate. A candidate retries every retry_period plus jitter.
//
// Why it is safe: a renewal written at local time t can be taken over by
// another candidate no sooner than t + lease_duration on that candidate's
// clock (it sees the write after it happened), while the leader counts
// itself leader until t + renew_deadline (LeaderUntil), which is earlier
// because lease_duration > renew_deadline. So a leader that checks
// `clock.Now() < LeaderUntil()` before each action stops before anybody else
// can start, as long as the machines' clocks run at about the same rate.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "lib/common/clock.h"
#include "lib/kube/lease.h"

namespace spdlog {
class logger;
}

namespace hollowtrees::kube {

struct LeaderElectionConfig {
  // This candidate's name in the Lease's holderIdentity (a pod name, say).
  // Required; unique among the candidates.
  std::string identity;
  // How long after last seeing the Lease change the other candidates may
  // take it. A whole number of seconds, at least 1 s (leaseDurationSeconds is
  // an int32 of seconds). Default 4 s.
  absl::Duration lease_duration = absl::Seconds(4);
  // How long the leader goes on leading without a successful renewal; also
  // the bound on each round's requests. Less than lease_duration. Default 2 s.
  absl::Duration renew_deadline = absl::Seconds(2);
  // The wait between rounds (a candidate's is jittered up to
  // kLeaderElectionJitterFactor times more). renew_deadline must exceed
  // kLeaderElectionJitterFactor × retry_period. Default 500 ms.
  absl::Duration retry_period = absl::Milliseconds(500);
};

// client-go's JitterFactor: a candidate waits retry_period plus up to this
// many retry_periods (wait.Jitter), and renew_deadline must exceed this
// many retry_periods.
inline constexpr double kLeaderElectionJitterFactor = 1.2;

// OK, or InvalidArgument listing every rule broken ("; " between them), each
// naming the field and the rule with the values, e.g.
// "renew_deadline (2s) must be greater than 1.2 × retry_period (2s) = 2.4s".
// Field names are the engine's YAML keys: identity, lease_duration,
// renew_deadline, retry_period.
absl::Status ValidateLeaderElectionConfig(const LeaderElectionConfig& config);

// Called on the elector's thread (the one running Tick, or Stop's caller
// for the last on_stopped_leading), never with the elector's locks held, in
// the order the changes happened. They must return quickly: the next round
// waits for them, and a leader that does not renew in time loses the lease.
// Empty functions are skipped.
struct LeaderCallbacks {
  // This elector became the leader.
  std::function<void()> on_started_leading;
  // This elector stopped being the leader (renewals failed for
  // renew_deadline, or Stop). Once per on_started_leading.
  std::function<void()> on_stopped_leading;
  // The holder seen in the Lease changed (also the first one seen, and ""
  // when the lease was released). Includes this elector's own identity.
  std::function<void(const std::string& identity)> on_new_leader;
};

// Thread-safe. `api`, `clock` and `logger` must outlive the elector.
class LeaderElector {
 public:
  // InvalidArgument when the config is not valid
  // (ValidateLeaderElectionConfig). `jitter_seed` seeds the candidate's
  // jitter (nullopt: a random seed).
  static absl::StatusOr<std::unique_ptr<LeaderElector>> Create(
      LeaseApi& api, Clock& clock, LeaderElectionConfig config, LeaderCallbacks callbacks,
      spdlog::logger& logger, std::optional<uint64_t> jitter_seed = std::nullopt);
  // Stop(false) when still running. Not from a callback (it would wait for
  // its own thread).
  ~LeaderElector();
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  // Starts a thread doing Tick() then waiting what it returns, until Stop.
  // The wait is in real time (absl::CondVar), whatever the clock: with a
  // FakeClock, drive Tick() directly instead. Once; later calls do nothing.
  void Start();

  // One round: read the Lease, take or renew it or stay a follower, fire the
  // callbacks. Returns how long to wait before the next round: while
  // leading, retry_period but no later than LeaderUntil (so that a leader
  // whose renewals fail stops at LeaderUntil); otherwise retry_period plus
  // a uniform jitter of up to kLeaderElectionJitterFactor × retry_period
  // (client-go's wait.Jitter). Its requests run under a ScopedDeadline of
  // renew_deadline (real time). Rounds are serialized. Does nothing once
  // stopped.
  absl::Duration Tick();

  // Ends the thread (waiting for a round in flight, which its deadline
  // bounds). If leading: with `release`, updates the Lease as client-go's
  // release does (holder "", leaseDurationSeconds 1, acquire = renew = now,
  // transitions kept), so that another candidate takes it on its next round;
  // then on_stopped_leading. Returns within about two renew_deadlines even
  // when the API server hangs (the round in flight, then the release). May
  // be called from a callback. Later calls do nothing.
  void Stop(bool release);

  // Leading: acquired, and not yet found at a round's start or end that
  // LeaderUntil has passed. For acting as leader, use LeaderUntil.
  bool IsLeader() const;
  // While leading: the start of the last successful acquire or renewal plus
  // renew_deadline, on the elector's clock; InfinitePast otherwise. Act as
  // leader only while clock.Now() < LeaderUntil(): past it, another
  // candidate may soon take the lease.
  absl::Time LeaderUntil() const;
  // The holder last seen in the Lease ("" when none or released).
  std::string leader_identity() const;
  // How many times this elector became leader.
  int64_t transitions() const;

 private:
  enum class Event { kStarted, kStopped, kNewLeader };
  struct Fired {
    Event event;
    std::string identity;  // kNewLeader
  };

  LeaderElector(LeaseApi& api, Clock& clock, LeaderElectionConfig config, LeaderCallbacks callbacks,
                spdlog::logger& logger, uint64_t seed);

  // client-go's tryAcquireOrRenew; true when this elector holds the lease
  // after it. `now` is the round's start on the elector's clock.
  bool TryAcquireOrRenew(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(round_mu_);
  // Records what was read or written, and when (observed time) if it
  // changed or this elector wrote it.
  void Observe(const LeaseRecord& record, bool own_write) ABSL_EXCLUSIVE_LOCKS_REQUIRED(round_mu_);
  // A failed request (not a lost race): logged once per kind of failure,
  // not every round.
  void Failure(absl::string_view what, const absl::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(round_mu_);
  // Leaves the leading state: no more LeaderUntil.
  void StopLeading(std::vector<Fired>& fired, absl::string_view why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(round_mu_, mu_);
  void ReportLeader(std::vector<Fired>& fired) ABSL_EXCLUSIVE_LOCKS_REQUIRED(round_mu_, mu_);
  void Fire(const std::vector<Fired>& fired);
  void Run();

  LeaseApi& api_;
  Clock& clock_;
  const LeaderElectionConfig config_;
  const LeaderCallbacks callbacks_;
  spdlog::logger& logger_;
  const std::string lease_;  // api_.Describe(), for logs

  // Held for a whole round (and Stop's release): rounds are serialized.
  // Never held while callbacks run.
  absl::Mutex round_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::optional<LeaseRecord> observed_ ABSL_GUARDED_BY(round_mu_);
  absl::Time observed_time_ ABSL_GUARDED_BY(round_mu_) = absl::InfinitePast();
  std::string last_failure_ ABSL_GUARDED_BY(round_mu_);  // what failed last ("" when fine)
  bool round_failed_ ABSL_GUARDED_BY(round_mu_) = false;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(round_mu_);

  // What the getters read, and the thread's state.
  mutable absl::Mutex mu_;
  bool leading_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time leader_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::string leader_identity_ ABSL_GUARDED_BY(mu_);
  std::string reported_leader_ ABSL_GUARDED_BY(mu_);
  int64_t transitions_ ABSL_GUARDED_BY(mu_) = 0;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace hollowtrees::kube
