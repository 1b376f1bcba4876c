#pragma once

// The real InstanceMetadata: HTTP to the EC2 instance metadata service with
// IMDSv2 session tokens.
//
// - A token is fetched with PUT <root>/latest/api/token and the header
//   X-aws-ec2-metadata-token-ttl-seconds, sent as X-aws-ec2-metadata-token on
//   every GET, and reused until `token_refresh_margin` before it expires.
// - A 401 on a GET (token expired or revoked) fetches a new token and retries
//   that GET once.
// - When the token endpoint is not served (404, 403, 405) or cannot be reached
//   while the metadata can, requests go without a token (IMDSv1); IMDSv2 is
//   tried again after `v2_retry_interval`, and at once on a 401.
//
// Thread-safe: requests are serialised (one poller uses it).

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "exporter/metadata.h"
#include "lib/http/http_client.h"

namespace spdlog {
class logger;
}

namespace hollowtrees::exporter {

struct ImdsClientOptions {
  // The meta-data root, in the original exporter's form. The token endpoint is
  // derived from it by replacing the trailing "meta-data/" with "api/token".
  // Default: "http://169.254.169.254/latest/meta-data/".
  std::string metadata_endpoint = "http://169.254.169.254/latest/meta-data/";
  // Per request, connect and read. Default 2 s (the metadata service answers
  // in milliseconds; anything slower is reported as unavailable).
  absl::Duration timeout = absl::Seconds(2);
  // Lifetime asked for each token (1 s .. 6 h). Default 6 h.
  absl::Duration token_ttl = absl::Hours(6);
  // A token is replaced this long before it expires (capped at a quarter of
  // the TTL). Default 15 s.
  absl::Duration token_refresh_margin = absl::Seconds(15);
  // After falling back to IMDSv1, how long until IMDSv2 is tried again.
  // Default 60 s.
  absl::Duration v2_retry_interval = absl::Seconds(60);
  // The clock. Default absl::Now.
  std::function<absl::Time()> now = [] { return absl::Now(); };
};

// The meta-data path and the token path derived from an endpoint URL, and the
// "scheme://host:port" base. InvalidArgument naming the problem.
struct ImdsEndpoint {
  std::string base_url;
  std::string metadata_path;  // ends in '/'
  std::string token_path;
};
absl::StatusOr<ImdsEndpoint> ParseImdsEndpoint(absl::string_view url);

class ImdsClient : public InstanceMetadata {
 public:
  // InvalidArgument for a bad endpoint or TTL. `logger` must outlive the client.
  static absl::StatusOr<std::unique_ptr<ImdsClient>> Create(const ImdsClientOptions& options,
                                                            spdlog::logger& logger);
  // With an HTTP client of the caller's (tests); `http` must reach the
  // endpoint's base URL and outlive the client.
  static absl::StatusOr<std::unique_ptr<ImdsClient>> Create(const ImdsClientOptions& options,
                                                            http::HttpClient& http,
                                                            spdlog::logger& logger);

  absl::StatusOr<std::optional<std::string>> Get(absl::string_view path) override;
  int version() const override;
  Stats stats() const override;

 private:
  enum class Mode { kV2, kV1 };
  ImdsClient(ImdsClientOptions options, ImdsEndpoint endpoint, http::HttpClient& http,
             std::unique_ptr<http::HttpClient> owned, spdlog::logger& logger);

  // Makes sure there is a usable token (or that v1 is in use). Errors are
  // Unavailable: the token endpoint failed in a way that is not "v2 absent".
  absl::Status EnsureToken(bool force) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<http::HttpResponse> SendGet(const std::string& url_path)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FallBackToV1(absl::string_view why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ImdsClientOptions options_;
  const ImdsEndpoint endpoint_;
  std::unique_ptr<http::HttpClient> owned_http_;
  http::HttpClient& http_;
  spdlog::logger& logger_;

  mutable absl::Mutex mu_;
  Mode mode_ ABSL_GUARDED_BY(mu_) = Mode::kV2;
  absl::Time v1_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::string token_ ABSL_GUARDED_BY(mu_);
  absl::Time token_expiry_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int version_ ABSL_GUARDED_BY(mu_) = 0;
  std::string v1_reason_ ABSL_GUARDED_BY(mu_);  // why v2 was left
  bool v1_announced_ ABSL_GUARDED_BY(mu_) = true;
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hollowtrees::exporter
