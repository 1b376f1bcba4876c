#pragma once

// The one whole-file reader.

#include <string>

#include "absl/status/statusor.h"

namespace hollowtrees {

// The file's bytes. Errors carry the code errno maps to (NotFound for a
// missing file, PermissionDenied, ...) and read "PATH: <strerror>", so that
// callers can prefix what the file is: "cannot read CA file " + message.
absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace hollowtrees
