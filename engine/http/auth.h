#pragma once

// Authentication and authorization of the engine's HTTP senders
// (docs/security.md): static bearer tokens and HS256 JWTs, in the
// `Authorization: Bearer <token>` header, and the original project's
// per-cluster authorization (a token for clusters/<org>/<cluster> may only
// send alerts whose org_id and cluster_id labels say so).
//
// An Authenticator is immutable once made: a reload builds a new one aside
// and swaps it in (shared_ptr<const Authenticator>). It never logs, and no
// message it makes contains a token or a secret. Thread-safe.

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/event/alert.h"
#include "engine/event/event.h"
#include "engine/http/jwt.h"
#include "engine/rules/security_config.h"
#include "lib/metrics/metrics.h"

namespace hollowtrees::engine {

// Who sent a request.
struct Principal {
  enum class Kind { kNone, kBearerToken, kJwt };
  Kind kind = Kind::kNone;
  std::string subject;  // JWT sub
  // Set for a JWT whose subject is clusters/<org_id>/<cluster_id> when the
  // configuration requires cluster matching: the alerts it may send.
  bool cluster_scoped = false;
  std::string org_id;
  std::string cluster_id;
};

// The answer to "may this request in?".
struct AuthOutcome {
  int http_status = 200;  // 200, 401 (no or bad credentials), 403 (not allowed)
  std::string reason;     // metric label: missing, scheme, unknown_token, malformed, ...
  std::string message;    // for the JSON error body; never holds a secret
  Principal principal;
  bool ok() const { return http_status == 200; }
};

// Which endpoint class a request path belongs to.
EndpointClass ClassifyPath(absl::string_view path);
absl::string_view EndpointClassName(EndpointClass c);

class Authenticator {
 public:
  // Reads the token and secret files named by `config`. InvalidArgument or
  // NotFound naming the file (never its content) when one cannot be read,
  // is empty, or holds no token.
  static absl::StatusOr<std::shared_ptr<const Authenticator>> Create(const AuthConfig& config);

  // True when requests of class `c` need credentials.
  bool Protects(EndpointClass c) const;

  // Checks the Authorization header's value ("" when absent) at `now`.
  AuthOutcome Authenticate(absl::string_view authorization, absl::Time now) const;

  // OK when `principal` may send an alert with these labels: always, unless
  // the principal is cluster-scoped; then its org_id and cluster_id labels
  // must equal the token's. PermissionDenied naming the mismatch otherwise.
  static absl::Status Authorize(const Principal& principal, const Labels& labels);

  size_t bearer_token_count() const { return token_digests_.size(); }

 private:
  Authenticator() = default;
  bool KnownBearerToken(absl::string_view token) const;

  AuthConfig config_;
  std::vector<std::array<unsigned char, 32>> token_digests_;  // SHA-256 of each token
  std::string jwt_key_;                                       // the HMAC key
  bool protects_[3] = {false, false, false};
};

// Moves the alerts `principal` may not send from `batch->alerts` into
// `batch->rejected` (with their index in the request and a "forbidden: ..."
// error), keeping the others. Returns how many were moved.
int FilterAlertsForPrincipal(const Principal& principal, AlertBatch* batch);
// The same for CloudEvents (their data.labels).
int FilterEventsForPrincipal(const Principal& principal, std::vector<EventPtr>* events,
                             std::vector<Rejection>* rejected);

// hollowtrees_auth_failures_total{reason}: refused requests (and, with reason
// "forbidden", alerts refused by the per-cluster check).
class AuthMetrics {
 public:
  explicit AuthMetrics(metrics::Registry& registry);
  void Count(absl::string_view reason, int n = 1);

 private:
  metrics::Family<metrics::Counter>& failures_;
};

}  // namespace hollowtrees::engine
