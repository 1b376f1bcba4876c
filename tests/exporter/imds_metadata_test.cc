// ImdsMetadata (the exporter's adapter over the shared aws::ImdsClient)
// against the fake instance metadata service (tests/fakes/imds):
// endpoint derivation, IMDSv2 token reuse and refresh, 401 on an expired
// token, fallback to IMDSv1 and return to v2, slow and unreachable service.

#include "exporter/imds_metadata.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/common/clock.h"
#include "tests/exporter/test_util.h"
#include "tests/fakes/imds/fake_imds.h"
#include "tests/testing/status_matchers.h"

namespace hollowtrees::exporter {
namespace {

using ::hollowtrees::testing::FakeImds;
using ::hollowtrees::testing::ImdsMode;
using ::hollowtrees::testing::IsOk;
using ::hollowtrees::testing::StatusIs;
using ::hollowtrees::exporter::testing::IsOkAndHolds;
using ::testing::HasSubstr;
using ::testing::Optional;

TEST(ImdsEndpointTest, DerivesTheTokenEndpointFromTheMetadataEndpoint) {
  ASSERT_OK_AND_ASSIGN(ImdsEndpoint e,
                       ParseImdsEndpoint("http://169.254.169.254/latest/meta-data/"));
  EXPECT_EQ(e.base_url, "http://169.254.169.254:80");
  EXPECT_EQ(e.metadata_path, "/latest/meta-data/");
  EXPECT_EQ(e.token_path, "/latest/api/token");

  ASSERT_OK_AND_ASSIGN(e, ParseImdsEndpoint("http://localhost:9092/latest/meta-data"));
  EXPECT_EQ(e.base_url, "http://localhost:9092");
  EXPECT_EQ(e.metadata_path, "/latest/meta-data/");
  EXPECT_EQ(e.token_path, "/latest/api/token");

  ASSERT_OK_AND_ASSIGN(e, ParseImdsEndpoint("http://127.0.0.1:8080/imds/latest/meta-data/"));
  EXPECT_EQ(e.metadata_path, "/imds/latest/meta-data/");
  EXPECT_EQ(e.token_path, "/imds/latest/api/token");

  ASSERT_OK_AND_ASSIGN(e, ParseImdsEndpoint("http://[fd00:ec2::254]/"));
  EXPECT_EQ(e.base_url, "http://[fd00:ec2::254]:80");
  EXPECT_EQ(e.metadata_path, "/latest/meta-data/");
}

TEST(ImdsEndpointTest, RejectsEndpointsItCannotDeriveATokenEndpointFrom) {
  EXPECT_THAT(ParseImdsEndpoint("http://169.254.169.254/latest/dynamic/"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("/meta-data/")));
  EXPECT_THAT(ParseImdsEndpoint("169.254.169.254"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("169.254.169.254")));
  EXPECT_THAT(ParseImdsEndpoint("ftp://host/latest/meta-data/"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

class ImdsClientTest : public ::testing::Test {
 protected:
  void StartFake(ImdsMode mode, int v1_only_token_status = 404) {
    auto fake = FakeImds::Start({.mode = mode, .v1_only_token_status = v1_only_token_status});
    ASSERT_THAT(fake, IsOk());
    fake_ = *std::move(fake);
  }
  void MakeClient(ImdsMetadataOptions options = {}) {
    if (options.metadata_endpoint == ImdsMetadataOptions().metadata_endpoint) {
      options.metadata_endpoint = fake_->endpoint() + "/latest/meta-data/";
    }
    auto client = ImdsMetadata::Create(options, log_.get(), clock_);
    ASSERT_THAT(client, IsOk());
    client_ = *std::move(client);
  }

  FakeClock clock_{absl::Now()};
  testing::CapturingLogger log_;
  std::unique_ptr<FakeImds> fake_;
  std::unique_ptr<ImdsMetadata> client_;
};

TEST_F(ImdsClientTest, V2OnlyFetchesOneTokenAndReusesIt) {
  StartFake(ImdsMode::kV2Only);
  MakeClient();
  for (int i = 0; i < 10; ++i) {
    EXPECT_THAT(client_->Get("instance-id"), IsOkAndHolds(Optional(std::string("i-0123456789abcdef0"))));
  }
  EXPECT_EQ(fake_->token_requests(), 1);
  EXPECT_EQ(fake_->unauthorized_answers(), 0);
  EXPECT_EQ(client_->version(), 2);
  EXPECT_EQ(client_->stats().token_fetches, 1);
}

TEST_F(ImdsClientTest, AbsentDocumentIsNulloptNotAnError) {
  StartFake(ImdsMode::kV2Only);
  MakeClient();
  auto r = client_->Get("spot/instance-action");
  ASSERT_THAT(r, IsOk());
  EXPECT_FALSE(r->has_value());
  fake_->SetSpotAction("stop", absl::FromUnixSeconds(1900000000));
  r = client_->Get("/spot/instance-action");
  ASSERT_THAT(r, IsOk());
  EXPECT_THAT(*r, Optional(HasSubstr("\"action\":\"stop\"")));
}

TEST_F(ImdsClientTest, RefreshesTheTokenShortlyBeforeItExpires) {
  StartFake(ImdsMode::kV2Only);
  MakeClient({.token_ttl = absl::Seconds(120), .token_refresh_margin = absl::Seconds(15)});
  ASSERT_THAT(client_->Get("instance-id"), IsOk());
  clock_.Advance(absl::Seconds(90));  // 30 s left: still used
  ASSERT_THAT(client_->Get("instance-id"), IsOk());
  EXPECT_EQ(fake_->token_requests(), 1);
  clock_.Advance(absl::Seconds(16));  // 14 s left: inside the margin, replaced before use
  ASSERT_THAT(client_->Get("instance-id"), IsOk());
  EXPECT_EQ(fake_->token_requests(), 2);
  EXPECT_EQ(fake_->unauthorized_answers(), 0);
}

TEST_F(ImdsClientTest, ExpiredTokenAnswered401IsRefetchedAndTheRequestRetried) {
  StartFake(ImdsMode::kV2Only);
  MakeClient();
  ASSERT_THAT(client_->Get("instance-id"), IsOk());
  fake_->ExpireTokens();
  EXPECT_THAT(client_->Get("instance-type"), IsOkAndHolds(Optional(std::string("m5.large"))));
  EXPECT_EQ(fake_->unauthorized_answers(), 1);
  EXPECT_EQ(fake_->token_requests(), 2);
  EXPECT_EQ(client_->stats().unauthorized, 1);
  // The new token is reused again.
  ASSERT_THAT(client_->Get("instance-id"), IsOk());
  EXPECT_EQ(fake_->token_requests(), 2);
}

class ImdsV1OnlyTest : public ImdsClientTest, public ::testing::WithParamInterface<int> {};

TEST_P(ImdsV1OnlyTest, FallsBackToV1AndTriesV2AgainLater) {
  StartFake(ImdsMode::kV1Only, GetParam());
  MakeClient({.v2_retry_interval = absl::Seconds(60)});
  for (int i = 0; i < 5; ++i) {
    EXPECT_THAT(client_->Get("instance-id"), IsOkAndHolds(Optional(std::string("i-0123456789abcdef0"))));
  }
  EXPECT_EQ(client_->version(), 1);
  EXPECT_EQ(fake_->token_requests(), 1) << "v1 mode must not ask for a token on every request";
  EXPECT_EQ(client_->stats().v1_fallbacks, 1);
  EXPECT_EQ(log_.Count("warning", "using IMDSv1"), 1);

  // The service gains IMDSv2; after the retry interval the client uses it.
  fake_->SetMode(ImdsMode::kV1AndV2);
  clock_.Advance(absl::Seconds(30));
  ASSERT_THAT(client_->Get("instance-id"), IsOk());
  EXPECT_EQ(client_->version(), 1);
  clock_.Advance(absl::Seconds(31));
  ASSERT_THAT(client_->Get("instance-id"), IsOk());
  EXPECT_EQ(client_->version(), 2);
  EXPECT_EQ(fake_->token_requests(), 2);
}

INSTANTIATE_TEST_SUITE_P(TokenStatus, ImdsV1OnlyTest, ::testing::Values(404, 403));

TEST_F(ImdsClientTest, A401InV1ModeSwitchesBackToV2AtOnce) {
  StartFake(ImdsMode::kV1Only);
  MakeClient();
  ASSERT_THAT(client_->Get("instance-id"), IsOk());
  EXPECT_EQ(client_->version(), 1);
  fake_->SetMode(ImdsMode::kV2Only);  // e.g. HttpTokens=required set on the instance
  EXPECT_THAT(client_->Get("instance-id"), IsOkAndHolds(Optional(std::string("i-0123456789abcdef0"))));
  EXPECT_EQ(client_->version(), 2);
}

TEST_F(ImdsClientTest, ServerErrorsAreUnavailableNamingTheStatus) {
  StartFake(ImdsMode::kV2Only);
  MakeClient();
  ASSERT_THAT(client_->Get("instance-id"), IsOk());
  fake_->FailNext(503, 1);
  EXPECT_THAT(client_->Get("spot/instance-action"),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("HTTP 503")));
  EXPECT_THAT(client_->Get("spot/instance-action"), IsOk());
}

TEST_F(ImdsClientTest, SlowServiceTimesOutWithinTheTimeout) {
  StartFake(ImdsMode::kV2Only);
  MakeClient({.timeout = absl::Milliseconds(300)});
  ASSERT_THAT(client_->Get("instance-id"), IsOk());
  fake_->SetDelay(absl::Seconds(3));
  const absl::Time start = absl::Now();
  EXPECT_THAT(client_->Get("spot/instance-action"), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  fake_->SetDelay(absl::ZeroDuration());
}

TEST_F(ImdsClientTest, UnreachableServiceIsUnavailable) {
  // A port that was just free: nothing listens there.
  int port;
  {
    auto probe = FakeImds::Start();
    ASSERT_THAT(probe, IsOk());
    port = (*probe)->port();
  }
  MakeClient({.metadata_endpoint = absl::StrCat("http://127.0.0.1:", port, "/latest/meta-data/"),
              .timeout = absl::Milliseconds(500)});
  const absl::Time start = absl::Now();
  EXPECT_THAT(client_->Get("instance-id"), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_EQ(client_->version(), 0);
  // A dead service is not reported as a v1 fallback.
  EXPECT_EQ(client_->stats().v1_fallbacks, 0);
  EXPECT_EQ(log_.Count("warning", "IMDSv1"), 0) << log_.text();
}

TEST_F(ImdsClientTest, RejectsABadTokenTtl) {
  EXPECT_THAT(ImdsMetadata::Create({.token_ttl = absl::Hours(7)}, log_.get()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("6h")));
}

}  // namespace
}  // namespace hollowtrees::exporter
