#pragma once

// Every change of a flow's state goes through a FlowStore. The in-memory
// store keeps running flows and the most recent finished ones for
// /api/v1/flows; a durable store (journal) implements the same interface.

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/event.h"

namespace hollowtrees::engine {

enum class FlowState { kQueued, kRunning, kRetrying, kSucceeded, kFailed };
absl::string_view FlowStateName(FlowState state);
bool IsFinal(FlowState state);

enum class StepState { kPending, kRunning, kRetrying, kDone, kSkipped, kFailed };
absl::string_view StepStateName(StepState state);

struct StepRecord {
  std::string plugin;
  StepState state = StepState::kPending;
  int attempts = 0;
  std::string message;
};

struct FlowRecord {
  std::string id;
  std::string rule;
  std::string group_key;
  EventPtr event;
  FlowState state = FlowState::kQueued;
  size_t step = 0;  // index of the current (or last) step
  std::vector<StepRecord> steps;
  std::string error;  // the last failure, if any
  absl::Time created = absl::InfinitePast();
  absl::Time updated = absl::InfinitePast();
};

struct FlowFilter {
  std::string state;  // a FlowStateName, or "" for all
  std::string rule;   // "" for all
  size_t limit = 100;
};

class FlowStore {
 public:
  virtual ~FlowStore() = default;
  // Records the flow's new state. Called on the dispatcher's thread.
  virtual void Put(const FlowRecord& record) = 0;
  // Newest first. Thread-safe.
  virtual std::vector<FlowRecord> List(const FlowFilter& filter) = 0;
};

// Keeps every unfinished flow and the last `keep_finished` finished ones.
class MemoryFlowStore : public FlowStore {
 public:
  explicit MemoryFlowStore(size_t keep_finished = 1000) : keep_finished_(keep_finished) {}
  void Put(const FlowRecord& record) override;
  std::vector<FlowRecord> List(const FlowFilter& filter) override;

 private:
  const size_t keep_finished_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, FlowRecord> active_ ABSL_GUARDED_BY(mu_);
  std::deque<FlowRecord> finished_ ABSL_GUARDED_BY(mu_);
};

// The JSON form of a flow for the HTTP API.
std::string FlowsToJson(const std::vector<FlowRecord>& flows);

}  // namespace hollowtrees::engine
