#include "lib/aws/imds.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "lib/common/status_macros.h"

namespace hollowtrees::aws {

absl::StatusOr<std::unique_ptr<ImdsClient>> ImdsClient::Create(const ImdsOptions& options,
                                                               Clock& clock) {
  std::string endpoint = options.endpoint;
  while (absl::EndsWith(endpoint, "/")) endpoint.pop_back();
  HT_ASSIGN_OR_RETURN(auto http, http::NewHttpClient({.base_url = endpoint,
                                                      .connect_timeout = options.timeout,
                                                      .timeout = options.timeout,
                                                      .max_idle_connections = 2}));
  return std::unique_ptr<ImdsClient>(new ImdsClient(options, std::move(http), clock));
}

absl::StatusOr<std::string> ImdsClient::Token(bool force) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_.Now();
  if (!force && v1_) return std::string();
  if (!force && !token_.empty() && now + absl::Seconds(15) < token_expiry_) return token_;
  auto res = http_->Send({.method = "PUT",
                          .path = "/latest/api/token",
                          .headers = {{"X-aws-ec2-metadata-token-ttl-seconds",
                                       absl::StrCat(options_.token_ttl_seconds)}}});
  if (!res.ok()) return res.status();
  if (res->status == 200 && !res->body.empty()) {
    token_ = res->body;
    token_expiry_ = now + absl::Seconds(options_.token_ttl_seconds);
    v1_ = false;
    return token_;
  }
  if ((res->status == 403 || res->status == 404 || res->status == 405) &&
      options_.allow_v1_fallback) {
    v1_ = true;
    token_.clear();
    return std::string();
  }
  if (res->status >= 500) {
    return absl::UnavailableError(absl::StrCat("IMDS token request: HTTP ", res->status));
  }
  return absl::PermissionDeniedError(absl::StrCat("IMDS token request refused: HTTP ", res->status));
}

absl::StatusOr<std::string> ImdsClient::Get(absl::string_view path) {
  const std::string full = absl::StrCat("/latest/", absl::StripPrefix(path, "/"));
  for (int attempt = 0; attempt < 2; ++attempt) {
    HT_ASSIGN_OR_RETURN(std::string token, Token(attempt > 0));
    http::HttpRequest req{.method = "GET", .path = full};
    if (!token.empty()) req.headers.emplace_back("X-aws-ec2-metadata-token", token);
    HT_ASSIGN_OR_RETURN(http::HttpResponse res, http_->Send(req));
    if (res.status == 200) return res.body;
    if (res.status == 404) return absl::NotFoundError(absl::StrCat("IMDS ", full, ": not found"));
    if (res.status == 401) continue;  // token expired or revoked: a new one, once
    if (res.status >= 500) {
      return absl::UnavailableError(absl::StrCat("IMDS ", full, ": HTTP ", res.status));
    }
    return absl::PermissionDeniedError(absl::StrCat("IMDS ", full, ": HTTP ", res.status));
  }
  return absl::PermissionDeniedError(absl::StrCat("IMDS ", full, ": HTTP 401 with a fresh token"));
}

}  // namespace hollowtrees::aws
