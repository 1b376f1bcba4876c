#pragma once

namespace hollowtrees {

// Our command lines use dashes (--kubeconfig-dir, --bind-addr, as DESIGN.md
// and the original project spell them), but absl flag names cannot contain
// them. Rewrites the name part of every "--foo-bar[=value]" argument in place
// to "--foo_bar[=value]", so both spellings work; values and everything after
// a bare "--" are left alone. Call before absl::ParseCommandLine.
void AcceptDashedFlags(int argc, char** argv);

}  // namespace hollowtrees
