#pragma once

// The one JSON string escaper, for code that writes JSON by hand (the engine's
// hot path, log lines). Fast: copies runs that need no escaping at once.
// Bytes >= 0x80 pass through unchanged (UTF-8 stays UTF-8); '"', '\\' and
// control characters are escaped (\n \r \t by name, others as \u00XX).

#include <string>

#include "absl/strings/string_view.h"

namespace hollowtrees {

// Appends `s` escaped for the inside of a JSON string (no quotes).
void AppendJsonEscaped(std::string& out, absl::string_view s);

// Appends `s` as a JSON string literal (quoted, escaped).
void AppendJsonString(std::string& out, absl::string_view s);

// `s` as a JSON string literal.
std::string JsonString(absl::string_view s);

}  // namespace hollowtrees
