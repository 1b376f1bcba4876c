#include "lib/aws/autoscaling.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "lib/common/status_macros.h"

namespace hollowtrees::aws {
namespace {

int Int(const pugi::xml_node& n, const char* path) {
  int v = 0;
  (void)absl::SimpleAtoi(XmlText(n, path), &v);
  return v;
}

AsgInstance ParseInstance(const pugi::xml_node& m) {
  AsgInstance i;
  i.instance_id = XmlText(m, "InstanceId");
  i.instance_type = XmlText(m, "InstanceType");
  i.auto_scaling_group_name = XmlText(m, "AutoScalingGroupName");
  i.availability_zone = XmlText(m, "AvailabilityZone");
  i.lifecycle_state = XmlText(m, "LifecycleState");
  i.health_status = XmlText(m, "HealthStatus");
  i.protected_from_scale_in = XmlText(m, "ProtectedFromScaleIn") == "true";
  return i;
}

AutoScalingGroup ParseGroup(const pugi::xml_node& m) {
  AutoScalingGroup g;
  g.name = XmlText(m, "AutoScalingGroupName");
  g.arn = XmlText(m, "AutoScalingGroupARN");
  g.min_size = Int(m, "MinSize");
  g.max_size = Int(m, "MaxSize");
  g.desired_capacity = Int(m, "DesiredCapacity");
  g.status = XmlText(m, "Status");
  for (auto az : XmlChild(m, "AvailabilityZones").children("member")) {
    g.availability_zones.push_back(az.text().get());
  }
  for (auto inst : XmlChild(m, "Instances").children("member")) {
    AsgInstance i = ParseInstance(inst);
    i.auto_scaling_group_name = g.name;
    g.instances.push_back(std::move(i));
  }
  pugi::xml_node mixed = XmlChild(m, "MixedInstancesPolicy");
  if (mixed) {
    g.mixed_instances_policy = true;
    for (auto o : XmlChild(mixed, "LaunchTemplate/Overrides").children("member")) {
      const std::string t = XmlText(o, "InstanceType");
      if (!t.empty()) g.override_instance_types.push_back(t);
    }
  }
  return g;
}

void AddList(QueryParams& p, const std::string& prefix, const std::vector<std::string>& values) {
  for (size_t i = 0; i < values.size(); ++i) {
    p.emplace_back(absl::StrCat(prefix, ".member.", i + 1), values[i]);
  }
}

// The action to act on: by token, by instance id, or both.
absl::Status AddLifecycleAction(QueryParams& p, const std::string& group, const std::string& hook,
                                const std::string& token, const std::string& instance_id,
                                absl::string_view action) {
  if (group.empty() || hook.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(action, ": needs a group and a hook name"));
  }
  if (token.empty() && instance_id.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(action, ": needs a lifecycle action token or an instance id"));
  }
  p.emplace_back("AutoScalingGroupName", group);
  p.emplace_back("LifecycleHookName", hook);
  if (!token.empty()) p.emplace_back("LifecycleActionToken", token);
  if (!instance_id.empty()) p.emplace_back("InstanceId", instance_id);
  return absl::OkStatus();
}

}  // namespace

bool IsNoActiveLifecycleAction(const absl::Status& status) {
  auto e = GetAwsError(status);
  return e.has_value() && e->code == "ValidationError" &&
         absl::StrContains(absl::AsciiStrToLower(e->message), "no active lifecycle action found");
}

absl::StatusOr<std::optional<AsgInstance>> AutoScalingClient::DescribeAutoScalingInstance(
    const std::string& instance_id, absl::Time deadline) {
  QueryParams p;
  AddList(p, "InstanceIds", {instance_id});
  HT_ASSIGN_OR_RETURN(auto doc, client_.Call("DescribeAutoScalingInstances", p, deadline));
  pugi::xml_node list = XmlChild(doc->document_element(),
                                 "DescribeAutoScalingInstancesResult/AutoScalingInstances");
  for (auto m : list.children("member")) {
    AsgInstance i = ParseInstance(m);
    if (i.instance_id == instance_id) return std::optional<AsgInstance>(std::move(i));
  }
  return std::optional<AsgInstance>();
}

absl::StatusOr<std::vector<AutoScalingGroup>> AutoScalingClient::DescribeAutoScalingGroups(
    const std::vector<std::string>& names, absl::Time deadline, int max_pages) {
  std::vector<AutoScalingGroup> out;
  std::string next;
  for (int page = 0; page < max_pages; ++page) {
    QueryParams p;
    AddList(p, "AutoScalingGroupNames", names);
    if (!next.empty()) p.emplace_back("NextToken", next);
    HT_ASSIGN_OR_RETURN(auto doc, client_.Call("DescribeAutoScalingGroups", p, deadline));
    pugi::xml_node result = XmlChild(doc->document_element(), "DescribeAutoScalingGroupsResult");
    for (auto m : XmlChild(result, "AutoScalingGroups").children("member")) {
      out.push_back(ParseGroup(m));
    }
    next = XmlText(result, "NextToken");
    if (next.empty()) return out;
  }
  return absl::ResourceExhaustedError(
      absl::StrCat("DescribeAutoScalingGroups: more than ", max_pages, " pages"));
}

absl::StatusOr<std::optional<AutoScalingGroup>> AutoScalingClient::DescribeAutoScalingGroup(
    const std::string& name, absl::Time deadline) {
  HT_ASSIGN_OR_RETURN(auto groups, DescribeAutoScalingGroups({name}, deadline, 1));
  for (auto& g : groups) {
    if (g.name == name) return std::optional<AutoScalingGroup>(std::move(g));
  }
  return std::optional<AutoScalingGroup>();
}

absl::StatusOr<std::vector<ScalingActivity>> AutoScalingClient::DetachInstances(
    const std::string& group, const std::vector<std::string>& instance_ids,
    bool should_decrement_desired_capacity, absl::Time deadline) {
  QueryParams p = {{"AutoScalingGroupName", group}};
  AddList(p, "InstanceIds", instance_ids);
  p.emplace_back("ShouldDecrementDesiredCapacity",
                 should_decrement_desired_capacity ? "true" : "false");
  HT_ASSIGN_OR_RETURN(auto doc, client_.Call("DetachInstances", p, deadline));
  std::vector<ScalingActivity> out;
  for (auto m : XmlChild(doc->document_element(), "DetachInstancesResult/Activities")
                    .children("member")) {
    out.push_back({XmlText(m, "ActivityId"), XmlText(m, "Description"), XmlText(m, "StatusCode")});
  }
  return out;
}

absl::Status AutoScalingClient::UpdateAutoScalingGroup(const std::string& group,
                                                       std::optional<int> min_size,
                                                       std::optional<int> max_size,
                                                       std::optional<int> desired_capacity,
                                                       absl::Time deadline) {
  QueryParams p = {{"AutoScalingGroupName", group}};
  if (min_size) p.emplace_back("MinSize", absl::StrCat(*min_size));
  if (max_size) p.emplace_back("MaxSize", absl::StrCat(*max_size));
  if (desired_capacity) p.emplace_back("DesiredCapacity", absl::StrCat(*desired_capacity));
  return client_.Call("UpdateAutoScalingGroup", p, deadline).status();
}

absl::Status AutoScalingClient::CompleteLifecycleAction(
    const std::string& group, const std::string& hook, const std::string& token,
    const std::string& instance_id, const std::string& result, absl::Time deadline) {
  if (result != "CONTINUE" && result != "ABANDON") {
    return absl::InvalidArgumentError(absl::StrCat("CompleteLifecycleAction: result \"", result,
                                                   "\" is not CONTINUE or ABANDON"));
  }
  QueryParams p;
  HT_RETURN_IF_ERROR(
      AddLifecycleAction(p, group, hook, token, instance_id, "CompleteLifecycleAction"));
  p.emplace_back("LifecycleActionResult", result);
  return client_.Call("CompleteLifecycleAction", p, deadline).status();
}

absl::Status AutoScalingClient::RecordLifecycleActionHeartbeat(const std::string& group,
                                                               const std::string& hook,
                                                               const std::string& token,
                                                               const std::string& instance_id,
                                                               absl::Time deadline) {
  QueryParams p;
  HT_RETURN_IF_ERROR(
      AddLifecycleAction(p, group, hook, token, instance_id, "RecordLifecycleActionHeartbeat"));
  return client_.Call("RecordLifecycleActionHeartbeat", p, deadline).status();
}

absl::StatusOr<std::vector<LifecycleHook>> AutoScalingClient::DescribeLifecycleHooks(
    const std::string& group, absl::Time deadline) {
  HT_ASSIGN_OR_RETURN(auto doc, client_.Call("DescribeLifecycleHooks",
                                             {{"AutoScalingGroupName", group}}, deadline));
  std::vector<LifecycleHook> out;
  for (auto m : XmlChild(doc->document_element(), "DescribeLifecycleHooksResult/LifecycleHooks")
                    .children("member")) {
    LifecycleHook h;
    h.name = XmlText(m, "LifecycleHookName");
    h.auto_scaling_group_name = XmlText(m, "AutoScalingGroupName");
    h.transition = XmlText(m, "LifecycleTransition");
    h.heartbeat_timeout = absl::Seconds(Int(m, "HeartbeatTimeout"));
    h.global_timeout = absl::Seconds(Int(m, "GlobalTimeout"));
    h.default_result = XmlText(m, "DefaultResult");
    h.notification_target_arn = XmlText(m, "NotificationTargetARN");
    h.role_arn = XmlText(m, "RoleARN");
    h.notification_metadata = XmlText(m, "NotificationMetadata");
    out.push_back(std::move(h));
  }
  return out;
}

}  // namespace hollowtrees::aws
