#pragma once

// The HTTPS server of spot-config-webhook:
//   POST /mutate      AdmissionReview (admission.k8s.io/v1, v1beta1)
//   POST /filter      scheduler extender filter (ExtenderArgs -> ExtenderFilterResult)
//   POST /prioritize  scheduler extender prioritize (ExtenderArgs -> HostPriorityList)
//   GET  /healthz     liveness
//   GET  /readyz      503 until the ConfigMap has been read
//   GET  /metrics     Prometheus text exposition
// Bad bodies get 400 with a JSON {"error": ...}; the process stays up. The
// certificate comes from a CertReloader, so renewed files are served from
// the next handshake on.

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "lib/http/server_util.h"
#include "lib/metrics/metrics.h"
#include "spdlog/logger.h"
#include "webhook/admission.h"
#include "webhook/cert_reloader.h"
#include "webhook/extender.h"

namespace httplib {
class Server;
}

namespace hollowtrees::webhook {

struct WebhookServerOptions {
  // HOST:PORT; port 0 picks a free port.
  std::string listen = "0.0.0.0:8443";
  // 64 workers by default: cpp-httplib holds a worker per open keep-alive
  // connection, and API servers and schedulers keep several open.
  http::ServerOptions http = {.threads = 64, .max_body_bytes = 8 << 20};
  // Readiness; default: always ready.
  std::function<bool()> ready;
  // Which parts to serve (the other paths answer 404): both by default; a
  // scheduler sidecar serves only the extender.
  bool admission = true;
  bool extender = true;
};

// Routes requests to the Admitter and the Extender. Everything passed in
// must outlive the server. Thread-safe.
class WebhookServer {
 public:
  static absl::StatusOr<std::unique_ptr<WebhookServer>> Start(
      const WebhookServerOptions& options, CertReloader& certs, Admitter& admitter,
      Extender& extender, metrics::Registry& registry, std::shared_ptr<spdlog::logger> logger);
  ~WebhookServer();  // stops

  int port() const { return serving_->port(); }
  // Stops serving and waits for requests being served. Idempotent.
  void Stop() {
    if (serving_) serving_->Stop();
  }

 private:
  WebhookServer() = default;
  std::unique_ptr<httplib::Server> server_;
  std::unique_ptr<http::ServingThread> serving_;  // after server_: stops first
};

}  // namespace hollowtrees::webhook
