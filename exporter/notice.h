#pragma once

// The instance's state as the exporter sees it, and the parsers of the
// metadata documents it is made from.

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace hollowtrees::exporter {

// spot/instance-action: {"action": "terminate|stop|hibernate", "time": RFC 3339}.
struct SpotAction {
  std::string action;
  // The time as written (part of the notice's identity), and parsed.
  std::string time_text;
  // InfinitePast when `time` is absent or not a time: AWS documents that the
  // value may be present but not be a time, so the notice still counts.
  absl::Time time = absl::InfinitePast();

  bool operator==(const SpotAction&) const = default;
};

// events/recommendations/rebalance: {"noticeTime": RFC 3339}.
struct RebalanceRecommendation {
  std::string notice_time_text;
  absl::Time notice_time = absl::InfinitePast();  // InfinitePast: not a time

  bool operator==(const RebalanceRecommendation&) const = default;
};

// InvalidArgument naming the problem when the body is not a JSON object or
// `action` is missing, empty or not a string. Never throws.
absl::StatusOr<SpotAction> ParseSpotAction(absl::string_view body);
// InvalidArgument when the body is not a JSON object or noticeTime is missing
// or not a string. Never throws.
absl::StatusOr<RebalanceRecommendation> ParseRebalance(absl::string_view body);

// What one poll of the metadata service found. A value type.
struct InstanceState {
  // The last poll succeeded (every document read or answered 404).
  bool available = false;
  absl::Time last_attempt = absl::InfinitePast();
  absl::Time last_success = absl::InfinitePast();
  std::string last_error;  // of the last failed poll
  // Learned once and kept ("" until the first successful read).
  std::string instance_id;
  std::string instance_type;
  std::string availability_zone;
  // From the last successful poll.
  std::optional<SpotAction> spot;
  std::optional<RebalanceRecommendation> rebalance;
  // The document was served but could not be parsed (the previous value is
  // not kept: a malformed notice is reported, not guessed at).
  bool spot_malformed = false;
  bool rebalance_malformed = false;
  int imds_version = 0;  // 2, 1, or 0 (unknown)
};

}  // namespace hollowtrees::exporter
