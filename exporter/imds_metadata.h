#pragma once

// The real InstanceMetadata: a thin adapter over the shared IMDS client
// (aws::ImdsClient, lib/aws/imds.h), which speaks IMDSv2 with session tokens,
// fetches a new token on a 401 and falls back to IMDSv1. This file adds the
// exporter's view: the endpoint in the original exporter's form
// (--metadata-endpoint), paths relative to meta-data/, 404 as std::nullopt,
// and every failure as Unavailable.
//
// Thread-safe: requests are serialised (one poller uses it).

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "exporter/metadata.h"
#include "lib/aws/imds.h"
#include "lib/common/clock.h"

namespace spdlog {
class logger;
}

namespace hollowtrees::exporter {

struct ImdsMetadataOptions {
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
};

// The meta-data path and the token path derived from an endpoint URL, and the
// "scheme://host:port" base. InvalidArgument naming the problem.
struct ImdsEndpoint {
  std::string base_url;
  std::string metadata_path;  // ends in '/'
  std::string token_path;
};
absl::StatusOr<ImdsEndpoint> ParseImdsEndpoint(absl::string_view url);

class ImdsMetadata : public InstanceMetadata {
 public:
  // InvalidArgument for a bad endpoint, TTL or timeout. `logger` and
  // `clock` must outlive the client.
  static absl::StatusOr<std::unique_ptr<ImdsMetadata>> Create(const ImdsMetadataOptions& options,
                                                              spdlog::logger& logger,
                                                              Clock& clock = RealClock());

  absl::StatusOr<std::optional<std::string>> Get(absl::string_view path) override;
  int version() const override { return client_->version(); }
  Stats stats() const override { return client_->stats(); }

 private:
  explicit ImdsMetadata(std::unique_ptr<aws::ImdsClient> client) : client_(std::move(client)) {}

  std::unique_ptr<aws::ImdsClient> client_;
};

}  // namespace hollowtrees::exporter
