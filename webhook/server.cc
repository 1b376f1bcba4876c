#include "webhook/server.h"

#include <httplib.h>
#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <memory>

#include "absl/strings/str_cat.h"
#include "lib/common/logging.h"
#include "lib/common/status_macros.h"
#include "lib/common/strict_json.h"

namespace hollowtrees::webhook {

using nlohmann::json;

namespace {

using http::JsonError;

bool JsonContent(const httplib::Request& req) {
  const std::string ct = req.get_header_value("Content-Type");
  return ct.empty() || ct.rfind("application/json", 0) == 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<WebhookServer>> WebhookServer::Start(
    const WebhookServerOptions& options, CertReloader& certs, Admitter& admitter,
    Extender& extender, metrics::Registry& registry, std::shared_ptr<spdlog::logger> logger) {
  auto s = std::unique_ptr<WebhookServer>(new WebhookServer());
  CertReloader* reloader = &certs;
  s->server_ = std::make_unique<httplib::SSLServer>([reloader](SSL_CTX& ctx) {
    reloader->Install(ctx);
    return true;
  });
  if (!s->server_->is_valid()) return absl::InternalError("cannot make the TLS server context");
  http::ConfigureServer(*s->server_, options.http);

  auto& requests = registry.AddCounter("spot_config_webhook_admission_requests_total",
                                       "AdmissionReviews answered, by outcome.", {"result"});
  auto& extender_requests = registry.AddCounter(
      "spot_config_webhook_extender_requests_total",
      "Scheduler extender calls, by verb and code.", {"verb", "code"});
  auto& latency = registry.AddHistogram("spot_config_webhook_request_duration_seconds",
                                        "Time to answer a request, by path.", {"path"},
                                        metrics::LatencyBuckets());
  registry.AddGaugeCallback("spot_config_webhook_certificate_reloads_total",
                            "Serving certificate reloads that succeeded.",
                            [reloader] { return static_cast<double>(reloader->reloads()); });
  registry.AddGaugeCallback("spot_config_webhook_certificate_reload_failures_total",
                            "Serving certificate reloads that failed (old pair kept).",
                            [reloader] { return static_cast<double>(reloader->reload_failures()); });

  Admitter* adm = &admitter;
  Extender* ext = &extender;
  metrics::Registry* reg = &registry;
  auto timed = [&latency](const char* path, auto fn) {
    metrics::Histogram* h = &latency.WithLabels({path});
    return [h, fn](const httplib::Request& req, httplib::Response& res) {
      const auto start = std::chrono::steady_clock::now();
      fn(req, res);
      h->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    };
  };
  if (options.admission) s->server_->Post("/mutate", timed("/mutate", [adm, &requests, logger](const httplib::Request& req,
                                                                        httplib::Response& res) {
    if (!JsonContent(req)) {
      requests.WithLabels({"bad_request"}).Inc();
      return JsonError(res, 415, "Content-Type must be application/json");
    }
    std::string result;
    auto review = adm->Review(req.body, &result);
    if (!review.ok()) {
      requests.WithLabels({"bad_request"}).Inc();
      logger->warn("POST /mutate from {}: {}", req.remote_addr, review.status().message());
      return JsonError(res, 400, review.status().message());
    }
    requests.WithLabels({result}).Inc();
    res.set_content(review->dump(), "application/json");
  }));
  auto verb = [ext, &extender_requests, logger](const char* name, bool filter) {
    return [=, &extender_requests](const httplib::Request& req, httplib::Response& res) {
      if (!JsonContent(req)) {
        extender_requests.WithLabels({name, "415"}).Inc();
        return JsonError(res, 415, "Content-Type must be application/json");
      }
      auto parsed = ParseStrictJson(req.body);
      if (!parsed.ok()) {
        extender_requests.WithLabels({name, "400"}).Inc();
        return JsonError(res, 400, parsed.status().message());
      }
      const json& args = *parsed;
      absl::StatusOr<json> out;
      try {
        out = filter ? ext->Filter(args) : ext->Prioritize(args);
      } catch (const json::exception& e) {
        // A field of another type than the API's, deeper than Filter and
        // Prioritize check (ownerReferences, ...): the caller's mistake.
        out = absl::InvalidArgumentError(
            absl::StrCat("ExtenderArgs has a field of the wrong type: ", e.what()));
      }
      if (!out.ok()) {
        extender_requests.WithLabels({name, "400"}).Inc();
        logger->warn("POST /{} from {}: {}", name, req.remote_addr, out.status().message());
        return JsonError(res, 400, out.status().message());
      }
      extender_requests.WithLabels({name, "200"}).Inc();
      res.set_content(out->dump(), "application/json");
    };
  };
  if (options.extender) {
    s->server_->Post("/filter", timed("/filter", verb("filter", true)));
    s->server_->Post("/prioritize", timed("/prioritize", verb("prioritize", false)));
  }
  s->server_->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  auto ready = options.ready;
  s->server_->Get("/readyz", [ready](const httplib::Request&, httplib::Response& res) {
    if (ready && !ready()) {
      res.status = 503;
      res.set_content("not ready: the spot deploy ConfigMap has not been read yet\n",
                      "text/plain");
      return;
    }
    res.set_content("ok\n", "text/plain");
  });
  s->server_->Get("/metrics", [reg](const httplib::Request&, httplib::Response& res) {
    res.set_content(reg->Expose(), std::string(metrics::Registry::kContentType));
  });
  // Answers cpp-httplib makes itself (413 body too large, 404, 400 bad
  // request line) get a JSON body naming the problem, like ours.
  http::AnswerServerErrorsInJson(*s->server_, options.http.max_body_bytes);
  HT_ASSIGN_OR_RETURN(http::HostPort hp, http::ParseHostPort(options.listen));
  // Shared with the metric's callback, which may outlive the server.
  auto cut = std::make_shared<std::atomic<uint64_t>>(0);
  registry.AddGaugeCallback(
      "spot_config_webhook_requests_cut_total",
      "Connections shut down because their request was not complete within the whole-request "
      "deadline (the HTTP I/O timeout): slow or stalled senders.",
      [cut] { return static_cast<double>(cut->load()); });
  HT_ASSIGN_OR_RETURN(
      s->serving_,
      http::ServingThread::Start(
          *s->server_, hp,
          {.request_timeout = options.http.io_timeout,
           .on_cut = [logger, cut](const http::CutConnection& c) {
             cut->fetch_add(1);
             logger->warn(
                 "cut the connection from {}: its request was not complete after {} (a slow or "
                 "stalled sender)",
                 c.peer, absl::FormatDuration(c.open));
           }}));
  return s;
}

WebhookServer::~WebhookServer() = default;

}  // namespace hollowtrees::webhook
