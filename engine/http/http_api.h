#pragma once

// The engine's HTTP API (DESIGN.md, "Engine contracts"): intake endpoints for
// Prometheus, Alertmanager and CloudEvents; health, readiness, metrics; the
// flows and rules views. Malformed input gets a 4xx with a JSON body
// {"error": "..."} that names the problem and queues nothing.

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "engine/rules/config.h"
#include "engine/metrics/engine_metrics.h"
#include "engine/store/flow_store.h"
#include "engine/http/http_security.h"
#include "engine/intake/intake.h"
#include "engine/rules/ruleset.h"
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
  std::function<bool()> ready;
  std::function<absl::Status(const std::string&)> replay;
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
  explicit HttpApi(HttpApiDeps deps);
  void Routes(const IntakeConfig& intake);

  HttpApiDeps deps_;
  std::unique_ptr<httplib::Server> server_;
  std::unique_ptr<http::ServingThread> serving_;  // after server_: stops first
};

}  // namespace hollowtrees::engine
