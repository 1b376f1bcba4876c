#pragma once

// A client of the EC2 instance metadata service: IMDSv2 session tokens
// (PUT /latest/api/token), a new token on 401, v1 fallback where tokens are
// refused (403/404/405 on the PUT).

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "lib/aws/environment.h"
#include "lib/common/clock.h"
#include "lib/http/http_client.h"

namespace hollowtrees::aws {

struct ImdsOptions {
  std::string endpoint = "http://169.254.169.254";
  absl::Duration timeout = absl::Seconds(1);
  // Token lifetime asked for; refreshed 15 s before it ends.
  int token_ttl_seconds = 21600;
  // Use IMDSv1 when the token PUT is refused.
  bool allow_v1_fallback = true;
};

// Thread-safe; the clock must outlive it.
class ImdsClient {
 public:
  static absl::StatusOr<std::unique_ptr<ImdsClient>> Create(const ImdsOptions& options, Clock& clock);
  // GET /latest/<path> (e.g. "meta-data/instance-id"). NotFound on 404;
  // Unavailable for transport errors and 5xx; PermissionDenied for a token
  // that keeps being refused.
  absl::StatusOr<std::string> Get(absl::string_view path);

 private:
  ImdsClient(ImdsOptions options, std::unique_ptr<http::HttpClient> http, Clock& clock)
      : options_(std::move(options)), http_(std::move(http)), clock_(clock) {}
  // "" when v1 is used.
  absl::StatusOr<std::string> Token(bool force);

  const ImdsOptions options_;
  std::unique_ptr<http::HttpClient> http_;
  Clock& clock_;
  absl::Mutex mu_;
  std::string token_ ABSL_GUARDED_BY(mu_);
  absl::Time token_expiry_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool v1_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace hollowtrees::aws
