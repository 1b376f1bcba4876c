// The real engine binary under a stream of alerts, killed with SIGKILL at
// random moments (often in the middle of a plugin call) and restarted, many
// cycles. Afterwards every acknowledged alert's flow has completed, each
// group ran once (as the rules allow), and repeats carried the same event id
// and flow id.

#include <csignal>
#include <map>
#include <random>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/http/http_client.h"
#include "nlohmann/json.hpp"
#include "tests/testing/engine_harness.h"
#include "tests/testing/status_matchers.h"

namespace hollowtrees::engine {
namespace {

using ::hollowtrees::testing::CallRecord;
using ::hollowtrees::testing::IsOk;
using ::hollowtrees::testing::PostSpotNotices;
using ::hollowtrees::testing::ReadCallRecords;
using ::hollowtrees::testing::RecordingPlugin;
using ::hollowtrees::testing::RunningEngine;
using ::hollowtrees::testing::StartEngine;
using ::hollowtrees::testing::StartRecordingPlugin;
using ::hollowtrees::testing::Subprocess;
using ::hollowtrees::testing::WriteEngineConfig;

TEST(EngineCrashTest, NothingAcknowledgedIsLostAcrossSigkills) {
  const std::string dir = hollowtrees::testing::MakeTempDir("ht-crash");
  ASSERT_OK_AND_ASSIGN(RecordingPlugin p1, StartRecordingPlugin("p1", dir + "/p1.jsonl", "120ms"));
  ASSERT_OK_AND_ASSIGN(RecordingPlugin p2, StartRecordingPlugin("p2", dir + "/p2.jsonl"));
  ASSERT_THAT(WriteEngineConfig(dir, {&p1, &p2}, ", timeout: 5s", R"(rules:
  - name: drain
    event_type: prometheus.server.alert.SpotTerminationNotice
    group_by: [instance_id]
    retries: 10
    action_plugins: [p1, p2]
)"),
              IsOk());

  std::mt19937 rng(20261121);
  std::set<std::string> acked;
  int next = 0;
  constexpr int kCycles = 10;
  auto start_engine = [&]() -> std::pair<std::unique_ptr<Subprocess>, std::unique_ptr<http::HttpClient>> {
    auto engine = StartEngine(dir);
    EXPECT_THAT(engine, IsOk());
    auto client = http::NewHttpClient({.base_url = absl::StrCat("http://127.0.0.1:", engine->port),
                                       .timeout = absl::Seconds(5)});
    return {std::move(engine->process), *std::move(client)};
  };

  for (int cycle = 0; cycle < kCycles; ++cycle) {
    auto [engine, client] = start_engine();
    const absl::Time kill_at =
        absl::Now() + absl::Milliseconds(std::uniform_int_distribution<int>(80, 700)(rng));
    while (absl::Now() < kill_at) {
      // New alerts, plus a re-send of an older one (as Prometheus does).
      std::vector<std::string> ids;
      const int n = std::uniform_int_distribution<int>(1, 3)(rng);
      for (int i = 0; i < n; ++i) ids.push_back(absl::StrCat("i-", next++));
      if (next > 5) ids.push_back(absl::StrCat("i-", std::uniform_int_distribution<int>(0, next - 5)(rng)));
      ASSERT_OK_AND_ASSIGN(bool acknowledged, hollowtrees::testing::PostSpotNotices(*client, ids));
      if (acknowledged) acked.insert(ids.begin(), ids.end());
      absl::SleepFor(absl::Milliseconds(std::uniform_int_distribution<int>(5, 40)(rng)));
    }
    engine->Signal(SIGKILL);
    ASSERT_OK_AND_ASSIGN(int code, engine->Wait(absl::Seconds(10)));
    EXPECT_EQ(code, 128 + SIGKILL);
  }
  ASSERT_GT(acked.size(), 30u);

  // A last start lets everything resume and finish.
  auto [engine, client] = start_engine();
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  auto analyze = [&] {
    return hollowtrees::testing::AnalyzeChain(
        {ReadCallRecords(dir + "/p1.jsonl"), ReadCallRecords(dir + "/p2.jsonl")});
  };
  hollowtrees::testing::ChainReport report = analyze();
  while (absl::Now() < deadline && !std::includes(report.completed_instances.begin(),
                                                  report.completed_instances.end(),
                                                  acked.begin(), acked.end())) {
    absl::SleepFor(absl::Milliseconds(50));
    report = analyze();
  }
  std::vector<std::string> missing;
  std::set_difference(acked.begin(), acked.end(), report.completed_instances.begin(),
                      report.completed_instances.end(), std::back_inserter(missing));
  EXPECT_THAT(missing, ::testing::IsEmpty()) << "acknowledged alerts whose flow never completed";

  // Each group ran one flow: every call for an instance has the same event
  // and flow id; p2 came after p1; repeats are redeliveries, never of a step
  // the engine had finished.
  EXPECT_THAT(report.split_instances, ::testing::IsEmpty());
  EXPECT_THAT(report.out_of_order, ::testing::IsEmpty());
  EXPECT_EQ(report.finished_steps_repeated, 0);
  const int redeliveries = report.redelivered;
  engine->Stop();
  RecordProperty("acknowledged", static_cast<int>(acked.size()));
  RecordProperty("redeliveries", redeliveries);
  std::printf("crash test: %d cycles, %zu alerts acknowledged, %d redelivered calls\n", kCycles,
              acked.size(), redeliveries);
}

TEST(EngineDataDirTest, ASecondEngineOnTheSameDataDirRefusesToStartAndNamesTheFirst) {
  const std::string dir = hollowtrees::testing::MakeTempDir("ht-datadir");
  ASSERT_OK_AND_ASSIGN(RecordingPlugin p1, StartRecordingPlugin("p1", dir + "/p1.jsonl"));
  ASSERT_THAT(WriteEngineConfig(dir, {&p1}, ", timeout: 5s", R"(rules:
  - name: drain
    event_type: prometheus.server.alert.SpotTerminationNotice
    group_by: [instance_id]
    action_plugins: [p1]
)"),
              IsOk());
  ASSERT_OK_AND_ASSIGN(RunningEngine first, StartEngine(dir));

  // The same configuration, so the same data_dir (a copy-pasted unit).
  const absl::Time started = absl::Now();
  auto second = Subprocess::Start({hollowtrees::testing::BinaryPath("hollowtrees"), "--config",
                                   dir + "/rules.yaml", "--listen", "127.0.0.1:0"});
  ASSERT_THAT(second, IsOk());
  auto code = (*second)->Wait(absl::Seconds(10));
  ASSERT_THAT(code, IsOk()) << "the second engine did not give up: " << (*second)->Output();
  EXPECT_NE(*code, 0);
  EXPECT_LT(absl::Now() - started, absl::Seconds(5));
  EXPECT_THAT((*second)->Output(),
              ::testing::AllOf(::testing::HasSubstr(dir + "/data"),
                               ::testing::HasSubstr(absl::StrCat("pid ", first.process->pid())),
                               ::testing::HasSubstr("one engine per data_dir")));

  // The first is not disturbed: it still takes an alert and calls the plugin.
  auto client = http::NewHttpClient({.base_url = absl::StrCat("http://127.0.0.1:", first.port),
                                     .timeout = absl::Seconds(5)});
  ASSERT_THAT(client, IsOk());
  ASSERT_OK_AND_ASSIGN(bool acked, PostSpotNotices(**client, {"i-first"}));
  EXPECT_TRUE(acked);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (ReadCallRecords(p1.record_file).empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_THAT(ReadCallRecords(p1.record_file), ::testing::SizeIs(1));
  EXPECT_EQ(first.process->Stop(), 0);
}

TEST(EngineShutdownTest, SigtermLetsTheCallInFlightFinishRecordsItAndExitsZero) {
  const std::string dir = hollowtrees::testing::MakeTempDir("ht-term");
  ASSERT_OK_AND_ASSIGN(RecordingPlugin p1, StartRecordingPlugin("p1", dir + "/p1.jsonl", "1500ms"));
  ASSERT_OK_AND_ASSIGN(RecordingPlugin p2, StartRecordingPlugin("p2", dir + "/p2.jsonl"));
  ASSERT_THAT(WriteEngineConfig(dir, {&p1, &p2}, "", R"(rules:
  - name: r
    event_type: prometheus.server.alert.SpotTerminationNotice
    action_plugins: [p1, p2]
)"),
              IsOk());
  ASSERT_OK_AND_ASSIGN(RunningEngine first, StartEngine(dir, {"--shutdown-grace", "10s"}));
  auto& engine = first.process;
  ASSERT_OK_AND_ASSIGN(auto client, http::NewHttpClient({.base_url = "http://127.0.0.1:" + first.port}));
  ASSERT_OK_AND_ASSIGN(auto r, client->Send({.method = "POST", .path = "/api/v2/alerts",
                                             .body = R"([{"labels":{"alertname":"SpotTerminationNotice","instance_id":"i-1"}}])",
                                             .content_type = "application/json"}));
  ASSERT_EQ(r.status, 200);
  ASSERT_THAT(p1.process->WaitForOutput("event=.*attempt=1 status=firing"), IsOk());  // the call is in flight
  const absl::Time sent = absl::Now();
  engine->Signal(SIGTERM);
  ASSERT_OK_AND_ASSIGN(int code, engine->Wait(absl::Seconds(15)));
  EXPECT_EQ(code, 0);
  EXPECT_GE(absl::Now() - sent, absl::Milliseconds(900)) << "it waited for the call";
  EXPECT_THAT(engine->Output(), ::testing::HasSubstr("plugin=p1"));
  EXPECT_TRUE(ReadCallRecords(dir + "/p2.jsonl").empty()) << "no new call after SIGTERM";

  ASSERT_OK_AND_ASSIGN(RunningEngine again, StartEngine(dir, {"--shutdown-grace", "10s"}));
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (ReadCallRecords(dir + "/p2.jsonl").empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(ReadCallRecords(dir + "/p2.jsonl").size(), 1u) << "the chain went on after the restart";
  EXPECT_EQ(ReadCallRecords(dir + "/p1.jsonl").size(), 1u) << "the finished call was recorded, not repeated";
  EXPECT_EQ(again.process->Stop(), 0);
}

}  // namespace
}  // namespace hollowtrees::engine
