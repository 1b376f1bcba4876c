#include "engine/engine.h"

#include <sys/stat.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "lib/common/logging.h"
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
  auto ruleset = Ruleset::Build(*std::move(config));
  e->plugins_ = NewGrpcPluginClient();
  e->dispatcher_ = std::make_unique<Dispatcher>(e->loop_, *e->plugins_, e->store_, e->metrics_,
                                                logger, options.dispatcher);
  e->dispatcher_->SetRuleset(ruleset);
  {
    absl::MutexLock lock(&e->mu_);
    e->ruleset_ = ruleset;
  }
  e->metrics_.config_last_reload_successful.Set(1);
  e->metrics_.config_last_reload_success_timestamp.Set(absl::ToUnixSeconds(absl::Now()));
  e->dedup_ = std::make_unique<DedupTable>(intake.max_dedup_entries, intake.dedup_window);
  e->intake_ = std::make_unique<Intake>(*e->dedup_, *e->dispatcher_, e->metrics_, intake);
  Engine* raw = e.get();
  e->registry_.AddGaugeCallback("hollowtrees_queue_depth",
                                "Accepted events and flow steps waiting for the dispatcher.",
                                [raw] { return static_cast<double>(raw->loop_.QueueDepth()); });
  e->registry_.AddGaugeCallback("hollowtrees_dedup_entries",
                                "Event ids remembered to absorb re-sends.",
                                [raw] { return static_cast<double>(raw->dedup_->size()); });
  e->registry_.AddGauge("hollowtrees_build_info", "Build information.", {"version"})
      .WithLabels({"0.1.0"})
      .Set(1);
  auto http = HttpApi::Start(*listen, intake,
                             HttpApiDeps{*e->intake_, e->metrics_, e->store_,
                                         [raw] { return raw->ruleset(); },
                                         [raw] { return raw->ruleset() != nullptr; }, logger,
                                         e->security_.get()});
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
  // in flight (their callbacks post into the stopped loop, harmlessly).
  if (http_) http_->Stop();
  loop_.Stop();
  plugins_.reset();
}

std::shared_ptr<const Ruleset> Engine::ruleset() {
  absl::MutexLock lock(&mu_);
  return ruleset_;
}

void Engine::ScheduleSweep() {
  loop_.PostAfter(absl::Minutes(1), [this] {
    dedup_->Sweep(absl::Now());
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
  http_->Stop();
  const absl::Time deadline = absl::Now() + grace;
  while (true) {
    size_t running = 0;
    absl::Notification done;
    loop_.Post([&] {
      running = dispatcher_->running_flows() + dispatcher_->queued_flows();
      done.Notify();
    });
    done.WaitForNotification();
    if (running == 0) return;
    if (absl::Now() >= deadline) {
      logger_.warn("shutdown: {} flows still running after the grace period", running);
      return;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
}

}  // namespace hollowtrees::engine
