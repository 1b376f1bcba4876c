#pragma once

// The engine, assembled: configuration, HTTP intake, dispatcher, plugin
// client, flow store and metrics. main() makes one; component tests too.

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/rules/config.h"
#include "engine/dispatch/dispatcher.h"
#include "engine/metrics/engine_metrics.h"
#include "engine/dispatch/event_loop.h"
#include "engine/store/flow_store.h"
#include "engine/http/http_api.h"
#include "engine/http/http_security.h"
#include "engine/intake/intake.h"
#include "engine/store/data_dir_lock.h"
#include "engine/store/journal.h"
#include "engine/dispatch/plugin_client.h"
#include "engine/rules/ruleset.h"
#include "engine/ha/replica.h"
#include "engine/ha/shared_state.h"
#include "engine/sources/sqs_sources.h"
#include "lib/kube/kube_client.h"
#include "lib/kube/lease.h"
#include "lib/metrics/metrics.h"

namespace hollowtrees::engine {

struct EngineOptions {
  std::string config_path;
  // Override the configuration's listen and data_dir when not empty.
  std::string listen;
  std::string data_dir;
  DispatcherOptions dispatcher;
  // Health: every `health_interval` the event loop beats and the journal
  // writes a probe row; /readyz fails when the journal's last commit failed
  // or the loop has not beaten for `stall_after`. Defaults 5 s and 30 s.
  absl::Duration health_interval = absl::Seconds(5);
  absl::Duration stall_after = absl::Seconds(30);
};

class Engine {
 public:
  // Loads and validates the configuration (InvalidArgument listing every
  // problem), then starts serving. The logger must outlive the engine.
  static absl::StatusOr<std::unique_ptr<Engine>> Start(const EngineOptions& options,
                                                       spdlog::logger& logger);
  ~Engine();

  int port() const { return http_->port(); }
  const std::string& listen_host() const { return listen_host_; }

  // Re-reads the configuration file. A bad file keeps the old rules running;
  // the error (every problem) is returned, logged and shown in
  // hollowtrees_config_last_reload_successful. Thread-safe.
  absl::Status Reload();

  // Stops accepting, lets running flows finish for up to `grace`; their
  // state is in the journal either way.
  void Shutdown(absl::Duration grace);

  // Runs a failed flow again (Dispatcher::Replay). Thread-safe; blocks.
  absl::Status Replay(const std::string& flow_id);

  // OK when the engine can take and act on events: rules loaded, the
  // journal writable, the dispatcher's loop making progress; else
  // Unavailable saying which. Thread-safe; what /readyz answers.
  absl::Status Readiness() const;

 private:
  Engine(EngineOptions options, spdlog::logger& logger);
  std::shared_ptr<const Ruleset> ruleset() const;
  void ScheduleSweep();
  void ScheduleHealth();
  // Logs and counts keys the new file changes that only a restart applies.
  // (against what the engine started with).
  void NoteRestartOnlyChanges(const Config& next);
  // The steps of Start(), in order.
  absl::Status OpenJournal(const Config& config);
  // With `ha:`: the Kubernetes client, the shared state and the replica
  // (its election runs from RunReplica(), once everything is assembled).
  absl::Status OpenSharedState(const Config& config);
  void StartDispatcher(std::shared_ptr<const Ruleset> ruleset);
  // The SQS sources: at start without `ha:`; on the leader only with it.
  absl::Status StartSqs();
  void StopSqs();
  // GET /api/v1/status.
  std::string StatusJson() const;
  absl::Status RecoverJournal();  // with a journal: before serving
  void AddGauges();
  absl::Status ServeHttp(const http::HostPort& listen, const IntakeConfig& intake);
  void LogStarted(const Ruleset& ruleset);
  // Hands a ruleset to the dispatcher and the API; counts a successful load.
  void InstallRuleset(std::shared_ptr<const Ruleset> ruleset);

  const EngineOptions options_;
  spdlog::logger& logger_;
  std::string listen_host_;
  std::string journal_path_;
  int sweeps_ = 0;  // on the loop thread
  std::atomic<int64_t> heartbeat_ns_{0};  // the loop's last beat (Unix ns)
  // The keys only a restart applies, as this process started with them.
  struct RestartOnly {
    std::string listen;
    std::string data_dir;
    IntakeConfig intake;
    bool tls = false;
    SourcesConfig sources;
    std::optional<HaConfig> ha;
  };
  RestartOnly started_with_;
  metrics::Registry registry_;
  EngineMetrics metrics_;
  // Order matters for teardown (see ~Engine).
  EventLoop loop_;
  std::unique_ptr<DataDirLock> data_dir_lock_;  // with a data_dir; released last
  std::unique_ptr<Journal> journal_;     // with a data_dir
  std::unique_ptr<FlowStore> memory_;    // without one
  // With `ha:` (instead of the journal, the plugin client and the
  // dispatcher, which each term of the replica makes for itself).
  std::unique_ptr<kube::KubeClient> kube_;
  std::unique_ptr<kube::LeaseApi> lease_;
  std::unique_ptr<SharedState> shared_;
  std::unique_ptr<Replica> replica_;
  std::string identity_;  // this replica's (the host name without `ha:`)
  FlowStore* store_ = nullptr;
  std::unique_ptr<PluginClient> plugins_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<DedupTable> dedup_;
  std::unique_ptr<Intake> intake_;
  std::unique_ptr<HttpSecurity> security_;  // TLS and auth; used by http_
  std::unique_ptr<HttpApi> http_;
  std::unique_ptr<SqsSourceMetrics> sqs_metrics_;
  absl::Mutex sqs_mu_;  // start and stop come from the replica's thread too
  std::unique_ptr<SqsSources> sqs_ ABSL_GUARDED_BY(sqs_mu_);  // the SQS sources, if running

  mutable absl::Mutex mu_;
  std::shared_ptr<const Ruleset> ruleset_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hollowtrees::engine
