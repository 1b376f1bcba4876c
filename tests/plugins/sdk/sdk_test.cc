#include <grpcpp/grpcpp.h>

#include <deque>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/health_check_service_interface.h"
#include "gtest/gtest.h"
#include "hollowtrees/plugin/v1/plugin.grpc.pb.h"
#include "httplib.h"
#include "lib/metrics/metrics.h"
#include "plugins/sdk/server.h"
#include "spdlog/sinks/null_sink.h"
#include "spdlog/spdlog.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace hollowtrees::plugin {
namespace {

namespace pb = hollowtrees::plugin::v1;
using ::hollowtrees::testing::IsOk;
using ::testing::HasSubstr;

class ProbePlugin : public ActionPlugin {
 public:
  Result Handle(const Request& req, const Context& ctx) override {
    last = req;
    deadline = ctx.deadline;
    if (req.Label("mode") == "throw") throw std::runtime_error("boom");
    if (req.Label("mode") == "slow") {
      started.Notify();
      while (!release.HasBeenNotified() && !ctx.cancelled()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      return Result::Done("slow done");
    }
    if (req.Label("mode") == "retry") return Result::Retry("later", absl::Seconds(7));
    return Result::Done(absl::StrCat("hello ", req.Label("instance_id"), " ",
                                     req.ParamString("action", "none"), " ",
                                     req.ParamBool("dry_run", false), " ",
                                     req.ParamNumber("grace", -1)));
  }
  Request last;
  absl::Time deadline;
  absl::Notification started, release;
};

class SdkTest : public ::testing::Test {
 protected:
  SdkTest() : logger_("t", std::make_shared<spdlog::sinks::null_sink_mt>()) {}
  void SetUp() override {
    auto server = PluginServer::Start(plugin_, {.listen = "127.0.0.1:0"}, logger_);
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = pb::ActionPlugin::NewStub(channel_);
  }
  pb::HandleRequest Req(const std::string& labels, const std::string& params = "{}") {
    pb::HandleRequest req;
    req.set_rule("r");
    req.set_attempt(2);
    req.set_flow_id("f");
    req.mutable_event()->set_id("e1");
    req.mutable_event()->set_type("prometheus.server.alert.X");
    req.mutable_event()->set_text_data(absl::StrCat(R"({"status":"firing","labels":)", labels, "}"));
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(params, req.mutable_params()).ok());
    return req;
  }
  grpc::Status Call(const pb::HandleRequest& req, pb::HandleResponse* resp,
                    absl::Duration timeout = absl::Seconds(5)) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
    return stub_->Handle(&ctx, req, resp);
  }

  spdlog::logger logger_;
  ProbePlugin plugin_;
  std::unique_ptr<PluginServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::ActionPlugin::Stub> stub_;
};

TEST_F(SdkTest, DecodesTheRequestAndAnswers) {
  pb::HandleResponse resp;
  ASSERT_TRUE(Call(Req(R"({"instance_id":"i-1"})", R"({"action":"replace","dry_run":true,"grace":10})"),
                   &resp)
                  .ok());
  EXPECT_EQ(resp.outcome(), pb::HandleResponse::OUTCOME_DONE);
  EXPECT_EQ(resp.message(), "hello i-1 replace 1 10");
  EXPECT_EQ(plugin_.last.event_id, "e1");
  EXPECT_EQ(plugin_.last.rule, "r");
  EXPECT_EQ(plugin_.last.attempt, 2u);
  EXPECT_EQ(plugin_.last.status, "firing");
  EXPECT_LT(plugin_.deadline - absl::Now(), absl::Seconds(6));
  EXPECT_GT(plugin_.deadline - absl::Now(), absl::Seconds(3));
  EXPECT_EQ(plugin_.last.event_time, absl::InfinitePast());  // no time attribute
}

TEST(DecodeRequestTest, TheEventTimeFromATimestampOrText) {
  pb::HandleRequest raw;
  auto& attrs = *raw.mutable_event()->mutable_attributes();
  attrs["time"].mutable_ce_timestamp()->set_seconds(1795242540);
  attrs["time"].mutable_ce_timestamp()->set_nanos(412000000);
  EXPECT_EQ(DecodeRequest(raw).event_time,
            absl::FromUnixSeconds(1795242540) + absl::Milliseconds(412));
  attrs["time"].set_ce_string("2026-11-21T06:29:00.5+00:00");
  EXPECT_EQ(DecodeRequest(raw).event_time,
            absl::FromUnixSeconds(1795242540) + absl::Milliseconds(500));
  attrs["time"].set_ce_string("soon");
  EXPECT_EQ(DecodeRequest(raw).event_time, absl::InfinitePast());
}

TEST_F(SdkTest, RetryCarriesRetryAfterAndExceptionsBecomeFailures) {
  pb::HandleResponse resp;
  ASSERT_TRUE(Call(Req(R"({"mode":"retry"})"), &resp).ok());
  EXPECT_EQ(resp.outcome(), pb::HandleResponse::OUTCOME_RETRY);
  EXPECT_EQ(resp.retry_after().seconds(), 7);
  ASSERT_TRUE(Call(Req(R"({"mode":"throw"})"), &resp).ok());
  EXPECT_EQ(resp.outcome(), pb::HandleResponse::OUTCOME_FAILED);
  EXPECT_THAT(resp.message(), HasSubstr("boom"));
  // Data that is not JSON still reaches the plugin.
  pb::HandleRequest raw = Req("{}");
  raw.mutable_event()->set_text_data("not json");
  ASSERT_TRUE(Call(raw, &resp).ok());
  EXPECT_TRUE(plugin_.last.data.is_null());
}

TEST_F(SdkTest, ServesTheStandardHealthService) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  for (const char* service : {"", "hollowtrees.plugin.v1.ActionPlugin"}) {
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(service);
    grpc::health::v1::HealthCheckResponse resp;
    ASSERT_TRUE(health->Check(&ctx, req, &resp).ok()) << service;
    EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING) << service;
  }
}

TEST_F(SdkTest, ShutdownLetsTheCallInFlightFinishAndRefusesNewOnes) {
  pb::HandleResponse slow_resp;
  grpc::Status slow_status;
  std::thread caller([&] { slow_status = Call(Req(R"({"mode":"slow"})"), &slow_resp); });
  ASSERT_TRUE(plugin_.started.WaitForNotificationWithTimeout(absl::Seconds(5)));
  std::thread stopper([&] { server_->Shutdown(absl::Seconds(5)); });
  absl::SleepFor(absl::Milliseconds(100));
  plugin_.release.Notify();
  caller.join();
  stopper.join();
  EXPECT_TRUE(slow_status.ok()) << slow_status.error_message();
  EXPECT_EQ(slow_resp.message(), "slow done");
  pb::HandleResponse resp;
  EXPECT_EQ(Call(Req("{}"), &resp, absl::Seconds(1)).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(SdkTest, ATakenPortIsAnError) {
  ProbePlugin other;
  auto second = PluginServer::Start(other, {.listen = absl::StrCat("127.0.0.1:", server_->port())}, logger_);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
}

class MetricsPlugin : public ProbePlugin {
 public:
  void RegisterMetrics(metrics::Registry& registry) override {
    registry.AddCounter("probe_things_total", "Things.").Get().Inc(3);
    ++registered;
  }
  int registered = 0;
};

TEST_F(SdkTest, ThePluginAddsItsOwnMetricsToTheServersRegistry) {
  metrics::Registry registry;
  MetricsPlugin probe;
  ASSERT_OK_AND_ASSIGN(
      auto server,
      PluginServer::Start(probe, {.listen = "127.0.0.1:0", .registry = &registry}, logger_));
  EXPECT_EQ(probe.registered, 1);
  EXPECT_THAT(registry.Expose(), HasSubstr("probe_things_total 3"));
  // Without a registry the plugin is not asked.
  MetricsPlugin unasked;
  ASSERT_OK_AND_ASSIGN(auto plain,
                       PluginServer::Start(unasked, {.listen = "127.0.0.1:0"}, logger_));
  EXPECT_EQ(unasked.registered, 0);
}

TEST_F(SdkTest, CountsCallsByOutcomeWhenGivenARegistry) {
  metrics::Registry registry;
  ProbePlugin probe;
  ASSERT_OK_AND_ASSIGN(auto counted, PluginServer::Start(probe, {.listen = "127.0.0.1:0",
                                                                 .registry = &registry,
                                                                 .metrics_name = "probe"},
                                                         logger_));
  auto stub = pb::ActionPlugin::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", counted->port()), grpc::InsecureChannelCredentials()));
  for (const char* labels : {R"({"instance_id":"i-1"})", R"({"mode":"retry"})", R"({"mode":"throw"})",
                             R"({"instance_id":"i-2"})"}) {
    pb::HandleResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    ASSERT_TRUE(stub->Handle(&ctx, Req(labels), &resp).ok());
  }
  const std::string text = registry.Expose();
  EXPECT_THAT(text, HasSubstr(R"(hollowtrees_action_plugin_calls_total{plugin="probe",outcome="done"} 2)"));
  EXPECT_THAT(text, HasSubstr(R"(hollowtrees_action_plugin_calls_total{plugin="probe",outcome="retry"} 1)"));
  EXPECT_THAT(text, HasSubstr(R"(hollowtrees_action_plugin_calls_total{plugin="probe",outcome="failed"} 1)"));
  EXPECT_THAT(text, HasSubstr(R"(hollowtrees_action_plugin_call_duration_seconds_count{plugin="probe"} 4)"));
  EXPECT_THAT(text, HasSubstr(R"(hollowtrees_action_plugin_calls_in_flight{plugin="probe"} 0)"));
  // Without a registry nothing is counted (and nothing breaks): the fixture's server.
  pb::HandleResponse resp;
  ASSERT_TRUE(Call(Req(R"({"instance_id":"i-3"})"), &resp).ok());
  EXPECT_EQ(resp.outcome(), pb::HandleResponse::OUTCOME_DONE);
}

// Blocks every call in Handle until `release`, and records what it ran.
class LatchPlugin : public ActionPlugin {
 public:
  Result Handle(const Request& req, const Context& ctx) override {
    {
      absl::MutexLock lock(&mu_);
      handled_.push_back(req.event_id);
    }
    while (!release.HasBeenNotified() && !ctx.cancelled()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return Result::Done("released");
  }
  std::vector<std::string> Handled() {
    absl::MutexLock lock(&mu_);
    return handled_;
  }
  absl::Notification release;

 private:
  absl::Mutex mu_;
  std::vector<std::string> handled_ ABSL_GUARDED_BY(mu_);
};

// Polls `registry` until its exposition contains `line`, for up to 10 s.
bool WaitForMetric(metrics::Registry& registry, const std::string& line) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    if (registry.Expose().find(line) != std::string::npos) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return false;
}

// Starts calls on their own threads; Join() waits for them all.
class AsyncCalls {
 public:
  explicit AsyncCalls(pb::ActionPlugin::Stub& stub) : stub_(stub) {}
  ~AsyncCalls() { Join(); }
  void Start(const std::string& event_id, absl::Duration timeout) {
    const size_t i = results_.size();
    results_.emplace_back();
    threads_.emplace_back([this, i, event_id, timeout] {
      pb::HandleRequest req;
      req.mutable_event()->set_id(event_id);
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
      pb::HandleResponse resp;
      const grpc::Status status = stub_.Handle(&ctx, req, &resp);
      absl::MutexLock lock(&mu_);
      results_[i] = {status.error_code(), resp};
    });
  }
  void Join() {
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  std::vector<std::pair<grpc::StatusCode, pb::HandleResponse>> Results() {
    absl::MutexLock lock(&mu_);
    return results_;
  }

 private:
  pb::ActionPlugin::Stub& stub_;
  absl::Mutex mu_;
  std::vector<std::pair<grpc::StatusCode, pb::HandleResponse>> results_ ABSL_GUARDED_BY(mu_);
  std::deque<std::thread> threads_;
};

TEST_F(SdkTest, AFullQueueIsAnsweredRetryWithRetryAfterAtOnce) {
  constexpr int kWorkers = 2, kQueue = 3, kOverflow = 4;
  metrics::Registry registry;
  LatchPlugin latch;
  ASSERT_OK_AND_ASSIGN(auto server,
                       PluginServer::Start(latch, {.listen = "127.0.0.1:0",
                                                   .max_concurrent_calls = kWorkers,
                                                   .max_queued_calls = kQueue,
                                                   .queue_full_retry_after = absl::Milliseconds(2500),
                                                   .registry = &registry,
                                                   .metrics_name = "latch"},
                                           logger_));
  auto stub = pb::ActionPlugin::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", server->port()), grpc::InsecureChannelCredentials()));
  AsyncCalls held(*stub);
  for (int i = 0; i < kWorkers; ++i) held.Start(absl::StrCat("run-", i), absl::Seconds(10));
  ASSERT_TRUE(WaitForMetric(registry, R"(hollowtrees_action_plugin_calls_in_flight{plugin="latch"} 2)"));
  for (int i = 0; i < kQueue; ++i) held.Start(absl::StrCat("queued-", i), absl::Seconds(10));
  ASSERT_TRUE(WaitForMetric(registry, R"(hollowtrees_action_plugin_calls_queued{plugin="latch"} 3)"));

  // Every worker is blocked and the queue is full: more calls are answered
  // at once (well before their deadline), never queued.
  for (int i = 0; i < kOverflow; ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
    pb::HandleRequest req;
    req.mutable_event()->set_id(absl::StrCat("overflow-", i));
    pb::HandleResponse resp;
    const absl::Time sent = absl::Now();
    const grpc::Status status = stub->Handle(&ctx, req, &resp);
    ASSERT_TRUE(status.ok()) << i << ": " << status.error_message();
    EXPECT_LT(absl::Now() - sent, absl::Seconds(1)) << i;
    EXPECT_EQ(resp.outcome(), pb::HandleResponse::OUTCOME_RETRY) << i;
    EXPECT_EQ(resp.retry_after().seconds(), 2);
    EXPECT_EQ(resp.retry_after().nanos(), 500000000);
    EXPECT_THAT(resp.message(), HasSubstr("busy"));
  }
  EXPECT_THAT(registry.Expose(),
              HasSubstr(R"(hollowtrees_action_plugin_calls_not_run_total{plugin="latch",reason="queue_full"} 4)"));

  latch.release.Notify();
  held.Join();
  for (const auto& [code, resp] : held.Results()) {
    EXPECT_EQ(code, grpc::StatusCode::OK);
    EXPECT_EQ(resp.outcome(), pb::HandleResponse::OUTCOME_DONE);
  }
  // Only the admitted calls ran.
  EXPECT_THAT(latch.Handled(), ::testing::UnorderedElementsAre("run-0", "run-1", "queued-0",
                                                               "queued-1", "queued-2"));
  const std::string text = registry.Expose();
  EXPECT_THAT(text, HasSubstr(R"(hollowtrees_action_plugin_calls_total{plugin="latch",outcome="done"} 5)"));
  EXPECT_THAT(text, HasSubstr(R"(hollowtrees_action_plugin_calls_queued{plugin="latch"} 0)"));
  EXPECT_THAT(text, HasSubstr(R"(hollowtrees_action_plugin_calls_in_flight{plugin="latch"} 0)"));
}

TEST_F(SdkTest, ACallWhoseDeadlinePassedInTheQueueIsNeverRun) {
  metrics::Registry registry;
  LatchPlugin latch;
  ASSERT_OK_AND_ASSIGN(auto server,
                       PluginServer::Start(latch, {.listen = "127.0.0.1:0",
                                                   .max_concurrent_calls = 1,
                                                   .registry = &registry,
                                                   .metrics_name = "latch"},
                                           logger_));
  auto stub = pb::ActionPlugin::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", server->port()), grpc::InsecureChannelCredentials()));
  AsyncCalls blocked(*stub);
  blocked.Start("blocking", absl::Seconds(30));
  ASSERT_TRUE(WaitForMetric(registry, R"(hollowtrees_action_plugin_calls_in_flight{plugin="latch"} 1)"));

  // Queued behind the blocked call, with a short deadline.
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
  pb::HandleRequest req;
  req.mutable_event()->set_id("short");
  pb::HandleResponse resp;
  EXPECT_EQ(stub->Handle(&ctx, req, &resp).error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);

  latch.release.Notify();
  blocked.Join();
  // One worker, first in first out: once this call is answered, the short
  // one has left the queue.
  AsyncCalls after(*stub);
  after.Start("after", absl::Seconds(30));
  after.Join();
  EXPECT_EQ(after.Results()[0].second.outcome(), pb::HandleResponse::OUTCOME_DONE);
  EXPECT_THAT(latch.Handled(), ::testing::ElementsAre("blocking", "after"))
      << "the call whose deadline passed while queued was run";
  EXPECT_THAT(registry.Expose(),
              HasSubstr(R"(hollowtrees_action_plugin_calls_not_run_total{plugin="latch",reason="deadline_exceeded"} 1)"));
}

TEST(PluginServerOptionsTest, ABadPoolOrQueueSizeIsRefused) {
  spdlog::logger logger("t", std::make_shared<spdlog::sinks::null_sink_mt>());
  ProbePlugin probe;
  EXPECT_EQ(PluginServer::Start(probe, {.listen = "127.0.0.1:0", .max_concurrent_calls = 0}, logger)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PluginServer::Start(probe, {.listen = "127.0.0.1:0", .max_queued_calls = -1}, logger)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

// The plugin author guide's example binary, driven over gRPC.
TEST(ExamplePluginTest, TheGuidesExampleWorks) {
  const std::string out = hollowtrees::testing::MakeTempDir("ht-example") + "/notices.txt";
  ASSERT_OK_AND_ASSIGN(auto p, hollowtrees::testing::Subprocess::Start(
                                   {hollowtrees::testing::BinaryPath("ht-example-plugin"), "--listen",
                                    "127.0.0.1:0", "--out", out, "--metrics-listen", "127.0.0.1:0"}));
  ASSERT_OK_AND_ASSIGN(std::string metrics_port, p->WaitForOutput("metrics on 127.0.0.1:(\\d+)"));
  ASSERT_OK_AND_ASSIGN(std::string port, p->WaitForOutput("listening on 127.0.0.1:(\\d+)"));
  auto stub = pb::ActionPlugin::NewStub(
      grpc::CreateChannel("127.0.0.1:" + port, grpc::InsecureChannelCredentials()));
  auto call = [&](const std::string& id, const std::string& data) {
    pb::HandleRequest req;
    req.mutable_event()->set_id(id);
    req.mutable_event()->set_text_data(data);
    pb::HandleResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    EXPECT_TRUE(stub->Handle(&ctx, req, &resp).ok());
    return resp;
  };
  EXPECT_EQ(call("a", R"({"status":"firing","labels":{"instance_id":"i-1"}})").outcome(),
            pb::HandleResponse::OUTCOME_DONE);
  EXPECT_EQ(call("a", R"({"status":"firing","labels":{"instance_id":"i-1"}})").message(), "already done");
  EXPECT_EQ(call("b", R"({"status":"resolved","labels":{"instance_id":"i-1"}})").outcome(),
            pb::HandleResponse::OUTCOME_SKIPPED);
  EXPECT_EQ(call("c", R"({"status":"firing","labels":{}})").outcome(), pb::HandleResponse::OUTCOME_FAILED);
  EXPECT_EQ(*hollowtrees::testing::ReadFileToString(out), "i-1\n");
  // --metrics-listen: the SDK's counters, labelled with the plugin's name.
  httplib::Client metrics("127.0.0.1", std::stoi(metrics_port));
  auto scrape = metrics.Get("/metrics");
  ASSERT_TRUE(scrape) << httplib::to_string(scrape.error());
  EXPECT_EQ(scrape->status, 200);
  EXPECT_THAT(scrape->body, HasSubstr(
      R"(hollowtrees_action_plugin_calls_total{plugin="ht-example-plugin",outcome="failed"} 1)"));
  EXPECT_THAT(scrape->body, HasSubstr(
      R"(hollowtrees_action_plugin_call_duration_seconds_count{plugin="ht-example-plugin"} 4)"));
  EXPECT_EQ(p->Stop(), 0) << p->Output();
}

}  // namespace
}  // namespace hollowtrees::plugin
