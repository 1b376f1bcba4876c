// The metadata documents' parsers: every shape AWS serves, and malformed ones.

#include "exporter/notice.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace hollowtrees::exporter {
namespace {

using ::hollowtrees::testing::IsOk;
using ::hollowtrees::testing::StatusIs;
using ::testing::HasSubstr;

TEST(ParseSpotActionTest, ReadsEachAction) {
  for (const char* action : {"terminate", "stop", "hibernate"}) {
    auto a = ParseSpotAction(absl::StrCat(R"({"action": ")", action,
                                          R"(", "time": "2017-09-18T08:22:00Z"})"));
    ASSERT_THAT(a, IsOk());
    EXPECT_EQ(a->action, action);
    EXPECT_EQ(a->time_text, "2017-09-18T08:22:00Z");
    EXPECT_EQ(a->time, absl::FromUnixSeconds(1505722920));
  }
}

TEST(ParseSpotActionTest, ANoticeWithoutAUsableTimeStillCounts) {
  auto a = ParseSpotAction(R"({"action":"terminate","time":"soon"})");
  ASSERT_THAT(a, IsOk());
  EXPECT_EQ(a->time, absl::InfinitePast());
  EXPECT_EQ(a->time_text, "soon");
  a = ParseSpotAction(R"({"action":"stop"})");
  ASSERT_THAT(a, IsOk());
  EXPECT_EQ(a->time, absl::InfinitePast());
}

TEST(ParseSpotActionTest, RejectsMalformedDocumentsNamingTheProblem) {
  EXPECT_THAT(ParseSpotAction("{\"action\": \"terminate\""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not valid JSON")));
  EXPECT_THAT(ParseSpotAction("<html>500</html>"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not valid JSON")));
  EXPECT_THAT(ParseSpotAction("[1,2]"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a JSON object")));
  EXPECT_THAT(ParseSpotAction(R"({"time":"2017-09-18T08:22:00Z"})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"action\"")));
  EXPECT_THAT(ParseSpotAction(R"({"action":7})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"action\"")));
  EXPECT_THAT(ParseSpotAction(R"({"action":""})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"action\"")));
  EXPECT_THAT(ParseSpotAction(""), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ParseRebalanceTest, ReadsNoticeTime) {
  auto r = ParseRebalance(R"({"noticeTime": "2020-10-27T08:22:00Z"})");
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->notice_time_text, "2020-10-27T08:22:00Z");
  EXPECT_EQ(r->notice_time, absl::FromUnixSeconds(1603786920));
}

TEST(ParseRebalanceTest, RejectsMalformedDocuments) {
  EXPECT_THAT(ParseRebalance("noticeTime"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("rebalance")));
  EXPECT_THAT(ParseRebalance("{}"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("noticeTime")));
}

}  // namespace
}  // namespace hollowtrees::exporter
