#include "lib/aws/retry.h"

#include "lib/aws/query_client.h"
#include "lib/common/logging.h"
#include "spdlog/logger.h"

namespace hollowtrees::aws {

bool IsExpiredCredentials(const absl::Status& status) {
  return IsAwsError(status, "ExpiredToken") || IsAwsError(status, "ExpiredTokenException") ||
         IsAwsError(status, "RequestExpired");
}

namespace internal {

void LogRefresh(const RetryLoop& loop, const absl::Status& status) {
  if (loop.logger == nullptr) return;
  loop.logger->info("{}: {}; refreshing credentials", loop.what, status.message());
}

void LogRetry(const RetryLoop& loop, const absl::Status& status, int attempt,
              absl::Duration delay) {
  if (loop.logger == nullptr) return;
  loop.logger->warn("{}: {}; retry {} in {}", loop.what, status.message(), attempt,
                    absl::FormatDuration(delay));
}

}  // namespace internal
}  // namespace hollowtrees::aws
