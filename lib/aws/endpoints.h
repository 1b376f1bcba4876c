#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "lib/aws/environment.h"

namespace hollowtrees::aws {

// The endpoint of a service as the SDKs find it: AWS_ENDPOINT_URL_<SERVICE>
// (AWS_ENDPOINT_URL_EC2, AWS_ENDPOINT_URL_AUTO_SCALING, AWS_ENDPOINT_URL_STS),
// then AWS_ENDPOINT_URL, unless AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true;
// else https://<prefix>.<region>.amazonaws.com (.amazonaws.com.cn in China).
// `service_env_name` is the SDK's service id for the variable ("EC2",
// "AUTO_SCALING", "STS"); `host_prefix` the endpoint prefix ("ec2",
// "autoscaling", "sts").
std::string ResolveEndpoint(absl::string_view service_env_name, absl::string_view host_prefix,
                            absl::string_view region, const Env& env);

}  // namespace hollowtrees::aws
