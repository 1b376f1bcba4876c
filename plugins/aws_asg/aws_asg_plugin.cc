#include "plugins/aws_asg/aws_asg_plugin.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/common/logging.h"
#include "spdlog/logger.h"

namespace hollowtrees::aws_asg {

Action DefaultActionFor(absl::string_view event_type) {
  if (absl::EndsWith(event_type, ".SpotInstanceTooExpensive") ||
      event_type == "SpotInstanceTooExpensive") {
    return Action::kSwap;
  }
  return Action::kReplace;
}

plugin::Result AwsAsgPlugin::HandleLifecycle(const plugin::Request& request,
                                             const plugin::Context& context, bool complete) {
  LifecycleAction a{request.Label("autoscaling_group"), request.Label("lifecycle_hook"),
                    request.Label("lifecycle_action_token"), request.Label("instance_id")};
  if (a.group.empty() || a.hook.empty()) {
    return plugin::Result::Skipped(
        "the event is not a lifecycle action: no autoscaling_group or lifecycle_hook label");
  }
  if (a.token.empty() && a.instance_id.empty()) {
    return plugin::Result::Failed(
        "the lifecycle action has neither a lifecycle_action_token nor an instance_id label");
  }
  std::string result = request.ParamString("result");
  if (result.empty()) result = "CONTINUE";
  if (result != "CONTINUE" && result != "ABANDON") {
    return plugin::Result::Failed(
        absl::StrCat("param result must be CONTINUE or ABANDON, not \"", result, "\""));
  }
  if (lifecycle_ == nullptr) {
    return plugin::Result::Failed("this plugin was started without lifecycle hook support");
  }
  const bool dry_run = options_.dry_run || request.ParamBool("dry_run", false);
  if (dry_run) {
    return plugin::Result::Done(absl::StrCat("dry run: would ", complete ? "complete " : "keep open ",
                                             a.Describe(), complete ? " with " + result : ""));
  }
  logger_.info("[{}] rule {}: {} {}", request.event_id, request.rule,
               complete ? "complete-lifecycle" : "lifecycle-heartbeat", a.Describe());
  auto done = complete ? lifecycle_->Complete(a, result, context.deadline)
                       : lifecycle_->Keep(a, context.deadline);
  if (!done.ok()) {
    logger_.warn("[{}] {}: {}", request.event_id, a.Describe(), done.status());
    return plugin::Result::FromStatus(done.status(), "", absl::Seconds(1));
  }
  return plugin::Result::Done(*done);
}

plugin::Result AwsAsgPlugin::Handle(const plugin::Request& request, const plugin::Context& context) {
  const std::string lifecycle_action = request.ParamString("action");
  if (lifecycle_action == "complete-lifecycle" || lifecycle_action == "lifecycle-heartbeat") {
    return HandleLifecycle(request, context, lifecycle_action == "complete-lifecycle");
  }
  if (request.status == "resolved") {
    return plugin::Result::Skipped("the alert is resolved: nothing to replace");
  }
  ReplaceRequest r;
  r.instance_id = request.Label("instance_id");
  if (r.instance_id.empty()) {
    return plugin::Result::Skipped("the event has no instance_id label");
  }
  r.event_id = request.event_id;
  r.rule = request.rule;
  r.deadline = context.deadline;
  const std::string action = request.ParamString("action");
  if (action.empty()) {
    r.action = DefaultActionFor(request.event_type);
  } else {
    auto parsed = ParseAction(action);
    if (!parsed.ok()) return plugin::Result::Failed(absl::StrCat("param ", parsed.status().message()));
    r.action = *parsed;
  }
  for (const char* key : {"dry_run", "surge"}) {
    if (request.params.contains(key) && !request.params[key].is_boolean()) {
      return plugin::Result::Failed(absl::StrCat("param ", key, " must be true or false"));
    }
  }
  r.dry_run = options_.dry_run || request.ParamBool("dry_run", false);
  r.surge = request.ParamBool("surge", false);
  logger_.info("[{}] rule {}: {} {}{}", r.event_id, r.rule, ActionName(r.action), r.instance_id,
               r.dry_run ? " (dry run)" : "");
  ReplaceOutcome o = replacer_.Run(r);
  switch (o.kind) {
    case ReplaceOutcome::kDone:
      return plugin::Result::Done(o.message);
    case ReplaceOutcome::kSkipped:
      return plugin::Result::Skipped(o.message);
    case ReplaceOutcome::kRetry:
      logger_.warn("[{}] {}: {}", r.event_id, r.instance_id, o.message);
      return plugin::Result::Retry(o.message, absl::Seconds(1));
    case ReplaceOutcome::kFailed:
      break;
  }
  logger_.error("[{}] {}: {}", r.event_id, r.instance_id, o.message);
  return plugin::Result::Failed(o.message);
}

}  // namespace hollowtrees::aws_asg
