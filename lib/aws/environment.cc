#include "lib/aws/environment.h"


#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "lib/common/file.h"

extern char** environ;

namespace hollowtrees::aws {
namespace {

absl::StatusOr<IniFile> LoadIni(const std::string& path) {
  auto text = ReadFile(path);
  if (absl::IsNotFound(text.status())) return IniFile{};
  if (!text.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read ", text.status().message()));
  }
  return ParseIni(*text, path);
}

}  // namespace

Env ProcessEnv() {
  Env env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    absl::string_view kv(*e);
    const size_t eq = kv.find('=');
    if (eq == absl::string_view::npos) continue;
    env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return env;
}

std::string EnvGet(const Env& env, absl::string_view name) {
  auto it = env.find(std::string(name));
  return it == env.end() ? "" : it->second;
}

absl::StatusOr<IniFile> ParseIni(absl::string_view text, absl::string_view file_name) {
  IniFile out;
  std::string section;
  bool in_section = false;
  std::string parent;  // key of a nested block, while its indented lines follow
  int line_no = 0;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    ++line_no;
    absl::string_view line = absl::StripTrailingAsciiWhitespace(raw);
    absl::string_view trimmed = absl::StripLeadingAsciiWhitespace(line);
    if (trimmed.empty() || trimmed[0] == '#' || trimmed[0] == ';') continue;
    const bool indented = line.size() != trimmed.size();
    if (trimmed[0] == '[') {
      if (trimmed.back() != ']') {
        return absl::InvalidArgumentError(
            absl::StrCat(file_name, ":", line_no, ": section header lacks its closing ]"));
      }
      section = std::string(absl::StripAsciiWhitespace(trimmed.substr(1, trimmed.size() - 2)));
      out[section];
      in_section = true;
      parent.clear();
      continue;
    }
    const size_t eq = trimmed.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(file_name, ":", line_no,
                                                     ": expected key = value, got \"", trimmed, "\""));
    }
    if (!in_section) {
      return absl::InvalidArgumentError(
          absl::StrCat(file_name, ":", line_no, ": key = value before any [section]"));
    }
    std::string key = std::string(absl::StripAsciiWhitespace(trimmed.substr(0, eq)));
    std::string value = std::string(absl::StripAsciiWhitespace(trimmed.substr(eq + 1)));
    // Inline comments need whitespace before '#' or ';'.
    for (const char* marker : {" #", " ;", "\t#", "\t;"}) {
      const size_t c = value.find(marker);
      if (c != std::string::npos) value = std::string(absl::StripTrailingAsciiWhitespace(value.substr(0, c)));
    }
    if (indented && !parent.empty()) {
      out[section][absl::StrCat(parent, ".", key)] = value;
      continue;
    }
    parent = value.empty() ? key : "";
    out[section][key] = value;
  }
  return out;
}

std::string SharedProfile::Get(absl::string_view key) const {
  auto it = values.find(std::string(key));
  return it == values.end() ? "" : it->second;
}

absl::StatusOr<SharedProfile> LoadSharedProfile(const Env& env) {
  SharedProfile profile;
  profile.name = EnvGet(env, "AWS_PROFILE");
  if (profile.name.empty()) profile.name = EnvGet(env, "AWS_DEFAULT_PROFILE");
  if (profile.name.empty()) profile.name = "default";
  const std::string home = EnvGet(env, "HOME");
  std::string credentials_file = EnvGet(env, "AWS_SHARED_CREDENTIALS_FILE");
  if (credentials_file.empty() && !home.empty()) credentials_file = home + "/.aws/credentials";
  std::string config_file = EnvGet(env, "AWS_CONFIG_FILE");
  if (config_file.empty() && !home.empty()) config_file = home + "/.aws/config";

  if (!config_file.empty()) {
    auto ini = LoadIni(config_file);
    if (!ini.ok()) return ini.status();
    const std::string section =
        profile.name == "default" ? "default" : absl::StrCat("profile ", profile.name);
    auto it = ini->find(section);
    if (it == ini->end() && profile.name == "default") it = ini->find("profile default");
    if (it != ini->end()) {
      profile.values = it->second;
      profile.found = true;
    }
  }
  if (!credentials_file.empty()) {
    auto ini = LoadIni(credentials_file);
    if (!ini.ok()) return ini.status();
    auto it = ini->find(profile.name);
    if (it != ini->end()) {
      for (const auto& [k, v] : it->second) profile.values[k] = v;
      profile.found = true;
    }
  }
  return profile;
}

}  // namespace hollowtrees::aws
