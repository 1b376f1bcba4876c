// ht-aws-asg-action-plugin: detaches/replaces a doomed instance in its Auto
// Scaling Group. See README.md for the params and the AWS configuration.

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "lib/aws/region.h"
#include "plugins/aws_asg/aws_asg_api.h"
#include "plugins/aws_asg/aws_asg_plugin.h"
#include "plugins/sdk/plugin_main.h"
#include "spdlog/logger.h"

ABSL_FLAG(std::string, region, "", "AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, config file)");
ABSL_FLAG(bool, dry_run, false, "log the AWS calls instead of making them, for every event");
ABSL_FLAG(absl::Duration, aws_request_timeout, absl::Seconds(10), "timeout per AWS request");
ABSL_FLAG(std::string, lifecycle_state_file, "",
          "where the lifecycle actions kept open are written, so that their heartbeats go on "
          "after a restart (default: in memory only)");
ABSL_FLAG(absl::Duration, lifecycle_max_keep, absl::Hours(1),
          "heartbeats of a lifecycle action stop this long after they began, completed or not");

namespace {

// Owns the AWS API and the lifecycle keeper next to the plugin that refers
// to them.
class OwningPlugin : public hollowtrees::plugin::ActionPlugin {
 public:
  OwningPlugin(std::unique_ptr<hollowtrees::aws_asg::AsgApi> api,
               std::unique_ptr<hollowtrees::aws_asg::LifecycleKeeper> keeper,
               hollowtrees::aws_asg::AwsAsgPluginOptions options, spdlog::logger& logger)
      : api_(std::move(api)),
        keeper_(std::move(keeper)),
        plugin_(*api_, options, logger, keeper_.get()) {}
  hollowtrees::plugin::Result Handle(const hollowtrees::plugin::Request& r,
                                     const hollowtrees::plugin::Context& c) override {
    return plugin_.Handle(r, c);
  }

 private:
  std::unique_ptr<hollowtrees::aws_asg::AsgApi> api_;
  std::unique_ptr<hollowtrees::aws_asg::LifecycleKeeper> keeper_;  // after api_: stops first
  hollowtrees::aws_asg::AwsAsgPlugin plugin_;
};

}  // namespace

int main(int argc, char** argv) {
  using hollowtrees::plugin::ActionPlugin;
  return hollowtrees::plugin::PluginMain(
      argc, argv,
      {.name = "ht-aws-asg-action-plugin",
       .default_listen = "0.0.0.0:8888",
       .usage = "Detaches or replaces the event's instance_id in its Auto Scaling Group."},
      [](spdlog::logger& logger) -> absl::StatusOr<std::unique_ptr<ActionPlugin>> {
        hollowtrees::aws::Env env = hollowtrees::aws::ProcessEnv();
        auto region = hollowtrees::aws::ResolveRegion(absl::GetFlag(FLAGS_region), env);
        if (!region.ok()) return region.status();
        hollowtrees::aws_asg::AwsAsgApiOptions options;
        options.region = *region;
        options.env = std::move(env);
        options.request_timeout = absl::GetFlag(FLAGS_aws_request_timeout);
        auto api = hollowtrees::aws_asg::NewAwsAsgApi(options, logger);
        if (!api.ok()) return api.status();
        logger.info("region {}", *region);
        auto keeper = std::make_unique<hollowtrees::aws_asg::LifecycleKeeper>(
            **api,
            hollowtrees::aws_asg::LifecycleKeeperOptions{
                .state_file = absl::GetFlag(FLAGS_lifecycle_state_file),
                .max_keep = absl::GetFlag(FLAGS_lifecycle_max_keep)},
            logger);
        if (absl::Status s = keeper->Start(); !s.ok()) return s;
        return std::make_unique<OwningPlugin>(
            std::move(*api), std::move(keeper),
            hollowtrees::aws_asg::AwsAsgPluginOptions{absl::GetFlag(FLAGS_dry_run)}, logger);
      });
}
