#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "lib/aws/environment.h"

namespace hollowtrees::aws {

// The region: `flag` when set, else AWS_REGION, AWS_DEFAULT_REGION, then the
// `region` of the AWS_PROFILE profile in the config file. NotFound saying
// where it looked when none is set; InvalidArgument for a malformed name.
absl::StatusOr<std::string> ResolveRegion(absl::string_view flag, const Env& env);

}  // namespace hollowtrees::aws
