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
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace hollowtrees::engine {
namespace {

using ::hollowtrees::testing::BinaryPath;
using ::hollowtrees::testing::IsOk;
using ::hollowtrees::testing::Subprocess;

struct Record {
  std::string event_id, flow_id, instance;
  int attempt;
  int64_t at_us;
};

std::vector<Record> ReadRecords(const std::string& path) {
  std::vector<Record> out;
  auto text = hollowtrees::testing::ReadFileToString(path);
  if (!text.ok()) return out;
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object()) continue;  // a line being written
    out.push_back({j["event_id"], j["flow_id"], j["labels"].value("instance_id", ""),
                   j["attempt"].get<int>(), j["received_at_us"].get<int64_t>()});
  }
  return out;
}

// An ht-log-action-plugin on a free loopback port, recording every call it
// gets in `record_file`, and answering after `delay` (empty: at once).
struct RecordingPlugin {
  std::unique_ptr<Subprocess> process;
  std::string port;
};

absl::StatusOr<RecordingPlugin> StartRecordingPlugin(const std::string& record_file,
                                                     const std::string& delay = "") {
  std::vector<std::string> argv = {BinaryPath("ht-log-action-plugin"), "--listen", "127.0.0.1:0",
                                   "--record-file", record_file};
  if (!delay.empty()) {
    argv.push_back("--delay");
    argv.push_back(delay);
  }
  auto process = Subprocess::Start(argv);
  if (!process.ok()) return process.status();
  auto port = (*process)->WaitForOutput("listening on 127.0.0.1:(\\d+)");
  if (!port.ok()) return port.status();
  return RecordingPlugin{*std::move(process), *port};
}

// Writes dir/rules.yaml: the journal under dir/data, the plugins p1 and p2
// (each with `plugin_options`, e.g. ", timeout: 5s"), then `rules`.
absl::Status WriteConfig(const std::string& dir, const RecordingPlugin& p1,
                         const RecordingPlugin& p2, absl::string_view plugin_options,
                         absl::string_view rules) {
  return hollowtrees::testing::WriteStringToFile(
      dir + "/rules.yaml",
      absl::StrCat("data_dir: ", dir, "/data\naction_plugins:\n",
                   "  - {name: p1, address: \"127.0.0.1:", p1.port, "\"", plugin_options, "}\n",
                   "  - {name: p2, address: \"127.0.0.1:", p2.port, "\"", plugin_options, "}\n",
                   rules));
}

struct RunningEngine {
  std::unique_ptr<Subprocess> process;
  std::string port;
};

// The engine binary on dir/rules.yaml, on a free loopback port.
absl::StatusOr<RunningEngine> StartEngine(const std::string& dir,
                                          std::vector<std::string> extra_args = {}) {
  std::vector<std::string> argv = {BinaryPath("hollowtrees"), "--config", dir + "/rules.yaml",
                                   "--listen", "127.0.0.1:0"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  auto process = Subprocess::Start(argv);
  if (!process.ok()) return process.status();
  auto port = (*process)->WaitForOutput("listening on 127.0.0.1:(\\d+)");
  if (!port.ok()) return port.status();
  return RunningEngine{*std::move(process), *port};
}

TEST(EngineCrashTest, NothingAcknowledgedIsLostAcrossSigkills) {
  const std::string dir = hollowtrees::testing::MakeTempDir("ht-crash");
  ASSERT_OK_AND_ASSIGN(RecordingPlugin p1, StartRecordingPlugin(dir + "/p1.jsonl", "120ms"));
  ASSERT_OK_AND_ASSIGN(RecordingPlugin p2, StartRecordingPlugin(dir + "/p2.jsonl"));
  ASSERT_THAT(WriteConfig(dir, p1, p2, ", timeout: 5s", R"(rules:
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
      std::string body = "[";
      std::vector<std::string> ids;
      const int n = std::uniform_int_distribution<int>(1, 3)(rng);
      for (int i = 0; i < n; ++i) ids.push_back(absl::StrCat("i-", next++));
      if (next > 5) ids.push_back(absl::StrCat("i-", std::uniform_int_distribution<int>(0, next - 5)(rng)));
      for (size_t i = 0; i < ids.size(); ++i) {
        absl::StrAppend(&body, i ? "," : "",
                        R"({"labels":{"alertname":"SpotTerminationNotice","instance_id":")", ids[i],
                        R"("},"startsAt":"2026-01-01T00:00:00Z","endsAt":"2099-01-01T00:00:00Z"})");
      }
      body += "]";
      auto r = client->Send({.method = "POST", .path = "/api/v2/alerts", .body = body,
                             .content_type = "application/json"});
      if (r.ok() && r->status == 200) {
        auto j = nlohmann::json::parse(r->body);
        ASSERT_EQ(j["accepted"].get<int>() + j["duplicates"].get<int>(), static_cast<int>(ids.size()));
        for (const auto& id : ids) acked.insert(id);
      }
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
  std::set<std::string> done;
  while (absl::Now() < deadline) {
    done.clear();
    for (const Record& r : ReadRecords(dir + "/p2.jsonl")) done.insert(r.instance);
    if (std::includes(done.begin(), done.end(), acked.begin(), acked.end())) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  std::vector<std::string> missing;
  std::set_difference(acked.begin(), acked.end(), done.begin(), done.end(), std::back_inserter(missing));
  EXPECT_THAT(missing, ::testing::IsEmpty()) << "acknowledged alerts whose flow never completed";

  // Each group ran one flow: every call for an instance has the same event
  // and flow id; p2 came after p1; repeats are redeliveries.
  std::map<std::string, std::set<std::string>> flows, events;
  std::map<std::string, int64_t> first_p1, first_p2;
  int redeliveries = 0;
  for (const auto& [file, first] : {std::pair{"p1", &first_p1}, std::pair{"p2", &first_p2}}) {
    std::map<std::string, int> calls;
    for (const Record& r : ReadRecords(absl::StrCat(dir, "/", file, ".jsonl"))) {
      flows[r.instance].insert(r.flow_id);
      events[r.instance].insert(r.event_id);
      if (!first->contains(r.instance)) (*first)[r.instance] = r.at_us;
      if (++calls[r.instance] > 1) ++redeliveries;
    }
  }
  for (const auto& id : acked) {
    EXPECT_EQ(flows[id].size(), 1u) << id;
    EXPECT_EQ(events[id].size(), 1u) << id;
    if (first_p1.contains(id) && first_p2.contains(id)) {
      EXPECT_LT(first_p1[id], first_p2[id]) << id;
    }
  }
  engine->Stop();
  RecordProperty("acknowledged", static_cast<int>(acked.size()));
  RecordProperty("redeliveries", redeliveries);
  std::printf("crash test: %d cycles, %zu alerts acknowledged, %d redelivered calls\n", kCycles,
              acked.size(), redeliveries);
}

TEST(EngineShutdownTest, SigtermLetsTheCallInFlightFinishRecordsItAndExitsZero) {
  const std::string dir = hollowtrees::testing::MakeTempDir("ht-term");
  ASSERT_OK_AND_ASSIGN(RecordingPlugin p1, StartRecordingPlugin(dir + "/p1.jsonl", "1500ms"));
  ASSERT_OK_AND_ASSIGN(RecordingPlugin p2, StartRecordingPlugin(dir + "/p2.jsonl"));
  ASSERT_THAT(WriteConfig(dir, p1, p2, "", R"(rules:
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
  EXPECT_TRUE(ReadRecords(dir + "/p2.jsonl").empty()) << "no new call after SIGTERM";

  ASSERT_OK_AND_ASSIGN(RunningEngine again, StartEngine(dir, {"--shutdown-grace", "10s"}));
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (ReadRecords(dir + "/p2.jsonl").empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(ReadRecords(dir + "/p2.jsonl").size(), 1u) << "the chain went on after the restart";
  EXPECT_EQ(ReadRecords(dir + "/p1.jsonl").size(), 1u) << "the finished call was recorded, not repeated";
  EXPECT_EQ(again.process->Stop(), 0);
}

}  // namespace
}  // namespace hollowtrees::engine
