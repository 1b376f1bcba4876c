#pragma once

// Runs tests/lib/aws/botocore_sign.py (Debian's python3-botocore) on
// requests and returns the Authorization header botocore computes for each,
// to compare with ours.

#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"
#include "tests/testing/subprocess.h"

namespace hollowtrees::testing {

// `cases`: a JSON array of {method, url, headers: [[name, value]...], body,
// access_key, secret_key, token, region, service, amz_date}. One
// Authorization header per case, in order; an error with the script's output
// when it fails.
inline absl::StatusOr<std::vector<std::string>> BotocoreAuthorizations(
    const nlohmann::json& cases) {
  const std::string dir = MakeTempDir("botocore-sign");
  const std::string in_file = dir + "/cases.json";
  if (absl::Status s = WriteStringToFile(in_file, cases.dump()); !s.ok()) {
    return s;
  }
  const std::string cmd = absl::StrCat(
      "/usr/bin/python3 ", SourcePath("tests/lib/aws/botocore_sign.py"), " ",
      in_file, " 2>&1");
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return absl::InternalError("cannot run " + cmd);
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof(buf), pipe)) out.append(buf, n);
  if (pclose(pipe) != 0) return absl::InternalError(absl::StrCat(cmd, " failed: ", out));
  std::vector<std::string> lines = absl::StrSplit(absl::StripTrailingAsciiWhitespace(out), '\n');
  if (lines.size() != cases.size()) {
    return absl::InternalError(absl::StrCat("botocore_sign.py answered ", lines.size(),
                                            " lines for ", cases.size(), " cases: ", out));
  }
  return lines;
}

}  // namespace hollowtrees::testing
