#include "tests/testing/engine_harness.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"

namespace hollowtrees::testing {

std::vector<CallRecord> ReadCallRecords(const std::string& path) {
  std::vector<CallRecord> out;
  auto text = ReadFileToString(path);
  if (!text.ok()) return out;
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object()) continue;  // a line being written
    out.push_back({j.value("event_id", ""), j.value("flow_id", ""),
                   j["labels"].value("instance_id", ""), j.value("attempt", 0),
                   j.value("received_at_us", int64_t{0})});
  }
  return out;
}

absl::StatusOr<RecordingPlugin> StartRecordingPlugin(const std::string& name,
                                                     const std::string& record_file,
                                                     const std::string& delay,
                                                     const std::string& output_dir) {
  std::vector<std::string> argv = {BinaryPath("ht-log-action-plugin"), "--listen", "127.0.0.1:0",
                                   "--record-file", record_file};
  if (!delay.empty()) {
    argv.push_back("--delay");
    argv.push_back(delay);
  }
  auto process = Subprocess::Start(argv, {}, output_dir);
  if (!process.ok()) return process.status();
  auto port = (*process)->WaitForOutput("listening on 127.0.0.1:(\\d+)");
  if (!port.ok()) return port.status();
  return RecordingPlugin{name, record_file, *std::move(process), *port};
}

absl::Status WriteEngineConfig(const std::string& dir,
                               const std::vector<const RecordingPlugin*>& plugins,
                               absl::string_view plugin_options, absl::string_view rules) {
  std::string yaml = absl::StrCat("data_dir: ", dir, "/data\naction_plugins:\n");
  for (const RecordingPlugin* p : plugins) {
    absl::StrAppend(&yaml, "  - {name: ", p->name, ", address: \"127.0.0.1:", p->port, "\"",
                    plugin_options, "}\n");
  }
  absl::StrAppend(&yaml, rules);
  return WriteStringToFile(dir + "/rules.yaml", yaml);
}

absl::StatusOr<RunningEngine> StartEngine(const std::string& dir,
                                          std::vector<std::string> extra_args,
                                          const std::string& engine_binary,
                                          const std::string& output_dir) {
  std::vector<std::string> argv = {engine_binary.empty() ? BinaryPath("hollowtrees") : engine_binary,
                                   "--config", dir + "/rules.yaml", "--listen", "127.0.0.1:0"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  auto process = Subprocess::Start(argv, {}, output_dir);
  if (!process.ok()) return process.status();
  auto port = (*process)->WaitForOutput("listening on 127.0.0.1:(\\d+)");
  if (!port.ok()) return port.status();
  return RunningEngine{*std::move(process), *port};
}

std::string SpotNoticeAlerts(const std::vector<std::string>& instance_ids) {
  std::string body = "[";
  for (size_t i = 0; i < instance_ids.size(); ++i) {
    absl::StrAppend(&body, i ? "," : "",
                    R"({"labels":{"alertname":"SpotTerminationNotice","instance_id":")",
                    instance_ids[i],
                    R"("},"startsAt":"2026-01-01T00:00:00Z","endsAt":"2099-01-01T00:00:00Z"})");
  }
  return body + "]";
}

absl::StatusOr<bool> PostSpotNotices(http::HttpClient& client,
                                     const std::vector<std::string>& instance_ids) {
  auto r = client.Send({.method = "POST", .path = "/api/v2/alerts",
                        .body = SpotNoticeAlerts(instance_ids),
                        .content_type = "application/json"});
  if (!r.ok() || r->status != 200) return false;
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (!j.is_object()) return absl::InternalError(absl::StrCat("a 200 that is not JSON: ", r->body));
  const int counted = j.value("accepted", 0) + j.value("duplicates", 0);
  if (counted != static_cast<int>(instance_ids.size())) {
    return absl::InternalError(absl::StrCat("posted ", instance_ids.size(),
                                            " alerts, the 200 counts ", counted, ": ", r->body));
  }
  return true;
}

ChainReport AnalyzeChain(const std::vector<std::vector<CallRecord>>& steps,
                         const std::map<std::string, int64_t>& finished_at_us) {
  ChainReport report;
  // Per step: flow id -> the time of its first call.
  std::vector<std::map<std::string, int64_t>> first(steps.size());
  std::map<std::string, std::set<std::string>> flows, events;
  std::map<std::string, std::vector<int64_t>> first_by_instance;  // per step, by instance
  for (size_t k = 0; k < steps.size(); ++k) {
    std::map<std::string, int> calls;
    for (const CallRecord& r : steps[k]) {
      ++report.calls;
      if (++calls[r.flow_id] > 1) ++report.redelivered;
      auto [it, inserted] = first[k].emplace(r.flow_id, r.at_us);
      if (!inserted) it->second = std::min(it->second, r.at_us);
      flows[r.instance].insert(r.flow_id);
      events[r.instance].insert(r.event_id);
      auto& by_step = first_by_instance[r.instance];
      by_step.resize(steps.size(), INT64_MAX);
      by_step[k] = std::min(by_step[k], r.at_us);
      if (k + 1 == steps.size()) report.completed_instances.insert(r.instance);
    }
  }
  for (size_t k = 0; k < steps.size(); ++k) {
    for (const CallRecord& r : steps[k]) {
      int64_t finished = INT64_MAX;
      if (k + 1 < steps.size()) {
        if (auto it = first[k + 1].find(r.flow_id); it != first[k + 1].end()) finished = it->second;
      } else if (auto it = finished_at_us.find(r.flow_id); it != finished_at_us.end()) {
        finished = it->second;
      }
      if (r.at_us > finished) ++report.finished_steps_repeated;
    }
  }
  for (const auto& [instance, ids] : flows) {
    if (ids.size() > 1 || events[instance].size() > 1) report.split_instances.push_back(instance);
  }
  for (const auto& [instance, by_step] : first_by_instance) {
    for (size_t k = 0; k + 1 < by_step.size(); ++k) {
      if (by_step[k + 1] != INT64_MAX && by_step[k + 1] < by_step[k]) {
        report.out_of_order.push_back(instance);
        break;
      }
    }
  }
  return report;
}

}  // namespace hollowtrees::testing
