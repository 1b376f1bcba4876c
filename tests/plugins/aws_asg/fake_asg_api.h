#pragma once

// A stateful in-memory AsgApi for unit tests of the plugin's logic: groups
// with bounds and desired capacity, instances with lifecycle and EC2 states,
// the effects of detach/update/terminate as Auto Scaling applies them, a
// call log, and faults per method. Not thread-safe beyond one caller at a
// time (a mutex keeps the state consistent; hooks run unlocked).

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "lib/aws/query_client.h"
#include "plugins/aws_asg/asg_api.h"

// Logs the call, runs the hook unlocked, then applies a pending fault.
#define HT_FAKE_ENTER(method, detail)                                  \
  do {                                                                 \
    calls_.push_back(absl::StrCat(method, " ", detail));               \
    deadlines_.push_back(deadline);                                    \
    auto hook = hooks_.find(method);                                   \
    if (hook != hooks_.end()) {                                        \
      auto fn = hook->second;                                          \
      hooks_.erase(hook);                                              \
      mu_.Unlock();                                                    \
      fn();                                                            \
      mu_.Lock();                                                      \
    }                                                                  \
    auto fault = faults_.find(method);                                 \
    if (fault != faults_.end() && fault->second.second > 0) {          \
      absl::Status s = fault->second.first;                            \
      if (--fault->second.second == 0) faults_.erase(fault);           \
      return s;                                                        \
    }                                                                  \
  } while (0)

namespace hollowtrees::aws_asg {

class FakeAsgApi : public AsgApi {
 public:
  struct Instance {
    std::string id;
    std::string type = "m5.large";
    std::string az = "us-east-1a";
    std::string group;
    std::string lifecycle = "InService";
    std::string state = "running";
    std::map<std::string, std::string> tags;
  };

  void AddGroup(const aws::AutoScalingGroup& g) {
    absl::MutexLock lock(&mu_);
    groups_[g.name] = g;
  }
  void AddInstance(Instance i) {
    absl::MutexLock lock(&mu_);
    if (!i.group.empty()) i.tags.emplace("aws:autoscaling:groupName", i.group);
    instances_[i.id] = i;
  }
  aws::AutoScalingGroup Group(const std::string& name) {
    absl::MutexLock lock(&mu_);
    return groups_[name];
  }
  Instance Get(const std::string& id) {
    absl::MutexLock lock(&mu_);
    return instances_[id];
  }
  // The next `count` calls of `method` ("FindInstance", "GetGroup", "Detach",
  // "UpdateGroup", "DescribeInstance", "Terminate") fail with `status`.
  void Fail(const std::string& method, absl::Status status, int count = 1) {
    absl::MutexLock lock(&mu_);
    faults_[method] = {std::move(status), count};
  }
  // Runs (unlocked) at the start of the named method.
  void OnCall(const std::string& method, std::function<void()> hook) {
    absl::MutexLock lock(&mu_);
    hooks_[method] = std::move(hook);
  }
  std::vector<std::string> calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  std::vector<absl::Time> deadlines() {
    absl::MutexLock lock(&mu_);
    return deadlines_;
  }

  absl::StatusOr<std::optional<aws::AsgInstance>> FindInstance(const std::string& id,
                                                               absl::Time deadline) override {
    absl::MutexLock lock(&mu_);
    HT_FAKE_ENTER("FindInstance", id);
    auto it = instances_.find(id);
    if (it == instances_.end() || it->second.group.empty()) return std::optional<aws::AsgInstance>();
    const Instance& i = it->second;
    return std::optional<aws::AsgInstance>(aws::AsgInstance{
        .instance_id = i.id, .instance_type = i.type, .auto_scaling_group_name = i.group,
        .availability_zone = i.az, .lifecycle_state = i.lifecycle, .health_status = "Healthy"});
  }
  absl::StatusOr<std::optional<aws::AutoScalingGroup>> GetGroup(const std::string& name,
                                                                absl::Time deadline) override {
    absl::MutexLock lock(&mu_);
    HT_FAKE_ENTER("GetGroup", name);
    auto it = groups_.find(name);
    if (it == groups_.end()) return std::optional<aws::AutoScalingGroup>();
    return std::optional<aws::AutoScalingGroup>(it->second);
  }
  absl::Status Detach(const std::string& group, const std::string& id, bool decrement,
                      absl::Time deadline) override {
    absl::MutexLock lock(&mu_);
    HT_FAKE_ENTER("Detach", absl::StrCat(group, " ", id, decrement ? " decrement" : " keep"));
    auto& g = groups_[group];
    auto it = instances_.find(id);
    if (it == instances_.end() || it->second.group != group) {
      return Validation(absl::StrCat("The instance ", id, " is not part of Auto Scaling group ", group, "."));
    }
    if (decrement && g.desired_capacity - 1 < g.min_size) {
      return Validation("Desired capacity below min size");
    }
    it->second.group.clear();
    it->second.lifecycle = "Detached";
    if (decrement) --g.desired_capacity;
    else ++launched_;
    return absl::OkStatus();
  }
  absl::Status UpdateGroup(const std::string& group, std::optional<int> min_size,
                           std::optional<int> max_size, std::optional<int> desired,
                           absl::Time deadline) override {
    absl::MutexLock lock(&mu_);
    HT_FAKE_ENTER("UpdateGroup", absl::StrCat(group, " min=", min_size ? absl::StrCat(*min_size) : "-",
                                              " max=", max_size ? absl::StrCat(*max_size) : "-",
                                              " desired=", desired ? absl::StrCat(*desired) : "-"));
    auto& g = groups_[group];
    const int mn = min_size.value_or(g.min_size), mx = max_size.value_or(g.max_size);
    if (mn > mx) return Validation("Max bound must be greater than or equal to min bound");
    int d = desired.value_or(std::clamp(g.desired_capacity, mn, mx));
    if (d < mn || d > mx) return Validation("Desired capacity out of bounds");
    g.min_size = mn;
    g.max_size = mx;
    g.desired_capacity = d;
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<aws::Ec2Instance>> DescribeInstance(const std::string& id,
                                                                   absl::Time deadline) override {
    absl::MutexLock lock(&mu_);
    HT_FAKE_ENTER("DescribeInstance", id);
    auto it = instances_.find(id);
    if (it == instances_.end()) return std::optional<aws::Ec2Instance>();
    const Instance& i = it->second;
    return std::optional<aws::Ec2Instance>(aws::Ec2Instance{
        .instance_id = i.id, .instance_type = i.type, .availability_zone = i.az, .state = i.state,
        .lifecycle = "spot", .tags = i.tags});
  }
  absl::StatusOr<std::string> Terminate(const std::string& id, absl::Time deadline) override {
    absl::MutexLock lock(&mu_);
    HT_FAKE_ENTER("Terminate", id);
    auto it = instances_.find(id);
    if (it == instances_.end()) {
      return aws::MakeAwsStatus({.http_status = 400, .code = "InvalidInstanceID.NotFound",
                                 .message = "no such instance"});
    }
    if (it->second.state != "terminated") it->second.state = "shutting-down";
    return it->second.state;
  }

  int launched() {
    absl::MutexLock lock(&mu_);
    return launched_;
  }

 private:
  static absl::Status Validation(const std::string& msg) {
    return aws::MakeAwsStatus({.http_status = 400, .code = "ValidationError", .message = msg,
                               .request_id = "fake"});
  }

  absl::Mutex mu_;
  std::map<std::string, aws::AutoScalingGroup> groups_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Instance> instances_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::pair<absl::Status, int>> faults_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::function<void()>> hooks_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Time> deadlines_ ABSL_GUARDED_BY(mu_);
  int launched_ ABSL_GUARDED_BY(mu_) = 0;
};

#undef HT_FAKE_ENTER

}  // namespace hollowtrees::aws_asg
