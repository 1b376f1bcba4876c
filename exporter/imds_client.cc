#include "exporter/imds_client.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "lib/common/logging.h"
#include "spdlog/logger.h"

namespace hollowtrees::exporter {
namespace {

constexpr absl::string_view kTokenHeader = "X-aws-ec2-metadata-token";
constexpr absl::string_view kTtlHeader = "X-aws-ec2-metadata-token-ttl-seconds";
constexpr absl::string_view kMetaData = "meta-data/";

}  // namespace

absl::StatusOr<ImdsEndpoint> ParseImdsEndpoint(absl::string_view url) {
  auto parsed = http::ParseUrl(url);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("metadata endpoint \"", url, "\": ", parsed.status().message()));
  }
  ImdsEndpoint out;
  const bool v6 = absl::StrContains(parsed->host, ':');
  out.base_url = absl::StrCat(parsed->scheme, "://", v6 ? "[" : "", parsed->host, v6 ? "]" : "",
                              ":", parsed->port);
  std::string path = parsed->path;
  if (path.empty() || path == "/") path = "/latest/meta-data/";
  if (path.back() != '/') path.push_back('/');
  if (!absl::EndsWith(path, absl::StrCat("/", kMetaData))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metadata endpoint \"", url,
        "\": the path must end in /meta-data/ (like http://169.254.169.254/latest/meta-data/) so "
        "that the IMDSv2 token endpoint (/latest/api/token) can be derived from it"));
  }
  out.metadata_path = path;
  out.token_path = absl::StrCat(path.substr(0, path.size() - kMetaData.size()), "api/token");
  return out;
}

absl::StatusOr<std::unique_ptr<ImdsClient>> ImdsClient::Create(const ImdsClientOptions& options,
                                                               spdlog::logger& logger) {
  auto endpoint = ParseImdsEndpoint(options.metadata_endpoint);
  if (!endpoint.ok()) return endpoint.status();
  auto http = http::NewHttpClient({.base_url = endpoint->base_url,
                                   .connect_timeout = options.timeout,
                                   .timeout = options.timeout,
                                   .max_idle_connections = 2});
  if (!http.ok()) return http.status();
  http::HttpClient& ref = **http;
  auto client = Create(options, ref, logger);
  if (!client.ok()) return client.status();
  (*client)->owned_http_ = *std::move(http);
  return client;
}

absl::StatusOr<std::unique_ptr<ImdsClient>> ImdsClient::Create(const ImdsClientOptions& options,
                                                               http::HttpClient& http,
                                                               spdlog::logger& logger) {
  auto endpoint = ParseImdsEndpoint(options.metadata_endpoint);
  if (!endpoint.ok()) return endpoint.status();
  if (options.token_ttl < absl::Seconds(1) || options.token_ttl > absl::Hours(6)) {
    return absl::InvalidArgumentError(
        absl::StrCat("token TTL ", absl::FormatDuration(options.token_ttl),
                     ": IMDSv2 accepts 1s to 6h"));
  }
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("metadata timeout must be positive");
  }
  return std::unique_ptr<ImdsClient>(
      new ImdsClient(options, *std::move(endpoint), http, nullptr, logger));
}

ImdsClient::ImdsClient(ImdsClientOptions options, ImdsEndpoint endpoint, http::HttpClient& http,
                       std::unique_ptr<http::HttpClient> owned, spdlog::logger& logger)
    : options_(std::move(options)),
      endpoint_(std::move(endpoint)),
      owned_http_(std::move(owned)),
      http_(http),
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
  v1_until_ = options_.now() + options_.v2_retry_interval;
}

absl::Status ImdsClient::EnsureToken(bool force) {
  const absl::Time now = options_.now();
  if (!force) {
    if (mode_ == Mode::kV1 && now < v1_until_) return absl::OkStatus();
    const absl::Duration margin =
        std::min(options_.token_refresh_margin, options_.token_ttl / 4);
    if (mode_ == Mode::kV2 && !token_.empty() && now < token_expiry_ - margin) {
      return absl::OkStatus();
    }
  }
  const int64_t ttl_seconds = absl::ToInt64Seconds(options_.token_ttl);
  auto r = http_.Send({.method = "PUT",
                       .path = endpoint_.token_path,
                       .headers = {{std::string(kTtlHeader), absl::StrCat(ttl_seconds)}},
                       .timeout = options_.timeout});
  if (!r.ok()) {
    // The PUT may be what cannot get through (a hop limit of 1 drops PUT
    // answers for containers) while GETs can: try v1; the GET that follows
    // tells whether the service answers at all.
    ++stats_.token_failures;
    FallBackToV1(r.status().message());
    return absl::OkStatus();
  }
  if (r->status == 404 || r->status == 403 || r->status == 405) {
    ++stats_.token_failures;
    FallBackToV1(absl::StrCat("PUT ", endpoint_.token_path, " answered HTTP ", r->status));
    return absl::OkStatus();
  }
  if (r->status != 200) {
    ++stats_.token_failures;
    return absl::UnavailableError(absl::StrCat("PUT ", endpoint_.base_url, endpoint_.token_path,
                                               ": HTTP ", r->status, " ",
                                               r->body.substr(0, 200)));
  }
  std::string token(absl::StripAsciiWhitespace(r->body));
  if (token.empty()) {
    ++stats_.token_failures;
    return absl::UnavailableError(
        absl::StrCat("PUT ", endpoint_.base_url, endpoint_.token_path, ": empty token"));
  }
  absl::Duration ttl = options_.token_ttl;
  int64_t granted = 0;
  if (absl::SimpleAtoi(r->Header(kTtlHeader), &granted) && granted > 0) {
    ttl = std::min(ttl, absl::Seconds(granted));
  }
  if (mode_ == Mode::kV1) logger_.info("IMDSv2 session token obtained: using IMDSv2");
  ++stats_.token_fetches;
  mode_ = Mode::kV2;
  token_ = std::move(token);
  token_expiry_ = now + ttl;
  logger_.debug("IMDSv2 token fetched, valid for {}", absl::FormatDuration(ttl));
  return absl::OkStatus();
}

absl::StatusOr<http::HttpResponse> ImdsClient::SendGet(const std::string& url_path) {
  http::HttpRequest req{.method = "GET", .path = url_path, .timeout = options_.timeout};
  if (!token_.empty()) req.headers.emplace_back(std::string(kTokenHeader), token_);
  return http_.Send(req);
}

absl::StatusOr<std::optional<std::string>> ImdsClient::Get(absl::string_view path) {
  while (absl::ConsumePrefix(&path, "/")) {
  }
  const std::string url_path = absl::StrCat(endpoint_.metadata_path, path);
  absl::MutexLock lock(&mu_);
  if (absl::Status s = EnsureToken(false); !s.ok()) return s;
  auto r = SendGet(url_path);
  if (!r.ok()) return absl::UnavailableError(r.status().message());
  if (r->status == 401) {
    ++stats_.unauthorized;
    logger_.debug("GET {} answered 401: fetching a new token", url_path);
    token_.clear();
    if (absl::Status s = EnsureToken(true); !s.ok()) return s;
    r = SendGet(url_path);
    if (!r.ok()) return absl::UnavailableError(r.status().message());
    if (r->status == 401) {
      ++stats_.unauthorized;
      return absl::UnavailableError(absl::StrCat("GET ", endpoint_.base_url, url_path,
                                                 ": HTTP 401 even with a fresh token"));
    }
  }
  if (r->status == 200 || r->status == 404) {
    version_ = token_.empty() ? 1 : 2;
    if (version_ == 1 && !v1_announced_) {
      v1_announced_ = true;
      ++stats_.v1_fallbacks;
      logger_.warn("IMDSv2 not available ({}): using IMDSv1, trying v2 again every {}",
                   v1_reason_, absl::FormatDuration(options_.v2_retry_interval));
    }
    if (r->status == 404) return std::optional<std::string>();
    return std::optional<std::string>(std::move(r->body));
  }
  return absl::UnavailableError(
      absl::StrCat("GET ", endpoint_.base_url, url_path, ": HTTP ", r->status));
}

int ImdsClient::version() const {
  absl::MutexLock lock(&mu_);
  return version_;
}

InstanceMetadata::Stats ImdsClient::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace hollowtrees::exporter
