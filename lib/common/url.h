#pragma once

// The one percent-encoding (RFC 3986) helper.
//
// PercentEncode keeps the unreserved characters A-Z a-z 0-9 - _ . ~ and
// escapes every other byte as %XX with upper-case hex. That is the rule both
// SigV4 (its UriEncode: paths with '/' kept, query names and values with '/'
// escaped) and URL query values (Kubernetes selectors) need; a space is
// always "%20", never '+' (HTML form encoding is not used for requests here).

#include <string>

#include "absl/strings/string_view.h"

namespace hollowtrees {

enum class Slash { kEscape, kKeep };

// `text` percent-encoded; '/' kept when `slash` is kKeep (a path).
std::string PercentEncode(absl::string_view text, Slash slash = Slash::kEscape);

enum class Plus { kKeep, kSpace };

// Decodes %XX escapes (either case; a malformed escape is kept as is). With
// Plus::kSpace, '+' decodes to ' ' (HTML form bodies).
std::string PercentDecode(absl::string_view text, Plus plus = Plus::kKeep);

}  // namespace hollowtrees
