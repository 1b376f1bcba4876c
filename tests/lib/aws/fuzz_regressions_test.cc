// Regression tests for what the libFuzzer targets found in lib/aws
// (tests/fuzz/aws_xml_fuzzer.cc), one case per finding.

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/aws/query_client.h"

namespace hollowtrees::aws {
namespace {

// aws_xml_fuzzer: an error Code with a newline did not survive the status
// payload (fields separated by newlines): GetAwsError gave back another code,
// so IsAwsError("ExpiredToken") etc. could not match. Such a body is now an
// unknown error body; surrounding whitespace is trimmed.
TEST(AwsFuzzRegressionTest, ErrorCodeSurvivesTheStatus) {
  EXPECT_FALSE(ParseAwsErrorBody(
                   "<ErrorResponse><Error><Code>A\nB</Code><Message>m</Message></Error>"
                   "</ErrorResponse>",
                   400)
                   .ok());
  auto e = ParseAwsErrorBody(
      "<Response><Errors><Error><Code>\n  Throttling \n</Code><Message>slow\ndown</Message>"
      "</Error></Errors><RequestID>r-1</RequestID></Response>",
      400);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->code, "Throttling");
  auto back = GetAwsError(MakeAwsStatus(*e));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->code, "Throttling");
  EXPECT_EQ(back->request_id, "r-1");
  EXPECT_EQ(back->message, "slow\ndown");
}

}  // namespace
}  // namespace hollowtrees::aws
