// The fake instance metadata service answers like IMDS: token rules per mode,
// 401s, 404 until a notice is set, faults; and the fake-imds binary's control API.

#include <httplib.h>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/fakes/imds/fake_imds.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace hollowtrees::testing {
namespace {

using ::testing::HasSubstr;

std::string Token(httplib::Client& c, const std::string& ttl = "21600") {
  auto r = c.Put("/latest/api/token", {{"X-aws-ec2-metadata-token-ttl-seconds", ttl}}, "", "text/plain");
  if (!r || r->status != 200) return "";
  return r->body;
}

TEST(FakeImdsTest, V2OnlyRequiresAValidToken) {
  ASSERT_OK_AND_ASSIGN(auto imds, FakeImds::Start());
  httplib::Client c("127.0.0.1", imds->port());
  auto no_ttl = c.Put("/latest/api/token", "", "text/plain");
  ASSERT_TRUE(no_ttl);
  EXPECT_EQ(no_ttl->status, 400);
  EXPECT_EQ(Token(c, "0"), "");
  EXPECT_EQ(Token(c, "21601"), "");
  auto forwarded = c.Put("/latest/api/token", {{"X-aws-ec2-metadata-token-ttl-seconds", "60"},
                                               {"X-Forwarded-For", "10.0.0.1"}},
                         "", "text/plain");
  ASSERT_TRUE(forwarded);
  EXPECT_EQ(forwarded->status, 403);

  auto without = c.Get("/latest/meta-data/instance-id");
  ASSERT_TRUE(without);
  EXPECT_EQ(without->status, 401);
  auto wrong = c.Get("/latest/meta-data/instance-id", {{"X-aws-ec2-metadata-token", "forged"}});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  const std::string token = Token(c);
  ASSERT_FALSE(token.empty());
  httplib::Headers h = {{"X-aws-ec2-metadata-token", token}};
  auto id = c.Get("/latest/meta-data/instance-id", h);
  ASSERT_TRUE(id);
  EXPECT_EQ(id->status, 200);
  EXPECT_EQ(id->body, "i-0123456789abcdef0");
  EXPECT_EQ(c.Get("/latest/meta-data/placement/availability-zone", h)->body, "us-east-1a");
  EXPECT_EQ(c.Get("/latest/meta-data/instance-type", h)->body, "m5.large");
  imds->ExpireTokens();
  EXPECT_EQ(c.Get("/latest/meta-data/instance-id", h)->status, 401);
  EXPECT_EQ(imds->unauthorized_answers(), 3);
}

TEST(FakeImdsTest, SpotNoticeRebalanceAndRole) {
  ASSERT_OK_AND_ASSIGN(auto imds, FakeImds::Start({.mode = ImdsMode::kV1AndV2}));
  httplib::Client c("127.0.0.1", imds->port());
  EXPECT_EQ(c.Get("/latest/meta-data/spot/instance-action")->status, 404);
  EXPECT_EQ(c.Get("/latest/meta-data/events/recommendations/rebalance")->status, 404);
  absl::Time t;
  std::string err;
  ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full, "2026-11-21T07:00:00Z", &t, &err));
  imds->SetSpotAction("terminate", t);
  imds->SetRebalance(t - absl::Minutes(10));
  auto notice = c.Get("/latest/meta-data/spot/instance-action");
  ASSERT_EQ(notice->status, 200);
  auto j = nlohmann::json::parse(notice->body);
  EXPECT_EQ(j["action"], "terminate");
  EXPECT_EQ(j["time"], "2026-11-21T07:00:00Z");
  EXPECT_EQ(nlohmann::json::parse(c.Get("/latest/meta-data/events/recommendations/rebalance")->body)["noticeTime"],
            "2026-11-21T06:50:00Z");
  imds->ClearSpotAction();
  EXPECT_EQ(c.Get("/latest/meta-data/spot/instance-action")->status, 404);

  EXPECT_EQ(c.Get("/latest/meta-data/iam/security-credentials/")->status, 404);
  imds->SetRole("r", {.access_key_id = "ASIA1", .secret_access_key = "s", .token = "t",
                      .expiration = t});
  EXPECT_EQ(c.Get("/latest/meta-data/iam/security-credentials/")->body, "r");
  auto creds = nlohmann::json::parse(c.Get("/latest/meta-data/iam/security-credentials/r")->body);
  EXPECT_EQ(creds["Code"], "Success");
  EXPECT_EQ(creds["Type"], "AWS-HMAC");
  EXPECT_EQ(creds["AccessKeyId"], "ASIA1");
  EXPECT_EQ(creds["Expiration"], "2026-11-21T07:00:00Z");
  EXPECT_TRUE(creds.contains("LastUpdated"));
  // v1-and-v2: a token is optional but a bad one is refused.
  EXPECT_EQ(c.Get("/latest/meta-data/instance-id", {{"X-aws-ec2-metadata-token", "bad"}})->status, 401);
}

TEST(FakeImdsTest, ModesAndFaults) {
  ASSERT_OK_AND_ASSIGN(auto imds, FakeImds::Start({.mode = ImdsMode::kV1Only}));
  httplib::Client c("127.0.0.1", imds->port());
  auto put = c.Put("/latest/api/token", {{"X-aws-ec2-metadata-token-ttl-seconds", "60"}}, "", "text/plain");
  EXPECT_EQ(put->status, 404);
  EXPECT_EQ(c.Get("/latest/meta-data/instance-id")->status, 200);
  imds->SetMode(ImdsMode::kV2Only);
  EXPECT_EQ(c.Get("/latest/meta-data/instance-id")->status, 401);
  imds->FailNext(503, 2);
  EXPECT_EQ(c.Get("/latest/meta-data/instance-id")->status, 503);
  EXPECT_EQ(Token(c), "");  // the second fault
  EXPECT_NE(Token(c), "");
  imds->SetDelay(absl::Milliseconds(300));
  c.set_read_timeout(0, 100000);  // 100 ms
  EXPECT_FALSE(c.Get("/latest/meta-data/instance-id"));
}

TEST(FakeImdsBinaryTest, ControlApiSwitchesANoticeOn) {
  const std::string dir = MakeTempDir("fake-imds-bin");
  ASSERT_OK_AND_ASSIGN(auto proc, Subprocess::Start({BinaryPath("fake-imds"), "--listen", "127.0.0.1:0",
                                                     "--mode", "v1-and-v2", "--instance_id",
                                                     "i-0000000000000e001"},
                                                    {}, dir));
  ASSERT_OK_AND_ASSIGN(std::string port, proc->WaitForOutput("listening on 127.0.0.1:(\\d+)"));
  httplib::Client c("127.0.0.1", std::stoi(port));
  EXPECT_EQ(c.Get("/latest/meta-data/instance-id")->body, "i-0000000000000e001");
  EXPECT_EQ(c.Get("/latest/meta-data/spot/instance-action")->status, 404);
  auto on = c.Post("/control/spot-action", R"({"action":"stop","time":"2026-11-21T07:00:00Z"})",
                   "application/json");
  ASSERT_EQ(on->status, 200) << on->body;
  EXPECT_THAT(c.Get("/latest/meta-data/spot/instance-action")->body, HasSubstr("\"stop\""));
  auto bad = c.Post("/control/spot-action", R"({"action":"explode"})", "application/json");
  EXPECT_EQ(bad->status, 400);
  EXPECT_THAT(bad->body, HasSubstr("terminate, stop or hibernate"));
  EXPECT_EQ(c.Post("/control/mode", R"({"mode":"v2-only"})", "application/json")->status, 200);
  EXPECT_EQ(c.Get("/latest/meta-data/instance-id")->status, 401);
  EXPECT_EQ(c.Post("/control/mode", R"({"mode":"v3"})", "application/json")->status, 400);
  EXPECT_EQ(proc->Stop(), 0);
}

}  // namespace
}  // namespace hollowtrees::testing
