// Regression tests for what the libFuzzer targets found in lib/kube
// (tests/fuzz/kube_api_fuzzer.cc, kubeconfig_fuzzer.cc), one case per
// finding, each with the smallest input that showed it.

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/kube/kube_error.h"
#include "tests/testing/status_matchers.h"

namespace hollowtrees::kube {
namespace {

using ::hollowtrees::testing::StatusIs;
using ::testing::HasSubstr;

// kube_api_fuzzer: a Status whose kind, reason or message is not a string
// made nlohmann's value() throw type_error out of KubeStatusError (and so out
// of every KubeClient call answered with such a body).
TEST(KubeFuzzRegressionTest, StatusFieldsOfAnotherTypeAreIgnored) {
  EXPECT_THAT(KubeStatusError(404, R"({"kind":1})", "GET /x"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("GET /x: HTTP 404")));
  absl::Status s = KubeStatusError(
      429,
      R"({"kind":"Status","reason":["TooManyRequests"],"message":{"m":1},"code":429,)"
      R"("details":{"causes":[{"reason":7,"message":null}]}})",
      "POST /evict");
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("HTTP 429")));
  auto e = GetKubeError(s);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, 429);
  EXPECT_EQ(e->reason, "");
  EXPECT_EQ(e->cause_reason, "");
}

// kube_api_fuzzer: a body that is not JSON is kept as the message, and one
// with bytes that are not UTF-8 (or cut inside a UTF-8 sequence at 512 bytes)
// made the payload's dump() throw type_error 316.
TEST(KubeFuzzRegressionTest, NonUtf8ErrorBodyIsKept) {
  absl::Status s = KubeStatusError(502, std::string("bad \xff\xfe gateway"), "GET /x");
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("HTTP 502")));
  auto e = GetKubeError(s);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, 502);
  EXPECT_THAT(e->message, HasSubstr("gateway"));

  std::string cut(511, 'a');
  cut += "\xc3\xa9";  // 'é' split by the 512-byte cut
  auto e2 = GetKubeError(KubeStatusError(500, cut, "GET /y"));
  ASSERT_TRUE(e2.has_value());
  EXPECT_EQ(e2->code, 500);
}

}  // namespace
}  // namespace hollowtrees::kube
