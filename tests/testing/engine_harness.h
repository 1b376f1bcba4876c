#pragma once

// The real engine binary and recording log plugins as subprocesses, for the
// crash tests (tests/engine/crash_test.cc) and the crash soak
// (bench/soak): start them on 127.0.0.1 port 0, write their configuration,
// post alerts, read back which calls each plugin got, and judge them.

#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "lib/http/http_client.h"
#include "tests/testing/subprocess.h"

namespace hollowtrees::testing {

// One call a recording plugin got (a line of its --record-file).
struct CallRecord {
  std::string event_id;
  std::string flow_id;
  std::string instance;  // the alert's instance_id label
  int attempt = 0;
  int64_t at_us = 0;  // when the plugin got it, Unix microseconds
};

// The records of `path` in file order; a missing file is empty, a line being
// written (not yet JSON) is skipped.
std::vector<CallRecord> ReadCallRecords(const std::string& path);

// An ht-log-action-plugin on a free loopback port, recording every call in
// `record_file`, answering DONE after `delay` (empty: at once). Its output goes
// under `output_dir` (a new temp dir when empty).
struct RecordingPlugin {
  std::string name;  // its name in rules.yaml
  std::string record_file;
  std::unique_ptr<Subprocess> process;
  std::string port;
};
absl::StatusOr<RecordingPlugin> StartRecordingPlugin(const std::string& name,
                                                     const std::string& record_file,
                                                     const std::string& delay = "",
                                                     const std::string& output_dir = "");

// Writes dir/rules.yaml: the journal under dir/data, `plugins` (each with
// `plugin_options`, e.g. ", timeout: 5s"), then `rules` (YAML from "rules:").
absl::Status WriteEngineConfig(const std::string& dir,
                               const std::vector<const RecordingPlugin*>& plugins,
                               absl::string_view plugin_options, absl::string_view rules);

// The engine binary (`engine_binary`, default hollowtrees from BinaryPath) on
// dir/rules.yaml, on a free loopback port; output under `output_dir` as above.
struct RunningEngine {
  std::unique_ptr<Subprocess> process;
  std::string port;
};
absl::StatusOr<RunningEngine> StartEngine(const std::string& dir,
                                          std::vector<std::string> extra_args = {},
                                          const std::string& engine_binary = "",
                                          const std::string& output_dir = "");

// A Prometheus-style body (/api/v2/alerts) of SpotTerminationNotice alerts,
// one per instance id, firing.
std::string SpotNoticeAlerts(const std::vector<std::string>& instance_ids);

// Posts `instance_ids` as alerts. True when the engine acknowledged them all
// (200, and every alert accepted or a duplicate); false when it did not
// answer or refused (the engine being killed or starting); an error when it
// answered 200 with counts that do not add up.
absl::StatusOr<bool> PostSpotNotices(http::HttpClient& client,
                                     const std::vector<std::string>& instance_ids);

// The judgement of one rule's chain from the plugins' records, one vector per
// step in chain order.
struct ChainReport {
  int calls = 0;
  // Calls of a (flow, step) after its first: retries and redeliveries after a
  // restart. Allowed (at least once).
  int redelivered = 0;
  // Calls of a step the engine had already finished: a step called after the
  // next step was (the engine durably moves on only after a DONE), or the last
  // step called after its flow ended (`finished_at_us`). Must be 0.
  int finished_steps_repeated = 0;
  // Instances with calls under more than one flow id or event id. Must be
  // empty when the rule groups by instance and every alert fires once.
  std::vector<std::string> split_instances;
  // Instances whose step k+1 was first called before step k. Must be empty.
  std::vector<std::string> out_of_order;
  // Instances the last step was called for.
  std::set<std::string> completed_instances;
};
// `finished_at_us`: flow id -> when the engine recorded the flow succeeded
// (Unix microseconds); may be empty.
ChainReport AnalyzeChain(const std::vector<std::vector<CallRecord>>& steps,
                         const std::map<std::string, int64_t>& finished_at_us = {});

}  // namespace hollowtrees::testing
