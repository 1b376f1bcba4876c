#include "plugins/k8s/clock.h"

#include "absl/time/clock.h"

namespace hollowtrees::k8s {
namespace {
class WallClock : public Clock {
 public:
  absl::Time Now() override { return absl::Now(); }
  void SleepUntil(absl::Time until) override {
    const absl::Duration d = until - absl::Now();
    if (d > absl::ZeroDuration()) absl::SleepFor(d);
  }
};
}  // namespace

Clock& RealClock() {
  static WallClock* clock = new WallClock();
  return *clock;
}

}  // namespace hollowtrees::k8s
