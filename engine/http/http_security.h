#pragma once

// The security of the engine's HTTP listener, in one place the HTTP API
// consults: HTTPS (TlsCertificateReloader) and the admission of requests
// (Authenticator, swapped on reload). See docs/security.md.

#include <memory>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/http/auth.h"
#include "engine/rules/config.h"
#include "engine/http/tls_reloader.h"
#include "lib/metrics/metrics.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib
namespace spdlog {
class logger;
}

namespace hollowtrees::engine {

class HttpSecurity {
 public:
  // Reads the TLS pair and the auth files of `config`. An error names the
  // file and the problem (never a secret). Registry and logger must outlive
  // the HttpSecurity.
  static absl::StatusOr<std::unique_ptr<HttpSecurity>> Create(const Config& config,
                                                              metrics::Registry& registry,
                                                              spdlog::logger& logger);

  // Rebuilds the authenticator from a reloaded configuration (token files
  // are re-read). On error the previous one stays in force. The `tls`
  // section is read at start only (the certificate files are watched).
  absl::Status Reload(const Config& config);

  // A plain httplib::Server, or an SSLServer presenting the watched pair.
  absl::StatusOr<std::unique_ptr<httplib::Server>> MakeServer();
  bool tls() const { return tls_ != nullptr; }

  // Admits a request of class `c`: true when the class is not protected or
  // the credentials are good (then `*principal` says who sent it). Otherwise
  // answers 401 (with WWW-Authenticate: Bearer) or 403 and a JSON error,
  // counts the failure, and returns false: the caller queues nothing.
  bool Admit(const httplib::Request& req, httplib::Response& res, EndpointClass c,
             Principal* principal);
  // Counts alerts refused by the per-cluster check.
  void CountForbidden(int n);

  std::shared_ptr<const Authenticator> authenticator() const;
  TlsCertificateReloader* tls_reloader() { return tls_.get(); }

 private:
  HttpSecurity(metrics::Registry& registry, spdlog::logger& logger);

  spdlog::logger& logger_;
  AuthMetrics metrics_;
  std::unique_ptr<TlsCertificateReloader> tls_;
  std::string client_ca_file_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const Authenticator> auth_ ABSL_GUARDED_BY(mu_);  // null: no auth section
};

}  // namespace hollowtrees::engine
