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

plugin::Result AwsAsgPlugin::Handle(const plugin::Request& request, const plugin::Context& context) {
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
