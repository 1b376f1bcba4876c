#pragma once

#include <cstdio>
#include <string>

#include "absl/synchronization/mutex.h"
#include "plugins/sdk/plugin.h"

namespace hollowtrees::plugin {

struct LogPluginOptions {
  // When set, every call is appended to this file as one JSON line
  // ({"received_at_us", "event_id", "type", "rule", "flow_id", "attempt",
  // "labels", "params", "status"}). Default: none.
  std::string record_file;
  // Time spent per call before answering (simulates a slow action).
  absl::Duration delay = absl::ZeroDuration();
  // Answer RETRY to the first N attempts of each flow step.
  int retry_attempts = 0;
  // The outcome after that: done, skipped, retry, failed. Default done.
  std::string outcome = "done";
};

// The example plugin: logs each event it receives and records it. Used by the
// demo and by tests that assert the exact calls a plugin got. Thread-safe.
class LogPlugin : public ActionPlugin {
 public:
  LogPlugin(LogPluginOptions options, spdlog::logger& logger);
  ~LogPlugin() override;
  Result Handle(const Request& request, const Context& context) override;

 private:
  const LogPluginOptions options_;
  spdlog::logger& logger_;
  absl::Mutex mu_;
  FILE* record_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace hollowtrees::plugin
