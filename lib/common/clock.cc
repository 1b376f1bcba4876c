#include "lib/common/clock.h"

#include "absl/time/clock.h"

namespace hollowtrees {
namespace {

class WallClock : public Clock {
 public:
  absl::Time Now() override { return absl::Now(); }
  void SleepFor(absl::Duration d) override {
    if (d > absl::ZeroDuration()) absl::SleepFor(d);
  }
  void SleepUntil(absl::Time until) override { SleepFor(until - absl::Now()); }
};

}  // namespace

Clock& RealClock() {
  static WallClock* clock = new WallClock();
  return *clock;
}

absl::Time FakeClock::Now() {
  absl::MutexLock lock(&mu_);
  return now_;
}

void FakeClock::SleepFor(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  sleeps_.push_back(d);
  if (d > absl::ZeroDuration()) now_ += d;
}

void FakeClock::SleepUntil(absl::Time until) {
  absl::MutexLock lock(&mu_);
  if (until <= now_) return;
  sleeps_.push_back(until - now_);
  now_ = until;
}

void FakeClock::Advance(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  now_ += d;
}

void FakeClock::Set(absl::Time t) {
  absl::MutexLock lock(&mu_);
  now_ = t;
}

std::vector<absl::Duration> FakeClock::sleeps() {
  absl::MutexLock lock(&mu_);
  return sleeps_;
}

}  // namespace hollowtrees
