#include "engine/http/http_security.h"

#include <httplib.h>

#include "absl/strings/str_cat.h"
#include "lib/common/logging.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace hollowtrees::engine {

HttpSecurity::HttpSecurity(metrics::Registry& registry, spdlog::logger& logger)
    : logger_(logger), metrics_(registry) {}

absl::StatusOr<std::unique_ptr<HttpSecurity>> HttpSecurity::Create(const Config& config,
                                                                   metrics::Registry& registry,
                                                                   spdlog::logger& logger) {
  std::unique_ptr<HttpSecurity> s(new HttpSecurity(registry, logger));
  if (config.tls) {
    auto tls = TlsCertificateReloader::Create(config.tls->cert_file, config.tls->key_file, logger);
    if (!tls.ok()) return tls.status();
    s->tls_ = *std::move(tls);
    s->client_ca_file_ = config.tls->client_ca_file;
    TlsCertificateReloader* raw = s->tls_.get();
    registry.AddGaugeCallback("hollowtrees_tls_certificate_reloads_total",
                              "Times the listener's certificate was reloaded after its files changed.",
                              [raw] { return static_cast<double>(raw->reloads()); });
    registry.AddGaugeCallback("hollowtrees_tls_certificate_reload_failures_total",
                              "Changed certificate files that did not load (the previous pair "
                              "stayed in service).",
                              [raw] { return static_cast<double>(raw->failures()); });
  }
  if (absl::Status st = s->Reload(config); !st.ok()) return st;
  return s;
}

absl::Status HttpSecurity::Reload(const Config& config) {
  std::shared_ptr<const Authenticator> auth;
  if (config.auth) {
    auto a = Authenticator::Create(*config.auth);
    if (!a.ok()) return a.status();
    auth = *std::move(a);
  }
  absl::MutexLock lock(&mu_);
  auth_ = std::move(auth);
  return absl::OkStatus();
}

std::shared_ptr<const Authenticator> HttpSecurity::authenticator() const {
  absl::MutexLock lock(&mu_);
  return auth_;
}

absl::StatusOr<std::unique_ptr<httplib::Server>> HttpSecurity::MakeServer() {
  if (tls_ == nullptr) return std::make_unique<httplib::Server>();
  TlsCertificateReloader* tls = tls_.get();
  const std::string ca = client_ca_file_;
  auto server = std::make_unique<httplib::SSLServer>(
      [tls, ca](SSL_CTX& ctx) { return tls->ConfigureContext(ctx, ca); });
  if (!server->is_valid()) {
    return absl::InvalidArgumentError("tls: cannot set up the HTTPS listener (see the log)");
  }
  return server;
}

bool HttpSecurity::Admit(const httplib::Request& req, httplib::Response& res, EndpointClass c,
                         Principal* principal) {
  std::shared_ptr<const Authenticator> auth = authenticator();
  if (auth == nullptr || !auth->Protects(c)) return true;
  AuthOutcome outcome = auth->Authenticate(req.get_header_value("Authorization"), absl::Now());
  if (outcome.ok()) {
    if (principal != nullptr) *principal = std::move(outcome.principal);
    return true;
  }
  metrics_.Count(outcome.reason);
  // Once per refused request, with what identifies it; never the token.
  logger_.debug("refused {} {} from {}: {} ({})", req.method, req.path, req.remote_addr,
                outcome.message, outcome.reason);
  if (outcome.http_status == 401) {
    res.set_header("WWW-Authenticate", "Bearer realm=\"hollowtrees\"");
  }
  res.status = outcome.http_status;
  res.set_content(nlohmann::json{{"error", outcome.message}}.dump(), "application/json");
  return false;
}

void HttpSecurity::CountForbidden(int n) {
  if (n > 0) metrics_.Count("forbidden", n);
}

}  // namespace hollowtrees::engine
