// Regression tests for what the libFuzzer targets found in lib/kube
// (tests/fuzz/kube_api_fuzzer.cc, kubeconfig_fuzzer.cc), one case per
// finding, each with the smallest input that showed it.

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/kube/credentials.h"
#include "lib/kube/kube_client.h"
#include "lib/kube/kube_error.h"
#include "lib/kube/watch.h"
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


// kube_api_fuzzer: an object whose metadata.name or namespace is not a
// string made ObjectKey (every watch event, every listed item) throw.
TEST(KubeFuzzRegressionTest, ObjectKeyOfNonStringNameIsEmpty) {
  EXPECT_EQ(ObjectKey(nlohmann::json::parse(R"({"metadata":{"name":1}})")), "");
  EXPECT_EQ(ObjectKey(nlohmann::json::parse(R"({"metadata":{"name":"a","namespace":[]}})")), "a");
  WatchDecoder decoder;
  int events = 0;
  EXPECT_TRUE(decoder
                  .Feed("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":1}}}\n",
                        [&](WatchEvent ev) {
                          ++events;
                          EXPECT_EQ(ObjectKey(ev.object), "");
                        })
                  .ok());
  EXPECT_EQ(events, 1);
}

// kubeconfig_fuzzer: an ExecCredential whose kind, apiVersion, status.token or
// status.expirationTimestamp is not a string threw out of RunExecPlugin.
TEST(KubeFuzzRegressionTest, ExecCredentialFieldsOfAnotherType) {
  ExecConfig exec{.api_version = "client.authentication.k8s.io/v1", .command = "aws"};
  EXPECT_THAT(ParseExecCredential(R"({"kind":5})", exec),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no ExecCredential")));
  EXPECT_THAT(ParseExecCredential(R"({"kind":"ExecCredential","apiVersion":1})", exec),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("apiVersion")));
  EXPECT_THAT(ParseExecCredential(R"({"kind":"ExecCredential","apiVersion":)"
                                  R"("client.authentication.k8s.io/v1","status":{"token":1}})",
                                  exec),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no token")));
  auto r = ParseExecCredential(R"({"kind":"ExecCredential","apiVersion":)"
                               R"("client.authentication.k8s.io/v1","status":{"token":"t",)"
                               R"("expirationTimestamp":7}})",
                               exec);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->expiry, absl::InfiniteFuture());
}

// kube_api_fuzzer: a list page whose metadata.continue is not a string made
// KubeClient::List throw.
class OneAnswerHttp : public http::HttpClient {
 public:
  explicit OneAnswerHttp(std::string body) : body_(std::move(body)) {}
  absl::StatusOr<http::HttpResponse> Send(const http::HttpRequest&) override {
    http::HttpResponse r;
    r.status = 200;
    r.body = body_;
    return r;
  }

 private:
  std::string body_;
};

TEST(KubeFuzzRegressionTest, ListContinueOfAnotherTypeEndsTheList) {
  KubeConfig config;
  config.server = "https://kube.test";
  config.token = "t";
  auto creds = NewCredentials(config);
  ASSERT_TRUE(creds.ok());
  KubeClient client(std::make_unique<OneAnswerHttp>(
                        R"({"kind":"NodeList","metadata":{"continue":5},"items":[{"a":1}]})"),
                    *std::move(creds), KubeClientOptions{});
  auto list = client.List("/api/v1/nodes");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ((*list)["items"].size(), 1u);
}

}  // namespace
}  // namespace hollowtrees::kube
