#include "lib/common/backoff.h"

#include <algorithm>

#include "lib/common/check.h"

namespace hollowtrees {

absl::Duration BackoffCeiling(const BackoffOptions& options, int attempt) {
  absl::Duration b = options.initial;
  for (int i = 1; i < attempt && b < options.max; ++i) b *= 2;
  return std::min(b, options.max);
}

Backoff::Backoff(BackoffOptions options, uint64_t seed) : options_(options), rng_(seed) {
  HT_CHECK(options_.initial >= absl::ZeroDuration() && options_.max >= absl::ZeroDuration(),
           "backoff durations must not be negative");
  HT_CHECK(options_.jitter_min >= 0 && options_.jitter_min <= options_.jitter_max,
           "backoff jitter range must be 0 <= jitter_min <= jitter_max");
}

absl::Duration Backoff::Delay(int attempt, absl::Duration retry_after) {
  const double b_us = static_cast<double>(absl::ToInt64Microseconds(BackoffCeiling(options_, attempt)));
  // Drawn as low + U{0..spread} so that the equal-jitter case draws exactly
  // what the dispatcher always drew (half + U{0..half}) for a given seed.
  const int64_t low_us = static_cast<int64_t>(b_us * options_.jitter_min);
  const int64_t spread_us =
      std::max<int64_t>(static_cast<int64_t>(b_us * (options_.jitter_max - options_.jitter_min)), 0);
  std::uniform_int_distribution<int64_t> jitter(0, spread_us);
  int64_t draw;
  {
    absl::MutexLock lock(&mu_);
    draw = jitter(rng_);
  }
  return std::max(absl::Microseconds(low_us + draw), retry_after);
}

}  // namespace hollowtrees
