// The engine assembled (HTTP intake, dispatcher, real gRPC client) against
// real gRPC plugin servers on port 0, driven over HTTP.

#include "engine/engine.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "httplib.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/http/http_client.h"
#include "nlohmann/json.hpp"
#include "plugins/sdk/server.h"
#include "spdlog/sinks/null_sink.h"
#include "spdlog/spdlog.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace hollowtrees::engine {
namespace {

using ::hollowtrees::testing::IsOk;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// One record per call, shared by every plugin of a test, in arrival order.
struct CallLog {
  absl::Mutex mu;
  std::vector<std::string> calls ABSL_GUARDED_BY(mu);  // "plugin:instance_id:attempt"
  void Add(std::string s) {
    absl::MutexLock lock(&mu);
    calls.push_back(std::move(s));
  }
  std::vector<std::string> Get() {
    absl::MutexLock lock(&mu);
    return calls;
  }
  // Polls until `n` calls arrived (bounded), then returns them.
  std::vector<std::string> WaitFor(size_t n, absl::Duration timeout = absl::Seconds(10)) {
    std::pair<CallLog*, size_t> arg(this, n);
    absl::MutexLock lock(&mu);
    mu.AwaitWithTimeout(absl::Condition(
                            +[](std::pair<CallLog*, size_t>* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                              return a->first->calls.size() >= a->second;
                            },
                            &arg),
                        timeout);
    return calls;
  }
};

class RecordingPlugin : public plugin::ActionPlugin {
 public:
  RecordingPlugin(std::string name, CallLog& log) : name_(std::move(name)), log_(log) {}
  plugin::Result Handle(const plugin::Request& req, const plugin::Context&) override {
    log_.Add(absl::StrCat(name_, ":", req.Label("instance_id"), ":", req.attempt));
    if (static_cast<int>(req.attempt) <= retry_first_.load()) return plugin::Result::Retry("not yet");
    return fail_.load() ? plugin::Result::Failed("broken") : plugin::Result::Done("ok");
  }
  std::atomic<int> retry_first_{0};
  std::atomic<bool> fail_{false};

 private:
  std::string name_;
  CallLog& log_;
};

class EngineComponentTest : public ::testing::Test {
 protected:
  EngineComponentTest() : logger_("test", std::make_shared<spdlog::sinks::null_sink_mt>()) {}

  void StartPlugins(int n) {
    for (int i = 0; i < n; ++i) {
      const std::string name = absl::StrCat("p", i + 1);
      plugins_.push_back(std::make_unique<RecordingPlugin>(name, log_));
      auto server = plugin::PluginServer::Start(*plugins_.back(), {.listen = "127.0.0.1:0"}, logger_);
      ASSERT_THAT(server, IsOk());
      servers_.push_back(*std::move(server));
    }
  }

  void StartEngine(const std::string& rules) {
    dir_ = hollowtrees::testing::MakeTempDir("ht-engine");
    std::string config = "action_plugins:\n";
    for (size_t i = 0; i < servers_.size(); ++i) {
      absl::StrAppend(&config, "  - {name: p", i + 1, ", address: \"127.0.0.1:", servers_[i]->port(),
                      "\", timeout: 5s}\n");
    }
    absl::StrAppend(&config, "intake: {max_body_bytes: 65536}\n",
                    absl::StrReplaceAll(rules, {{"DATA", dir_ + "/data"}}));
    config_path_ = dir_ + "/rules.yaml";
    ASSERT_THAT(hollowtrees::testing::WriteStringToFile(config_path_, config), IsOk());
    auto engine = Engine::Start({.config_path = config_path_,
                                 .listen = "127.0.0.1:0",
                                 .dispatcher = {.initial_backoff = absl::Milliseconds(20),
                                                .max_backoff = absl::Milliseconds(100)},
                                 .health_interval = health_interval_,
                                 .stall_after = stall_after_},
                                logger_);
    ASSERT_THAT(engine, IsOk());
    engine_ = *std::move(engine);
    auto client = http::NewHttpClient({.base_url = absl::StrCat("http://127.0.0.1:", engine_->port())});
    ASSERT_THAT(client, IsOk());
    http_ = *std::move(client);
  }

  http::HttpResponse Post(const std::string& path, const std::string& body,
                          const std::string& content_type = "application/json",
                          http::Headers headers = {}) {
    auto r = http_->Send({.method = "POST", .path = path, .headers = headers, .body = body,
                          .content_type = content_type});
    EXPECT_THAT(r, IsOk());
    return r.ok() ? *r : http::HttpResponse{};
  }
  http::HttpResponse Get(const std::string& path) {
    auto r = http_->Send({.path = path});
    EXPECT_THAT(r, IsOk());
    return r.ok() ? *r : http::HttpResponse{};
  }
  // The metric's value in /metrics, or -1.
  double Metric(const std::string& series) {
    const std::string text = Get("/metrics").body;
    const size_t at = text.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + series.size() + 2));
  }

  static std::string Alert(const std::string& instance, const std::string& extra = "") {
    return absl::StrCat(R"({"labels":{"alertname":"SpotTerminationNotice","cluster_name":"test-cluster","instance_id":")",
                        instance, R"(")", extra, R"(},"startsAt":"2024-01-01T00:00:00Z","endsAt":"2099-01-01T00:00:00Z","generatorURL":"http://prom/g"})");
  }

  spdlog::logger logger_;
  CallLog log_;
  std::vector<std::unique_ptr<RecordingPlugin>> plugins_;
  std::vector<std::unique_ptr<plugin::PluginServer>> servers_;
  std::string dir_;
  std::string config_path_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<http::HttpClient> http_;
  absl::Duration health_interval_ = absl::Seconds(5);
  absl::Duration stall_after_ = absl::Seconds(30);
};

constexpr char kRules[] = R"(rules:
  - name: drain
    event_type: prometheus.server.alert.SpotTerminationNotice
    match:
      - cluster_name: test-cluster
    action_plugins: [p1, p2, p3]
)";

TEST_F(EngineComponentTest, PrometheusPushCallsThePluginsInOrderOncePerAlert) {
  StartPlugins(3);
  StartEngine(kRules);
  const std::string batch = absl::StrCat("[", Alert("i-1"), "]");
  for (int i = 0; i < 5; ++i) {  // Prometheus re-sends
    auto r = Post("/api/v2/alerts", batch);
    EXPECT_EQ(r.status, 200);
  }
  EXPECT_THAT(log_.WaitFor(3), ElementsAre("p1:i-1:1", "p2:i-1:1", "p3:i-1:1"));
  // Flow finished and visible.
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (Metric("hollowtrees_flows_completed_total{rule=\"drain\",outcome=\"succeeded\"}") != 1 &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(Metric("hollowtrees_flows_completed_total{rule=\"drain\",outcome=\"succeeded\"}"), 1);
  EXPECT_EQ(Metric("hollowtrees_events_received_total{source=\"prometheus\"}"), 5);
  EXPECT_EQ(Metric("hollowtrees_events_duplicate_total{source=\"prometheus\"}"), 4);
  auto flows = nlohmann::json::parse(Get("/api/v1/flows?state=succeeded").body);
  ASSERT_EQ(flows["flows"].size(), 1u);
  EXPECT_EQ(flows["flows"][0]["rule"], "drain");
  EXPECT_EQ(flows["flows"][0]["steps"].size(), 3u);
  EXPECT_EQ(flows["flows"][0]["steps"][2]["state"], "done");
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(log_.Get().size(), 3u) << "re-sends made no further calls";
}

TEST_F(EngineComponentTest, ManyKeepAliveSendersAreServedAtOnce) {
  // cpp-httplib gives each open keep-alive connection a worker until it idles
  // out (2 s): with too few workers, the next sender (another Prometheus, an
  // Alertmanager, a kubelet probe) waits that long. 24 senders keep their
  // connections open; each one's requests are answered within 1 s.
  StartPlugins(1);
  StartEngine("rules: []\n");
  std::vector<std::unique_ptr<httplib::Client>> senders;
  for (int i = 0; i < 24; ++i) {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", engine_->port());
    c->set_keep_alive(true);
    c->set_read_timeout(1, 0);
    c->set_connection_timeout(1, 0);
    auto res = c->Get("/healthz");
    ASSERT_TRUE(res) << "sender " << i << ": " << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 200);
    senders.push_back(std::move(c));
  }
  for (size_t i = 0; i < senders.size(); ++i) {
    auto res = senders[i]->Post("/api/v2/alerts", absl::StrCat("[", Alert(absl::StrCat("i-", i)), "]"),
                                "application/json");
    ASSERT_TRUE(res) << "sender " << i << ": " << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 200);
  }
}

TEST_F(EngineComponentTest, AllIntakesReachThePlugins) {
  StartPlugins(1);
  StartEngine(R"(rules:
  - name: r
    event_type: prometheus.server.alert.SpotTerminationNotice
    action_plugins: [p1]
)");
  EXPECT_EQ(Post("/api/v1/alerts", absl::StrCat("[", Alert("v1"), "]")).status, 200);
  const std::string webhook = absl::StrCat(
      R"({"version":"4","status":"firing","receiver":"ht","groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://am","groupKey":"k","truncatedAlerts":0,"alerts":[{"status":"firing","labels":{"alertname":"SpotTerminationNotice","instance_id":"am"},"annotations":{},"startsAt":"2024-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"x"}]})");
  EXPECT_EQ(Post("/api/v1/webhooks/alertmanager", webhook).status, 200);
  EXPECT_EQ(Post("/api/v1/events",
                 R"({"specversion":"1.0","id":"1","source":"/x","type":"prometheus.server.alert.SpotTerminationNotice","data":{"labels":{"instance_id":"ce"}}})",
                 "application/cloudevents+json")
                .status,
            200);
  EXPECT_EQ(Post("/api/v1/events",
                 R"([{"specversion":"1.0","id":"2","source":"/x","type":"prometheus.server.alert.SpotTerminationNotice","data":{"labels":{"instance_id":"batch"}}}])",
                 "application/cloudevents-batch+json")
                .status,
            200);
  EXPECT_EQ(Post("/api/v1/events", R"({"labels":{"instance_id":"binary"}})", "application/json",
                 {{"ce-specversion", "1.0"}, {"ce-id", "3"}, {"ce-source", "/x"},
                  {"ce-type", "prometheus.server.alert.SpotTerminationNotice"}})
                .status,
            200);
  auto calls = log_.WaitFor(5);
  std::sort(calls.begin(), calls.end());
  EXPECT_THAT(calls, ElementsAre("p1:am:1", "p1:batch:1", "p1:binary:1", "p1:ce:1", "p1:v1:1"));
}

TEST_F(EngineComponentTest, RetriesThenStopsTheChainOnFailure) {
  StartPlugins(2);
  plugins_[0]->retry_first_ = 2;
  StartEngine(R"(rules:
  - name: r
    event_type: prometheus.server.alert.SpotTerminationNotice
    retries: 3
    action_plugins: [p1, p2]
)");
  Post("/api/v2/alerts", absl::StrCat("[", Alert("i-1"), "]"));
  EXPECT_THAT(log_.WaitFor(4), ElementsAre("p1:i-1:1", "p1:i-1:2", "p1:i-1:3", "p2:i-1:1"));

  plugins_[0]->fail_ = true;
  plugins_[0]->retry_first_ = 0;
  Post("/api/v2/alerts", absl::StrCat("[", Alert("i-2"), "]"));
  auto calls = log_.WaitFor(5);
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(log_.Get().size(), 5u) << "p2 not called after p1 failed";
  auto failed = nlohmann::json::parse(Get("/api/v1/flows?state=failed").body);
  ASSERT_EQ(failed["flows"].size(), 1u);
  EXPECT_THAT(failed["flows"][0]["error"].get<std::string>(), HasSubstr("p1: broken"));
}

TEST_F(EngineComponentTest, UnreachablePluginIsRetriedThenTheFlowFails) {
  StartPlugins(1);
  servers_[0]->Shutdown(absl::ZeroDuration());  // its port stays in the config
  StartEngine(R"(rules:
  - name: r
    event_type: prometheus.server.alert.SpotTerminationNotice
    retries: 2
    action_plugins: [p1]
)");
  EXPECT_EQ(Post("/api/v2/alerts", absl::StrCat("[", Alert("i-1"), "]")).status, 200);
  nlohmann::json failed;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  do {
    absl::SleepFor(absl::Milliseconds(20));
    failed = nlohmann::json::parse(Get("/api/v1/flows?state=failed").body);
  } while (failed["flows"].empty() && absl::Now() < deadline);
  ASSERT_EQ(failed["flows"].size(), 1u);
  const std::string error = failed["flows"][0]["error"];
  EXPECT_THAT(error, HasSubstr("p1: no answer: UNAVAILABLE"));
  EXPECT_THAT(error, HasSubstr("after 3 attempts"));
  EXPECT_EQ(Metric("hollowtrees_plugin_calls_total{plugin=\"p1\",outcome=\"error\"}"), 3);
  EXPECT_EQ(Get("/healthz").status, 200);
}

TEST_F(EngineComponentTest, BadInputGetsA4xxAndTheEngineStaysUp) {
  StartPlugins(1);
  StartEngine(R"(rules:
  - name: r
    event_type: prometheus.server.alert.SpotTerminationNotice
    action_plugins: [p1]
)");
  struct Case {
    std::string method, path, body, content_type;
    int status;
    std::string error;
  } cases[] = {
      {"POST", "/api/v2/alerts", "{not json", "application/json", 400, "not valid JSON"},
      {"POST", "/api/v2/alerts", R"({"labels":{}})", "application/json", 400, "JSON array of alerts"},
      {"POST", "/api/v2/alerts", R"([{"labels":{"x":"y"}}])", "application/json", 400, "no alertname"},
      {"POST", "/api/v2/alerts", "[]", "text/plain", 415, "unsupported Content-Type"},
      {"POST", "/api/v2/alerts", std::string(70000, '['), "application/json", 413, "larger than 65536"},
      {"POST", "/api/v1/webhooks/alertmanager", R"({"version":"3","alerts":[]})", "application/json", 400, "version"},
      {"POST", "/api/v1/webhooks/alertmanager", "[]", "application/json", 400, "webhook object"},
      {"POST", "/api/v1/events", R"({"specversion":"1.0"})", "application/cloudevents+json", 400, "missing required attribute"},
      {"POST", "/api/v1/events", "[1,2]", "application/cloudevents-batch+json", 400, "must be a JSON object"},
      {"POST", "/api/v1/events", "{}", "application/json", 400, "ce-specversion"},
      {"GET", "/api/v2/alerts", "", "", 405, "not allowed"},
      {"POST", "/metrics", "", "", 405, "not allowed"},
      {"GET", "/api/v3/alerts", "", "", 404, "no such endpoint"},
      {"GET", "/api/v1/flows?state=bogus", "", "", 400, "unknown state"},
      {"GET", "/api/v1/flows?limit=0", "", "", 400, "limit"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.method + " " + c.path + " " + c.body.substr(0, 40));
    auto r = http_->Send({.method = c.method, .path = c.path, .body = c.body, .content_type = c.content_type});
    ASSERT_THAT(r, IsOk());
    EXPECT_EQ(r->status, c.status);
    auto body = nlohmann::json::parse(r->body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << r->body;
    EXPECT_THAT(body["error"].is_string() ? body["error"].get<std::string>() : body.dump(),
                HasSubstr(c.error));
  }
  // Nothing was queued from any of it, and the engine still works.
  EXPECT_EQ(Get("/healthz").status, 200);
  EXPECT_EQ(Get("/readyz").status, 200);
  EXPECT_EQ(log_.Get().size(), 0u);
  auto mixed = Post("/api/v2/alerts", absl::StrCat("[", Alert("ok"), R"(,{"labels":{"x":"y"}}])"));
  EXPECT_EQ(mixed.status, 200) << "a valid alert beside an invalid one is accepted";
  auto body = nlohmann::json::parse(mixed.body);
  EXPECT_EQ(body["accepted"], 1);
  EXPECT_EQ(body["rejected"][0]["index"], 1);
  EXPECT_THAT(log_.WaitFor(1), ElementsAre("p1:ok:1"));
}

TEST_F(EngineComponentTest, ReloadSwapsRulesAndABadFileKeepsTheOldOnes) {
  StartPlugins(2);
  StartEngine(R"(rules:
  - name: r
    event_type: prometheus.server.alert.SpotTerminationNotice
    action_plugins: [p1]
)");
  std::string config = *hollowtrees::testing::ReadFileToString(config_path_);
  ASSERT_THAT(hollowtrees::testing::WriteStringToFile(config_path_, config + "  - bogus: 1\n"), IsOk());
  auto bad = engine_->Reload();
  EXPECT_THAT(bad, ::hollowtrees::testing::StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("rules.yaml:")));
  EXPECT_EQ(Metric("hollowtrees_config_last_reload_successful"), 0);
  Post("/api/v2/alerts", absl::StrCat("[", Alert("before"), "]"));
  EXPECT_THAT(log_.WaitFor(1), ElementsAre("p1:before:1"));

  ASSERT_THAT(hollowtrees::testing::WriteStringToFile(
                  config_path_, absl::StrReplaceAll(config, {{"[p1]", "[p2]"}})),
              IsOk());
  EXPECT_THAT(engine_->Reload(), IsOk());
  EXPECT_EQ(Metric("hollowtrees_config_last_reload_successful"), 1);
  EXPECT_THAT(Get("/api/v1/rules").body, HasSubstr("\"plugin\":\"p2\""));
  Post("/api/v2/alerts", absl::StrCat("[", Alert("after"), "]"));
  EXPECT_THAT(log_.WaitFor(2), ElementsAre("p1:before:1", "p2:after:1"));
}

// Polls /readyz until its status is `status`; returns the last body.
std::string WaitForReadyz(const std::function<http::HttpResponse()>& get, int status) {
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  http::HttpResponse r;
  while (absl::Now() < deadline) {
    r = get();
    if (r.status == status) return r.body;
    absl::SleepFor(absl::Milliseconds(50));
  }
  ADD_FAILURE() << "/readyz never answered " << status << "; last: " << r.status << " " << r.body;
  return r.body;
}

TEST_F(EngineComponentTest, ReadinessFailsWithTheReasonWhileTheJournalCannotBeWritten) {
  StartPlugins(1);
  health_interval_ = absl::Milliseconds(100);
  StartEngine(R"(data_dir: DATA
rules:
  - name: r
    event_type: prometheus.server.alert.SpotTerminationNotice
    action_plugins: [p1]
)");
  auto get = [this] { return Get("/readyz"); };
  WaitForReadyz(get, 200);
  // An operator's sqlite3 shell holding a write transaction: the probe
  // writes wait out the busy timeout and fail.
  auto lock = hollowtrees::testing::HoldSqliteWriteLock(dir_ + "/data/journal.db");
  ASSERT_THAT(lock, IsOk());
  const std::string body = WaitForReadyz(get, 503);
  EXPECT_THAT(body, AllOf(HasSubstr("journal cannot be written"), HasSubstr("locked")));
  lock->reset();  // the lock goes with the process
  EXPECT_EQ(WaitForReadyz(get, 200), "ready\n");
}

TEST_F(EngineComponentTest, ReadinessFailsWhenTheDispatcherMakesNoProgress) {
  StartPlugins(1);
  // The loop beats once an hour here, so after 300 ms it looks stalled,
  // as a blocked loop would.
  health_interval_ = absl::Hours(1);
  stall_after_ = absl::Milliseconds(300);
  StartEngine(R"(rules:
  - name: r
    event_type: prometheus.server.alert.SpotTerminationNotice
    action_plugins: [p1]
)");
  EXPECT_THAT(WaitForReadyz([this] { return Get("/readyz"); }, 503),
              HasSubstr("the dispatcher has made no progress"));
}

TEST_F(EngineComponentTest, AReloadThatChangesARestartOnlyKeySaysSoAndKeepsTheRunningValue) {
  StartPlugins(1);
  StartEngine(R"(rules:
  - name: r
    event_type: prometheus.server.alert.SpotTerminationNotice
    action_plugins: [p1]
)");
  EXPECT_EQ(Metric("hollowtrees_config_restart_required{key=\"intake\"}"), 0);
  std::string config = *hollowtrees::testing::ReadFileToString(config_path_);
  ASSERT_THAT(hollowtrees::testing::WriteStringToFile(
                  config_path_, absl::StrReplaceAll(config, {{"65536", "1048576"}})),
              IsOk());
  EXPECT_THAT(engine_->Reload(), IsOk());
  EXPECT_EQ(Metric("hollowtrees_config_restart_required{key=\"intake\"}"), 1);
  EXPECT_EQ(Metric("hollowtrees_config_restart_required{key=\"listen\"}"), 0);
  // The running limit (64 KiB) stays until a restart.
  auto big = http_->Send({.method = "POST", .path = "/api/v2/alerts",
                          .body = std::string(100000, ' '), .content_type = "application/json"});
  ASSERT_THAT(big, IsOk());
  EXPECT_EQ(big->status, 413);
  // Back to the running value: nothing pending any more.
  ASSERT_THAT(hollowtrees::testing::WriteStringToFile(config_path_, config), IsOk());
  EXPECT_THAT(engine_->Reload(), IsOk());
  EXPECT_EQ(Metric("hollowtrees_config_restart_required{key=\"intake\"}"), 0);
}

TEST_F(EngineComponentTest, DeadLettersAreListedAndReplayedOverHttpAndTheCommandLine) {
  StartPlugins(2);
  plugins_[1]->fail_ = true;
  StartEngine(R"(data_dir: DATA
rules:
  - name: r
    event_type: prometheus.server.alert.SpotTerminationNotice
    retries: 0
    action_plugins: [p1, p2]
)");
  Post("/api/v2/alerts", absl::StrCat("[", Alert("i-1"), ",", Alert("i-2"), "]"));
  nlohmann::json failed;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  do {
    absl::SleepFor(absl::Milliseconds(20));
    failed = nlohmann::json::parse(Get("/api/v1/flows?state=failed").body);
  } while (failed["flows"].size() < 2 && absl::Now() < deadline);
  ASSERT_EQ(failed["flows"].size(), 2u);
  EXPECT_EQ(log_.Get().size(), 4u);

  // The plugin is fixed; the operator replays both dead letters.
  plugins_[1]->fail_ = false;
  const std::string id1 = failed["flows"][0]["id"], id2 = failed["flows"][1]["id"];
  auto r = Post(absl::StrCat("/api/v1/flows/", id1, "/replay"), "");
  EXPECT_EQ(r.status, 202) << r.body;
  ASSERT_OK_AND_ASSIGN(auto cli, hollowtrees::testing::Subprocess::Start(
                                     {hollowtrees::testing::BinaryPath("hollowtrees"), "replay", id2,
                                      "--engine", absl::StrCat("http://127.0.0.1:", engine_->port())}));
  ASSERT_OK_AND_ASSIGN(int code, cli->Wait(absl::Seconds(20)));
  EXPECT_EQ(code, 0) << cli->Output();
  auto calls = log_.WaitFor(6);
  ASSERT_EQ(calls.size(), 6u);
  // From the failed step: p2 again, not p1.
  EXPECT_EQ(calls[4].substr(0, 3), "p2:");
  EXPECT_EQ(calls[5].substr(0, 3), "p2:");
  const absl::Time d2 = absl::Now() + absl::Seconds(10);
  while (!nlohmann::json::parse(Get("/api/v1/flows?state=failed").body)["flows"].empty() &&
         absl::Now() < d2) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE(nlohmann::json::parse(Get("/api/v1/flows?state=failed").body)["flows"].empty());
  // Replaying a succeeded flow, or an unknown one, says why.
  EXPECT_EQ(Post(absl::StrCat("/api/v1/flows/", id1, "/replay"), "").status, 409);
  auto unknown = Post("/api/v1/flows/0123456789abcdef/replay", "");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_THAT(unknown.body, HasSubstr("no flow"));
  ASSERT_OK_AND_ASSIGN(auto bad_cli, hollowtrees::testing::Subprocess::Start(
                                         {hollowtrees::testing::BinaryPath("hollowtrees"), "replay",
                                          "0123456789abcdef", "--engine",
                                          absl::StrCat("http://127.0.0.1:", engine_->port())}));
  ASSERT_OK_AND_ASSIGN(int bad_code, bad_cli->Wait(absl::Seconds(20)));
  EXPECT_EQ(bad_code, 1);
  EXPECT_THAT(bad_cli->Output(), HasSubstr("no flow"));
}

}  // namespace
}  // namespace hollowtrees::engine
