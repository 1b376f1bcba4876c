#include "engine/flow_store.h"

#include <algorithm>

#include "engine/rfc3339.h"
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

void MemoryFlowStore::Put(const FlowRecord& record) {
  absl::MutexLock lock(&mu_);
  if (!IsFinal(record.state)) {
    active_[record.id] = record;
    return;
  }
  active_.erase(record.id);
  finished_.push_back(record);
  while (finished_.size() > keep_finished_) finished_.pop_front();
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

}  // namespace hollowtrees::engine
