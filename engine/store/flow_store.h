#pragma once

// Every change of a flow's state goes through a FlowStore. The in-memory
// store keeps running flows and the most recent finished ones for
// /api/v1/flows; a durable store (journal) implements the same interface.

#include <deque>
#include <functional>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/event/event.h"

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
  // Records the flow's new state. `on_durable` (may be empty) runs exactly
  // once when the state is safely stored: at once for memory, after the
  // commit for a journal; on any thread. Called on the dispatcher's thread.
  virtual void Put(const FlowRecord& record, std::function<void()> on_durable) = 0;
  void Put(const FlowRecord& record) { Put(record, nullptr); }
  // The journal entries `seqs` (from Journal::AppendEvents) were matched and
  // their flows recorded: they need no replay.
  virtual void EventsDispatched(const std::vector<int64_t>& seqs) {}
  // A group cools down until `until`; a durable store keeps it across
  // restarts.
  virtual void GroupCooldown(const std::string& group, absl::Time until) {}
  // Newest first. Thread-safe.
  virtual std::vector<FlowRecord> List(const FlowFilter& filter) = 0;
  // One flow by id. Thread-safe.
  virtual std::optional<FlowRecord> Get(const std::string& id) = 0;
};

// Keeps every unfinished flow and the last `keep_finished` finished ones.
class MemoryFlowStore : public FlowStore {
 public:
  explicit MemoryFlowStore(size_t keep_finished = 1000) : keep_finished_(keep_finished) {}
  using FlowStore::Put;
  void Put(const FlowRecord& record, std::function<void()> on_durable) override;
  std::vector<FlowRecord> List(const FlowFilter& filter) override;
  std::optional<FlowRecord> Get(const std::string& id) override;
  // Forgets the unfinished flows (a replica that stopped leading no longer
  // runs them; the finished ones stay listed).
  void ForgetUnfinished();

 private:
  const size_t keep_finished_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, FlowRecord> active_ ABSL_GUARDED_BY(mu_);
  std::deque<FlowRecord> finished_ ABSL_GUARDED_BY(mu_);
};

// The JSON form of flows for the HTTP API.
std::string FlowsToJson(const std::vector<FlowRecord>& flows);

// The journal's form of one flow's state (without its event, which is
// stored beside it) and back. InvalidArgument for text it did not write.
std::string FlowStateToJson(const FlowRecord& record);
absl::Status FlowStateFromJson(absl::string_view json, FlowRecord* record);

}  // namespace hollowtrees::engine
