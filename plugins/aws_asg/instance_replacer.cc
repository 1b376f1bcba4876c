#include "plugins/aws_asg/instance_replacer.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/aws/query_client.h"
#include "lib/common/logging.h"
#include "spdlog/logger.h"

namespace hollowtrees::aws_asg {
namespace {

bool LooksLikeInstanceId(absl::string_view id) {
  if (!absl::StartsWith(id, "i-") || id.size() < 10 || id.size() > 19) return false;
  for (char c : id.substr(2)) {
    if (!absl::ascii_isxdigit(c)) return false;
  }
  return true;
}

bool Leaving(const std::string& lifecycle) {
  return absl::StartsWith(lifecycle, "Detach") || absl::StartsWith(lifecycle, "Terminat");
}

// Maps a failed AWS call to an outcome: Unavailable (throttling after the
// retries, 5xx, transport) is worth another delivery; the rest is not.
ReplaceOutcome FromError(const absl::Status& s, absl::string_view doing) {
  ReplaceOutcome o;
  o.kind = absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s) ? ReplaceOutcome::kRetry
                                                                  : ReplaceOutcome::kFailed;
  o.message = absl::StrCat(doing, ": ", s.message());
  return o;
}

std::string Optional(std::optional<int> v) { return v ? absl::StrCat(*v) : "-"; }

}  // namespace

const char* ActionName(Action a) {
  switch (a) {
    case Action::kReplace:
      return "replace";
    case Action::kDetach:
      return "detach";
    case Action::kSwap:
      return "swap";
  }
  return "?";
}

absl::StatusOr<Action> ParseAction(absl::string_view text) {
  if (text == "replace") return Action::kReplace;
  if (text == "detach") return Action::kDetach;
  if (text == "swap") return Action::kSwap;
  return absl::InvalidArgumentError(
      absl::StrCat("action \"", text,
                   "\": want replace, detach, swap, lifecycle-heartbeat or complete-lifecycle"));
}

ReplaceOutcome InstanceReplacer::Run(const ReplaceRequest& request) {
  if (!LooksLikeInstanceId(request.instance_id)) {
    return {ReplaceOutcome::kFailed,
            absl::StrCat("instance_id \"", request.instance_id, "\" is not an EC2 instance id")};
  }
  {
    absl::MutexLock lock(&mu_);
    if (!busy_.insert(request.instance_id).second) {
      return {ReplaceOutcome::kRetry,
              absl::StrCat(request.instance_id, " is being handled by another call")};
    }
  }
  ReplaceOutcome out = RunLocked(request);
  {
    absl::MutexLock lock(&mu_);
    busy_.erase(request.instance_id);
  }
  return out;
}

ReplaceOutcome InstanceReplacer::NotInGroup(const ReplaceRequest& r, const std::string& group,
                                            const std::string& lifecycle) {
  const std::string& id = r.instance_id;
  auto ec2 = api_.DescribeInstance(id, r.deadline);
  if (!ec2.ok()) return FromError(ec2.status(), absl::StrCat("DescribeInstances ", id));
  if (!ec2->has_value()) {
    // Unknown to EC2: never existed here, or terminated long ago. Nothing to do.
    return {ReplaceOutcome::kDone,
            absl::StrCat("instance ", id, " does not exist (unknown, or terminated long ago): nothing to do")};
  }
  const aws::Ec2Instance& inst = **ec2;
  if (inst.state == "shutting-down" || inst.state == "terminated") {
    return {ReplaceOutcome::kDone, absl::StrCat("instance ", id, " is already ", inst.state,
                                                ": nothing to do")};
  }
  std::string former = group;
  auto tag = inst.tags.find("aws:autoscaling:groupName");
  if (former.empty() && tag != inst.tags.end()) former = tag->second;
  if (former.empty()) {
    return {ReplaceOutcome::kSkipped,
            absl::StrCat("instance ", id, " (", inst.state, ") is in no Auto Scaling Group")};
  }
  ReplaceOutcome done{ReplaceOutcome::kDone,
                      lifecycle.empty()
                          ? absl::StrCat("instance ", id, " was already detached from ", former)
                          : absl::StrCat("instance ", id, " is already leaving ", former, " (",
                                         lifecycle, ")")};
  done.group = former;
  if (r.action == Action::kSwap) return Terminate(r, std::move(done));
  return done;
}

ReplaceOutcome InstanceReplacer::Terminate(const ReplaceRequest& r, ReplaceOutcome done) {
  if (r.dry_run) {
    absl::StrAppend(&done.message, "; dry run: would TerminateInstances(", r.instance_id, ")");
    logger_.info("[{}] dry run: would call TerminateInstances(InstanceId.1={})", r.event_id,
                 r.instance_id);
    return done;
  }
  auto state = api_.Terminate(r.instance_id, r.deadline);
  if (!state.ok()) {
    if (aws::IsAwsError(state.status(), "InvalidInstanceID.NotFound")) {
      absl::StrAppend(&done.message, "; the instance is already gone");
      return done;
    }
    ReplaceOutcome o = FromError(state.status(), absl::StrCat("TerminateInstances ", r.instance_id));
    o.message = absl::StrCat(done.message, "; then ", o.message);
    o.group = done.group;
    o.reclaimed_pool = done.reclaimed_pool;
    return o;
  }
  absl::StrAppend(&done.message, "; terminated it (", *state, ")");
  return done;
}

ReplaceOutcome InstanceReplacer::RunLocked(const ReplaceRequest& r) {
  const std::string& id = r.instance_id;
  auto member = api_.FindInstance(id, r.deadline);
  if (!member.ok()) return FromError(member.status(), absl::StrCat("DescribeAutoScalingInstances ", id));
  if (!member->has_value()) return NotInGroup(r, "", "");
  const aws::AsgInstance inst = **member;
  if (Leaving(inst.lifecycle_state)) {
    return NotInGroup(r, inst.auto_scaling_group_name, inst.lifecycle_state);
  }
  const std::string& name = inst.auto_scaling_group_name;
  auto group_or = api_.GetGroup(name, r.deadline);
  if (!group_or.ok()) return FromError(group_or.status(), absl::StrCat("DescribeAutoScalingGroups ", name));
  if (!group_or->has_value()) {
    return {ReplaceOutcome::kRetry,
            absl::StrCat("group ", name, " of ", id, " is not described (deleted meanwhile?)")};
  }
  const aws::AutoScalingGroup g = **group_or;

  ReplaceOutcome done{ReplaceOutcome::kDone, "", name, ""};
  std::string pool_note;
  if (g.mixed_instances_policy) {
    done.reclaimed_pool = absl::StrCat(inst.instance_type, " in ", inst.availability_zone);
    pool_note = absl::StrCat("; reclaimed spot pool: ", done.reclaimed_pool,
                             " (mixed instances policy)");
  }
  const std::string where = absl::StrCat(id, " of ", name, " (min ", g.min_size, ", max ",
                                         g.max_size, ", desired ", g.desired_capacity, ")");

  // Plan the calls: bounds to change first, the detach, bounds to restore after.
  struct Update {
    std::optional<int> min, max, desired;
  };
  std::optional<Update> before, after, undo;
  bool decrement = false;
  std::string plan;
  if (r.action == Action::kDetach) {
    decrement = true;
    const bool counted = inst.lifecycle_state == "InService";
    if (counted && g.desired_capacity - 1 < g.min_size) {
      before = Update{g.desired_capacity - 1, std::nullopt, std::nullopt};
      undo = Update{g.min_size, std::nullopt, std::nullopt};
      plan = absl::StrCat("; min lowered from ", g.min_size, " to ", g.desired_capacity - 1);
    }
  } else if (r.surge) {
    decrement = true;
    const int desired = g.desired_capacity + 1;
    if (desired > g.max_size) {
      before = Update{std::nullopt, desired, desired};
      after = Update{std::nullopt, g.max_size, std::nullopt};
      undo = Update{std::nullopt, g.max_size, g.desired_capacity};
      plan = absl::StrCat("; max raised to ", desired, " for the surge and restored to ", g.max_size);
    } else {
      before = Update{std::nullopt, std::nullopt, desired};
      undo = Update{std::nullopt, std::nullopt, g.desired_capacity};
      plan = "; desired capacity raised by one first (surge)";
    }
  }

  if (r.dry_run) {
    std::string calls;
    auto add = [&](const std::string& c) {
      logger_.info("[{}] dry run: would call {}", r.event_id, c);
      absl::StrAppend(&calls, calls.empty() ? "" : ", ", c);
    };
    if (before) {
      add(absl::StrCat("UpdateAutoScalingGroup(", name, ", MinSize=", Optional(before->min),
                       ", MaxSize=", Optional(before->max), ", DesiredCapacity=",
                       Optional(before->desired), ")"));
    }
    add(absl::StrCat("DetachInstances(", name, ", ", id, ", ShouldDecrementDesiredCapacity=",
                     decrement ? "true" : "false", ")"));
    if (after) {
      add(absl::StrCat("UpdateAutoScalingGroup(", name, ", MaxSize=", Optional(after->max), ")"));
    }
    done.message = absl::StrCat("dry run (", ActionName(r.action), "): would call ", calls,
                                pool_note);
    if (r.action == Action::kSwap) return Terminate(r, std::move(done));
    return done;
  }

  auto update = [&](const Update& u) {
    return api_.UpdateGroup(name, u.min, u.max, u.desired, r.deadline);
  };
  // Puts the bounds back after a failed step; says what state the group is in.
  auto rollback = [&](ReplaceOutcome failed) {
    if (!undo) return failed;
    absl::Status s = update(*undo);
    if (!s.ok()) {
      // Still the deadline's budget? Try once more without it: a group must
      // not keep changed bounds.
      s = api_.UpdateGroup(name, undo->min, undo->max, undo->desired,
                           absl::Now() + absl::Seconds(10));
    }
    if (s.ok()) {
      absl::StrAppend(&failed.message, "; bounds of ", name, " restored");
    } else {
      logger_.error("[{}] group {} left with changed bounds: restoring min {} max {} desired {} "
                    "failed: {}",
                    r.event_id, name, Optional(undo->min), Optional(undo->max),
                    Optional(undo->desired), s);
      failed.kind = ReplaceOutcome::kFailed;
      absl::StrAppend(&failed.message, "; RESTORING THE BOUNDS OF ", name, " FAILED (",
                      s.message(), "): min ", Optional(undo->min), ", max ",
                      Optional(undo->max), ", desired ", Optional(undo->desired),
                      " must be set by hand");
    }
    failed.group = name;
    return failed;
  };

  if (before) {
    absl::Status s = update(*before);
    if (!s.ok()) return FromError(s, absl::StrCat("UpdateAutoScalingGroup ", name));
  }
  absl::Status s = api_.Detach(name, id, decrement, r.deadline);
  if (!s.ok()) {
    if (aws::IsAwsError(s, "ValidationError")) {
      // Maybe it left meanwhile (a second delivery racing a first, or AWS
      // took it): look again before calling this a failure.
      auto again = api_.FindInstance(id, r.deadline);
      if (again.ok() && (!again->has_value() || Leaving((*again)->lifecycle_state))) {
        ReplaceOutcome gone = NotInGroup(r, name, again->has_value() ? (*again)->lifecycle_state : "");
        if (gone.kind == ReplaceOutcome::kDone) return rollback(gone);
      }
    }
    return rollback(FromError(s, absl::StrCat("DetachInstances ", id, " from ", name)));
  }
  if (after) {
    absl::Status a = update(*after);
    if (!a.ok()) {
      ReplaceOutcome o = FromError(a, absl::StrCat("detached ", id, ", but restoring ", name));
      // The detach happened; only the maximum is off. Retrying repeats this step.
      o.kind = ReplaceOutcome::kFailed;
      logger_.error("[{}] {}", r.event_id, o.message);
      return o;
    }
  }
  switch (r.action) {
    case Action::kDetach:
      done.message = absl::StrCat("detached ", where, ", desired capacity decremented to ",
                                  g.desired_capacity - (inst.lifecycle_state == "InService" ? 1 : 0),
                                  plan, pool_note);
      break;
    case Action::kReplace:
    case Action::kSwap:
      done.message =
          r.surge ? absl::StrCat("replacement requested, then detached ", where, plan, pool_note)
                  : absl::StrCat("detached ", where,
                                 " keeping desired capacity: the group launches a replacement now",
                                 pool_note);
      break;
  }
  logger_.info("[{}] {}", r.event_id, done.message);
  if (r.action == Action::kSwap) return Terminate(r, std::move(done));
  return done;
}

}  // namespace hollowtrees::aws_asg
