// ht-log-action-plugin: logs (and optionally records) every event it gets.

#include "absl/flags/flag.h"
#include "plugins/log/log_plugin.h"
#include "plugins/sdk/plugin_main.h"

ABSL_FLAG(std::string, record_file, "", "append each call to this file as a JSON line");
ABSL_FLAG(absl::Duration, delay, absl::ZeroDuration(), "time to spend per call");
ABSL_FLAG(int, retry_attempts, 0, "answer RETRY to the first N attempts of each step");
ABSL_FLAG(std::string, outcome, "done", "outcome after that: done, skipped, retry, failed");

int main(int argc, char** argv) {
  using hollowtrees::plugin::ActionPlugin;
  return hollowtrees::plugin::PluginMain(
      argc, argv, {.name = "ht-log-action-plugin", .default_listen = "0.0.0.0:8889"},
      [](spdlog::logger& logger) -> absl::StatusOr<std::unique_ptr<ActionPlugin>> {
        hollowtrees::plugin::LogPluginOptions options;
        options.record_file = absl::GetFlag(FLAGS_record_file);
        options.delay = absl::GetFlag(FLAGS_delay);
        options.retry_attempts = absl::GetFlag(FLAGS_retry_attempts);
        options.outcome = absl::GetFlag(FLAGS_outcome);
        const std::string& o = options.outcome;
        if (o != "done" && o != "skipped" && o != "retry" && o != "failed") {
          return absl::InvalidArgumentError("--outcome must be done, skipped, retry or failed");
        }
        return std::make_unique<hollowtrees::plugin::LogPlugin>(options, logger);
      });
}
