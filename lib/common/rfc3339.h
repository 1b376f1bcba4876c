#pragma once

// The one RFC 3339 parser and formatter.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace hollowtrees {

// Parses an RFC 3339 timestamp strictly (as CloudEvents requires):
// YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM); 'T' and 'Z' may be lower
// case. "2018-04-05T18:31Z" (no seconds) and "lunchtime" are rejected.
// Fast: no allocation, no time zone database. InvalidArgument naming the text.
absl::StatusOr<absl::Time> ParseRfc3339(absl::string_view text);

// The fraction of a second FormatRfc3339 writes.
enum class Rfc3339Fraction {
  kShortest,  // nanoseconds, trailing zeros dropped, none when zero ("...:05.123Z", "...:05Z")
  kMillis,    // always three digits, truncated ("...:05.000Z")
  kMicros,    // always six digits, truncated ("...:05.000000Z"): Kubernetes' MicroTime
  kNone,      // whole seconds, truncated ("...:05Z")
};

// Formats as RFC 3339 in UTC ("2024-01-02T03:04:05.123Z"). Fast: no
// allocation beyond the result, no time zone database (the engine's hot
// path); the same text as absl::FormatTime with the matching %E*S / %E3S / %E6S / %S.
std::string FormatRfc3339(absl::Time t, Rfc3339Fraction fraction = Rfc3339Fraction::kShortest);

}  // namespace hollowtrees
