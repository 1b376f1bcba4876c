#pragma once

// The one whole-file reader.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hollowtrees {

// The file's bytes. Errors carry the code errno maps to (NotFound for a
// missing file, PermissionDenied, ...) and read "PATH: <strerror>", so that
// callers can prefix what the file is: "cannot read CA file " + message.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Replaces the file at `path` with `content` so that a crash leaves either
// the old file or the new one, never a part: written to PATH.tmp, synced,
// renamed over PATH, the directory synced. Errors as ReadFile's.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view content);

}  // namespace hollowtrees
