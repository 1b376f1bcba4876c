#pragma once

// The one client of the EC2 instance metadata service (IMDS), used by the
// credential chain (the instance profile) and by spot-termination-exporter.
//
// - IMDSv2: a token is fetched with PUT <api_root>api/token and the header
//   X-aws-ec2-metadata-token-ttl-seconds, sent as X-aws-ec2-metadata-token on
//   every GET, and reused until `token_refresh_margin` before it expires
//   (never longer than the service granted).
// - A 401 on a GET (token expired or revoked) fetches a new token and repeats
//   that GET once.
// - IMDSv1 fallback (`allow_v1_fallback`): when the token PUT answers 403,
//   404 or 405 (and, with `v1_when_token_unreachable`, when the PUT gets no
//   answer at all: a hop limit of 1 drops it for containers), requests go
//   without a token. IMDSv2 is tried again after `v2_retry_interval`, and at
//   once when a request without a token gets a 401.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "lib/common/clock.h"
#include "lib/http/http_client.h"

namespace spdlog {
class logger;
}

namespace hollowtrees::aws {

struct ImdsOptions {
  // "scheme://host[:port]" of the service (optionally with a path prefix).
  // Default "http://169.254.169.254" (AWS_EC2_METADATA_SERVICE_ENDPOINT).
  std::string endpoint = "http://169.254.169.254";
  // Path under `endpoint` of the API root, which holds meta-data/ and
  // api/token; starts and ends with '/'. Default "/latest/".
  std::string api_root = "/latest/";
  // Per request, connect and read. Default 1 s.
  absl::Duration timeout = absl::Seconds(1);
  // Lifetime asked for each token (1 s .. 6 h). Default 6 h.
  absl::Duration token_ttl = absl::Hours(6);
  // A token is replaced this long before it expires (capped at a quarter of
  // the TTL). Default 15 s.
  absl::Duration token_refresh_margin = absl::Seconds(15);
  // Use IMDSv1 when the token PUT is refused (403, 404, 405). Default true.
  bool allow_v1_fallback = true;
  // Also use IMDSv1 when the token PUT gets no answer (transport error or
  // timeout); the GET that follows tells whether the service answers at
  // all. Needs `allow_v1_fallback`. Default false: the error is returned
  // (where no service is expected, e.g. off EC2, one timeout instead of two).
  bool v1_when_token_unreachable = false;
  // After falling back to IMDSv1, how long until IMDSv2 is tried again.
  // Default: never (only a 401 brings it back).
  absl::Duration v2_retry_interval = absl::InfiniteDuration();
};

// Counters of the protocol's events, for a caller's metrics.
struct ImdsStats {
  int64_t token_fetches = 0;   // IMDSv2 tokens obtained
  int64_t token_failures = 0;  // token requests that failed (any reason)
  int64_t unauthorized = 0;    // 401s answered to a GET
  int64_t v1_fallbacks = 0;    // switches from IMDSv2 to IMDSv1 (once a GET worked without a token)
};

// Thread-safe: requests are serialised. The clock, the HTTP client given to
// Create and the logger must outlive the client.
class ImdsClient {
 public:
  // InvalidArgument for a bad endpoint, api_root, TTL or timeout. `logger`
  // may be null (nothing logged); otherwise the switches between v2 and v1
  // are logged once each.
  static absl::StatusOr<std::unique_ptr<ImdsClient>> Create(const ImdsOptions& options,
                                                            Clock& clock,
                                                            spdlog::logger* logger = nullptr);
  // With an HTTP client of the caller's, which must reach `options.endpoint`.
  static absl::StatusOr<std::unique_ptr<ImdsClient>> Create(const ImdsOptions& options,
                                                            http::HttpClient& http, Clock& clock,
                                                            spdlog::logger* logger = nullptr);

  // GET <api_root><path> (e.g. "meta-data/instance-id"). Returns the body on
  // 200. Errors, each naming the URL: NotFound on 404; Unavailable for
  // transport errors and timeouts, 5xx (also on the token PUT) and an empty
  // token; PermissionDenied for other refusals: a 401 even with a fresh
  // token, another 4xx, a token PUT refused while v1 fallback is off.
  absl::StatusOr<std::string> Get(absl::string_view path);

  // The protocol the last answered GET (200 or 404) used: 2 (token), 1 (no
  // token), 0 (none yet).
  int version() const;
  ImdsStats stats() const;

 private:
  enum class Mode { kV2, kV1 };
  ImdsClient(const ImdsOptions& options, http::HttpClient& http,
             std::unique_ptr<http::HttpClient> owned, Clock& clock, spdlog::logger* logger);

  // Makes sure there is a usable token, or that v1 is in use.
  absl::Status EnsureToken(bool force) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<http::HttpResponse> SendGet(const std::string& url_path)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FallBackToV1(absl::string_view why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ImdsOptions options_;
  const std::string token_path_;
  std::unique_ptr<http::HttpClient> owned_http_;
  http::HttpClient& http_;
  Clock& clock_;
  spdlog::logger* const logger_;

  mutable absl::Mutex mu_;
  Mode mode_ ABSL_GUARDED_BY(mu_) = Mode::kV2;
  absl::Time v1_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::string token_ ABSL_GUARDED_BY(mu_);
  absl::Time token_expiry_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int version_ ABSL_GUARDED_BY(mu_) = 0;
  std::string v1_reason_ ABSL_GUARDED_BY(mu_);  // why v2 was left
  bool v1_announced_ ABSL_GUARDED_BY(mu_) = true;
  ImdsStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hollowtrees::aws
