// A complete plugin in under 50 lines: SKIPPED for resolved alerts, FAILED
// without an instance_id, DONE once it wrote the instance id of each notice
// to a file; idempotent: a repeated event id is a quick DONE.
#include <fstream>
#include <set>

#include "absl/flags/flag.h"
#include "absl/synchronization/mutex.h"
#include "plugins/sdk/plugin_main.h"

ABSL_FLAG(std::string, out, "/tmp/notices.txt", "where to write instance ids");

namespace {
using hollowtrees::plugin::Context;
using hollowtrees::plugin::Request;
using hollowtrees::plugin::Result;

class NoticePlugin : public hollowtrees::plugin::ActionPlugin {
 public:
  Result Handle(const Request& req, const Context&) override {
    if (req.status == "resolved") return Result::Skipped("resolved alert");
    const std::string instance = req.Label("instance_id");
    if (instance.empty()) return Result::Failed("the alert has no instance_id label");
    absl::MutexLock lock(&mu_);
    if (!seen_.insert(req.event_id).second) return Result::Done("already done");  // a repeat
    std::ofstream(absl::GetFlag(FLAGS_out), std::ios::app) << instance << "\n";
    return Result::Done("noted " + instance);
  }

 private:
  absl::Mutex mu_;
  std::set<std::string> seen_ ABSL_GUARDED_BY(mu_);
};
}  // namespace

int main(int argc, char** argv) {
  return hollowtrees::plugin::PluginMain(
      argc, argv, {.name = "ht-example-plugin", .default_listen = "0.0.0.0:8890"},
      [](spdlog::logger&) -> absl::StatusOr<std::unique_ptr<hollowtrees::plugin::ActionPlugin>> {
        return std::make_unique<NoticePlugin>();
      });
}
