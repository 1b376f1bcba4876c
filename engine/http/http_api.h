#pragma once

// The engine's HTTP API (docs/engine.md, "HTTP API"): intake endpoints for
// Prometheus, Alertmanager and CloudEvents; health, readiness, metrics; the
// flows and rules views. Malformed input gets a 4xx with a JSON body
// {"error": "..."} that names the problem and queues nothing.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/http/http_security.h"
#include "engine/intake/intake.h"
#include "engine/metrics/engine_metrics.h"
#include "engine/rules/config.h"
#include "engine/rules/ruleset.h"
#include "engine/store/flow_store.h"
#include "lib/http/server_util.h"

namespace httplib {
class Server;
}
namespace spdlog {
class logger;
}

namespace hollowtrees::engine {

struct HttpApiDeps {
  Intake& intake;
  EngineMetrics& metrics;
  FlowStore& flows;
  std::function<std::shared_ptr<const Ruleset>()> ruleset;
  // OK when ready; else why not (the body of /readyz's 503).
  std::function<absl::Status()> ready;
  std::function<absl::Status(const std::string&)> replay;
  // GET /api/v1/status: {"leader", "identity", "leader_identity"}.
  std::function<std::string()> status;
  spdlog::logger& logger;
  // TLS and authentication of senders; nullptr: plain HTTP, no auth.
  HttpSecurity* security = nullptr;
};

class HttpApi {
 public:
  // Binds `listen` and serves on a thread of its own. Unavailable when the
  // address is taken.
  static absl::StatusOr<std::unique_ptr<HttpApi>> Start(const http::HostPort& listen,
                                                        const IntakeConfig& intake,
                                                        HttpApiDeps deps);
  ~HttpApi();  // stops

  int port() const { return serving_->port(); }
  // Stops accepting and waits for requests being served. Idempotent.
  void Stop() {
    if (serving_) serving_->Stop();
  }

 private:
  struct Route;
  explicit HttpApi(HttpApiDeps deps);
  // Installs the route table and what is derived from it.
  void Routes(const IntakeConfig& intake);
  std::vector<Route> RouteTable(const EventLimits& limits);
  // The route serving `path` (any method), or nullptr.
  const Route* FindRoute(const std::string& path) const;
  void AdmitBeforeRouting();  // with security: authentication by route class
  void Serve(const Route& route);
  void AnswerErrorsInJson(size_t max_body_bytes);
  void CountRequests();  // hollowtrees_http_requests_total{handler,code}

  HttpApiDeps deps_;
  std::vector<Route> routes_;  // immutable once serving
  std::unique_ptr<httplib::Server> server_;
  std::unique_ptr<http::ServingThread> serving_;  // after server_: stops first
};

}  // namespace hollowtrees::engine
