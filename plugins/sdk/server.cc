#include "plugins/sdk/server.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <algorithm>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "hollowtrees/plugin/v1/plugin.grpc.pb.h"
#include "lib/common/file.h"
#include "lib/common/logging.h"
#include "lib/common/thread_pool.h"
#include "lib/metrics/metrics.h"
#include "spdlog/spdlog.h"

namespace hollowtrees::plugin {

namespace pb = hollowtrees::plugin::v1;

// The call metrics of one plugin process (PluginServerOptions::registry).
struct CallMetrics {
  CallMetrics(metrics::Registry& r, const std::string& plugin) {
    auto& calls = r.AddCounter("hollowtrees_action_plugin_calls_total",
                               "Calls this plugin answered, by outcome.", {"plugin", "outcome"});
    for (int o = pb::HandleResponse::Outcome_MIN; o <= pb::HandleResponse::Outcome_MAX; ++o) {
      if (!pb::HandleResponse::Outcome_IsValid(o)) continue;
      auto name = absl::AsciiStrToLower(
          absl::StripPrefix(pb::HandleResponse::Outcome_Name(o), "OUTCOME_"));
      by_outcome[o] = &calls.WithLabels({plugin, name});
    }
    duration = &r.AddHistogram("hollowtrees_action_plugin_call_duration_seconds",
                               "Time from a call's arrival to its answer.", {"plugin"},
                               metrics::LatencyBuckets())
                    .WithLabels({plugin});
    in_flight = &r.AddGauge("hollowtrees_action_plugin_calls_in_flight",
                            "Calls being handled or waiting for a worker.", {"plugin"})
                     .WithLabels({plugin});
    queued = &r.AddGauge("hollowtrees_action_plugin_calls_queued",
                         "Calls waiting for a worker.", {"plugin"})
                  .WithLabels({plugin});
    auto& not_run = r.AddCounter("hollowtrees_action_plugin_calls_not_run_total",
                                 "Calls answered without running the action: the queue was full "
                                 "(answered RETRY), or the deadline passed while queued.",
                                 {"plugin", "reason"});
    queue_full = &not_run.WithLabels({plugin, "queue_full"});
    expired = &not_run.WithLabels({plugin, "deadline_exceeded"});
  }
  std::map<int, metrics::Counter*> by_outcome;
  metrics::Histogram* duration;
  metrics::Gauge* in_flight;
  metrics::Gauge* queued;
  metrics::Counter* queue_full;
  metrics::Counter* expired;
};

namespace {
void SetDuration(absl::Duration d, google::protobuf::Duration* out) {
  const int64_t ms = absl::ToInt64Milliseconds(d);
  out->set_seconds(ms / 1000);
  out->set_nanos(static_cast<int32_t>((ms % 1000) * 1000000));
}
}  // namespace

class PluginServer::Impl final : public pb::ActionPlugin::CallbackService {
 public:
  Impl(ActionPlugin& plugin, spdlog::logger& logger, const PluginServerOptions& options)
      : plugin_(plugin),
        logger_(logger),
        max_admitted_(options.max_concurrent_calls + std::max(options.max_queued_calls, 0)),
        queue_full_retry_after_(options.queue_full_retry_after),
        pool_(options.max_concurrent_calls) {
    if (options.registry != nullptr) {
      metrics_ = std::make_unique<CallMetrics>(*options.registry, options.metrics_name);
    }
  }

  grpc::ServerUnaryReactor* Handle(grpc::CallbackServerContext* ctx, const pb::HandleRequest* req,
                                   pb::HandleResponse* resp) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    const absl::Time arrived = absl::Now();
    if (!Admit()) {
      // Answered on the gRPC thread: cheap, and the caller learns at once.
      resp->set_outcome(pb::HandleResponse::OUTCOME_RETRY);
      resp->set_message(absl::StrCat("plugin busy: ", max_admitted_,
                                     " calls running or queued; try again later"));
      SetDuration(queue_full_retry_after_, resp->mutable_retry_after());
      if (metrics_) metrics_->queue_full->Inc();
      LogQueueFull(*req);
      reactor->Finish(grpc::Status::OK);
      return reactor;
    }
    if (metrics_) {
      metrics_->in_flight->Inc(1);
      metrics_->queued->Inc(1);
    }
    // Long actions never block a gRPC callback thread.
    pool_.Schedule([this, ctx, req, resp, reactor, arrived] {
      if (metrics_) metrics_->queued->Inc(-1);
      // The caller gave up while the call waited: its answer would reach
      // nobody, and running the action now would act on a step the engine
      // already counts as failed (it retries it). Do not run it.
      const bool expired = std::chrono::system_clock::now() >= ctx->deadline();
      if (expired || ctx->IsCancelled()) {
        logger_.warn("event={} rule={} flow={} attempt={} not run: {} while queued",
                     req->event().id(), req->rule(), req->flow_id(), req->attempt(),
                     expired ? "the deadline passed" : "the caller cancelled");
        if (metrics_) {
          metrics_->expired->Inc();
          metrics_->in_flight->Inc(-1);
        }
        admitted_.fetch_sub(1);
        reactor->Finish(expired ? grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                                               "the deadline passed while the call was queued")
                                : grpc::Status::CANCELLED);
        return;
      }
      Request request = DecodeRequest(*req);
      Context context;
      context.logger = &logger_;
      const auto deadline = ctx->deadline();
      if (deadline != std::chrono::system_clock::time_point::max()) {
        context.deadline = absl::FromChrono(deadline);
      }
      context.cancelled = [this, ctx] { return ctx->IsCancelled() || stopping_.load(); };
      Result result;
      try {
        result = plugin_.Handle(request, context);
      } catch (const std::exception& e) {
        result = Result::Failed(absl::StrCat("plugin threw: ", e.what()));
      } catch (...) {
        result = Result::Failed("plugin threw a non-standard exception");
      }
      resp->set_outcome(result.outcome);
      resp->set_message(result.message);
      if (result.retry_after > absl::ZeroDuration()) {
        SetDuration(result.retry_after, resp->mutable_retry_after());
      }
      logger_.log(result.outcome == pb::HandleResponse::OUTCOME_FAILED ? spdlog::level::warn
                                                                        : spdlog::level::info,
                  "event={} rule={} flow={} attempt={} outcome={} message={}", request.event_id,
                  request.rule, request.flow_id, request.attempt,
                  pb::HandleResponse::Outcome_Name(result.outcome), result.message);
      if (metrics_) {
        auto it = metrics_->by_outcome.find(result.outcome);
        if (it != metrics_->by_outcome.end()) it->second->Inc();
        metrics_->duration->Observe(absl::ToDoubleSeconds(absl::Now() - arrived));
        metrics_->in_flight->Inc(-1);
      }
      admitted_.fetch_sub(1);
      reactor->Finish(grpc::Status::OK);
    });
    return reactor;
  }

  void Stop() { stopping_ = true; }

 private:
  // Takes a slot (running or queued) unless all max_admitted_ are taken.
  bool Admit() {
    int n = admitted_.load();
    do {
      if (n >= max_admitted_) return false;
    } while (!admitted_.compare_exchange_weak(n, n + 1));
    return true;
  }

  // A full queue can last: log the first refusal, then one in 1000.
  void LogQueueFull(const pb::HandleRequest& req) {
    const uint64_t n = queue_full_count_.fetch_add(1);
    if (n % 1000 != 0) return;
    logger_.warn("event={} rule={} flow={} attempt={} answered RETRY: {} calls running or "
                 "queued ({} refused so far)",
                 req.event().id(), req.rule(), req.flow_id(), req.attempt(), max_admitted_, n + 1);
  }

  ActionPlugin& plugin_;
  spdlog::logger& logger_;
  const int max_admitted_;
  const absl::Duration queue_full_retry_after_;
  std::atomic<int> admitted_{0};  // calls running or queued
  std::atomic<uint64_t> queue_full_count_{0};
  std::atomic<bool> stopping_{false};
  std::unique_ptr<CallMetrics> metrics_;  // null without a registry
  ThreadPool pool_;
};

namespace {

absl::StatusOr<std::string> ReadPemFile(const std::string& path, const char* flag) {
  auto text = ReadFile(path);
  if (!text.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", text.status().message(), ": cannot read the file"));
  }
  if (text->find("-----BEGIN") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " ", path, ": not a PEM file"));
  }
  return text;
}

// Insecure credentials, or TLS (mutual TLS with a client CA) from files.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(
    const PluginServerOptions& options) {
  if (options.tls_cert_file.empty() && options.tls_key_file.empty()) {
    if (!options.tls_client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "--tls-client-ca-file needs --tls-cert-file and --tls-key-file");
    }
    return grpc::InsecureServerCredentials();
  }
  if (options.tls_cert_file.empty() || options.tls_key_file.empty()) {
    return absl::InvalidArgumentError("--tls-cert-file and --tls-key-file go together");
  }
  auto cert = ReadPemFile(options.tls_cert_file, "--tls-cert-file");
  if (!cert.ok()) return cert.status();
  auto key = ReadPemFile(options.tls_key_file, "--tls-key-file");
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({*std::move(key), *std::move(cert)});
  if (!options.tls_client_ca_file.empty()) {
    auto ca = ReadPemFile(options.tls_client_ca_file, "--tls-client-ca-file");
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *std::move(ca);
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

}  // namespace

absl::StatusOr<std::unique_ptr<PluginServer>> PluginServer::Start(
    ActionPlugin& plugin, const PluginServerOptions& options, spdlog::logger& logger) {
  if (options.max_concurrent_calls < 1 || options.max_queued_calls < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max-concurrent-calls must be at least 1 and --max-queued-calls at least 0 (got ",
        options.max_concurrent_calls, " and ", options.max_queued_calls, ")"));
  }
  auto credentials = ServerCredentials(options);
  if (!credentials.ok()) return credentials.status();
  std::unique_ptr<PluginServer> server(new PluginServer());
  if (options.registry != nullptr) plugin.RegisterMetrics(*options.registry);
  server->impl_ = std::make_unique<Impl>(plugin, logger, options);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(options.listen, *credentials, &server->port_);
  builder.RegisterService(server->impl_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve gRPC on ", options.listen, " (address in use or invalid)"));
  }
  auto* health = server->server_->GetHealthCheckService();
  health->SetServingStatus(true);
  health->SetServingStatus(options.health_service_name, true);
  return server;
}

void PluginServer::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  server_->GetHealthCheckService()->SetServingStatus(false);
  server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(grace));
  impl_->Stop();
  server_->Wait();
}

PluginServer::~PluginServer() {
  if (server_ != nullptr) Shutdown(absl::ZeroDuration());
  // impl_ (and its pool) is destroyed after the server: running calls finish.
  server_.reset();
  impl_.reset();
}

}  // namespace hollowtrees::plugin
