// The Exporter library assembled in-process over a stateful fake of the
// metadata interface: serving, health, staleness defaults, option checks.

#include "exporter/exporter.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/http/http_client.h"
#include "tests/exporter/test_util.h"
#include "tests/testing/status_matchers.h"

namespace hollowtrees::exporter {
namespace {

using ::hollowtrees::exporter::testing::FakeMetadata;
using ::hollowtrees::exporter::testing::ParseExposition;
using ::hollowtrees::exporter::testing::Value;
using ::hollowtrees::testing::IsOk;
using ::hollowtrees::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Optional;

class ExporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    metadata_.Set("instance-id", "i-0feed");
    metadata_.Set("instance-type", "t3.small");
    metadata_.Set("placement/availability-zone", "eu-central-1c");
    auto e = Exporter::Start({.bind_addr = "127.0.0.1:0",
                              .poll_interval = absl::Milliseconds(20)},
                             metadata_, log_.get());
    ASSERT_THAT(e, IsOk());
    exporter_ = *std::move(e);
    auto c = http::NewHttpClient({.base_url = absl::StrCat("http://127.0.0.1:", exporter_->port())});
    ASSERT_THAT(c, IsOk());
    http_ = *std::move(c);
  }
  // Scrapes over HTTP until `pred` holds on the samples (bounded).
  template <typename Pred>
  std::vector<testing::Sample> ScrapeUntil(Pred pred) {
    std::vector<testing::Sample> s;
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      auto r = http_->Send({.path = "/metrics"});
      EXPECT_THAT(r, IsOk());
      if (!r.ok()) break;
      s = ParseExposition(r->body);
      if (pred(s)) return s;
      absl::SleepFor(absl::Milliseconds(10));
    }
    ADD_FAILURE() << "condition never held";
    return s;
  }

  FakeMetadata metadata_;
  testing::CapturingLogger log_;
  std::unique_ptr<Exporter> exporter_;
  std::unique_ptr<http::HttpClient> http_;
};

TEST_F(ExporterTest, ServesMetricsHealthAndFollowsTheMetadata) {
  auto s = ScrapeUntil([](const auto& s) {
    return Value(s, "aws_instance_metadata_service_available", {{"instance_id", "i-0feed"}}) == 1;
  });
  EXPECT_THAT(Value(s, "aws_instance_info",
                    {{"availability_zone", "eu-central-1c"},
                     {"instance_id", "i-0feed"},
                     {"instance_type", "t3.small"}}),
              Optional(1.0));
  auto health = http_->Send({.path = "/healthz"});
  ASSERT_THAT(health, IsOk());
  EXPECT_EQ(health->status, 200);

  metadata_.Set("spot/instance-action", R"({"action":"hibernate","time":"2030-01-01T00:00:00Z"})");
  ScrapeUntil([](const auto& s) {
    return Value(s, "aws_instance_termination_imminent",
                 {{"instance_action", "hibernate"}, {"instance_id", "i-0feed"}}) == 1;
  });
  metadata_.SetDown(true);
  s = ScrapeUntil([](const auto& s) {
    return Value(s, "aws_instance_metadata_service_available", {{"instance_id", "i-0feed"}}) == 0;
  });
  EXPECT_THAT(Value(s, "aws_instance_termination_imminent",
                    {{"instance_action", "hibernate"}, {"instance_id", "i-0feed"}}),
              Optional(1.0));
  exporter_->Stop();
  const int gets = metadata_.gets();
  EXPECT_FALSE(http_->Send({.path = "/metrics"}).ok()) << "still serving after Stop()";
  EXPECT_EQ(metadata_.gets(), gets) << "still polling after Stop()";
}

TEST(ExporterOptionsTest, NamesTheOffendingOption) {
  EXPECT_THAT(ValidateExporterOptions({.bind_addr = "localhost"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--bind-addr")));
  EXPECT_THAT(ValidateExporterOptions({.metrics_path = "/"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--metrics-path")));
  EXPECT_THAT(ValidateExporterOptions({.poll_interval = absl::ZeroDuration()}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--poll-interval")));
  ExporterOptions o;
  o.imds.metadata_endpoint = "http://169.254.169.254/latest/user-data/";
  EXPECT_THAT(ValidateExporterOptions(o),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--metadata-endpoint")));
  o = {};
  o.notify.url = "http://engine:9092/api/v1/events";
  o.notify.labels = {{"alertname", "x"}};
  EXPECT_THAT(ValidateExporterOptions(o),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("alertname")));
  EXPECT_THAT(ValidateExporterOptions({}), IsOk());
}

TEST(ExporterStartTest, ATakenPortIsUnavailable) {
  FakeMetadata metadata;
  testing::CapturingLogger log;
  auto first = Exporter::Start({.bind_addr = "127.0.0.1:0"}, metadata, log.get());
  ASSERT_THAT(first, IsOk());
  auto second = Exporter::Start({.bind_addr = absl::StrCat("127.0.0.1:", (*first)->port())},
                                metadata, log.get());
  EXPECT_THAT(second, StatusIs(absl::StatusCode::kUnavailable));
}

}  // namespace
}  // namespace hollowtrees::exporter
