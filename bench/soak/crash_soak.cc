#include "bench/soak/crash_soak.h"

#include <csignal>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "lib/http/http_client.h"
#include "nlohmann/json.hpp"
#include "tests/testing/engine_harness.h"

namespace hollowtrees::bench {
namespace {

using testing::RecordingPlugin;

// How often the load is sent: alerts owed since the last post go out together.
constexpr absl::Duration kTick = absl::Milliseconds(20);

// The succeeded flows the engine lists: flow id -> when it finished (Unix
// microseconds), and the instances they were for.
struct SucceededFlows {
  std::map<std::string, int64_t> finished_at_us;
  std::set<std::string> instances;
};

absl::StatusOr<SucceededFlows> ListSucceededFlows(http::HttpClient& client) {
  auto r = client.Send({.path = "/api/v1/flows?state=succeeded&limit=10000"});
  if (!r.ok()) return r.status();
  if (r->status != 200) return absl::UnavailableError(absl::StrCat("/api/v1/flows: ", r->status));
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (!j.is_object() || !j["flows"].is_array()) {
    return absl::InternalError("/api/v1/flows: not the documented JSON");
  }
  SucceededFlows out;
  for (const auto& f : j["flows"]) {
    absl::Time updated;
    std::string err;
    if (absl::ParseTime(absl::RFC3339_full, f.value("updated_at", ""), &updated, &err)) {
      out.finished_at_us[f.value("id", "")] = absl::ToUnixMicros(updated);
    }
    const std::string group_key = f.value("group_key", "");
    absl::string_view key = group_key;
    if (absl::ConsumePrefix(&key, "instance_id=")) out.instances.insert(std::string(key));
  }
  return out;
}

}  // namespace

absl::StatusOr<CrashSoakReport> RunCrashSoak(const CrashSoakOptions& o, FILE* log) {
  if (o.cycles < 0 || o.plugins < 1 || o.alerts_per_second <= 0 || o.min_uptime > o.max_uptime) {
    return absl::InvalidArgumentError(
        "cycles >= 0, plugins >= 1, alerts per second > 0 and min uptime <= max uptime");
  }
  const absl::Time began = absl::Now();
  CrashSoakReport report;
  report.dir = testing::MakeTempDir("ht-crash-soak");
  const std::string& dir = report.dir;

  std::vector<RecordingPlugin> plugins;
  std::string chain;
  for (int i = 1; i <= o.plugins; ++i) {
    const std::string name = absl::StrCat("p", i);
    auto p = testing::StartRecordingPlugin(
        name, absl::StrCat(dir, "/", name, ".jsonl"),
        i == 1 && o.first_plugin_delay > absl::ZeroDuration()
            ? absl::StrCat(absl::ToInt64Milliseconds(o.first_plugin_delay), "ms")
            : "",
        dir);
    if (!p.ok()) return p.status();
    plugins.push_back(*std::move(p));
    absl::StrAppend(&chain, i > 1 ? ", " : "", name);
  }
  std::vector<const RecordingPlugin*> plugin_ptrs;
  for (const auto& p : plugins) plugin_ptrs.push_back(&p);
  if (auto s = testing::WriteEngineConfig(dir, plugin_ptrs, ", timeout: 5s",
                                          absl::StrCat(R"(rules:
  - name: soak
    event_type: prometheus.server.alert.SpotTerminationNotice
    group_by: [instance_id]
    retries: 10
    action_plugins: [)",
                                                       chain, "]\n"));
      !s.ok()) {
    return s;
  }

  struct Engine {
    std::unique_ptr<testing::Subprocess> process;
    std::unique_ptr<http::HttpClient> client;
  };
  auto start_engine = [&]() -> absl::StatusOr<Engine> {
    auto engine = testing::StartEngine(dir, {}, o.engine_binary, dir);
    if (!engine.ok()) return engine.status();
    auto client = http::NewHttpClient({.base_url = absl::StrCat("http://127.0.0.1:", engine->port),
                                       .timeout = absl::Seconds(5)});
    if (!client.ok()) return client.status();
    return Engine{std::move(engine->process), *std::move(client)};
  };

  std::mt19937 rng(o.seed);
  std::set<std::string> acked;
  int next = 0;
  const int64_t min_ms = absl::ToInt64Milliseconds(o.min_uptime);
  const int64_t max_ms = absl::ToInt64Milliseconds(o.max_uptime);
  for (int cycle = 0; cycle < o.cycles; ++cycle) {
    auto engine = start_engine();
    if (!engine.ok()) return engine.status();
    const absl::Time kill_at =
        absl::Now() + absl::Milliseconds(std::uniform_int_distribution<int64_t>(min_ms, max_ms)(rng));
    double owed = 0;
    absl::Time last = absl::Now();
    while (absl::Now() < kill_at) {
      const absl::Time now = absl::Now();
      owed += o.alerts_per_second * absl::ToDoubleSeconds(now - last);
      last = now;
      std::vector<std::string> ids;
      for (; owed >= 1; owed -= 1) ids.push_back(absl::StrCat("i-", next++));
      report.alerts_posted += static_cast<int>(ids.size());
      // A re-send of an older alert, as Prometheus does.
      if (!ids.empty() && next > 5) {
        ids.push_back(absl::StrCat("i-", std::uniform_int_distribution<int>(0, next - 5)(rng)));
      }
      if (!ids.empty()) {
        auto acknowledged = testing::PostSpotNotices(*engine->client, ids);
        if (!acknowledged.ok()) return acknowledged.status();
        if (*acknowledged) acked.insert(ids.begin(), ids.end());
      }
      absl::SleepFor(std::min(kTick, kill_at - absl::Now()));
    }
    if (!engine->process->Running()) ++report.unexpected_exits;  // it died before the kill
    engine->process->Signal(SIGKILL);
    auto code = engine->process->Wait(absl::Seconds(10));
    if (!code.ok()) return code.status();
    if (*code != 128 + SIGKILL) {
      std::fprintf(log, "cycle %d: the engine exited with %d before it was killed\n", cycle, *code);
    }
    if ((cycle + 1) % 10 == 0 || cycle + 1 == o.cycles) {
      std::fprintf(log, "cycle %d/%d: %zu alerts acknowledged\n", cycle + 1, o.cycles, acked.size());
      std::fflush(log);
    }
  }
  report.cycles = o.cycles;
  report.alerts_acknowledged = static_cast<int>(acked.size());

  // A last start lets every flow resume and finish.
  auto engine = start_engine();
  if (!engine.ok()) return engine.status();
  const absl::Time deadline = absl::Now() + o.drain_timeout;
  auto read_steps = [&] {
    std::vector<std::vector<testing::CallRecord>> steps;
    for (const auto& p : plugins) steps.push_back(testing::ReadCallRecords(p.record_file));
    return steps;
  };
  auto all_in = [&](const std::set<std::string>& s) {
    return std::includes(s.begin(), s.end(), acked.begin(), acked.end());
  };
  SucceededFlows succeeded;
  testing::ChainReport chain_report;
  while (true) {
    auto listed = ListSucceededFlows(*engine->client);
    if (listed.ok()) {
      succeeded = *std::move(listed);
    } else if (absl::Now() >= deadline) {
      std::fprintf(log, "cannot list the flows: %s\n", std::string(listed.status().message()).c_str());
    }
    chain_report = testing::AnalyzeChain(read_steps(), succeeded.finished_at_us);
    if ((all_in(succeeded.instances) && all_in(chain_report.completed_instances)) ||
        absl::Now() >= deadline) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
  if (succeeded.finished_at_us.size() >= 10000) {
    std::fprintf(log, "warning: /api/v1/flows lists at most 10000 flows; lower the load\n");
  }
  for (const std::string& id : acked) {
    if (!succeeded.instances.contains(id) || !chain_report.completed_instances.contains(id)) {
      ++report.lost;
      if (report.lost <= 10) std::fprintf(log, "lost: %s\n", id.c_str());
    }
  }
  report.calls = chain_report.calls;
  report.redelivered = chain_report.redelivered;
  report.finished_steps_repeated = chain_report.finished_steps_repeated;
  report.split_flows = static_cast<int>(chain_report.split_instances.size());
  report.out_of_order = static_cast<int>(chain_report.out_of_order.size());
  engine->process->Stop();
  for (auto& p : plugins) p.process->Stop();
  report.elapsed = absl::Now() - began;
  if (!o.keep_files && report.ok()) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    report.dir.clear();
  }
  return report;
}

void PrintCrashSoakReport(const CrashSoakReport& r, FILE* out) {
  std::fprintf(out,
               "cycles:                   %d\n"
               "alerts posted:            %d\n"
               "alerts acknowledged:      %d\n"
               "lost:                     %d  (acknowledged, flow never completed; must be 0)\n"
               "plugin calls:             %d\n"
               "redelivered calls:        %d  (a flow step called more than once; allowed)\n"
               "finished steps repeated:  %d  (a step called after the engine finished it; must be 0)\n"
               "split flows:              %d  (an alert run under two flows; must be 0)\n"
               "out of order:             %d  (a step called before the previous one; must be 0)\n"
               "engine died on its own:   %d  (cycles where it exited before the kill; must be 0)\n"
               "elapsed:                  %s\n",
               r.cycles, r.alerts_posted, r.alerts_acknowledged, r.lost, r.calls, r.redelivered,
               r.finished_steps_repeated, r.split_flows, r.out_of_order, r.unexpected_exits,
               absl::FormatDuration(absl::Trunc(r.elapsed, absl::Milliseconds(100))).c_str());
  if (!r.dir.empty()) std::fprintf(out, "files:                    %s\n", r.dir.c_str());
  std::fprintf(out, "result:                   %s\n", r.ok() ? "PASS" : "FAIL");
}

}  // namespace hollowtrees::bench
