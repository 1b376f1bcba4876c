#pragma once

// The one retry backoff: exponential from `initial`, capped at `max`, with
// jitter, never shorter than what the server asked for (retry-after).
//
// Before retry n (1-based) the ceiling is b = min(max, initial * 2^(n-1));
// the delay is uniform in [b * jitter_min, b * jitter_max] (microsecond
// steps), then raised to the server's retry-after when that is longer.
// Users pick the jitter that they document:
//   "equal" jitter [b/2, b]:  jitter_min 0.5, jitter_max 1.0 (the default)
//   "full" jitter [0, b]:     jitter_min 0.0, jitter_max 1.0
//   "added" jitter [b, 1.5b]: jitter_min 1.0, jitter_max 1.5

#include <cstdint>
#include <random>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace hollowtrees {

struct BackoffOptions {
  // The ceiling before the first retry. Default 1s.
  absl::Duration initial = absl::Seconds(1);
  // The largest ceiling. Default 30s.
  absl::Duration max = absl::Seconds(30);
  // The delay's range as fractions of the ceiling. Default [0.5, 1.0].
  double jitter_min = 0.5;
  double jitter_max = 1.0;
};

// The ceiling b before retry `attempt` (1-based; below 1 counts as 1). Pure.
absl::Duration BackoffCeiling(const BackoffOptions& options, int attempt);

// Thread-safe.
class Backoff {
 public:
  // `seed` fixes the jitter (tests); by default it is random.
  explicit Backoff(BackoffOptions options, uint64_t seed = std::random_device{}());

  // The delay before retry `attempt` (1-based), at least `retry_after`.
  absl::Duration Delay(int attempt, absl::Duration retry_after = absl::ZeroDuration());

  const BackoffOptions& options() const { return options_; }

 private:
  const BackoffOptions options_;
  absl::Mutex mu_;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hollowtrees
