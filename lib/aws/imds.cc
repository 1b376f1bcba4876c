#include "lib/aws/imds.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "lib/common/logging.h"
#include "lib/common/status_macros.h"
#include "spdlog/logger.h"

namespace hollowtrees::aws {
namespace {

constexpr absl::string_view kTokenHeader = "X-aws-ec2-metadata-token";
constexpr absl::string_view kTtlHeader = "X-aws-ec2-metadata-token-ttl-seconds";

std::string TrimEndpoint(std::string endpoint) {
  while (absl::EndsWith(endpoint, "/")) endpoint.pop_back();
  return endpoint;
}

absl::Status ValidateOptions(const ImdsOptions& options) {
  if (!absl::StartsWith(options.api_root, "/") || !absl::EndsWith(options.api_root, "/")) {
    return absl::InvalidArgumentError(
        absl::StrCat("IMDS api_root \"", options.api_root, "\": must start and end with '/'"));
  }
  if (options.token_ttl < absl::Seconds(1) || options.token_ttl > absl::Hours(6)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "token TTL ", absl::FormatDuration(options.token_ttl), ": IMDSv2 accepts 1s to 6h"));
  }
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("metadata timeout must be positive");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ImdsClient>> ImdsClient::Create(const ImdsOptions& options,
                                                               Clock& clock,
                                                               spdlog::logger* logger) {
  HT_RETURN_IF_ERROR(ValidateOptions(options));
  HT_ASSIGN_OR_RETURN(auto http, http::NewHttpClient({.base_url = TrimEndpoint(options.endpoint),
                                                      .connect_timeout = options.timeout,
                                                      .timeout = options.timeout,
                                                      .max_idle_connections = 2}));
  http::HttpClient& ref = *http;
  return std::unique_ptr<ImdsClient>(
      new ImdsClient(options, ref, std::move(http), clock, logger));
}

absl::StatusOr<std::unique_ptr<ImdsClient>> ImdsClient::Create(const ImdsOptions& options,
                                                               http::HttpClient& http,
                                                               Clock& clock,
                                                               spdlog::logger* logger) {
  HT_RETURN_IF_ERROR(ValidateOptions(options));
  return std::unique_ptr<ImdsClient>(new ImdsClient(options, http, nullptr, clock, logger));
}

ImdsClient::ImdsClient(const ImdsOptions& options, http::HttpClient& http,
                       std::unique_ptr<http::HttpClient> owned, Clock& clock,
                       spdlog::logger* logger)
    : options_(options),
      token_path_(absl::StrCat(options.api_root, "api/token")),
      owned_http_(std::move(owned)),
      http_(http),
      clock_(clock),
      logger_(logger) {}

void ImdsClient::FallBackToV1(absl::string_view why) {
  if (mode_ == Mode::kV2) {
    // Announced (and counted) once a request without a token works: when
    // the whole service is down, "using IMDSv1" would only mislead.
    v1_reason_ = std::string(why);
    v1_announced_ = false;
  }
  mode_ = Mode::kV1;
  token_.clear();
  token_expiry_ = absl::InfinitePast();
  v1_until_ = clock_.Now() + options_.v2_retry_interval;
}

absl::Status ImdsClient::EnsureToken(bool force) {
  const absl::Time now = clock_.Now();
  if (!force) {
    if (mode_ == Mode::kV1 && now < v1_until_) return absl::OkStatus();
    const absl::Duration margin =
        std::min(options_.token_refresh_margin, options_.token_ttl / 4);
    if (mode_ == Mode::kV2 && !token_.empty() && now < token_expiry_ - margin) {
      return absl::OkStatus();
    }
  }
  const std::string url = absl::StrCat(TrimEndpoint(options_.endpoint), token_path_);
  auto r = http_.Send({.method = "PUT",
                       .path = token_path_,
                       .headers = {{std::string(kTtlHeader),
                                    absl::StrCat(absl::ToInt64Seconds(options_.token_ttl))}},
                       .timeout = options_.timeout});
  if (!r.ok()) {
    ++stats_.token_failures;
    if (options_.allow_v1_fallback && options_.v1_when_token_unreachable) {
      FallBackToV1(r.status().message());
      return absl::OkStatus();
    }
    return r.status();
  }
  if (r->status == 404 || r->status == 403 || r->status == 405) {
    ++stats_.token_failures;
    if (options_.allow_v1_fallback) {
      FallBackToV1(absl::StrCat("PUT ", token_path_, " answered HTTP ", r->status));
      return absl::OkStatus();
    }
    return absl::PermissionDeniedError(
        absl::StrCat("PUT ", url, ": HTTP ", r->status, " (IMDSv1 fallback is off)"));
  }
  if (r->status != 200) {
    ++stats_.token_failures;
    const std::string message =
        absl::StrCat("PUT ", url, ": HTTP ", r->status, " ", r->body.substr(0, 200));
    if (r->status >= 500) return absl::UnavailableError(message);
    return absl::PermissionDeniedError(message);
  }
  std::string token(absl::StripAsciiWhitespace(r->body));
  if (token.empty()) {
    ++stats_.token_failures;
    return absl::UnavailableError(absl::StrCat("PUT ", url, ": empty token"));
  }
  absl::Duration ttl = options_.token_ttl;
  int64_t granted = 0;
  if (absl::SimpleAtoi(r->Header(kTtlHeader), &granted) && granted > 0) {
    ttl = std::min(ttl, absl::Seconds(granted));
  }
  if (mode_ == Mode::kV1 && logger_ != nullptr) {
    logger_->info("IMDSv2 session token obtained: using IMDSv2");
  }
  ++stats_.token_fetches;
  mode_ = Mode::kV2;
  token_ = std::move(token);
  token_expiry_ = now + ttl;
  if (logger_ != nullptr) {
    logger_->debug("IMDSv2 token fetched, valid for {}", absl::FormatDuration(ttl));
  }
  return absl::OkStatus();
}

absl::StatusOr<http::HttpResponse> ImdsClient::SendGet(const std::string& url_path) {
  http::HttpRequest req{.method = "GET", .path = url_path, .timeout = options_.timeout};
  if (!token_.empty()) req.headers.emplace_back(std::string(kTokenHeader), token_);
  return http_.Send(req);
}

absl::StatusOr<std::string> ImdsClient::Get(absl::string_view path) {
  while (absl::ConsumePrefix(&path, "/")) {
  }
  const std::string url_path = absl::StrCat(options_.api_root, path);
  const std::string url = absl::StrCat(TrimEndpoint(options_.endpoint), url_path);
  absl::MutexLock lock(&mu_);
  HT_RETURN_IF_ERROR(EnsureToken(false));
  HT_ASSIGN_OR_RETURN(http::HttpResponse r, SendGet(url_path));
  if (r.status == 401) {
    ++stats_.unauthorized;
    if (logger_ != nullptr) logger_->debug("GET {} answered 401: fetching a new token", url_path);
    token_.clear();
    HT_RETURN_IF_ERROR(EnsureToken(true));
    HT_ASSIGN_OR_RETURN(r, SendGet(url_path));
    if (r.status == 401) {
      ++stats_.unauthorized;
      return absl::PermissionDeniedError(
          absl::StrCat("GET ", url, ": HTTP 401 even with a fresh token"));
    }
  }
  if (r.status == 200 || r.status == 404) {
    version_ = token_.empty() ? 1 : 2;
    if (version_ == 1 && !v1_announced_) {
      v1_announced_ = true;
      ++stats_.v1_fallbacks;
      if (logger_ != nullptr) {
        const std::string retry =
            options_.v2_retry_interval == absl::InfiniteDuration()
                ? std::string("trying v2 again on a 401")
                : absl::StrCat("trying v2 again every ",
                               absl::FormatDuration(options_.v2_retry_interval));
        logger_->warn("IMDSv2 not available ({}): using IMDSv1, {}", v1_reason_, retry);
      }
    }
    if (r.status == 404) return absl::NotFoundError(absl::StrCat("GET ", url, ": HTTP 404"));
    return std::move(r.body);
  }
  const std::string message = absl::StrCat("GET ", url, ": HTTP ", r.status);
  if (r.status >= 500) return absl::UnavailableError(message);
  return absl::PermissionDeniedError(message);
}

int ImdsClient::version() const {
  absl::MutexLock lock(&mu_);
  return version_;
}

ImdsStats ImdsClient::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace hollowtrees::aws
