#pragma once

// The retry loop every AWS client of lib/aws shares (QueryClient, SqsClient):
// attempts cut to the deadline (never under a second: a request must get its
// chance), one credential refresh when temporary credentials ran out early,
// backoff between retries of what `retryable` accepts, and no retry that
// would start after the deadline.

#include <algorithm>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lib/aws/credentials.h"
#include "lib/common/backoff.h"
#include "lib/common/clock.h"
#include "lib/http/http_client.h"

namespace spdlog {
class logger;
}

namespace hollowtrees::aws {

struct RetryOptions {
  // Attempts in all, the first included. Default 5.
  int max_attempts = 5;
  // Backoff before retry n (1-based) is uniform in [0, min(max_delay, base_delay * 2^(n-1))].
  absl::Duration base_delay = absl::Milliseconds(100);
  absl::Duration max_delay = absl::Seconds(5);
};

// True for the errors a fresh set of credentials may cure (ExpiredToken,
// ExpiredTokenException, RequestExpired).
bool IsExpiredCredentials(const absl::Status& status);

struct RetryLoop {
  const RetryOptions& retry;
  Clock& clock;
  Backoff& backoff;
  CredentialsProvider* credentials;  // refreshed once on expired credentials; may be null
  spdlog::logger* logger;            // may be null
  std::string what;                  // "autoscaling DetachInstances", for the log
  std::function<bool(const absl::Status&)> retryable;
  http::StreamCancel* cancel = nullptr;  // a cancelled loop starts no attempt
};

namespace internal {
void LogRefresh(const RetryLoop& loop, const absl::Status& status);
void LogRetry(const RetryLoop& loop, const absl::Status& status, int attempt, absl::Duration delay);
}  // namespace internal

// Runs `attempt` (given each attempt's timeout) until it succeeds, fails for
// good, or the attempts or the time run out; the last error then.
template <typename T>
absl::StatusOr<T> RunWithRetries(const RetryLoop& loop, absl::Duration timeout, absl::Time deadline,
                                 const std::function<absl::StatusOr<T>(absl::Duration)>& attempt) {
  bool refreshed = false;
  absl::Status last;
  const int attempts = std::max(1, loop.retry.max_attempts);
  for (int n = 1; n <= attempts; ++n) {
    const absl::Duration left = deadline - loop.clock.Now();
    if (left <= absl::ZeroDuration() && n > 1) break;
    if (loop.cancel != nullptr && loop.cancel->cancelled()) {
      return absl::CancelledError(loop.what + ": cancelled");
    }
    auto result = attempt(std::min(timeout, std::max(absl::Seconds(1), left)));
    if (result.ok()) return result;
    last = result.status();
    if (!refreshed && loop.credentials != nullptr && IsExpiredCredentials(last)) {
      // The cached temporary credentials ran out early: fetch anew, once.
      refreshed = true;
      loop.credentials->Invalidate();
      internal::LogRefresh(loop, last);
      continue;
    }
    if (!loop.retryable(last) || n == attempts) break;
    const absl::Duration delay = loop.backoff.Delay(n);
    if (loop.clock.Now() + delay > deadline) break;
    internal::LogRetry(loop, last, n, delay);
    loop.clock.SleepFor(delay);
  }
  return last;
}

}  // namespace hollowtrees::aws
