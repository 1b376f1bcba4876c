#include "lib/aws/region.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace hollowtrees::aws {
namespace {

absl::StatusOr<std::string> Check(const std::string& region, absl::string_view from) {
  for (char c : region) {
    if (!absl::ascii_islower(c) && !absl::ascii_isdigit(c) && c != '-') {
      return absl::InvalidArgumentError(
          absl::StrCat("region \"", region, "\" from ", from, " is not a region name (like us-east-1)"));
    }
  }
  return region;
}

}  // namespace

absl::StatusOr<std::string> ResolveRegion(absl::string_view flag, const Env& env) {
  if (!flag.empty()) return Check(std::string(flag), "--region");
  for (const char* name : {"AWS_REGION", "AWS_DEFAULT_REGION"}) {
    const std::string v = EnvGet(env, name);
    if (!v.empty()) return Check(v, name);
  }
  auto profile = LoadSharedProfile(env);
  if (!profile.ok()) return profile.status();
  const std::string v = profile->Get("region");
  if (!v.empty()) return Check(v, absl::StrCat("profile ", profile->name));
  return absl::NotFoundError(
      "no AWS region: set --region, AWS_REGION, AWS_DEFAULT_REGION or region in the config file");
}

}  // namespace hollowtrees::aws
