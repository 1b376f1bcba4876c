#pragma once

// AsgApi over the real AWS APIs (lib/aws): credentials, region and endpoints
// found as every AWS SDK finds them.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "lib/aws/environment.h"
#include "lib/aws/query_client.h"
#include "lib/common/clock.h"
#include "plugins/aws_asg/asg_api.h"

namespace spdlog {
class logger;
}

namespace hollowtrees::aws_asg {

struct AwsAsgApiOptions {
  // The resolved region (aws::ResolveRegion).
  std::string region;
  // The environment (credentials, endpoint overrides, AWS_CA_BUNDLE,
  // AWS_EC2_METADATA_DISABLED, ...): main() passes aws::ProcessEnv().
  aws::Env env;
  // Per AWS request. Default 10 s.
  absl::Duration request_timeout = absl::Seconds(10);
  // Throttling and 5xx retries: default 5 attempts, 100 ms base, 5 s cap.
  aws::RetryOptions retry;
  // Default: the wall clock. Not owned.
  Clock* clock = nullptr;
};

// InvalidArgument for a bad endpoint URL or CA bundle. Credentials are
// looked up on first use, not here, so the plugin starts (and reports the
// problem per call) even where none are configured yet. The logger must
// outlive the result.
absl::StatusOr<std::unique_ptr<AsgApi>> NewAwsAsgApi(const AwsAsgApiOptions& options,
                                                     spdlog::logger& logger);

}  // namespace hollowtrees::aws_asg
