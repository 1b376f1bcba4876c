#include "exporter/imds_metadata.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "lib/http/http_client.h"

namespace hollowtrees::exporter {
namespace {

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

absl::StatusOr<std::unique_ptr<ImdsMetadata>> ImdsMetadata::Create(
    const ImdsMetadataOptions& options, spdlog::logger& logger, Clock& clock) {
  auto endpoint = ParseImdsEndpoint(options.metadata_endpoint);
  if (!endpoint.ok()) return endpoint.status();
  const std::string& meta = endpoint->metadata_path;
  auto client = aws::ImdsClient::Create(
      {.endpoint = endpoint->base_url,
       .api_root = meta.substr(0, meta.size() - kMetaData.size()),
       .timeout = options.timeout,
       .token_ttl = options.token_ttl,
       .token_refresh_margin = options.token_refresh_margin,
       .allow_v1_fallback = true,
       // A hop limit of 1 drops the PUT's answer for containers while GETs
       // get through.
       .v1_when_token_unreachable = true,
       .v2_retry_interval = options.v2_retry_interval},
      clock, &logger);
  if (!client.ok()) return client.status();
  return std::unique_ptr<ImdsMetadata>(new ImdsMetadata(*std::move(client)));
}

absl::StatusOr<std::optional<std::string>> ImdsMetadata::Get(absl::string_view path) {
  while (absl::ConsumePrefix(&path, "/")) {
  }
  auto body = client_->Get(absl::StrCat(kMetaData, path));
  if (body.ok()) return std::optional<std::string>(*std::move(body));
  if (absl::IsNotFound(body.status())) return std::optional<std::string>();
  // The exporter's contract: every other failure is Unavailable.
  if (absl::IsUnavailable(body.status())) return body.status();
  return absl::UnavailableError(body.status().message());
}

}  // namespace hollowtrees::exporter
