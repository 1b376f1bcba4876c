#pragma once

// Turns accepted events into flows and runs each flow's plugin chain.
//
// For each event, every matching rule (Ruleset::Match) starts a flow unless
// the rule's group for the event (group_by labels, or the whole label set)
// already has a flow running or cooling down: then the event is absorbed.
// A flow calls its rule's plugins in order, the next only after the previous
// answered; a call that answers RETRY or fails in transport (unreachable,
// deadline exceeded) is retried up to the rule's `retries` with exponential
// backoff and jitter; a FAILED step stops the chain or is passed over, per
// `on_failure`. Flows of different groups and rules run concurrently (calls
// are asynchronous); a rule's `concurrency` bounds its running flows and
// queues the rest.
//
// Threading: all state lives on the Scheduler's thread. The public methods
// are thread-safe (they post there). Every flow state change is recorded in
// the FlowStore.

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "engine/metrics/engine_metrics.h"
#include "engine/event/event.h"
#include "engine/store/flow_store.h"
#include "engine/dispatch/event_sink.h"
#include "engine/store/recovery.h"
#include "engine/dispatch/plugin_client.h"
#include "engine/rules/ruleset.h"
#include "engine/dispatch/scheduler.h"
#include "lib/common/backoff.h"

namespace spdlog {
class logger;
}

namespace hollowtrees::engine {

struct DispatcherOptions {
  // Backoff before retry n (1-based) is uniform in [b/2, b] with
  // b = min(max_backoff, initial_backoff * 2^(n-1)). Defaults 1s and 30s.
  absl::Duration initial_backoff = absl::Seconds(1);
  absl::Duration max_backoff = absl::Seconds(30);
  // Seed for the jitter (tests fix it). Default: random.
  uint64_t seed = std::random_device{}();
  // Asked right before every plugin call; false: the call is not made (a
  // highly available replica whose Lease may be gone). Empty: always call.
  std::function<bool()> may_call;
};

class Dispatcher : public EventSink {
 public:
  // All references must outlive the dispatcher.
  Dispatcher(Scheduler& scheduler, PluginClient& plugins, FlowStore& store, EngineMetrics& metrics,
             spdlog::logger& logger, DispatcherOptions options = {});

  // Installs a ruleset for events dispatched from now on. Thread-safe.
  void SetRuleset(std::shared_ptr<const Ruleset> ruleset);
  // Dispatches accepted events, in order; then tells the store their journal
  // sequence numbers (may be empty) are dispatched. Thread-safe.
  void Submit(std::vector<EventPtr> events, std::vector<int64_t> journal_seqs = {}) override;
  // Events submitted and not yet dispatched (for backpressure). Thread-safe.
  size_t backlog() const override { return backlog_.load(std::memory_order_relaxed); }

  // After a restart: restores cooldowns, resumes unfinished flows at the
  // step they were on (the attempt count goes on, so the plugin sees a
  // redelivery), then dispatches the events that never were. A flow whose
  // rule is gone or whose chain changed fails with a message saying so.
  // Call after SetRuleset. Thread-safe; `done` runs on the dispatcher thread.
  void Resume(Recovery recovery, std::function<void()> done = nullptr);

  // Runs a failed flow (a dead letter) again, from its first step that did
  // not succeed, with the rule's current chain. NotFound (no such flow or
  // rule), FailedPrecondition (not failed, or still running). Thread-safe;
  // `done` runs on the dispatcher thread.
  void Replay(const std::string& flow_id, std::function<void(absl::Status)> done);

  // For shutdown with a journal: from now on no new plugin call is made
  // (retries and next steps stay recorded and resume after a restart);
  // calls in flight still finish and are recorded. Thread-safe.
  void StopCalling();
  // Plugin calls made and not yet answered. Call on the scheduler thread.
  size_t calls_in_flight() const { return in_flight_; }

  // Counts of flows, for shutdown and tests. Call on the scheduler thread
  // (or after the scheduler is idle).
  size_t running_flows() const { return flows_.size() - queued_; }
  size_t queued_flows() const { return queued_; }
  size_t groups() const { return groups_.size(); }

 private:
  struct Flow {
    std::shared_ptr<const Ruleset> ruleset;  // the snapshot it started with
    const Rule* rule = nullptr;
    std::string group;  // rule name + '\0' + group key
    io::cloudevents::v1::CloudEvent event_proto;
    FlowRecord record;
    bool any_step_failed = false;
    absl::Time call_started = absl::InfinitePast();
  };
  struct Group {
    bool running = false;
    absl::Time cooldown_until = absl::InfinitePast();
  };

  // `recovered`: the event may already have flows (it was dispatched just
  // before a crash, beyond the journal's watermark): start none twice.
  void Dispatch(const EventPtr& event, bool recovered = false);
  // Builds the flow of `rule` for `record` and marks its group running.
  Flow& AddFlow(const Rule& rule, FlowRecord record);
  bool AtConcurrencyLimit(const Rule& rule);  // further flows of it queue
  void Enqueue(Flow& flow);
  void Start(Flow& flow);
  void CallStep(const std::string& flow_id);
  void SendCall(const std::string& flow_id, int attempt);
  const Rule* FindRule(const std::string& name) const;
  static bool SameChain(const Rule& rule, const FlowRecord& record);
  // A plugin answered (or did not): read the verdict, then go on, retry or
  // fail the step.
  struct StepVerdict;
  void OnReply(const std::string& flow_id, PluginReply reply);
  static StepVerdict ReadReply(const PluginReply& reply, StepRecord& step);
  void StepSucceeded(Flow& flow, const StepVerdict& verdict, absl::Duration took);
  void RetryStep(Flow& flow, const StepVerdict& verdict);
  void StepFailed(Flow& flow, const StepVerdict& verdict);
  void Advance(Flow& flow);
  void Finish(Flow& flow, FlowState state);
  void Record(Flow& flow);
  void ExpireGroup(const std::string& group);

  Scheduler& scheduler_;
  PluginClient& plugins_;
  FlowStore& store_;
  EngineMetrics& metrics_;
  spdlog::logger& logger_;
  const DispatcherOptions options_;
  hollowtrees::Backoff backoff_;  // equal jitter, seeded with options_.seed

  std::shared_ptr<const Ruleset> ruleset_;
  absl::flat_hash_map<std::string, std::unique_ptr<Flow>> flows_;
  absl::flat_hash_map<std::string, Group> groups_;
  absl::flat_hash_map<std::string, int> running_by_rule_;
  absl::flat_hash_map<std::string, std::deque<std::string>> queued_by_rule_;
  size_t queued_ = 0;
  size_t in_flight_ = 0;
  bool stop_calling_ = false;
  std::atomic<size_t> backlog_{0};
  std::vector<const Rule*> matched_;  // reused scratch
};

}  // namespace hollowtrees::engine
