#pragma once

// Time for the drain logic, behind an interface so tests run a whole drain
// (budget retries, grace periods, deadlines) on a simulated clock.

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace hollowtrees::k8s {

// Thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() = 0;
  // Returns at `until` or later (at once when it has passed).
  virtual void SleepUntil(absl::Time until) = 0;
};

// The wall clock. The returned object lives forever and holds no state.
Clock& RealClock();

// A simulated clock: SleepUntil() moves time forward instantly. Thread-safe.
class SimulatedClock : public Clock {
 public:
  explicit SimulatedClock(absl::Time start = absl::FromUnixSeconds(1700000000)) : now_(start) {}
  absl::Time Now() override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void SleepUntil(absl::Time until) override {
    absl::MutexLock lock(&mu_);
    if (until > now_) now_ = until;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hollowtrees::k8s
