#include "lib/common/backoff.h"

#include "gtest/gtest.h"

namespace hollowtrees {
namespace {

TEST(BackoffCeilingTest, DoublesUpToTheCap) {
  const BackoffOptions o{.initial = absl::Milliseconds(200), .max = absl::Seconds(5)};
  EXPECT_EQ(BackoffCeiling(o, 0), absl::Milliseconds(200));
  EXPECT_EQ(BackoffCeiling(o, 1), absl::Milliseconds(200));
  EXPECT_EQ(BackoffCeiling(o, 2), absl::Milliseconds(400));
  EXPECT_EQ(BackoffCeiling(o, 5), absl::Milliseconds(3200));
  EXPECT_EQ(BackoffCeiling(o, 6), absl::Seconds(5));
  EXPECT_EQ(BackoffCeiling(o, 1000), absl::Seconds(5));
}

TEST(BackoffTest, EqualJitterStaysInHalfToFull) {
  Backoff backoff({.initial = absl::Seconds(1), .max = absl::Seconds(30)}, 42);
  for (int attempt = 1; attempt <= 10; ++attempt) {
    const absl::Duration b = BackoffCeiling(backoff.options(), attempt);
    for (int i = 0; i < 50; ++i) {
      const absl::Duration d = backoff.Delay(attempt);
      EXPECT_GE(d, b / 2) << attempt;
      EXPECT_LE(d, b) << attempt;
    }
  }
}

TEST(BackoffTest, FullAndAddedJitterRanges) {
  Backoff full({.initial = absl::Seconds(1), .max = absl::Seconds(4), .jitter_min = 0, .jitter_max = 1});
  Backoff added({.initial = absl::Seconds(1), .max = absl::Seconds(4), .jitter_min = 1, .jitter_max = 1.5});
  bool full_below_half = false;
  for (int i = 0; i < 200; ++i) {
    const absl::Duration f = full.Delay(3);
    EXPECT_GE(f, absl::ZeroDuration());
    EXPECT_LE(f, absl::Seconds(4));
    full_below_half |= f < absl::Seconds(2);
    const absl::Duration a = added.Delay(3);
    EXPECT_GE(a, absl::Seconds(4));
    EXPECT_LE(a, absl::Seconds(6));
  }
  EXPECT_TRUE(full_below_half);
}

TEST(BackoffTest, NoJitterIsExactlyTheCeiling) {
  Backoff fixed({.initial = absl::Milliseconds(100), .max = absl::Seconds(1), .jitter_min = 1, .jitter_max = 1});
  EXPECT_EQ(fixed.Delay(1), absl::Milliseconds(100));
  EXPECT_EQ(fixed.Delay(3), absl::Milliseconds(400));
  EXPECT_EQ(fixed.Delay(9), absl::Seconds(1));
}

TEST(BackoffTest, HonoursALongerRetryAfter) {
  Backoff backoff({.initial = absl::Seconds(1), .max = absl::Seconds(2)});
  EXPECT_EQ(backoff.Delay(1, absl::Seconds(60)), absl::Seconds(60));
  EXPECT_LE(backoff.Delay(1, absl::Milliseconds(1)), absl::Seconds(1));
}

TEST(BackoffTest, SameSeedSameDelays) {
  Backoff a({}, 7), b({}, 7);
  for (int i = 1; i < 20; ++i) EXPECT_EQ(a.Delay(i), b.Delay(i));
}

TEST(BackoffTest, EqualJitterDrawsWhatTheDispatcherDrew) {
  // The dispatcher drew half + U{0..half} microseconds from mt19937_64(seed);
  // the shared helper must keep those delays for a fixed seed.
  Backoff backoff({.initial = absl::Seconds(1), .max = absl::Seconds(30)}, 1234);
  std::mt19937_64 rng(1234);
  for (int attempt = 1; attempt <= 8; ++attempt) {
    const int64_t half_us = absl::ToInt64Microseconds(BackoffCeiling(backoff.options(), attempt)) / 2;
    std::uniform_int_distribution<int64_t> jitter(0, half_us);
    EXPECT_EQ(backoff.Delay(attempt), absl::Microseconds(half_us + jitter(rng)));
  }
}

}  // namespace
}  // namespace hollowtrees
