// lib/kube/leader_election: client-go's algorithm on a FakeClock, against an
// in-memory Lease with the API server's optimistic concurrency (a stale
// resourceVersion is a 409 Conflict, a second create AlreadyExists), and
// the configuration rules.

#include "lib/kube/leader_election.h"

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/common/clock.h"
#include "lib/common/deadline.h"
#include "lib/common/logging.h"
#include "spdlog/sinks/ostream_sink.h"
#include "tests/testing/status_matchers.h"

namespace hollowtrees::kube {
namespace {

using ::hollowtrees::testing::IsOk;
using ::hollowtrees::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

spdlog::logger& Logger() {
  static auto* l =
      new std::shared_ptr<spdlog::logger>(*MakeLogger("election-test", {.level = "off"}));
  return **l;
}

// One Lease in memory, versioned like the API server's.
class MemoryLease {
 public:
  absl::StatusOr<LeaseRecord> Get() {
    absl::MutexLock lock(&mu_);
    ++gets_;
    if (!record_) return absl::NotFoundError("leases.coordination.k8s.io \"lease\" not found");
    return *record_;
  }
  absl::StatusOr<LeaseRecord> Create(const LeaseRecord& r) {
    absl::MutexLock lock(&mu_);
    if (record_)
      return absl::AlreadyExistsError("leases.coordination.k8s.io \"lease\" already exists");
    return Store(r);
  }
  absl::StatusOr<LeaseRecord> Update(const LeaseRecord& r) {
    absl::MutexLock lock(&mu_);
    ++updates_;
    if (!record_) return absl::NotFoundError("leases.coordination.k8s.io \"lease\" not found");
    if (r.resource_version.empty()) return absl::InvalidArgumentError("no resourceVersion");
    if (r.resource_version != record_->resource_version) {
      return absl::AbortedError(
          "Operation cannot be fulfilled on leases.coordination.k8s.io \"lease\": the object has "
          "been modified; please apply your changes to the latest version and try again");
    }
    if (r.lease_duration_seconds <= 0) return absl::InvalidArgumentError("leaseDurationSeconds");
    return Store(r);
  }
  // Test state.
  LeaseRecord record() {
    absl::MutexLock lock(&mu_);
    return record_.value_or(LeaseRecord{});
  }
  void Set(LeaseRecord r) {
    absl::MutexLock lock(&mu_);
    Store(std::move(r));
  }
  int gets() {
    absl::MutexLock lock(&mu_);
    return gets_;
  }
  int updates() {
    absl::MutexLock lock(&mu_);
    return updates_;
  }

 private:
  LeaseRecord Store(LeaseRecord r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    r.resource_version = absl::StrCat(++version_);
    record_ = r;
    return r;
  }
  absl::Mutex mu_;
  std::optional<LeaseRecord> record_ ABSL_GUARDED_BY(mu_);
  int64_t version_ ABSL_GUARDED_BY(mu_) = 100;
  int gets_ ABSL_GUARDED_BY(mu_) = 0;
  int updates_ ABSL_GUARDED_BY(mu_) = 0;
};

// One candidate's connection to the MemoryLease, with faults: every call
// fails with `down` while it is set, and hooks run just before a create or
// update reaches the Lease (to let another candidate in between).
class CandidateApi : public LeaseApi {
 public:
  explicit CandidateApi(MemoryLease& lease) : lease_(lease) {}
  absl::StatusOr<LeaseRecord> Get() override {
    if (!down.ok()) return down;
    return lease_.Get();
  }
  absl::StatusOr<LeaseRecord> Create(const LeaseRecord& r) override {
    if (!down.ok()) return down;
    if (auto hook = std::exchange(before_create, nullptr)) hook();
    return lease_.Create(r);
  }
  absl::StatusOr<LeaseRecord> Update(const LeaseRecord& r) override {
    if (!down.ok()) return down;
    if (auto hook = std::exchange(before_update, nullptr)) hook();
    return lease_.Update(r);
  }
  std::string Describe() const override { return "ops/engine"; }

  absl::Status down;
  std::function<void()> before_create;
  std::function<void()> before_update;

 private:
  MemoryLease& lease_;
};

LeaderElectionConfig Config(const std::string& identity) {
  LeaderElectionConfig c;
  c.identity = identity;  // defaults: lease 4s, renew deadline 2s, retry 500ms
  return c;
}

// A candidate: its own clock, connection and callback log.
struct Candidate {
  Candidate(MemoryLease& lease, const std::string& identity, absl::Time start)
      : clock(start), api(lease) {
    LeaderCallbacks cb;
    cb.on_started_leading = [this] { events.push_back("started"); };
    cb.on_stopped_leading = [this] { events.push_back("stopped"); };
    cb.on_new_leader = [this](const std::string& id) { events.push_back("leader:" + id); };
    auto e = LeaderElector::Create(api, clock, Config(identity), std::move(cb), Logger(), 42);
    EXPECT_THAT(e, IsOk());
    elector = std::move(*e);
  }
  FakeClock clock;
  CandidateApi api;
  std::vector<std::string> events;
  std::unique_ptr<LeaderElector> elector;
};

const absl::Time kT0 = absl::FromUnixSeconds(1796605323);

TEST(LeaderElectionTest, AcquiresAMissingLeaseAndRenewsIt) {
  MemoryLease lease;
  Candidate a(lease, "a", kT0);
  EXPECT_FALSE(a.elector->IsLeader());
  EXPECT_EQ(a.elector->LeaderUntil(), absl::InfinitePast());

  EXPECT_EQ(a.elector->Tick(), absl::Milliseconds(500));
  EXPECT_TRUE(a.elector->IsLeader());
  EXPECT_EQ(a.elector->LeaderUntil(), kT0 + absl::Seconds(2));
  EXPECT_EQ(a.elector->leader_identity(), "a");
  EXPECT_EQ(a.elector->transitions(), 1);
  EXPECT_THAT(a.events, ElementsAre("leader:a", "started"));
  LeaseRecord r = lease.record();
  EXPECT_EQ(r.holder_identity, "a");
  EXPECT_EQ(r.lease_duration_seconds, 4);
  EXPECT_EQ(r.acquire_time, kT0);
  EXPECT_EQ(r.renew_time, kT0);
  EXPECT_EQ(r.lease_transitions, 0);

  // Renewals: every retry_period, by the fast path (an update at the version
  // it wrote, no read), keeping acquireTime and the transitions.
  const int gets = lease.gets();
  for (int i = 1; i <= 3; ++i) {
    a.clock.Advance(absl::Milliseconds(500));
    EXPECT_EQ(a.elector->Tick(), absl::Milliseconds(500));
    EXPECT_EQ(lease.record().renew_time, kT0 + i * absl::Milliseconds(500));
  }
  EXPECT_EQ(lease.gets(), gets);
  EXPECT_EQ(lease.record().acquire_time, kT0);
  EXPECT_EQ(lease.record().lease_transitions, 0);
  EXPECT_EQ(a.elector->LeaderUntil(), kT0 + absl::Milliseconds(1500) + absl::Seconds(2));
  EXPECT_EQ(a.elector->transitions(), 1);
  EXPECT_THAT(a.events, ElementsAre("leader:a", "started"));  // nothing new
}

// Expiry is measured on the follower's own clock from when it saw the
// record change: here its clock is an hour behind the leader's, so the
// renewTime written is in its future, and it still takes the lease exactly
// lease_duration after it last saw a change.
TEST(LeaderElectionTest, AFollowerTakesTheLeaseOnlyAfterLeaseDurationWithoutRenewals) {
  MemoryLease lease;
  Candidate a(lease, "a", kT0);
  Candidate b(lease, "b", kT0 - absl::Hours(1));
  a.elector->Tick();
  const absl::Time b0 = b.clock.Now();
  const absl::Duration wait = b.elector->Tick();
  EXPECT_GE(wait, absl::Milliseconds(500));  // jittered: [retry, retry × 2.2)
  EXPECT_LT(wait, absl::Milliseconds(1100));
  EXPECT_FALSE(b.elector->IsLeader());
  EXPECT_EQ(b.elector->leader_identity(), "a");
  EXPECT_THAT(b.events, ElementsAre("leader:a"));

  // While the leader renews, the follower's expiry moves with each change
  // it sees.
  a.clock.Advance(absl::Seconds(3));
  a.elector->Tick();
  b.clock.Advance(absl::Seconds(3));
  b.elector->Tick();                          // sees the renewal at b0 + 3s
  b.clock.Advance(absl::Milliseconds(3999));  // b0 + 6.999s: 3.999s since the change
  b.elector->Tick();
  EXPECT_FALSE(b.elector->IsLeader());
  EXPECT_EQ(lease.record().holder_identity, "a");

  // The leader is gone; only the follower's clock moves.
  b.clock.Set(b0 + absl::Seconds(7));  // 4s after it last saw a change
  EXPECT_EQ(b.elector->Tick(), absl::Milliseconds(500));
  EXPECT_TRUE(b.elector->IsLeader());
  LeaseRecord r = lease.record();
  EXPECT_EQ(r.holder_identity, "b");
  EXPECT_EQ(r.acquire_time, b0 + absl::Seconds(7));
  EXPECT_EQ(r.lease_transitions, 1);
  EXPECT_THAT(b.events, ElementsAre("leader:a", "leader:b", "started"));
  EXPECT_EQ(b.elector->transitions(), 1);
}

TEST(LeaderElectionTest, ALeaderThatCannotRenewStopsBeforeAnyoneCanTakeOver) {
  MemoryLease lease;
  Candidate a(lease, "a", kT0);
  Candidate b(lease, "b", kT0);
  a.elector->Tick();
  b.elector->Tick();  // b sees a's lease at kT0: it may take it from kT0 + 4s
  const absl::Time earliest_takeover = kT0 + absl::Seconds(4);

  a.api.down = absl::UnavailableError("connection refused");
  for (int i = 1; i <= 3; ++i) {  // kT0 + 0.5s, 1s, 1.5s: failing, still leading
    a.clock.Advance(absl::Milliseconds(500));
    const absl::Duration wait = a.elector->Tick();
    EXPECT_TRUE(a.elector->IsLeader()) << i;
    EXPECT_LE(a.clock.Now() + wait, a.elector->LeaderUntil()) << "it must wake up by LeaderUntil";
  }
  const absl::Time until = a.elector->LeaderUntil();
  EXPECT_EQ(until, kT0 + absl::Seconds(2));
  EXPECT_LT(until, earliest_takeover);
  EXPECT_THAT(a.events, ElementsAre("leader:a", "started"));

  a.clock.Set(until);  // renew_deadline without a renewal
  a.elector->Tick();
  EXPECT_FALSE(a.elector->IsLeader());
  EXPECT_EQ(a.elector->LeaderUntil(), absl::InfinitePast());
  for (int i = 0; i < 5; ++i) {
    a.clock.Advance(absl::Milliseconds(500));
    a.elector->Tick();
  }
  EXPECT_THAT(a.events, ElementsAre("leader:a", "started", "stopped"));  // stopped once

  // The follower cannot take it before kT0 + 4s, and takes it then.
  b.clock.Set(earliest_takeover - absl::Milliseconds(1));
  b.elector->Tick();
  EXPECT_FALSE(b.elector->IsLeader());
  b.clock.Set(earliest_takeover);
  b.elector->Tick();
  EXPECT_TRUE(b.elector->IsLeader());
  EXPECT_GT(b.clock.Now(), until);
}

TEST(LeaderElectionTest, TwoCandidatesRacingForOneVersionOneWins) {
  MemoryLease lease;
  Candidate a(lease, "a", kT0);
  Candidate b(lease, "b", kT0);

  // Both find no Lease; b creates it between a's read and a's create.
  a.api.before_create = [&] { b.elector->Tick(); };
  a.elector->Tick();
  EXPECT_TRUE(b.elector->IsLeader());
  EXPECT_FALSE(a.elector->IsLeader());  // AlreadyExists: a lost round
  EXPECT_EQ(lease.record().holder_identity, "b");

  // A released lease: both read the same version; b's update lands first,
  // a's (at the version it read) is a 409 Conflict.
  b.elector->Stop(/*release=*/true);
  EXPECT_EQ(lease.record().holder_identity, "");
  Candidate c(lease, "c", kT0);
  a.api.before_update = [&] { c.elector->Tick(); };
  const std::string version_read = lease.record().resource_version;
  a.elector->Tick();
  EXPECT_TRUE(c.elector->IsLeader());
  EXPECT_FALSE(a.elector->IsLeader());
  EXPECT_EQ(a.elector->transitions(), 0);
  LeaseRecord r = lease.record();
  EXPECT_EQ(r.holder_identity, "c");
  EXPECT_EQ(r.lease_transitions, 1);  // one transition: only c's update counted
  EXPECT_NE(r.resource_version, version_read);
}

TEST(LeaderElectionTest, StopWithReleaseLetsTheNextCandidateAcquireAtOnce) {
  MemoryLease lease;
  Candidate a(lease, "a", kT0);
  Candidate b(lease, "b", kT0);
  a.elector->Tick();
  a.clock.Advance(absl::Seconds(1));
  a.elector->Tick();
  b.clock.Advance(absl::Seconds(1));
  b.elector->Tick();
  EXPECT_FALSE(b.elector->IsLeader());

  a.elector->Stop(/*release=*/true);
  EXPECT_FALSE(a.elector->IsLeader());
  EXPECT_THAT(a.events, ElementsAre("leader:a", "started", "stopped"));
  LeaseRecord r = lease.record();
  EXPECT_EQ(r.holder_identity, "");
  EXPECT_EQ(r.lease_duration_seconds, 1);
  EXPECT_EQ(r.acquire_time, kT0 + absl::Seconds(1));
  EXPECT_EQ(r.renew_time, kT0 + absl::Seconds(1));
  EXPECT_EQ(r.lease_transitions, 0);
  a.elector->Stop(true);  // once only
  EXPECT_THAT(a.events, ElementsAre("leader:a", "started", "stopped"));
  EXPECT_EQ(a.elector->Tick(), absl::Milliseconds(500));  // stopped: does nothing
  EXPECT_EQ(lease.record().holder_identity, "");

  // No clock moves: b takes the released lease on its next round.
  b.elector->Tick();
  EXPECT_TRUE(b.elector->IsLeader());
  EXPECT_EQ(lease.record().holder_identity, "b");
  EXPECT_EQ(lease.record().lease_transitions, 1);
  EXPECT_THAT(b.events, ElementsAre("leader:a", "leader:b", "started"));

  // Without release the lease stays held until it expires.
  b.elector->Stop(/*release=*/false);
  EXPECT_EQ(lease.record().holder_identity, "b");
  EXPECT_THAT(b.events, ElementsAre("leader:a", "leader:b", "started", "stopped"));
  Candidate c(lease, "c", kT0 + absl::Seconds(1));
  c.elector->Tick();
  EXPECT_FALSE(c.elector->IsLeader());
  // A follower's Stop neither releases nor reports a stop.
  c.elector->Stop(true);
  EXPECT_EQ(lease.record().holder_identity, "b");
  EXPECT_THAT(c.events, ElementsAre("leader:b"));
}

TEST(LeaderElectionTest, TransitionsCountLeaderships) {
  MemoryLease lease;
  Candidate a(lease, "a", kT0);
  Candidate b(lease, "b", kT0);
  a.elector->Tick();
  b.elector->Tick();

  // a loses leadership (the API is down for it) and takes it back when the
  // API answers again: nobody took it, so the Lease's holder did not change
  // (no lease transition) but a became leader a second time.
  a.api.down = absl::UnavailableError("down");
  a.clock.Advance(absl::Seconds(2));
  a.elector->Tick();
  EXPECT_FALSE(a.elector->IsLeader());
  a.api.down = absl::OkStatus();
  a.clock.Advance(absl::Milliseconds(500));
  a.elector->Tick();
  EXPECT_TRUE(a.elector->IsLeader());
  EXPECT_EQ(a.elector->transitions(), 2);
  EXPECT_EQ(lease.record().lease_transitions, 0);
  EXPECT_THAT(a.events, ElementsAre("leader:a", "started", "stopped", "started"));

  // a stops (releasing), b takes over, b releases, a takes it back.
  a.elector->Stop(true);
  b.elector->Tick();
  EXPECT_EQ(lease.record().lease_transitions, 1);
  b.elector->Stop(true);
  Candidate a2(lease, "a", kT0);
  a2.elector->Tick();
  EXPECT_TRUE(a2.elector->IsLeader());
  EXPECT_EQ(lease.record().lease_transitions, 2);
  EXPECT_EQ(b.elector->transitions(), 1);
}

TEST(LeaderElectionTest, CallbacksRunWithoutTheElectorsLocks) {
  MemoryLease lease;
  FakeClock clock(kT0);
  CandidateApi api(lease);
  LeaderElector* self = nullptr;
  std::vector<std::string> seen;
  LeaderCallbacks cb;
  // Reading the elector from a callback would deadlock if a lock were held.
  cb.on_started_leading = [&] {
    seen.push_back(absl::StrCat("started leader=", self->IsLeader() ? "yes" : "no",
                                " until=", absl::FormatTime(self->LeaderUntil())));
  };
  cb.on_new_leader = [&](const std::string& id) { seen.push_back(self->leader_identity()); };
  cb.on_stopped_leading = [&] {
    seen.push_back(absl::StrCat("stopped leader=", self->IsLeader() ? "yes" : "no"));
  };
  ASSERT_OK_AND_ASSIGN(auto e, LeaderElector::Create(api, clock, Config("a"), cb, Logger(), 1));
  self = e.get();
  e->Tick();
  e->Stop(true);
  EXPECT_THAT(seen, ElementsAre("a",
                                absl::StrCat("started leader=yes until=",
                                             absl::FormatTime(kT0 + absl::Seconds(2))),
                                "stopped leader=no"));
}

// A LeaseApi that hangs like an unreachable API server: each call returns
// only when the caller's ScopedDeadline passes (or after 30 s without one).
class HangingApi : public LeaseApi {
 public:
  absl::StatusOr<LeaseRecord> Get() override { return Hang(); }
  absl::StatusOr<LeaseRecord> Create(const LeaseRecord&) override { return Hang(); }
  absl::StatusOr<LeaseRecord> Update(const LeaseRecord&) override { return Hang(); }
  std::string Describe() const override { return "ops/hang"; }
  std::atomic<int> calls{0};

 private:
  absl::Status Hang() {
    ++calls;
    absl::SleepFor(std::min(ScopedDeadline::Current() - absl::Now(), absl::Seconds(30)));
    return absl::DeadlineExceededError("no answer before the deadline");
  }
};

TEST(LeaderElectionTest, StartRunsRoundsAndStopIsPromptEvenWhenTheApiHangs) {
  // On the real clock with short periods: the thread acquires, renews, and
  // Stop releases.
  MemoryLease lease;
  CandidateApi api(lease);
  LeaderElectionConfig config{.identity = "a",
                              .lease_duration = absl::Seconds(2),
                              .renew_deadline = absl::Seconds(1),
                              .retry_period = absl::Milliseconds(100)};
  std::atomic<int> started{0};
  LeaderCallbacks cb;
  cb.on_started_leading = [&] { ++started; };
  ASSERT_OK_AND_ASSIGN(auto e, LeaderElector::Create(api, RealClock(), config, cb, Logger()));
  e->Start();
  e->Start();  // once
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (lease.updates() < 3 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_GE(lease.updates(), 3) << "renewals";
  EXPECT_TRUE(e->IsLeader());
  e->Stop(true);
  EXPECT_EQ(lease.record().holder_identity, "");
  EXPECT_EQ(started.load(), 1);

  // Every request hangs: the round in flight ends at renew_deadline, and
  // Stop waits for no more than that.
  HangingApi hanging;
  ASSERT_OK_AND_ASSIGN(auto h, LeaderElector::Create(hanging, RealClock(), config, {}, Logger()));
  h->Start();
  while (hanging.calls.load() == 0) absl::SleepFor(absl::Milliseconds(5));
  const absl::Time t0 = absl::Now();
  h->Stop(true);
  EXPECT_LT(absl::Now() - t0, absl::Milliseconds(1500)) << "Stop waited for more than one round";
  EXPECT_FALSE(h->IsLeader());
}

TEST(LeaderElectionTest, CandidatesWaitAJitteredRetryPeriodFromASeed) {
  MemoryLease lease;
  Candidate a(lease, "a", kT0);
  a.elector->Tick();
  auto waits = [&](uint64_t seed) {
    FakeClock clock(kT0);
    CandidateApi api(lease);
    auto e = LeaderElector::Create(api, clock, Config("b"), {}, Logger(), seed);
    EXPECT_THAT(e, IsOk());
    std::vector<absl::Duration> out;
    for (int i = 0; i < 20; ++i) out.push_back((*e)->Tick());
    return out;
  };
  const std::vector<absl::Duration> w = waits(7);
  std::set<absl::Duration> distinct(w.begin(), w.end());
  EXPECT_GT(distinct.size(), 10u);
  for (absl::Duration d : w) {
    EXPECT_GE(d, absl::Milliseconds(500));   // retry_period
    EXPECT_LT(d, absl::Milliseconds(1100));  // + up to 1.2 × retry_period
  }
  EXPECT_EQ(waits(7), w);  // seedable
  EXPECT_NE(waits(8), w);
}

TEST(LeaderElectionTest, FailuresAreLoggedOncePerChangeNotEveryRound) {
  std::ostringstream log;
  spdlog::logger logger("election", std::make_shared<spdlog::sinks::ostream_sink_mt>(log));
  logger.set_level(spdlog::level::info);
  logger.set_pattern("%l %v");
  MemoryLease lease;
  FakeClock clock(kT0);
  CandidateApi api(lease);
  ASSERT_OK_AND_ASSIGN(auto e, LeaderElector::Create(api, clock, Config("a"), {}, logger, 1));
  e->Tick();
  EXPECT_THAT(log.str(), HasSubstr("info lease ops/engine: \"a\" became the leader"));
  api.down = absl::UnavailableError("connection refused");
  for (int i = 0; i < 3; ++i) {
    clock.Advance(absl::Milliseconds(500));
    e->Tick();
  }
  auto count = [&](const std::string& what) {
    const std::string text = log.str();
    int n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("warning "), 1) << log.str();
  EXPECT_THAT(log.str(), HasSubstr("warning lease ops/engine: renewal failed (reading the lease: "
                                   "UNAVAILABLE: connection refused); still leading until "
                                   "2026-12-07T01:02:05.000Z unless a renewal succeeds"));
  api.down = absl::OkStatus();
  clock.Advance(absl::Milliseconds(500));
  e->Tick();
  EXPECT_EQ(count("the API server answers again"), 1);
  EXPECT_EQ(count("stopped leading"), 1);  // the round at LeaderUntil
  api.down = absl::UnavailableError("connection refused");
  clock.Advance(absl::Milliseconds(500));
  e->Tick();
  e->Tick();
  EXPECT_EQ(count("warning "), 2) << log.str();
}

TEST(LeaderElectionConfigTest, EveryRuleIsCheckedAndNamed) {
  EXPECT_THAT(ValidateLeaderElectionConfig(Config("a")), IsOk());  // the defaults
  struct Case {
    std::function<void(LeaderElectionConfig&)> change;
    std::string message;
  };
  const Case cases[] = {
      {[](auto& c) { c.identity = ""; }, "identity must not be empty"},
      {[](auto& c) { c.lease_duration = absl::ZeroDuration(); },
       "lease_duration (0) must be positive"},
      {[](auto& c) { c.renew_deadline = -absl::Seconds(1); },
       "renew_deadline (-1s) must be positive"},
      {[](auto& c) { c.retry_period = absl::ZeroDuration(); }, "retry_period (0) must be positive"},
      {[](auto& c) { c.lease_duration = absl::Milliseconds(4500); },
       "lease_duration (4.5s) must be a whole number of seconds"},
      {[](auto& c) {
         c.lease_duration = absl::Milliseconds(900);
         c.renew_deadline = absl::Milliseconds(800);
         c.retry_period = absl::Milliseconds(100);
       },
       "lease_duration (900ms) must be at least 1s"},
      {[](auto& c) { c.lease_duration = absl::Seconds(3000000000LL); },
       "lease_duration (833333h20m) must be at most 596523h14m7s"},
      {[](auto& c) { c.lease_duration = absl::Seconds(2); },
       "lease_duration (2s) must be greater than renew_deadline (2s)"},
      {[](auto& c) { c.retry_period = absl::Seconds(2); },
       "renew_deadline (2s) must be greater than 1.2 × retry_period (2s) = 2.4s"},
      {[](auto& c) { c.retry_period = absl::Milliseconds(1667); },
       "renew_deadline (2s) must be greater than 1.2 × retry_period (1.667s)"},
  };
  for (const Case& k : cases) {
    LeaderElectionConfig c = Config("a");
    k.change(c);
    EXPECT_THAT(ValidateLeaderElectionConfig(c),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(k.message)))
        << k.message;
  }
  // Every problem at once, each named.
  LeaderElectionConfig bad{.identity = "",
                           .lease_duration = absl::Seconds(1),
                           .renew_deadline = absl::Seconds(1),
                           .retry_period = absl::Seconds(1)};
  absl::Status s = ValidateLeaderElectionConfig(bad);
  EXPECT_THAT(s,
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("identity must not be empty; lease_duration (1s) must be greater "
                                 "than renew_deadline (1s); renew_deadline (1s) must be greater "
                                 "than 1.2 × retry_period (1s) = 1.2s")));
  MemoryLease lease;
  CandidateApi api(lease);
  FakeClock clock;
  EXPECT_THAT(LeaderElector::Create(api, clock, bad, {}, Logger()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("leader election: identity")));
}

}  // namespace
}  // namespace hollowtrees::kube
