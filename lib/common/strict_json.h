#pragma once

// Parses a request body as JSON, refusing what nlohmann's parser takes but
// our servers must not (each found by tests/e2e/badinput or a fuzzer):
// - a NUL byte: the parser stops there as if the text ended, so
//   `{...}\0garbage` passed and carried its tail along;
// - nesting deeper than kMaxJsonDepth: parsing is iterative, but dump() and
//   copies recurse, and 100k nested arrays overflowed a request thread's
//   stack and killed the process (the engine and the webhook);
// - an object with the same key twice: the parser keeps the last silently,
//   so a sender and the server could read different requests.
// Used by the engine's CloudEvents intake and by spot-config-webhook.

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace hollowtrees {

inline constexpr int kMaxJsonDepth = 512;

// The parsed value, or InvalidArgument whose message starts "body is not
// valid JSON" and names the problem.
absl::StatusOr<nlohmann::json> ParseStrictJson(absl::string_view body);

}  // namespace hollowtrees
