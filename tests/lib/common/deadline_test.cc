#include "lib/common/deadline.h"

#include <thread>

#include "gtest/gtest.h"

namespace hollowtrees {
namespace {

TEST(ScopedDeadlineTest, NestsWithTheEarliestWinningAndRestoresOnExit) {
  const absl::Time t0 = absl::FromUnixSeconds(1700000000);
  EXPECT_EQ(ScopedDeadline::Current(), absl::InfiniteFuture());
  {
    ScopedDeadline outer(t0 + absl::Seconds(10));
    EXPECT_EQ(ScopedDeadline::Current(), t0 + absl::Seconds(10));
    {
      ScopedDeadline later(t0 + absl::Seconds(60));  // cannot extend the outer one
      EXPECT_EQ(ScopedDeadline::Current(), t0 + absl::Seconds(10));
      ScopedDeadline sooner(t0 + absl::Seconds(3));
      EXPECT_EQ(ScopedDeadline::Current(), t0 + absl::Seconds(3));
    }
    EXPECT_EQ(ScopedDeadline::Current(), t0 + absl::Seconds(10));
  }
  EXPECT_EQ(ScopedDeadline::Current(), absl::InfiniteFuture());
}

TEST(ScopedDeadlineTest, IsPerThread) {
  ScopedDeadline mine(absl::FromUnixSeconds(1700000000));
  absl::Time seen_there = absl::InfinitePast();
  std::thread other([&] { seen_there = ScopedDeadline::Current(); });
  other.join();
  EXPECT_EQ(seen_there, absl::InfiniteFuture());
  EXPECT_EQ(ScopedDeadline::Current(), absl::FromUnixSeconds(1700000000));
}

}  // namespace
}  // namespace hollowtrees
