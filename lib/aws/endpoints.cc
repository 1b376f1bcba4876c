#include "lib/aws/endpoints.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace hollowtrees::aws {

std::string ResolveEndpoint(absl::string_view service_env_name, absl::string_view host_prefix,
                            absl::string_view region, const Env& env) {
  if (absl::AsciiStrToLower(EnvGet(env, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")) != "true") {
    std::string v = EnvGet(env, absl::StrCat("AWS_ENDPOINT_URL_", service_env_name));
    if (v.empty()) v = EnvGet(env, "AWS_ENDPOINT_URL");
    if (!v.empty()) return v;
  }
  const char* suffix = absl::StartsWith(region, "cn-") ? "amazonaws.com.cn" : "amazonaws.com";
  return absl::StrCat("https://", host_prefix, ".", region, ".", suffix);
}

}  // namespace hollowtrees::aws
