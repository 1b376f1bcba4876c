#pragma once

// One replica of a highly available engine (docs/high-availability.md).
//
// Every replica accepts what it is sent and keeps it in its inbox
// (SharedState); the replica holding the Lease acts. A LeaderElector
// (lib/kube/leader_election.h) tells this replica when it gains or loses the
// Lease; a control thread of its own turns that into terms:
//
// - Gaining it: SharedState::BeginTerm fences the previous leader out and
//   returns the flows to resume and the inbox events to dispatch; a new
//   Dispatcher, with its own event loop and plugin client, resumes them;
//   an inbox poller hands it what the other replicas accept; `on_leading`
//   starts what only the leader runs (the SQS sources).
// - Losing it (the Lease not renewed within renew_deadline, another leader's
//   token found in the state, or shutdown): the state is no longer written,
//   so no further call is made; `on_following` stops the leader's sources;
//   the dispatcher and its loop are torn down. A call already in flight
//   ends on its own; the next leader calls that step again, with the same
//   event id and the next attempt number.
//
// Besides, the dispatcher asks before every plugin call whether the Lease
// is still held (now < LeaderElector::LeaderUntil()), so a replica that
// cannot renew stops calling before its Lease can expire for the others.
//
// As the intake's EventSink: events this replica accepted (already in its
// inbox) go to the dispatcher when it leads; otherwise they wait in the
// inbox for the leader.

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "engine/dispatch/dispatcher.h"
#include "engine/dispatch/event_loop.h"
#include "engine/dispatch/event_sink.h"
#include "engine/dispatch/plugin_client.h"
#include "engine/ha/shared_state.h"
#include "engine/metrics/engine_metrics.h"
#include "engine/rules/config.h"
#include "engine/rules/ruleset.h"
#include "lib/kube/lease.h"
#include "lib/kube/leader_election.h"

namespace spdlog {
class logger;
}

namespace hollowtrees::engine {

struct ReplicaDeps {
  SharedState& state;
  kube::LeaseApi& lease;
  EngineMetrics& metrics;
  spdlog::logger& logger;
  std::function<std::shared_ptr<const Ruleset>()> ruleset;
  DispatcherOptions dispatcher;
  // Makes each term's plugin client (tests pass fakes). Default: gRPC.
  std::function<std::unique_ptr<PluginClient>()> new_plugin_client;
  // This replica starts / stops acting: what only the leader runs. Called
  // on the control thread; may block briefly.
  std::function<void()> on_leading;
  std::function<void()> on_following;
  // How often the leader reads the other replicas' inboxes.
  absl::Duration poll_interval = absl::Milliseconds(250);
};

class Replica : public EventSink {
 public:
  // `config` gives the Lease's timings; `identity` is this replica's
  // (resolved). InvalidArgument for timings that break the election's
  // rules. Nothing runs before Run().
  static absl::StatusOr<std::unique_ptr<Replica>> Create(const HaConfig& config,
                                                         std::string identity, ReplicaDeps deps);
  // Starts the election and the control thread. Once.
  void Run();
  ~Replica() override;  // Shutdown(0) if not done

  // EventSink.
  void Submit(std::vector<EventPtr> events, std::vector<int64_t> journal_seqs = {}) override;
  size_t backlog() const override;

  // For the dispatcher of this and later terms.
  void SetRuleset(std::shared_ptr<const Ruleset> ruleset);
  // Runs a failed flow again; FailedPrecondition when this replica does not
  // lead (naming the leader). Blocks.
  absl::Status Replay(const std::string& flow_id);

  // True while this replica acts (a term is running).
  bool acting() const;
  const std::string& identity() const { return identity_; }
  // The holder of the Lease as last seen ("" when none).
  std::string leader_identity() const;
  // GET /api/v1/status: {"leader":..., "identity":..., "leader_identity":...}
  std::string StatusJson() const;

  // SIGTERM: no new plugin call; calls in flight get up to `grace` to end
  // and be recorded; the state is written; the Lease is released, so a
  // successor starts at once. Idempotent.
  void Shutdown(absl::Duration grace);

 private:
  // What one term owns, in teardown order (last member destroyed first).
  struct Term {
    EventLoop loop;
    std::unique_ptr<PluginClient> plugins;
    std::unique_ptr<Dispatcher> dispatcher;
    std::thread poller;
    absl::Mutex mu;
    bool stop ABSL_GUARDED_BY(mu) = false;
  };
  enum class Command { kLead, kFollow, kStop };

  Replica(const HaConfig& config, std::string identity, ReplicaDeps deps);

  void Post(Command command);
  void ControlLoop();
  void Lead();                           // on the control thread
  void Follow(const std::string& why);   // on the control thread
  void PollLoop(Term* term);
  bool MayCall() const;

  const std::string identity_;
  const absl::Duration retry_period_;
  ReplicaDeps deps_;
  std::unique_ptr<kube::LeaderElector> elector_;

  absl::Mutex control_mu_;
  std::deque<std::pair<Command, std::string>> commands_ ABSL_GUARDED_BY(control_mu_);
  std::thread control_;

  mutable absl::Mutex mu_;
  std::shared_ptr<Term> term_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const Ruleset> ruleset_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace hollowtrees::engine
