#include "engine/rules/config.h"

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "engine/rules/ruleset.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace hollowtrees::engine {
namespace {

using ::hollowtrees::testing::IsOk;
using ::hollowtrees::testing::ReadFileToString;
using ::hollowtrees::testing::SourcePath;
using ::testing::ElementsAre;

std::vector<std::string> Files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& entry : std::filesystem::directory_iterator(SourcePath(dir))) {
    out.push_back(entry.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Each bad file starts with "# want: LINE:COL: message" lines: exactly the
// problems the loader must report, in order, prefixed with the file name.
TEST(ConfigTest, EveryBadFileReportsExactlyItsProblems) {
  const auto files = Files("tests/engine/testdata/bad");
  ASSERT_GE(files.size(), 15u);
  for (const std::string& path : files) {
    SCOPED_TRACE(path);
    ASSERT_OK_AND_ASSIGN(std::string text, ReadFileToString(path));
    std::vector<std::string> want;
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      if (absl::ConsumePrefix(&line, "# want: ")) want.push_back(absl::StrCat(path, ":", line));
    }
    ASSERT_FALSE(want.empty()) << "a bad file must say what it wants";
    auto config = LoadConfigFile(path);
    ASSERT_FALSE(config.ok()) << "accepted a bad file";
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    std::vector<std::string> got = absl::StrSplit(config.status().message(), '\n');
    EXPECT_EQ(got, want);
  }
}

TEST(ConfigTest, GoodFilesLoad) {
  for (const std::string& path : Files("tests/engine/testdata/good")) {
    SCOPED_TRACE(path);
    EXPECT_THAT(LoadConfigFile(path), IsOk());
  }
  EXPECT_THAT(LoadConfigFile(SourcePath("config/hollowtrees.yaml")), IsOk());
  EXPECT_THAT(LoadConfigFile(SourcePath("config/aws-events.yaml")), IsOk());
}

TEST(ConfigTest, HaDecodesWithDefaultsAndValues) {
  const std::string plugins =
      "action_plugins:\n  - name: p\n    address: \"localhost:1\"\nrules:\n  - name: r\n"
      "    event_type: t\n    action_plugins: [p]\n";
  ASSERT_OK_AND_ASSIGN(Config none, ParseConfig(plugins, "none.yaml"));
  EXPECT_FALSE(none.ha.has_value());
  ASSERT_OK_AND_ASSIGN(Config defaults, ParseConfig("ha: {}\n" + plugins, "defaults.yaml"));
  ASSERT_TRUE(defaults.ha.has_value());
  EXPECT_EQ(defaults.ha->ns, "hollowtrees");
  EXPECT_EQ(defaults.ha->lease_name, "hollowtrees-engine");
  EXPECT_EQ(defaults.ha->identity, "");
  EXPECT_EQ(defaults.ha->lease_duration, absl::Seconds(4));
  EXPECT_EQ(defaults.ha->renew_deadline, absl::Seconds(2));
  EXPECT_EQ(defaults.ha->retry_period, absl::Milliseconds(500));
  EXPECT_EQ(defaults.ha->kubeconfig, "");
  ASSERT_OK_AND_ASSIGN(
      Config set, ParseConfig("ha:\n  namespace: ops\n  lease_name: ht\n  identity: engine-0\n"
                              "  lease_duration: 15s\n  renew_deadline: 10s\n  retry_period: 2s\n"
                              "  kubeconfig: /etc/kube/config\n" +
                                  plugins,
                              "set.yaml"));
  EXPECT_EQ(set.ha->ns, "ops");
  EXPECT_EQ(set.ha->lease_name, "ht");
  EXPECT_EQ(set.ha->identity, "engine-0");
  EXPECT_EQ(set.ha->lease_duration, absl::Seconds(15));
  EXPECT_EQ(set.ha->renew_deadline, absl::Seconds(10));
  EXPECT_EQ(set.ha->retry_period, absl::Seconds(2));
  EXPECT_EQ(set.ha->kubeconfig, "/etc/kube/config");
}

TEST(ConfigTest, OriginalFormatDecodesWithDefaults) {
  ASSERT_OK_AND_ASSIGN(Config c, LoadConfigFile(SourcePath("tests/engine/testdata/good/original.yaml")));
  EXPECT_EQ(c.listen, "0.0.0.0:9092");
  ASSERT_EQ(c.action_plugins.size(), 2u);
  EXPECT_EQ(c.action_plugins[1].address, "localhost:8888");
  ASSERT_EQ(c.rules.size(), 1u);
  const RuleConfig& r = c.rules[0];
  EXPECT_THAT(r.event_types, ElementsAre("prometheus.server.alert.SpotTerminationNotice"));
  ASSERT_EQ(r.matchers.size(), 1u);
  EXPECT_EQ(r.matchers[0].ToString(), "cluster_name=\"test-cluster\"");
  EXPECT_EQ(r.retries, kDefaultRetries);
  EXPECT_EQ(r.cooldown, absl::ZeroDuration());
  EXPECT_EQ(r.concurrency, 0);
  EXPECT_EQ(r.on_failure, OnFailure::kStop);
  EXPECT_EQ(r.alert_status, StatusFilter::kFiring);
  ASSERT_EQ(r.action_plugins.size(), 2u);
  EXPECT_EQ(r.action_plugins[0].name, "ht-k8s-action-plugin");
  auto rs = Ruleset::Build(c);
  EXPECT_EQ(rs->rules()[0].chain[0].timeout, kDefaultPluginTimeout);
}

TEST(ConfigTest, ExtensionsDecode) {
  ASSERT_OK_AND_ASSIGN(Config c, LoadConfigFile(SourcePath("tests/engine/testdata/good/extended.yaml")));
  EXPECT_EQ(c.log.format, "json");
  EXPECT_EQ(c.intake.dedup_window, absl::Hours(1));
  EXPECT_EQ(c.action_plugins[1].tls->server_name, "asg.local");
  const RuleConfig& r = c.rules[0];
  EXPECT_EQ(r.event_types.size(), 2u);
  EXPECT_EQ(r.matchers.size(), 4u);
  EXPECT_THAT(r.group_by, ElementsAre("cluster_name", "instance_id"));
  EXPECT_EQ(r.cooldown, absl::Minutes(5));
  EXPECT_EQ(r.concurrency, 10);
  EXPECT_EQ(r.action_plugins[1].params["action"], "replace");
  auto rs = Ruleset::Build(c);
  EXPECT_EQ(rs->rules()[0].chain[0].timeout, absl::Seconds(90));  // rule over plugin
  EXPECT_EQ(rs->rules()[0].chain[1].timeout, absl::Seconds(30));  // entry over rule
}

TEST(ConfigTest, MissingFileIsNotFound) {
  auto c = LoadConfigFile("/nonexistent/rules.yaml");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(c.status().message()), ::testing::HasSubstr("/nonexistent/rules.yaml"));
}

// The same validator behind the command line: exit 1 and one line per
// problem; exit 0 for a good file.
TEST(CheckConfigTest, CommandLineReportsProblemsAndExitCode) {
  const std::string bad = SourcePath("tests/engine/testdata/bad/many_errors.yaml");
  ASSERT_OK_AND_ASSIGN(auto p, ::hollowtrees::testing::Subprocess::Start(
                                   {::hollowtrees::testing::BinaryPath("hollowtrees"), "check-config", bad}));
  ASSERT_OK_AND_ASSIGN(int code, p->Wait(absl::Seconds(20)));
  EXPECT_EQ(code, 1);
  std::vector<std::string> lines = absl::StrSplit(p->Output(), '\n', absl::SkipEmpty());
  EXPECT_EQ(lines.size(), 8u);
  for (const auto& l : lines) EXPECT_TRUE(absl::StartsWith(l, bad + ":")) << l;

  ASSERT_OK_AND_ASSIGN(auto ok, ::hollowtrees::testing::Subprocess::Start(
                                    {::hollowtrees::testing::BinaryPath("hollowtrees"), "check-config",
                                     SourcePath("config/hollowtrees.yaml")}));
  ASSERT_OK_AND_ASSIGN(int ok_code, ok->Wait(absl::Seconds(20)));
  EXPECT_EQ(ok_code, 0) << ok->Output();
}

}  // namespace
}  // namespace hollowtrees::engine
