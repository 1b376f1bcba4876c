// The fast-path notifier against a scripted fake engine endpoint: event shape,
// stable ids, one push per notice, retries with backoff until 2xx, final 4xx,
// bounded attempts, option checks.

#include "exporter/notifier.h"

#include <httplib.h>

#include <deque>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/http/server_util.h"
#include "nlohmann/json.hpp"
#include "tests/exporter/test_util.h"
#include "tests/testing/status_matchers.h"

namespace hollowtrees::exporter {
namespace {

using ::hollowtrees::testing::IsOk;
using ::hollowtrees::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using json = nlohmann::json;

// Records every POST and answers the scripted statuses in turn, then 202.
class FakeEngine {
 public:
  FakeEngine() {
    http::ConfigureServer(server_, {.threads = 2});
    server_.Post("/api/v1/events", [this](const httplib::Request& req, httplib::Response& res) {
      absl::MutexLock lock(&mu_);
      requests_.push_back({req.get_header_value("Content-Type"), req.body});
      int status = 202;
      if (!script_.empty()) {
        status = script_.front();
        script_.pop_front();
      }
      res.status = status;
      res.set_content(status < 300 ? R"({"accepted":1})" : R"({"error":"scripted"})",
                      "application/json");
    });
    serving_ = *http::ServingThread::Start(server_, {"127.0.0.1", 0});
    port_ = serving_->port();
  }
  std::string url() const { return absl::StrCat("http://127.0.0.1:", port_, "/api/v1/events"); }
  void Script(std::deque<int> statuses) {
    absl::MutexLock lock(&mu_);
    script_ = std::move(statuses);
  }
  std::vector<std::pair<std::string, std::string>> requests() {
    absl::MutexLock lock(&mu_);
    return requests_;
  }
  // Waits (bounded) until `n` requests arrived.
  std::vector<std::pair<std::string, std::string>> WaitFor(size_t n) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (requests().size() < n && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
    return requests();
  }

 private:
  httplib::Server server_;
  std::unique_ptr<http::ServingThread> serving_;  // after server_: stops first
  int port_ = 0;
  absl::Mutex mu_;
  std::deque<int> script_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::string, std::string>> requests_ ABSL_GUARDED_BY(mu_);
};

InstanceState NoticeState() {
  InstanceState s;
  s.available = true;
  s.instance_id = "i-0abc";
  s.instance_type = "c5.xlarge";
  s.availability_zone = "eu-west-1b";
  s.spot = SpotAction{.action = "terminate",
                      .time_text = "2026-11-21T07:00:00Z",
                      .time = absl::FromCivil(absl::CivilSecond(2026, 11, 21, 7, 0, 0),
                                                    absl::UTCTimeZone())};
  return s;
}

NotifierOptions Options(const std::string& url) {
  return {.url = url,
          .node_name = "ip-10-0-1-23.ec2.internal",
          .labels = {{"cluster_name", "test-cluster"}},
          .initial_backoff = absl::Milliseconds(10),
          .max_backoff = absl::Milliseconds(40)};
}

TEST(BuildEventsTest, TerminationNoticeLooksLikeThePrometheusAlert) {
  NotifierOptions options = Options("http://engine/api/v1/events");
  auto events = BuildEvents(
      NoticeState(), options,
      absl::FromCivil(absl::CivilSecond(2026, 11, 21, 6, 58, 0), absl::UTCTimeZone()));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].alertname, "SpotTerminationNotice");
  json e = json::parse(events[0].body);
  EXPECT_EQ(e["specversion"], "1.0");
  EXPECT_EQ(e["type"], "prometheus.server.alert.SpotTerminationNotice");
  EXPECT_EQ(e["source"], "spot-termination-exporter");
  EXPECT_EQ(e["datacontenttype"], "application/json");
  EXPECT_EQ(e["time"], "2026-11-21T06:58:00.000Z");
  EXPECT_EQ(e["data"]["status"], "firing");
  EXPECT_EQ(e["data"]["labels"], json({{"alertname", "SpotTerminationNotice"},
                                       {"instance_id", "i-0abc"},
                                       {"instance_type", "c5.xlarge"},
                                       {"availability_zone", "eu-west-1b"},
                                       {"node", "ip-10-0-1-23.ec2.internal"},
                                       {"instance_action", "terminate"},
                                       {"cluster_name", "test-cluster"}}));
  EXPECT_EQ(e["data"]["annotations"]["termination_time"], "2026-11-21T07:00:00Z");
  // Labels are data, never CloudEvent extension attributes.
  EXPECT_FALSE(e.contains("cluster_name"));
  EXPECT_FALSE(e.contains("instance_id"));
}

TEST(BuildEventsTest, IdIsStableForOneNoticeAndDiffersBetweenNotices) {
  NotifierOptions options = Options("http://engine/api/v1/events");
  InstanceState s = NoticeState();
  const std::string id = BuildEvents(s, options, absl::Now())[0].id;
  EXPECT_EQ(BuildEvents(s, options, absl::Now() + absl::Minutes(1))[0].id, id);
  s.spot->action = "stop";
  EXPECT_NE(BuildEvents(s, options, absl::Now())[0].id, id);
  s = NoticeState();
  s.spot->time_text = "2026-11-21T08:00:00Z";
  EXPECT_NE(BuildEvents(s, options, absl::Now())[0].id, id);
}

TEST(BuildEventsTest, RebalanceIsItsOwnAlertAndNothingWithoutAnInstanceId) {
  NotifierOptions options = Options("http://engine/api/v1/events");
  InstanceState s = NoticeState();
  s.spot.reset();
  s.rebalance = RebalanceRecommendation{.notice_time_text = "2026-11-21T06:50:00Z"};
  auto events = BuildEvents(s, options, absl::Now());
  ASSERT_EQ(events.size(), 1u);
  json e = json::parse(events[0].body);
  EXPECT_EQ(e["type"], "prometheus.server.alert.SpotRebalanceRecommendation");
  EXPECT_EQ(e["data"]["labels"]["alertname"], "SpotRebalanceRecommendation");
  EXPECT_FALSE(e["data"]["labels"].contains("instance_action"));
  s.instance_id.clear();
  EXPECT_TRUE(BuildEvents(s, options, absl::Now()).empty());
}

TEST(NotifierOptionsTest, RejectsBadLabelsAndUrls) {
  NotifierOptions o = Options("http://engine:9092/api/v1/events");
  o.labels = {{"9lives", "x"}};
  EXPECT_THAT(ValidateNotifierOptions(o),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("9lives")));
  o.labels = {{"instance_id", "x"}};
  EXPECT_THAT(ValidateNotifierOptions(o),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("set by the exporter")));
  o.labels = {{"env", "a"}, {"env", "b"}};
  EXPECT_THAT(ValidateNotifierOptions(o),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("more than once")));
  o.labels = {};
  o.url = "engine:9092";
  EXPECT_THAT(ValidateNotifierOptions(o), StatusIs(absl::StatusCode::kInvalidArgument));
}

class NotifierTest : public ::testing::Test {
 protected:
  std::unique_ptr<Notifier> Make(NotifierOptions options) {
    auto n = Notifier::Create(std::move(options), metrics_, log_.get());
    EXPECT_THAT(n, IsOk());
    return n.ok() ? *std::move(n) : nullptr;
  }
  std::optional<double> Metric(const std::string& name,
                               const std::map<std::string, std::string>& labels) {
    return testing::Value(
        testing::ParseExposition(metrics_.Render(InstanceState{}, absl::Now(), absl::Seconds(1))),
        name, labels);
  }
  // Waits (bounded) until the notifier is done with `n` events.
  void WaitDone(Notifier& n, size_t count) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (n.delivered().size() + n.failed().size() < count && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
  }

  testing::CapturingLogger log_;
  ExporterMetrics metrics_;
  FakeEngine engine_;
};

TEST_F(NotifierTest, PushesEachNoticeOnceInStructuredMode) {
  auto n = Make(Options(engine_.url()));
  for (int i = 0; i < 10; ++i) n->Observe(NoticeState());  // every poll sees the notice
  WaitDone(*n, 1);
  ASSERT_EQ(n->delivered().size(), 1u);
  auto requests = engine_.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].first, "application/cloudevents+json");
  EXPECT_EQ(json::parse(requests[0].second)["id"], n->delivered()[0]);
  EXPECT_THAT(Metric("spot_termination_exporter_pushes_total",
                     {{"alertname", "SpotTerminationNotice"}, {"result", "delivered"}}),
              ::testing::Optional(1.0));
  // A rebalance recommendation later is a second, different event.
  InstanceState s = NoticeState();
  s.rebalance = RebalanceRecommendation{.notice_time_text = "2026-11-21T06:59:00Z"};
  n->Observe(s);
  WaitDone(*n, 2);
  ASSERT_EQ(engine_.requests().size(), 2u);
  EXPECT_EQ(json::parse(engine_.requests()[1].second)["type"],
            "prometheus.server.alert.SpotRebalanceRecommendation");
}

TEST_F(NotifierTest, RetriesUntilTheEngineAcceptsWithTheSameId) {
  engine_.Script({503, 429, 500});
  auto n = Make(Options(engine_.url()));
  n->Observe(NoticeState());
  WaitDone(*n, 1);
  ASSERT_EQ(n->delivered().size(), 1u);
  auto requests = engine_.requests();
  ASSERT_EQ(requests.size(), 4u);
  for (const auto& r : requests) EXPECT_EQ(json::parse(r.second)["id"], n->delivered()[0]);
  EXPECT_THAT(Metric("spot_termination_exporter_push_attempts_total", {{"result", "error"}}),
              ::testing::Optional(3.0));
  EXPECT_EQ(log_.Count("warning", "retrying"), 1);
}

TEST_F(NotifierTest, ARefusalIsFinal) {
  engine_.Script({400});
  auto n = Make(Options(engine_.url()));
  n->Observe(NoticeState());
  WaitDone(*n, 1);
  EXPECT_THAT(n->failed(), ElementsAre(HasSubstr("i-0abc/SpotTerminationNotice")));
  EXPECT_EQ(engine_.requests().size(), 1u);
  EXPECT_EQ(log_.Count("error", "giving up after 1 attempts: HTTP 400"), 1) << log_.text();
}

TEST_F(NotifierTest, GivesUpAfterMaxAttemptsWhenTheEngineIsDown) {
  engine_.Script({503, 503, 503, 503, 503, 503});
  NotifierOptions o = Options(engine_.url());
  o.max_attempts = 3;
  auto n = Make(o);
  n->Observe(NoticeState());
  WaitDone(*n, 1);
  EXPECT_EQ(n->failed().size(), 1u);
  EXPECT_EQ(engine_.requests().size(), 3u);
  EXPECT_THAT(Metric("spot_termination_exporter_pushes_total",
                     {{"alertname", "SpotTerminationNotice"}, {"result", "failed"}}),
              ::testing::Optional(1.0));
}

TEST_F(NotifierTest, UnreachableEngineIsRetriedThenGivenUp) {
  int dead_port;
  {
    FakeEngine gone;
    dead_port = std::stoi(gone.url().substr(gone.url().rfind(':') + 1));
  }
  NotifierOptions o = Options(absl::StrCat("http://127.0.0.1:", dead_port, "/api/v1/events"));
  o.max_attempts = 3;
  auto n = Make(o);
  n->Observe(NoticeState());
  WaitDone(*n, 1);
  EXPECT_EQ(n->failed().size(), 1u);
  EXPECT_THAT(Metric("spot_termination_exporter_push_attempts_total", {{"result", "error"}}),
              ::testing::Optional(3.0));
}

TEST_F(NotifierTest, DefaultsThePathToTheEventsEndpoint) {
  NotifierOptions o = Options(engine_.url().substr(0, engine_.url().find("/api")));
  auto n = Make(o);
  n->Observe(NoticeState());
  WaitDone(*n, 1);
  EXPECT_EQ(n->delivered().size(), 1u);
}

}  // namespace
}  // namespace hollowtrees::exporter
