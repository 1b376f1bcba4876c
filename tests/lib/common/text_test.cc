// The shared text helpers: JSON string escaping and RFC 3339.

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/common/json_escape.h"
#include "lib/common/rfc3339.h"
#include "lib/common/url.h"
#include "tests/testing/status_matchers.h"

namespace hollowtrees {
namespace {

using ::hollowtrees::testing::StatusIs;

TEST(JsonEscapeTest, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(JsonString("plain"), R"("plain")");
  EXPECT_EQ(JsonString("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(JsonString("l1\nl2\r\t"), R"("l1\nl2\r\t")");
  EXPECT_EQ(JsonString(absl::string_view("\x01\x1f\0", 3)), R"("\u0001\u001f\u0000")");
  EXPECT_EQ(JsonString("caf\xc3\xa9"), "\"caf\xc3\xa9\"");  // UTF-8 passes through
  std::string out = "x=";
  AppendJsonEscaped(out, "\"q\"");
  EXPECT_EQ(out, R"(x=\"q\")");
}

TEST(Rfc3339Test, FractionModes) {
  const absl::Time t = absl::FromUnixSeconds(1704164645) + absl::Nanoseconds(123456789);
  EXPECT_EQ(FormatRfc3339(t), "2024-01-02T03:04:05.123456789Z");
  EXPECT_EQ(FormatRfc3339(t, Rfc3339Fraction::kMillis), "2024-01-02T03:04:05.123Z");
  EXPECT_EQ(FormatRfc3339(t, Rfc3339Fraction::kNone), "2024-01-02T03:04:05Z");
  EXPECT_EQ(FormatRfc3339(t, Rfc3339Fraction::kMicros), "2024-01-02T03:04:05.123456Z");
  const absl::Time whole = absl::FromUnixSeconds(1704164645);
  EXPECT_EQ(FormatRfc3339(whole), "2024-01-02T03:04:05Z");
  EXPECT_EQ(FormatRfc3339(whole, Rfc3339Fraction::kMillis), "2024-01-02T03:04:05.000Z");
  EXPECT_EQ(FormatRfc3339(whole, Rfc3339Fraction::kMicros), "2024-01-02T03:04:05.000000Z");
}

TEST(Rfc3339Test, SameTextAsAbslForEveryMode) {
  const absl::Time times[] = {absl::UnixEpoch(), absl::FromUnixSeconds(-1) + absl::Milliseconds(5),
                              absl::FromUnixMillis(1700000000123), absl::FromUnixSeconds(253402300799),
                              absl::FromUnixSeconds(253402300800), absl::InfiniteFuture()};
  for (absl::Time t : times) {
    EXPECT_EQ(FormatRfc3339(t), absl::FormatTime("%Y-%m-%d%ET%H:%M:%E*SZ", t, absl::UTCTimeZone()));
    EXPECT_EQ(FormatRfc3339(t, Rfc3339Fraction::kMillis),
              absl::FormatTime("%Y-%m-%d%ET%H:%M:%E3SZ", t, absl::UTCTimeZone()));
    EXPECT_EQ(FormatRfc3339(t, Rfc3339Fraction::kNone),
              absl::FormatTime("%Y-%m-%d%ET%H:%M:%SZ", t, absl::UTCTimeZone()));
    EXPECT_EQ(FormatRfc3339(t, Rfc3339Fraction::kMicros),
              absl::FormatTime("%Y-%m-%d%ET%H:%M:%E6SZ", t, absl::UTCTimeZone()));
  }
}

TEST(Rfc3339Test, ParsesWhatItFormats) {
  const absl::Time t = absl::FromUnixMillis(1700000000123);
  auto parsed = ParseRfc3339(FormatRfc3339(t));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, t);
  EXPECT_EQ(*ParseRfc3339("2024-01-02T04:04:05+01:00"), absl::FromUnixSeconds(1704164645));
  // Kubernetes MicroTime: six digits, microseconds kept exactly.
  const absl::Time micro = absl::FromUnixMicros(1796605323123456);
  EXPECT_EQ(FormatRfc3339(micro, Rfc3339Fraction::kMicros), "2026-12-07T01:02:03.123456Z");
  EXPECT_EQ(*ParseRfc3339("2026-12-07T01:02:03.123456Z"), micro);
  EXPECT_THAT(ParseRfc3339("lunchtime"), StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("lunchtime")));
}

TEST(PercentEncodeTest, KeepsUnreservedOnly) {
  EXPECT_EQ(PercentEncode("AZaz09-_.~"), "AZaz09-_.~");
  EXPECT_EQ(PercentEncode("a b/c=d&e+\xff"), "a%20b%2Fc%3Dd%26e%2B%FF");
  EXPECT_EQ(PercentEncode("/ns/a b", Slash::kKeep), "/ns/a%20b");
  EXPECT_EQ(PercentEncode("app in (a,b)"), "app%20in%20%28a%2Cb%29");
}

TEST(PercentDecodeTest, DecodesAndKeepsMalformedEscapes) {
  EXPECT_EQ(PercentDecode("a%2Fb%2fc"), "a/b/c");
  EXPECT_EQ(PercentDecode("100%"), "100%");
  EXPECT_EQ(PercentDecode("%zz%4"), "%zz%4");
  EXPECT_EQ(PercentDecode("a+b"), "a+b");
  EXPECT_EQ(PercentDecode("a+b", Plus::kSpace), "a b");
  EXPECT_EQ(PercentDecode(PercentEncode("x y/z\x01")), "x y/z\x01");
}

}  // namespace
}  // namespace hollowtrees
