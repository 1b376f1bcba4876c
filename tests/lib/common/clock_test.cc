#include "lib/common/clock.h"

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hollowtrees {
namespace {

using ::testing::ElementsAre;

TEST(FakeClockTest, MovesOnlyWhenTold) {
  const absl::Time start = absl::FromUnixSeconds(1000);
  FakeClock clock(start);
  EXPECT_EQ(clock.Now(), start);
  clock.Advance(absl::Seconds(5));
  EXPECT_EQ(clock.Now(), start + absl::Seconds(5));
  clock.Set(start);
  EXPECT_EQ(clock.Now(), start);
  EXPECT_TRUE(clock.sleeps().empty());
}

TEST(FakeClockTest, SleepingMovesTimeAndIsRecorded) {
  const absl::Time start = absl::FromUnixSeconds(1000);
  FakeClock clock(start);
  clock.SleepFor(absl::Seconds(2));
  clock.SleepUntil(start + absl::Seconds(10));
  clock.SleepUntil(start);  // passed: returns at once, nothing recorded
  clock.SleepFor(absl::ZeroDuration());
  EXPECT_EQ(clock.Now(), start + absl::Seconds(10));
  EXPECT_THAT(clock.sleeps(),
              ElementsAre(absl::Seconds(2), absl::Seconds(8), absl::ZeroDuration()));
}

TEST(RealClockTest, FollowsTheWallClock) {
  Clock& clock = RealClock();
  EXPECT_EQ(&clock, &RealClock());
  const absl::Time before = absl::Now();
  clock.SleepFor(absl::Milliseconds(5));
  clock.SleepUntil(absl::Now() - absl::Seconds(1));  // passed: at once
  const absl::Time now = clock.Now();
  EXPECT_GE(now - before, absl::Milliseconds(5));
  EXPECT_LT(now - before, absl::Seconds(5));
}

}  // namespace
}  // namespace hollowtrees
