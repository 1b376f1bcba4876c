#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "lib/common/duration.h"
#include "lib/common/flags.h"
#include "lib/common/logging.h"
#include "lib/common/thread_pool.h"
#include "tests/testing/status_matchers.h"

namespace hollowtrees {
namespace {

using ::hollowtrees::testing::IsOk;
using ::hollowtrees::testing::StatusIs;
using ::testing::HasSubstr;

TEST(PromDurationTest, ParsesPrometheusForms) {
  struct Case {
    const char* text;
    absl::Duration want;
  } cases[] = {
      {"0", absl::ZeroDuration()},
      {"500ms", absl::Milliseconds(500)},
      {"90s", absl::Seconds(90)},
      {"5m", absl::Minutes(5)},
      {"1h30m", absl::Minutes(90)},
      {"1d", absl::Hours(24)},
      {"1w", absl::Hours(168)},
      {"1y", absl::Hours(24 * 365)},
      {"1m30s500ms", absl::Milliseconds(90500)},
  };
  for (const auto& c : cases) {
    auto d = ParsePromDuration(c.text);
    ASSERT_THAT(d, IsOk()) << c.text;
    EXPECT_EQ(*d, c.want) << c.text;
  }
}

TEST(PromDurationTest, RejectsWhatPrometheusRejects) {
  for (const char* bad : {"", "5", "5x", "m", "1.5s", "-1s", "30s1m", "1m1m", "5 m", "ms"}) {
    EXPECT_THAT(ParsePromDuration(bad), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("")))
        << bad;
  }
  EXPECT_THAT(ParsePromDuration("5x"), StatusIs(absl::StatusCode::kInvalidArgument,
                                                HasSubstr("unknown unit \"x\"")));
  EXPECT_THAT(ParsePromDuration("30s1m"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("largest first")));
  EXPECT_THAT(ParsePromDuration("99999999999999999999y"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("out of range")));
}

TEST(PromDurationTest, FormatsRoundTrip) {
  EXPECT_EQ(FormatPromDuration(absl::Minutes(90)), "1h30m");
  EXPECT_EQ(FormatPromDuration(absl::Milliseconds(500)), "500ms");
  EXPECT_EQ(FormatPromDuration(absl::ZeroDuration()), "0s");
  for (const char* s : {"1h30m", "5m", "90ms", "2d3h"}) {
    EXPECT_EQ(FormatPromDuration(*ParsePromDuration(s)), s);
  }
}

TEST(LoggingTest, RejectsUnknownLevelAndFormat) {
  EXPECT_THAT(ValidateLogOptions({"info", "text"}), IsOk());
  EXPECT_THAT(ValidateLogOptions({"verbose", "text"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown log level")));
  EXPECT_THAT(ValidateLogOptions({"info", "xml"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown log format")));
}

TEST(ThreadPoolTest, RunsEverythingBeforeDestruction) {
  std::atomic<int> n{0};
  {
    ThreadPool pool(3);
    for (int i = 0; i < 1000; ++i) pool.Schedule([&n] { n.fetch_add(1); });
  }
  EXPECT_EQ(n.load(), 1000);
}

}  // namespace
}  // namespace hollowtrees

namespace hollowtrees {
namespace {

TEST(AcceptDashedFlagsTest, RewritesNamesNotValues) {
  std::string a0 = "prog", a1 = "--kubeconfig-dir=/a-b", a2 = "--log-level", a3 = "x-y",
              a4 = "-bind-addr", a5 = "--", a6 = "--not-a-flag";
  char* argv[] = {a0.data(), a1.data(), a2.data(), a3.data(), a4.data(), a5.data(), a6.data()};
  AcceptDashedFlags(7, argv);
  EXPECT_STREQ(argv[1], "--kubeconfig_dir=/a-b");
  EXPECT_STREQ(argv[2], "--log_level");
  EXPECT_STREQ(argv[3], "x-y");
  EXPECT_STREQ(argv[4], "-bind_addr");
  EXPECT_STREQ(argv[6], "--not-a-flag");
}

}  // namespace
}  // namespace hollowtrees
