#pragma once

// The process environment and the shared AWS files (~/.aws/credentials,
// ~/.aws/config), as values that tests can build by hand. Libraries never
// read the environment themselves: main() takes a snapshot and passes it in.

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hollowtrees::aws {

// Environment variables by name.
using Env = std::map<std::string, std::string>;

// A snapshot of this process' environment.
Env ProcessEnv();

// The variable's value, or "" when unset.
std::string EnvGet(const Env& env, absl::string_view name);

// An INI file as the AWS CLI reads it: sections of key = value, '#' and ';'
// comments. Nested values (a key with an empty value followed by indented
// lines) are flattened as "parent.key".
using IniSection = std::map<std::string, std::string>;
using IniFile = std::map<std::string, IniSection>;
// InvalidArgument with "FILE:LINE: message" for a line that is neither a
// section header, a key = value pair, a comment nor blank.
absl::StatusOr<IniFile> ParseIni(absl::string_view text, absl::string_view file_name);

// One profile as the SDKs assemble it from both files.
struct SharedProfile {
  std::string name;
  // Keys of the credentials file's [name] section, overlaid on the config
  // file's [profile name] (or [default]) section.
  IniSection values;
  bool found = false;  // the profile exists in either file
  std::string Get(absl::string_view key) const;
};

// The profile named by AWS_PROFILE (default "default") from
// AWS_SHARED_CREDENTIALS_FILE (default $HOME/.aws/credentials) and
// AWS_CONFIG_FILE (default $HOME/.aws/config). Missing files are empty;
// unreadable or malformed ones are errors.
absl::StatusOr<SharedProfile> LoadSharedProfile(const Env& env);

}  // namespace hollowtrees::aws
