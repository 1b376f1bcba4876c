#pragma once

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace hollowtrees {

// Parses a duration in Prometheus' format: one or more <number><unit> terms,
// largest unit first, units y w d h m s ms (e.g. "500ms", "90s", "1h30m").
// "0" alone is accepted. Returns InvalidArgument naming the problem.
absl::StatusOr<absl::Duration> ParsePromDuration(absl::string_view text);

// Formats a duration in the same format ("1h30m", "500ms", "0s").
std::string FormatPromDuration(absl::Duration d);

}  // namespace hollowtrees
