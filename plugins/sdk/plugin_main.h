#pragma once

// The main() of a plugin binary, in a few lines:
//
//   int main(int argc, char** argv) {
//     return hollowtrees::plugin::PluginMain(
//         argc, argv, {.name = "ht-log-action-plugin", .default_listen = "0.0.0.0:8889"},
//         [](spdlog::logger& log) -> absl::StatusOr<std::unique_ptr<ActionPlugin>> {
//           return std::make_unique<LogPlugin>(log);
//         });
//   }
//
// It parses the common flags (--listen, --log-level, --log-format,
// --max-concurrent-calls, --max-queued-calls, --queue-full-retry-after,
// --shutdown-grace, --tls-cert-file, --tls-key-file,
// --tls-client-ca-file) and the plugin's own ABSL_FLAGs,
// makes the plugin's logger, serves until SIGTERM or SIGINT, then shuts down
// gracefully. Link `ht_plugin_main` (binary-only code: it defines flags).

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "plugins/sdk/plugin.h"

namespace hollowtrees::plugin {

struct PluginInfo {
  const char* name;
  const char* default_listen;
  const char* usage = "";
};

using PluginFactory =
    std::function<absl::StatusOr<std::unique_ptr<ActionPlugin>>(spdlog::logger& logger)>;

int PluginMain(int argc, char** argv, const PluginInfo& info, const PluginFactory& factory);

}  // namespace hollowtrees::plugin
