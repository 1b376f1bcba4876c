#include "engine/engine.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "lib/common/json_escape.h"
#include "lib/common/logging.h"
#include "lib/common/status_macros.h"
#include "lib/common/version.h"
#include "spdlog/spdlog.h"

namespace hollowtrees::engine {

Engine::Engine(EngineOptions options, spdlog::logger& logger)
    : options_(std::move(options)), logger_(logger), metrics_(registry_) {}

namespace {

// The configuration file with the command line's overrides.
absl::StatusOr<Config> LoadStartupConfig(const EngineOptions& options) {
  HT_ASSIGN_OR_RETURN(Config config, LoadConfigFile(options.config_path));
  if (!options.listen.empty()) config.listen = options.listen;
  if (!options.data_dir.empty()) config.data_dir = options.data_dir;
  return config;
}

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "hollowtrees";
  return name;
}

absl::Status CreateDataDir(const std::string& data_dir) {
  if (data_dir.empty()) return absl::OkStatus();
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(absl::StrCat("data_dir ", data_dir, ": ", ec.message()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Engine>> Engine::Start(const EngineOptions& options,
                                                      spdlog::logger& logger) {
  HT_ASSIGN_OR_RETURN(Config config, LoadStartupConfig(options));
  HT_ASSIGN_OR_RETURN(const http::HostPort listen, http::ParseHostPort(config.listen));
  HT_RETURN_IF_ERROR(CreateDataDir(config.data_dir));
  std::unique_ptr<Engine> e(new Engine(options, logger));
  e->listen_host_ = listen.host;
  e->started_with_ = {config.listen, config.data_dir, config.intake, config.tls.has_value(),
                      config.sources, config.ha};
  const IntakeConfig intake = config.intake;
  // TLS pair and auth files (docs/security.md): read before serving.
  HT_ASSIGN_OR_RETURN(e->security_, HttpSecurity::Create(config, e->registry_, logger));
  e->sqs_metrics_ = std::make_unique<SqsSourceMetrics>(e->registry_);
  e->dedup_ = std::make_unique<DedupTable>(intake.max_dedup_entries, intake.dedup_window);
  if (config.ha.has_value()) {
    HT_RETURN_IF_ERROR(e->OpenSharedState(config));
    auto ruleset = Ruleset::Build(std::move(config));
    e->InstallRuleset(ruleset);
    e->intake_ = std::make_unique<Intake>(*e->dedup_, *e->replica_, e->shared_.get(), e->metrics_,
                                          intake);
    e->AddGauges();
    HT_RETURN_IF_ERROR(e->ServeHttp(listen, intake));
    e->replica_->Run();  // the leader starts the SQS sources
    e->ScheduleSweep();
    e->heartbeat_ns_ = absl::ToUnixNanos(absl::Now());
    e->ScheduleHealth();
    e->LogStarted(*ruleset);
    return e;
  }
  e->metrics_.leader.Set(1);  // the only replica acts
  e->identity_ = HostName();
  HT_RETURN_IF_ERROR(e->OpenJournal(config));
  auto ruleset = Ruleset::Build(std::move(config));
  e->StartDispatcher(ruleset);
  // Replay before the listener opens: nothing new arrives meanwhile.
  if (e->journal_ != nullptr) HT_RETURN_IF_ERROR(e->RecoverJournal());
  e->intake_ = std::make_unique<Intake>(*e->dedup_, *e->dispatcher_, e->journal_.get(),
                                        e->metrics_, intake);
  e->AddGauges();
  HT_RETURN_IF_ERROR(e->ServeHttp(listen, intake));
  HT_RETURN_IF_ERROR(e->StartSqs());
  e->ScheduleSweep();
  e->heartbeat_ns_ = absl::ToUnixNanos(absl::Now());
  e->ScheduleHealth();
  e->LogStarted(*ruleset);
  return e;
}

absl::Status Engine::StartSqs() {
  HT_ASSIGN_OR_RETURN(std::unique_ptr<SqsSources> sources,
                      SqsSources::Start(started_with_.sources, aws::ProcessEnv(), *intake_,
                                        *sqs_metrics_, logger_, RealClock()));
  absl::MutexLock lock(&sqs_mu_);
  sqs_ = std::move(sources);
  return absl::OkStatus();
}

void Engine::StopSqs() {
  std::unique_ptr<SqsSources> sources;
  {
    absl::MutexLock lock(&sqs_mu_);
    sources.swap(sqs_);
  }
  if (sources) sources->Stop();
}

absl::Status Engine::OpenSharedState(const Config& config) {
  const HaConfig& ha = *config.ha;
  // The data directory, if any, holds only its lock: the state is in the
  // Kubernetes API.
  if (!config.data_dir.empty()) {
    HT_ASSIGN_OR_RETURN(data_dir_lock_, DataDirLock::Acquire(config.data_dir));
  }
  absl::StatusOr<kube::KubeConfig> kc =
      ha.kubeconfig.empty()
          ? kube::LoadInClusterConfig(kube::InClusterOptions::FromEnvironment())
          : kube::LoadKubeconfig(ha.kubeconfig, "");
  if (!kc.ok()) {
    return absl::Status(kc.status().code(),
                        absl::StrCat("ha: the Kubernetes API ",
                                     ha.kubeconfig.empty() ? "(in-cluster)"
                                                           : absl::StrCat("(", ha.kubeconfig, ")"),
                                     ": ", kc.status().message()));
  }
  // Requests end well within a term: a hung API server must not hold the
  // writer (the election bounds its own rounds by renew_deadline).
  HT_ASSIGN_OR_RETURN(kube_, kube::KubeClient::Create(
                                 *kc, {.timeout = std::max(ha.renew_deadline, absl::Seconds(5)),
                                       .connect_timeout = ha.renew_deadline,
                                       .user_agent = absl::StrCat("hollowtrees/", kVersion)}));
  identity_ = ha.identity;
  if (identity_.empty() && std::getenv("POD_NAME") != nullptr) identity_ = std::getenv("POD_NAME");
  if (identity_.empty()) identity_ = HostName();
  lease_ = kube::NewKubeLeaseApi(*kube_, ha.ns, ha.lease_name);
  shared_ = std::make_unique<SharedState>(
      *kube_,
      SharedStateOptions{.ns = ha.ns, .lease_name = ha.lease_name, .identity = identity_},
      logger_);
  store_ = shared_.get();
  ReplicaDeps deps{.state = *shared_,
                   .lease = *lease_,
                   .metrics = metrics_,
                   .logger = logger_,
                   .ruleset = [this] { return ruleset(); },
                   .dispatcher = options_.dispatcher};
  deps.on_leading = [this] {
    if (absl::Status s = StartSqs(); !s.ok()) {
      logger_.error("the SQS sources cannot start: {}", s.message());
    }
  };
  deps.on_following = [this] { StopSqs(); };
  HT_ASSIGN_OR_RETURN(replica_, Replica::Create(ha, identity_, std::move(deps)));
  logger_.info("high availability: replica {} of lease {}/{}; shared state in ConfigMaps {} and "
               "{}",
               identity_, ha.ns, ha.lease_name, shared_->state_name(), shared_->inbox_name());
  return absl::OkStatus();
}

std::string Engine::StatusJson() const {
  if (replica_ != nullptr) return replica_->StatusJson();
  std::string out = R"({"leader":true,"identity":)";
  AppendJsonString(out, identity_);
  out += R"(,"leader_identity":)";
  AppendJsonString(out, identity_);
  out += "}";
  return out;
}

void Engine::StartDispatcher(std::shared_ptr<const Ruleset> ruleset) {
  plugins_ = NewGrpcPluginClient();
  dispatcher_ = std::make_unique<Dispatcher>(loop_, *plugins_, *store_, metrics_, logger_,
                                             options_.dispatcher);
  InstallRuleset(std::move(ruleset));
}

void Engine::InstallRuleset(std::shared_ptr<const Ruleset> ruleset) {
  if (replica_ != nullptr) {
    replica_->SetRuleset(ruleset);
  } else {
    dispatcher_->SetRuleset(ruleset);
  }
  {
    absl::MutexLock lock(&mu_);
    ruleset_ = std::move(ruleset);
  }
  metrics_.config_last_reload_successful.Set(1);
  metrics_.config_last_reload_success_timestamp.Set(absl::ToUnixSeconds(absl::Now()));
}

absl::Status Engine::RecoverJournal() {
  HT_ASSIGN_OR_RETURN(Recovery recovery, journal_->Recover());
  const absl::Time now = absl::Now();
  for (const std::string& key : recovery.seen_keys) dedup_->SeenOrInsert(key, now);
  logger_.info(
      "journal {}: {} events remembered, {} to dispatch, {} flows to resume, {} cooldowns{}",
      journal_path_, recovery.seen_keys.size(), recovery.undispatched.size(),
      recovery.unfinished.size(), recovery.cooldowns.size(),
      recovery.skipped_rows > 0
          ? absl::StrCat(", ", recovery.skipped_rows, " unreadable rows skipped")
          : "");
  absl::Notification resumed;
  dispatcher_->Resume(std::move(recovery), [&resumed] { resumed.Notify(); });
  resumed.WaitForNotification();
  return absl::OkStatus();
}

void Engine::AddGauges() {
  registry_.AddGaugeCallback("hollowtrees_queue_depth",
                             "Accepted events and flow steps waiting for the dispatcher.",
                             [this] { return static_cast<double>(loop_.QueueDepth()); });
  registry_.AddGaugeCallback("hollowtrees_dedup_entries",
                             "Event ids remembered to absorb re-sends.",
                             [this] { return static_cast<double>(dedup_->size()); });
  if (shared_ != nullptr) {
    registry_.AddGaugeCallback(
        "hollowtrees_ha_state_bytes",
        "Size of the shared state as this replica last wrote it while leading (gzipped, "
        "base64): the API server refuses a ConfigMap over 1048576 bytes.",
        [this] { return static_cast<double>(shared_->stats().state_bytes); });
  }
  registry_.AddGauge("hollowtrees_build_info", "Build information.", {"version"})
      .WithLabels({kVersion})
      .Set(1);
}

absl::Status Engine::ServeHttp(const http::HostPort& listen, const IntakeConfig& intake) {
  HT_ASSIGN_OR_RETURN(
      http_, HttpApi::Start(listen, intake,
                            HttpApiDeps{*intake_, metrics_, *store_, [this] { return ruleset(); },
                                        [this] { return Readiness(); },
                                        [this](const std::string& id) { return Replay(id); },
                                        [this] { return StatusJson(); }, logger_,
                                        security_.get()}));
  return absl::OkStatus();
}

void Engine::LogStarted(const Ruleset& ruleset) {
  logger_.info("loaded {}: {} rules, {} action plugins", options_.config_path,
               ruleset.rules().size(), ruleset.config().action_plugins.size());
  if (auto auth = security_->authenticator()) {
    logger_.info("authentication on ({} bearer tokens{}); HTTP{}", auth->bearer_token_count(),
                 ruleset.config().auth->jwt_enabled ? ", HS256 JWT" : "",
                 security_->tls() ? "S" : "");
  } else {
    logger_.info("no authentication configured; HTTP{}", security_->tls() ? "S" : "");
  }
}

Engine::~Engine() {
  // Stop intake, then the dispatcher's thread, then cancel plugin calls still
  // in flight (their callbacks post into the stopped loop, harmlessly); the
  // journal commits what is pending as it closes.
  StopSqs();
  if (http_) http_->Stop();
  replica_.reset();  // ends its term and the election
  loop_.Stop();
  plugins_.reset();
  journal_.reset();
}

absl::Status Engine::OpenJournal(const Config& config) {
  if (config.data_dir.empty()) {
    memory_ = std::make_unique<MemoryFlowStore>();
    store_ = memory_.get();
    logger_.warn("no data_dir: flows and accepted events are kept in memory only and are lost on "
                 "restart");
    return absl::OkStatus();
  }
  // One engine per data_dir, for the whole life of this one: taken before
  // the journal is touched, so a second engine never opens it.
  HT_ASSIGN_OR_RETURN(data_dir_lock_, DataDirLock::Acquire(config.data_dir));
  journal_path_ = config.data_dir + "/journal.db";
  HT_ASSIGN_OR_RETURN(
      journal_,
      Journal::Open({.path = journal_path_, .retention = config.intake.dedup_window}, logger_));
  store_ = journal_.get();
  if (journal_->moved_aside()) metrics_.journal_moved_aside.Inc();
  return absl::OkStatus();
}

absl::Status Engine::Replay(const std::string& flow_id) {
  if (replica_ != nullptr) return replica_->Replay(flow_id);
  absl::Notification done;
  absl::Status result;
  dispatcher_->Replay(flow_id, [&](absl::Status s) {
    result = std::move(s);
    done.Notify();
  });
  done.WaitForNotification();
  return result;
}

std::shared_ptr<const Ruleset> Engine::ruleset() const {
  absl::MutexLock lock(&mu_);
  return ruleset_;
}

void Engine::ScheduleHealth() {
  loop_.PostAfter(options_.health_interval, [this] {
    const absl::Time now = absl::Now();
    heartbeat_ns_ = absl::ToUnixNanos(now);
    if (journal_ != nullptr) journal_->Probe(now);
    ScheduleHealth();
  });
}

absl::Status Engine::Readiness() const {
  if (ruleset() == nullptr) return absl::UnavailableError("the rules are not loaded");
  if (journal_ != nullptr) {
    if (absl::Status s = journal_->WriteHealth(); !s.ok()) {
      return absl::UnavailableError(absl::StrCat("the journal cannot be written: ", s.message()));
    }
  }
  const absl::Duration since = absl::Now() - absl::FromUnixNanos(heartbeat_ns_.load());
  if (since > options_.stall_after) {
    return absl::UnavailableError(
        absl::StrCat("the dispatcher has made no progress for ", absl::FormatDuration(since),
                     " (its event loop is blocked)"));
  }
  return absl::OkStatus();
}

void Engine::NoteRestartOnlyChanges(const Config& next) {
  const RestartOnly& running = started_with_;
  const std::pair<const char*, bool> keys[] = {
      {"listen", running.listen != next.listen},
      {"data_dir", running.data_dir != next.data_dir},
      {"intake", !(running.intake == next.intake)},
      {"tls", running.tls != next.tls.has_value()},
      {"sources", !(running.sources == next.sources)},
      {"ha", !(running.ha == next.ha)},
  };
  for (const auto& [key, changed] : keys) {
    metrics_.config_restart_required.WithLabels({key}).Set(changed ? 1 : 0);
    if (changed) {
      logger_.warn("reload of {}: `{}` changed, which only a restart applies; the running value "
                   "stays in force until then",
                   options_.config_path, key);
    }
  }
}

void Engine::ScheduleSweep() {
  loop_.PostAfter(absl::Minutes(1), [this] {
    const absl::Time now = absl::Now();
    dedup_->Sweep(now);
    if (journal_ != nullptr && ++sweeps_ % 10 == 0) journal_->Compact(now);
    ScheduleSweep();
  });
}

absl::Status Engine::Reload() {
  auto config = LoadConfigFile(options_.config_path);
  if (!config.ok()) {
    metrics_.config_last_reload_successful.Set(0);
    logger_.error("reload of {} failed, keeping the rules in force:\n{}", options_.config_path,
                  config.status().message());
    return config.status();
  }
  if (absl::Status s = security_->Reload(*config); !s.ok()) {
    metrics_.config_last_reload_successful.Set(0);
    logger_.error("reload of {} failed, keeping the rules and credentials in force: {}",
                  options_.config_path, s.message());
    return s;
  }
  if (!options_.listen.empty()) config->listen = options_.listen;
  if (!options_.data_dir.empty()) config->data_dir = options_.data_dir;
  NoteRestartOnlyChanges(*config);
  auto ruleset = Ruleset::Build(*std::move(config));
  InstallRuleset(ruleset);
  logger_.info("reloaded {}: {} rules, {} action plugins", options_.config_path,
               ruleset->rules().size(), ruleset->config().action_plugins.size());
  return absl::OkStatus();
}

void Engine::Shutdown(absl::Duration grace) {
  if (replica_ != nullptr) {
    // No new events, then the replica hands over: calls in flight end and
    // are recorded, the state is written, the Lease released.
    StopSqs();
    http_->Stop();
    replica_->Shutdown(grace);
    return;
  }
  // With a journal, only the calls in flight are waited for: the rest of each
  // flow is recorded and resumes after the restart. Without one, nothing
  // would resume them, so whole flows are given the grace period. Calling
  // stops first: closing idle keep-alive connections takes a moment.
  if (journal_ != nullptr) dispatcher_->StopCalling();
  // No new events: the SQS pollers first (what they hold comes back to the
  // queue), then the HTTP endpoints.
  StopSqs();
  http_->Stop();
  const absl::Time deadline = absl::Now() + grace;
  while (true) {
    size_t busy = 0;
    absl::Notification done;
    loop_.Post([&] {
      busy = journal_ != nullptr ? dispatcher_->calls_in_flight()
                                 : dispatcher_->running_flows() + dispatcher_->queued_flows();
      done.Notify();
    });
    done.WaitForNotification();
    if (busy == 0) break;
    if (absl::Now() >= deadline) {
      logger_.warn("shutdown: {} {} still running after the grace period", busy,
                   journal_ != nullptr ? "plugin calls" : "flows");
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  if (journal_ != nullptr) journal_->Flush();
}

}  // namespace hollowtrees::engine
