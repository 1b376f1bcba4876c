#pragma once

// ht-aws-asg-action-plugin: the gRPC-facing adapter. Decodes the event into
// a ReplaceRequest (instance from the `instance_id` label; action from the
// rule's params or the event type) and maps the outcome back.

#include "plugins/aws_asg/instance_replacer.h"
#include "plugins/aws_asg/lifecycle_keeper.h"
#include "plugins/sdk/plugin.h"

namespace hollowtrees::aws_asg {

struct AwsAsgPluginOptions {
  // Dry run for every call, whatever the params say. Default false.
  bool dry_run = false;
};

// The action an event asks for when params carry no `action`:
// SpotTerminationNotice -> replace, SpotInstanceTooExpensive -> swap, any
// other event -> replace.
Action DefaultActionFor(absl::string_view event_type);

// Thread-safe. The API and logger must outlive it.
class AwsAsgPlugin : public plugin::ActionPlugin {
 public:
  // `lifecycle` (may be null: the lifecycle actions then fail, naming the
  // reason) must outlive the plugin.
  AwsAsgPlugin(AsgApi& api, AwsAsgPluginOptions options, spdlog::logger& logger,
               LifecycleKeeper* lifecycle = nullptr)
      : replacer_(api, logger), options_(options), logger_(logger), lifecycle_(lifecycle) {}
  plugin::Result Handle(const plugin::Request& request, const plugin::Context& context) override;

 private:
  // `action: lifecycle-heartbeat` and `action: complete-lifecycle`.
  plugin::Result HandleLifecycle(const plugin::Request& request, const plugin::Context& context,
                                 bool complete);

  InstanceReplacer replacer_;
  const AwsAsgPluginOptions options_;
  spdlog::logger& logger_;
  LifecycleKeeper* const lifecycle_;
};

}  // namespace hollowtrees::aws_asg
