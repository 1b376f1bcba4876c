#include "engine/engine.h"

#include <sys/stat.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "lib/common/logging.h"
#include "lib/common/version.h"
#include "spdlog/spdlog.h"

namespace hollowtrees::engine {

Engine::Engine(EngineOptions options, spdlog::logger& logger)
    : options_(std::move(options)), logger_(logger), metrics_(registry_) {}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Start(const EngineOptions& options,
                                                      spdlog::logger& logger) {
  auto config = LoadConfigFile(options.config_path);
  if (!config.ok()) return config.status();
  if (!options.listen.empty()) config->listen = options.listen;
  if (!options.data_dir.empty()) config->data_dir = options.data_dir;
  auto listen = http::ParseHostPort(config->listen);
  if (!listen.ok()) return listen.status();
  if (!config->data_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(config->data_dir, ec);
    if (ec) {
      return absl::FailedPreconditionError(
          absl::StrCat("data_dir ", config->data_dir, ": ", ec.message()));
    }
  }

  std::unique_ptr<Engine> e(new Engine(options, logger));
  e->listen_host_ = listen->host;
  const IntakeConfig intake = config->intake;
  // TLS pair and auth files (docs/security.md): read before serving.
  auto security = HttpSecurity::Create(*config, e->registry_, logger);
  if (!security.ok()) return security.status();
  e->security_ = *std::move(security);
  if (absl::Status s = e->OpenJournal(*config); !s.ok()) return s;
  auto ruleset = Ruleset::Build(*std::move(config));
  e->plugins_ = NewGrpcPluginClient();
  e->dispatcher_ = std::make_unique<Dispatcher>(e->loop_, *e->plugins_, *e->store_, e->metrics_,
                                                logger, options.dispatcher);
  e->dispatcher_->SetRuleset(ruleset);
  {
    absl::MutexLock lock(&e->mu_);
    e->ruleset_ = ruleset;
  }
  e->metrics_.config_last_reload_successful.Set(1);
  e->metrics_.config_last_reload_success_timestamp.Set(absl::ToUnixSeconds(absl::Now()));
  e->dedup_ = std::make_unique<DedupTable>(intake.max_dedup_entries, intake.dedup_window);
  if (e->journal_ != nullptr) {
    // Replay before the listener opens: nothing new arrives meanwhile.
    auto recovery = e->journal_->Recover();
    if (!recovery.ok()) return recovery.status();
    const absl::Time now = absl::Now();
    for (const std::string& key : recovery->seen_keys) e->dedup_->SeenOrInsert(key, now);
    logger.info("journal {}: {} events remembered, {} to dispatch, {} flows to resume, {} cooldowns{}",
                e->journal_path_, recovery->seen_keys.size(), recovery->undispatched.size(),
                recovery->unfinished.size(), recovery->cooldowns.size(),
                recovery->skipped_rows > 0
                    ? absl::StrCat(", ", recovery->skipped_rows, " unreadable rows skipped")
                    : "");
    absl::Notification resumed;
    e->dispatcher_->Resume(*std::move(recovery), [&resumed] { resumed.Notify(); });
    resumed.WaitForNotification();
  }
  e->intake_ = std::make_unique<Intake>(*e->dedup_, *e->dispatcher_, e->journal_.get(),
                                        e->metrics_, intake);
  Engine* raw = e.get();
  e->registry_.AddGaugeCallback("hollowtrees_queue_depth",
                                "Accepted events and flow steps waiting for the dispatcher.",
                                [raw] { return static_cast<double>(raw->loop_.QueueDepth()); });
  e->registry_.AddGaugeCallback("hollowtrees_dedup_entries",
                                "Event ids remembered to absorb re-sends.",
                                [raw] { return static_cast<double>(raw->dedup_->size()); });
  e->registry_.AddGauge("hollowtrees_build_info", "Build information.", {"version"})
      .WithLabels({kVersion})
      .Set(1);
  auto http = HttpApi::Start(*listen, intake,
                             HttpApiDeps{*e->intake_, e->metrics_, *e->store_,
                                         [raw] { return raw->ruleset(); },
                                         [raw] { return raw->ruleset() != nullptr; },
                                         [raw](const std::string& id) { return raw->Replay(id); },
                                         logger, e->security_.get()});
  if (!http.ok()) return http.status();
  e->http_ = *std::move(http);
  e->ScheduleSweep();
  logger.info("loaded {}: {} rules, {} action plugins", options.config_path,
              ruleset->rules().size(), ruleset->config().action_plugins.size());
  if (auto auth = e->security_->authenticator()) {
    logger.info("authentication on ({} bearer tokens{}); HTTP{}", auth->bearer_token_count(),
                ruleset->config().auth->jwt_enabled ? ", HS256 JWT" : "",
                e->security_->tls() ? "S" : "");
  } else {
    logger.info("no authentication configured; HTTP{}", e->security_->tls() ? "S" : "");
  }
  return e;
}

Engine::~Engine() {
  // Stop intake, then the dispatcher's thread, then cancel plugin calls still
  // in flight (their callbacks post into the stopped loop, harmlessly); the
  // journal commits what is pending as it closes.
  if (http_) http_->Stop();
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
  journal_path_ = config.data_dir + "/journal.db";
  auto journal = Journal::Open({.path = journal_path_, .retention = config.intake.dedup_window},
                               logger_);
  if (!journal.ok()) return journal.status();
  journal_ = *std::move(journal);
  store_ = journal_.get();
  if (journal_->moved_aside()) metrics_.journal_moved_aside.Inc();
  return absl::OkStatus();
}

absl::Status Engine::Replay(const std::string& flow_id) {
  absl::Notification done;
  absl::Status result;
  dispatcher_->Replay(flow_id, [&](absl::Status s) {
    result = std::move(s);
    done.Notify();
  });
  done.WaitForNotification();
  return result;
}

std::shared_ptr<const Ruleset> Engine::ruleset() {
  absl::MutexLock lock(&mu_);
  return ruleset_;
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
  auto ruleset = Ruleset::Build(*std::move(config));
  dispatcher_->SetRuleset(ruleset);
  {
    absl::MutexLock lock(&mu_);
    ruleset_ = ruleset;
  }
  metrics_.config_last_reload_successful.Set(1);
  metrics_.config_last_reload_success_timestamp.Set(absl::ToUnixSeconds(absl::Now()));
  logger_.info("reloaded {}: {} rules, {} action plugins", options_.config_path,
               ruleset->rules().size(), ruleset->config().action_plugins.size());
  return absl::OkStatus();
}

void Engine::Shutdown(absl::Duration grace) {
  // With a journal, only the calls in flight are waited for: the rest of each
  // flow is recorded and resumes after the restart. Without one, nothing
  // would resume them, so whole flows are given the grace period. Calling
  // stops first: closing idle keep-alive connections takes a moment.
  if (journal_ != nullptr) dispatcher_->StopCalling();
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
