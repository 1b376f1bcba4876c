#pragma once

// What the exporter needs from the EC2 instance metadata service: one GET of
// a path under /latest/meta-data/. The real implementation (ImdsMetadata,
// imds_metadata.h) delegates to the shared aws::ImdsClient (lib/aws/imds.h):
// IMDSv2 with session tokens, falling back to v1; tests may substitute a fake.

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "lib/aws/imds.h"

namespace hollowtrees::exporter {

class InstanceMetadata {
 public:
  virtual ~InstanceMetadata() = default;

  // GETs `path`, relative to the meta-data root (e.g. "instance-id",
  // "spot/instance-action"). Returns the body on 200 and std::nullopt on 404
  // (the item does not exist, e.g. no spot notice yet). Any other answer, and
  // every transport failure or timeout, is Unavailable naming the URL and the
  // cause. Thread-safe.
  virtual absl::StatusOr<std::optional<std::string>> Get(absl::string_view path) = 0;

  // The protocol the last successful request used: 2 (session token), 1
  // (no token), 0 (none succeeded yet). Thread-safe.
  virtual int version() const = 0;

  // Counters of the protocol's events, for the exporter's own metrics.
  using Stats = aws::ImdsStats;
  virtual Stats stats() const { return {}; }
};

}  // namespace hollowtrees::exporter
