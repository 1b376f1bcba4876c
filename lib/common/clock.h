#pragma once

// The one clock interface: time and sleeping, behind an interface so tests
// run retries, grace periods and deadlines on a simulated clock (Envoy's
// TimeSource, LevelDB's Env::NowMicros/SleepForMicroseconds).

#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace hollowtrees {

// Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() = 0;
  // Returns after `d` has passed (at once when it is not positive).
  virtual void SleepFor(absl::Duration d) = 0;
  // Returns at `until` or later (at once when it has passed).
  virtual void SleepUntil(absl::Time until) = 0;
};

// The wall clock. The returned object lives forever and holds no state.
Clock& RealClock();

// A clock that moves only when told, for tests. Sleeping moves it forward at
// once and records the duration slept. Thread-safe.
class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1700000000)) : now_(start) {}

  absl::Time Now() override;
  // Records `d` and moves time forward by it (not backward).
  void SleepFor(absl::Duration d) override;
  // Moves time to `until` when it is later, recording the difference.
  void SleepUntil(absl::Time until) override;

  // Moves time forward by `d` (nothing recorded).
  void Advance(absl::Duration d);
  // Sets the time (forward or back; nothing recorded).
  void Set(absl::Time t);
  // Every duration slept so far, in order.
  std::vector<absl::Duration> sleeps();

 private:
  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Duration> sleeps_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hollowtrees
