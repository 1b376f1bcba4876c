#pragma once

#include "absl/strings/string_view.h"

namespace hollowtrees {

// Sets what --help and --version print for a daemon: `usage` as the program
// usage message, and "<program> <kVersion>" (lib/common/version.h) for
// --version. Call once, before absl::ParseCommandLine and before any thread
// that reads flags starts.
void InitFlags(absl::string_view program, absl::string_view usage);

// Our command lines use dashes (--kubeconfig-dir, --bind-addr, as the
// original project spelled them), but absl flag names cannot contain
// them. Rewrites the name part of every "--foo-bar[=value]" argument in place
// to "--foo_bar[=value]", so both spellings work; values and everything after
// a bare "--" are left alone. Call before absl::ParseCommandLine.
void AcceptDashedFlags(int argc, char** argv);

}  // namespace hollowtrees
