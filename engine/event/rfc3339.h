#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace hollowtrees::engine {

// Parses an RFC 3339 timestamp strictly (as CloudEvents requires):
// YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM); 'T' and 'Z' may be lower
// case. "2018-04-05T18:31Z" (no seconds) and "lunchtime" are rejected.
// Fast: no allocation, no time zone database. InvalidArgument naming the text.
absl::StatusOr<absl::Time> ParseRfc3339(absl::string_view text);

// Formats as RFC 3339 in UTC with nanoseconds when non-zero
// ("2024-01-02T03:04:05.123Z").
std::string FormatRfc3339(absl::Time t);

}  // namespace hollowtrees::engine
