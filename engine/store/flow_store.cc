#include "engine/store/flow_store.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "lib/common/json_int.h"
#include "lib/common/rfc3339.h"
#include "nlohmann/json.hpp"

namespace hollowtrees::engine {

absl::string_view FlowStateName(FlowState state) {
  switch (state) {
    case FlowState::kQueued: return "queued";
    case FlowState::kRunning: return "running";
    case FlowState::kRetrying: return "retrying";
    case FlowState::kSucceeded: return "succeeded";
    case FlowState::kFailed: return "failed";
  }
  return "unknown";
}

bool IsFinal(FlowState state) { return state == FlowState::kSucceeded || state == FlowState::kFailed; }

absl::string_view StepStateName(StepState state) {
  switch (state) {
    case StepState::kPending: return "pending";
    case StepState::kRunning: return "running";
    case StepState::kRetrying: return "retrying";
    case StepState::kDone: return "done";
    case StepState::kSkipped: return "skipped";
    case StepState::kFailed: return "failed";
  }
  return "unknown";
}

void MemoryFlowStore::Put(const FlowRecord& record, std::function<void()> on_durable) {
  {
    absl::MutexLock lock(&mu_);
    if (!IsFinal(record.state)) {
      active_[record.id] = record;
    } else {
      active_.erase(record.id);
      for (auto it = finished_.begin(); it != finished_.end(); ++it) {
        if (it->id == record.id) {  // a replayed flow finishing again
          finished_.erase(it);
          break;
        }
      }
      finished_.push_back(record);
      while (finished_.size() > keep_finished_) finished_.pop_front();
    }
  }
  if (on_durable) on_durable();
}

void MemoryFlowStore::ForgetUnfinished() {
  absl::MutexLock lock(&mu_);
  active_.clear();
}

std::optional<FlowRecord> MemoryFlowStore::Get(const std::string& id) {
  absl::MutexLock lock(&mu_);
  if (auto it = active_.find(id); it != active_.end()) return it->second;
  for (const auto& r : finished_) {
    if (r.id == id) return r;
  }
  return std::nullopt;
}

std::vector<FlowRecord> MemoryFlowStore::List(const FlowFilter& filter) {
  std::vector<FlowRecord> out;
  auto keep = [&filter](const FlowRecord& r) {
    return (filter.state.empty() || FlowStateName(r.state) == filter.state) &&
           (filter.rule.empty() || r.rule == filter.rule);
  };
  absl::MutexLock lock(&mu_);
  for (const auto& [id, r] : active_) {
    if (keep(r)) out.push_back(r);
  }
  for (auto it = finished_.rbegin(); it != finished_.rend(); ++it) {
    if (keep(*it)) out.push_back(*it);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const FlowRecord& a, const FlowRecord& b) { return a.updated > b.updated; });
  if (out.size() > filter.limit) out.resize(filter.limit);
  return out;
}

std::string FlowsToJson(const std::vector<FlowRecord>& flows) {
  nlohmann::json arr = nlohmann::json::array();
  for (const FlowRecord& r : flows) {
    nlohmann::json steps = nlohmann::json::array();
    for (const StepRecord& s : r.steps) {
      steps.push_back({{"plugin", s.plugin},
                       {"state", std::string(StepStateName(s.state))},
                       {"attempts", s.attempts},
                       {"message", s.message}});
    }
    nlohmann::json f = {
        {"id", r.id},
        {"rule", r.rule},
        {"group_key", r.group_key},
        {"state", std::string(FlowStateName(r.state))},
        {"plugin", r.step < r.steps.size() ? r.steps[r.step].plugin : ""},
        {"attempts", r.step < r.steps.size() ? r.steps[r.step].attempts : 0},
        {"error", r.error},
        {"created_at", FormatRfc3339(r.created)},
        {"updated_at", FormatRfc3339(r.updated)},
        {"steps", steps},
    };
    if (r.event) {
      f["event"] = {{"id", r.event->id},
                    {"source", r.event->source},
                    {"type", r.event->type},
                    {"status", r.event->status == AlertStatus::kResolved ? "resolved" : "firing"}};
    }
    arr.push_back(std::move(f));
  }
  return nlohmann::json{{"flows", arr}}.dump();
}

std::string FlowStateToJson(const FlowRecord& r) {
  nlohmann::json steps = nlohmann::json::array();
  for (const StepRecord& s : r.steps) {
    steps.push_back({s.plugin, static_cast<int>(s.state), s.attempts, s.message});
  }
  return nlohmann::json{{"id", r.id},
                        {"rule", r.rule},
                        {"group_key", r.group_key},
                        {"state", static_cast<int>(r.state)},
                        {"step", r.step},
                        {"steps", steps},
                        {"error", r.error},
                        {"created_ns", absl::ToUnixNanos(r.created)},
                        {"updated_ns", absl::ToUnixNanos(r.updated)}}
      .dump();
}

absl::Status FlowStateFromJson(absl::string_view text, FlowRecord* r) {
  nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (!j.is_object()) return absl::InvalidArgumentError("journal flow is not a JSON object");
  try {
    r->id = j.at("id").get<std::string>();
    r->rule = j.at("rule").get<std::string>();
    r->group_key = j.at("group_key").get<std::string>();
    const int state = JsonInteger<int>(j.at("state"));
    if (state < 0 || state > static_cast<int>(FlowState::kFailed)) {
      return absl::InvalidArgumentError("journal flow has an unknown state");
    }
    r->state = static_cast<FlowState>(state);
    r->step = JsonInteger<size_t>(j.at("step"));
    r->steps.clear();
    for (const auto& s : j.at("steps")) {
      const int st = JsonInteger<int>(s.at(1));
      if (st < 0 || st > static_cast<int>(StepState::kFailed)) {
        return absl::InvalidArgumentError("journal flow has an unknown step state");
      }
      r->steps.push_back({s.at(0).get<std::string>(), static_cast<StepState>(st), JsonInteger<int>(s.at(2)),
                          s.at(3).get<std::string>()});
    }
    if (r->steps.empty() || r->step >= r->steps.size()) {
      return absl::InvalidArgumentError("journal flow has no such step");
    }
    r->error = j.at("error").get<std::string>();
    r->created = absl::FromUnixNanos(JsonInteger<int64_t>(j.at("created_ns")));
    r->updated = absl::FromUnixNanos(JsonInteger<int64_t>(j.at("updated_ns")));
    return absl::OkStatus();
  } catch (const std::exception& ex) {  // nlohmann and std::stoull
    return absl::InvalidArgumentError(absl::StrCat("journal flow: ", ex.what()));
  }
}

}  // namespace hollowtrees::engine
