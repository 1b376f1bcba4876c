// The poller and the exposition against the fake instance metadata service:
// no notice, each kind of notice, rebalance, IMDSv1-only, outages, staleness,
// malformed documents. Values and labels are checked by parsing the
// exposition. Polls are driven one at a time (PollOnce) so nothing races.

#include "exporter/exporter_metrics.h"
#include "exporter/imds_metadata.h"
#include "exporter/poller.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/exporter/test_util.h"
#include "tests/fakes/imds/fake_imds.h"
#include "tests/testing/status_matchers.h"

namespace hollowtrees::exporter {
namespace {

using ::hollowtrees::exporter::testing::Find;
using ::hollowtrees::exporter::testing::ParseExposition;
using ::hollowtrees::exporter::testing::Sample;
using ::hollowtrees::exporter::testing::Value;
using ::hollowtrees::testing::FakeImds;
using ::hollowtrees::testing::ImdsMode;
using ::hollowtrees::testing::IsOk;
using ::testing::Optional;
using ::testing::DoubleNear;

constexpr char kId[] = "i-0123456789abcdef0";
const absl::Duration kStale = absl::Seconds(10);

class PollerTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(ImdsMode::kV2Only); }
  void Start(ImdsMode mode) {
    poller_.reset();
    client_.reset();
    auto fake = FakeImds::Start({.mode = mode});
    ASSERT_THAT(fake, IsOk());
    fake_ = *std::move(fake);
    auto client = ImdsMetadata::Create(
        {.metadata_endpoint = fake_->endpoint() + "/latest/meta-data/",
         .timeout = absl::Milliseconds(500)},
        log_.get());
    ASSERT_THAT(client, IsOk());
    client_ = *std::move(client);
    poller_ = std::make_unique<MetadataPoller>(*client_, metrics_, log_.get());
  }
  // One poll, then the exposition as of now.
  std::vector<Sample> PollAndScrape() {
    poller_->PollOnce();
    return Scrape();
  }
  std::vector<Sample> Scrape(absl::Time now = absl::Now()) {
    text_ = metrics_.Render(poller_->state(), now, kStale);
    return ParseExposition(text_);
  }

  testing::CapturingLogger log_;
  ExporterMetrics metrics_;
  std::unique_ptr<FakeImds> fake_;
  std::unique_ptr<ImdsMetadata> client_;
  std::unique_ptr<MetadataPoller> poller_;
  std::string text_;
};

TEST_F(PollerTest, NoNoticeExposesTheOriginalSeriesWithAnEmptyAction) {
  auto s = PollAndScrape();
  EXPECT_THAT(Value(s, "aws_instance_metadata_service_available", {{"instance_id", kId}}),
              Optional(1.0));
  EXPECT_THAT(Value(s, "aws_instance_termination_imminent",
                    {{"instance_action", ""}, {"instance_id", kId}}),
              Optional(0.0));
  EXPECT_EQ(Find(s, "aws_instance_termination_imminent").size(), 1u);
  EXPECT_TRUE(Find(s, "aws_instance_termination_in").empty());
  EXPECT_THAT(Value(s, "aws_instance_rebalance_recommended", {{"instance_id", kId}}),
              Optional(0.0));
  EXPECT_THAT(Value(s, "aws_instance_info",
                    {{"availability_zone", "us-east-1a"},
                     {"instance_id", kId},
                     {"instance_type", "m5.large"}}),
              Optional(1.0));
  EXPECT_THAT(Value(s, "spot_termination_exporter_imds_version"), Optional(2.0));
  EXPECT_THAT(Value(s, "spot_termination_exporter_polls_total", {{"result", "success"}}),
              Optional(1.0));
  // The original's series come first, in its order.
  EXPECT_LT(text_.find("aws_instance_metadata_service_available"),
            text_.find("aws_instance_termination_imminent"));
}

class NoticeTest : public PollerTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(NoticeTest, NoticeSetsImminentWithTheActionAndTheTimeLeft) {
  PollAndScrape();
  const absl::Time at = absl::Now() + absl::Seconds(120);
  fake_->SetSpotAction(GetParam(), at);
  auto s = PollAndScrape();
  EXPECT_THAT(Value(s, "aws_instance_termination_imminent",
                    {{"instance_action", GetParam()}, {"instance_id", kId}}),
              Optional(1.0));
  EXPECT_EQ(Find(s, "aws_instance_termination_imminent").size(), 1u)
      << "the empty-action series must give way to the notice";
  EXPECT_THAT(Value(s, "aws_instance_termination_in", {{"instance_id", kId}}),
              Optional(DoubleNear(120, 2)));
  EXPECT_THAT(Value(s, "aws_instance_termination_time_seconds", {{"instance_id", kId}}),
              Optional(DoubleNear(absl::ToUnixSeconds(at), 1)));
  EXPECT_EQ(log_.Count("warning", absl::StrCat("action=", GetParam())), 1);

  // Once the time has passed, termination_in is gone but the notice stays.
  s = Scrape(at + absl::Seconds(1));
  EXPECT_TRUE(Find(s, "aws_instance_termination_in").empty());
  EXPECT_THAT(Value(s, "aws_instance_termination_imminent",
                    {{"instance_action", GetParam()}, {"instance_id", kId}}),
              Optional(1.0));

  // Withdrawn (e.g. a stopped instance came back): back to the empty action.
  fake_->ClearSpotAction();
  s = PollAndScrape();
  EXPECT_THAT(Value(s, "aws_instance_termination_imminent",
                    {{"instance_action", ""}, {"instance_id", kId}}),
              Optional(0.0));
}

INSTANTIATE_TEST_SUITE_P(Actions, NoticeTest, ::testing::Values("terminate", "stop", "hibernate"));

TEST_F(PollerTest, RebalanceRecommendationHasItsOwnMetric) {
  const absl::Time at = absl::FromUnixSeconds(1900000000);
  fake_->SetRebalance(at);
  auto s = PollAndScrape();
  EXPECT_THAT(Value(s, "aws_instance_rebalance_recommended", {{"instance_id", kId}}),
              Optional(1.0));
  EXPECT_THAT(Value(s, "aws_instance_rebalance_notice_time_seconds", {{"instance_id", kId}}),
              Optional(1900000000.0));
  // A recommendation is not a notice.
  EXPECT_THAT(Value(s, "aws_instance_termination_imminent",
                    {{"instance_action", ""}, {"instance_id", kId}}),
              Optional(0.0));
}

TEST_F(PollerTest, WorksWithAV1OnlyService) {
  Start(ImdsMode::kV1Only);
  fake_->SetSpotAction("terminate", absl::Now() + absl::Minutes(2));
  auto s = PollAndScrape();
  EXPECT_THAT(Value(s, "aws_instance_metadata_service_available", {{"instance_id", kId}}),
              Optional(1.0));
  EXPECT_THAT(Value(s, "aws_instance_termination_imminent",
                    {{"instance_action", "terminate"}, {"instance_id", kId}}),
              Optional(1.0));
  EXPECT_THAT(Value(s, "spot_termination_exporter_imds_version"), Optional(1.0));
  EXPECT_THAT(Value(s, "spot_termination_exporter_imds_events_total", {{"event", "v1_fallback"}}),
              Optional(1.0));
}

TEST_F(PollerTest, ExpiredTokenDoesNotInterruptPolling) {
  PollAndScrape();
  fake_->ExpireTokens();
  auto s = PollAndScrape();
  EXPECT_THAT(Value(s, "aws_instance_metadata_service_available", {{"instance_id", kId}}),
              Optional(1.0));
  EXPECT_THAT(Value(s, "spot_termination_exporter_imds_events_total", {{"event", "unauthorized"}}),
              Optional(1.0));
  EXPECT_THAT(Value(s, "spot_termination_exporter_imds_events_total", {{"event", "token_fetch"}}),
              Optional(2.0));
}

TEST_F(PollerTest, OutageReportsUnavailableAndKeepsTheLastKnownNotice) {
  fake_->SetSpotAction("terminate", absl::Now() + absl::Minutes(2));
  PollAndScrape();
  fake_->FailNext(500, 1000);
  auto s = PollAndScrape();
  EXPECT_THAT(Value(s, "aws_instance_metadata_service_available", {{"instance_id", kId}}),
              Optional(0.0));
  EXPECT_THAT(Value(s, "aws_instance_termination_imminent",
                    {{"instance_action", "terminate"}, {"instance_id", kId}}),
              Optional(1.0));
  PollAndScrape();
  EXPECT_THAT(Value(ParseExposition(text_), "spot_termination_exporter_polls_total",
                    {{"result", "failure"}}),
              Optional(2.0));
  // Logged once, not once per poll.
  EXPECT_EQ(log_.Count("error", "metadata service unavailable"), 1);
  fake_->FailNext(500, 0);
  s = PollAndScrape();
  EXPECT_THAT(Value(s, "aws_instance_metadata_service_available", {{"instance_id", kId}}),
              Optional(1.0));
}

TEST_F(PollerTest, NeverReachedServiceStillExposesEverySeries) {
  fake_->FailNext(503, 1000);
  auto s = PollAndScrape();
  EXPECT_THAT(Value(s, "aws_instance_metadata_service_available", {{"instance_id", ""}}),
              Optional(0.0));
  EXPECT_THAT(Value(s, "aws_instance_termination_imminent",
                    {{"instance_action", ""}, {"instance_id", ""}}),
              Optional(0.0));
  EXPECT_TRUE(Find(s, "aws_instance_info").empty());
}

TEST_F(PollerTest, StaleStateIsReportedUnavailable) {
  PollAndScrape();
  const absl::Time last = poller_->state().last_success;
  EXPECT_THAT(Value(Scrape(last + kStale), "aws_instance_metadata_service_available",
                    {{"instance_id", kId}}),
              Optional(1.0));
  EXPECT_THAT(Value(Scrape(last + kStale + absl::Seconds(1)),
                    "aws_instance_metadata_service_available", {{"instance_id", kId}}),
              Optional(0.0));
}

TEST_F(PollerTest, MalformedNoticeIsCountedLoggedOnceAndDoesNotCrash) {
  fake_->SetRawSpotAction("{\"action\": \"terminate\", \"time\": ");
  PollAndScrape();
  PollAndScrape();
  auto s = PollAndScrape();
  EXPECT_THAT(Value(s, "spot_termination_exporter_malformed_documents_total",
                    {{"path", "spot/instance-action"}}),
              Optional(3.0));
  EXPECT_THAT(Value(s, "aws_instance_termination_imminent",
                    {{"instance_action", ""}, {"instance_id", kId}}),
              Optional(0.0));
  EXPECT_THAT(Value(s, "aws_instance_metadata_service_available", {{"instance_id", kId}}),
              Optional(1.0));
  EXPECT_EQ(log_.Count("error", "spot/instance-action: not valid JSON"), 1) << log_.text();

  // A valid notice after the garbage is taken at once.
  fake_->ClearSpotAction();
  fake_->SetSpotAction("terminate", absl::Now() + absl::Minutes(2));
  s = PollAndScrape();
  EXPECT_THAT(Value(s, "aws_instance_termination_imminent",
                    {{"instance_action", "terminate"}, {"instance_id", kId}}),
              Optional(1.0));
}

TEST_F(PollerTest, BackgroundPollingFollowsTheService) {
  MetadataPoller poller(*client_, metrics_, log_.get(), {.interval = absl::Milliseconds(50)});
  poller.Start();
  fake_->SetSpotAction("terminate", absl::Now() + absl::Minutes(2));
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!poller.state().spot && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  ASSERT_TRUE(poller.state().spot.has_value());
  EXPECT_EQ(poller.state().spot->action, "terminate");
  poller.Stop();
  const int gets = fake_->metadata_requests();
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(fake_->metadata_requests(), gets) << "no polls after Stop()";
}

}  // namespace
}  // namespace hollowtrees::exporter
