#include "engine/http/auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "lib/common/file.h"
#include "lib/common/status_macros.h"

namespace hollowtrees::engine {
namespace {

absl::StatusOr<std::string> ReadSecretFile(const std::string& path, absl::string_view what) {
  auto text = ReadFile(path);
  if (!text.ok()) {
    return absl::NotFoundError(
        absl::StrCat(what, " ", path, ": cannot read the file (", text.status().message(), ")"));
  }
  return text;
}

std::array<unsigned char, 32> Sha256(absl::string_view data) {
  std::array<unsigned char, 32> out;
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data());
  return out;
}

AuthOutcome Refuse(int status, absl::string_view reason, std::string message) {
  AuthOutcome o;
  o.http_status = status;
  o.reason = std::string(reason);
  o.message = std::move(message);
  return o;
}

// The original's subject scheme: "clusters/<org_id>/<cluster_id>".
bool ParseClusterSubject(absl::string_view subject, std::string* org, std::string* cluster) {
  std::vector<absl::string_view> parts = absl::StrSplit(subject, '/');
  if (parts.size() != 3 || parts[0] != "clusters" || parts[1].empty() || parts[2].empty()) {
    return false;
  }
  *org = std::string(parts[1]);
  *cluster = std::string(parts[2]);
  return true;
}

}  // namespace

EndpointClass ClassifyPath(absl::string_view path) {
  if (path == "/api/v1/alerts" || path == "/api/v2/alerts" ||
      path == "/api/v1/webhooks/alertmanager" || path == "/api/v1/events") {
    return EndpointClass::kIntake;
  }
  if (path == "/metrics") return EndpointClass::kMetrics;
  if (absl::StartsWith(path, "/api/")) return EndpointClass::kApi;
  return EndpointClass::kOpen;
}

absl::string_view EndpointClassName(EndpointClass c) {
  switch (c) {
    case EndpointClass::kIntake: return "intake";
    case EndpointClass::kApi: return "api";
    case EndpointClass::kMetrics: return "metrics";
    case EndpointClass::kOpen: return "open";
  }
  return "open";
}

absl::StatusOr<std::shared_ptr<const Authenticator>> Authenticator::Create(const AuthConfig& config) {
  std::shared_ptr<Authenticator> a(new Authenticator());
  a->config_ = config;
  for (EndpointClass c : config.protect) {
    if (c != EndpointClass::kOpen) a->protects_[static_cast<int>(c)] = true;
  }
  if (!config.bearer_tokens_file.empty()) {
    HT_ASSIGN_OR_RETURN(const std::string text,
                        ReadSecretFile(config.bearer_tokens_file, "auth.bearer_tokens_file"));
    absl::flat_hash_set<std::string> seen;
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      line = absl::StripAsciiWhitespace(line);
      if (line.empty() || absl::StartsWith(line, "#")) continue;
      if (seen.insert(std::string(line)).second) a->token_digests_.push_back(Sha256(line));
    }
    if (a->token_digests_.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("auth.bearer_tokens_file ",
                                                     config.bearer_tokens_file, ": holds no token"));
    }
  }
  if (config.jwt_enabled) {
    HT_ASSIGN_OR_RETURN(const std::string secret,
                        ReadSecretFile(config.jwt.hs256_secret_file, "auth.jwt.hs256_secret_file"));
    // A file written with `echo` ends in a newline that is not part of the key.
    absl::string_view key = secret;
    while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.remove_suffix(1);
    if (key.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("auth.jwt.hs256_secret_file ",
                                                     config.jwt.hs256_secret_file, ": is empty"));
    }
    a->jwt_key_ = config.jwt.key_encoding == JwtKeyEncoding::kBase32 ? Base32Encode(key)
                                                                     : std::string(key);
  }
  return std::shared_ptr<const Authenticator>(std::move(a));
}

bool Authenticator::Protects(EndpointClass c) const {
  return c != EndpointClass::kOpen && protects_[static_cast<int>(c)];
}

bool Authenticator::KnownBearerToken(absl::string_view token) const {
  // Digests of equal length, compared in constant time, every one of them:
  // neither the position nor the length of a match shows in the timing.
  const auto digest = Sha256(token);
  int found = 0;
  for (const auto& d : token_digests_) found |= (CRYPTO_memcmp(d.data(), digest.data(), 32) == 0);
  return found != 0;
}

AuthOutcome Authenticator::Authenticate(absl::string_view authorization, absl::Time now) const {
  authorization = absl::StripAsciiWhitespace(authorization);
  if (authorization.empty()) {
    return Refuse(401, "missing", "missing credentials: send Authorization: Bearer <token>");
  }
  if (absl::EqualsIgnoreCase(authorization, "bearer")) {
    return Refuse(401, "missing", "missing credentials: send Authorization: Bearer <token>");
  }
  const size_t space = authorization.find(' ');
  if (space == absl::string_view::npos ||
      !absl::EqualsIgnoreCase(authorization.substr(0, space), "bearer")) {
    return Refuse(401, "scheme", "unsupported authorization scheme: use Authorization: Bearer <token>");
  }
  const absl::string_view token = absl::StripAsciiWhitespace(authorization.substr(space + 1));
  if (token.empty()) {
    return Refuse(401, "missing", "missing credentials: send Authorization: Bearer <token>");
  }
  AuthOutcome ok;
  if (!token_digests_.empty() && KnownBearerToken(token)) {
    ok.principal.kind = Principal::Kind::kBearerToken;
    return ok;
  }
  if (!config_.jwt_enabled || std::count(token.begin(), token.end(), '.') != 2) {
    return Refuse(401, "unknown_token", "invalid bearer token");
  }
  JwtFailure failure = JwtFailure::kNone;
  auto claims = VerifyHs256Jwt(token, jwt_key_,
                               {.now = now,
                                .leeway = config_.jwt.leeway,
                                .issuer = config_.jwt.issuer,
                                .audience = config_.jwt.audience},
                               &failure);
  if (!claims.ok()) {
    return Refuse(401, JwtFailureName(failure), std::string(claims.status().message()));
  }
  ok.principal.kind = Principal::Kind::kJwt;
  ok.principal.subject = claims->subject;
  if (config_.jwt.require_cluster_match) {
    if (!ParseClusterSubject(claims->subject, &ok.principal.org_id, &ok.principal.cluster_id)) {
      return Refuse(403, "not_cluster_scoped",
                    "the token's subject is not clusters/<org_id>/<cluster_id>, and this engine "
                    "requires cluster-scoped tokens");
    }
    ok.principal.cluster_scoped = true;
  }
  return ok;
}

absl::Status Authenticator::Authorize(const Principal& principal, const Labels& labels) {
  if (!principal.cluster_scoped) return absl::OkStatus();
  const std::string* org = FindLabel(labels, "org_id");
  const std::string* cluster = FindLabel(labels, "cluster_id");
  if (org == nullptr || cluster == nullptr) {
    return absl::PermissionDeniedError(
        "forbidden: the alert has no cluster_id and org_id labels, and the token is cluster-scoped");
  }
  if (*org != principal.org_id || *cluster != principal.cluster_id) {
    return absl::PermissionDeniedError(
        absl::StrCat("forbidden: the token is for org ", principal.org_id, " cluster ",
                     principal.cluster_id, ", the alert is for org ", *org, " cluster ", *cluster));
  }
  return absl::OkStatus();
}

namespace {

// Indexes (in the request) of the items kept in order, given the refused
// ones: the parsers keep request order and skip what they refuse.
std::vector<int> KeptIndexes(size_t kept, const std::vector<Rejection>& rejected) {
  absl::flat_hash_set<int> refused;
  for (const Rejection& r : rejected) refused.insert(r.index);
  std::vector<int> out;
  out.reserve(kept);
  for (int i = 0; out.size() < kept; ++i) {
    if (!refused.contains(i)) out.push_back(i);
  }
  return out;
}

void SortByIndex(std::vector<Rejection>* rejected) {
  std::stable_sort(rejected->begin(), rejected->end(),
                   [](const Rejection& a, const Rejection& b) { return a.index < b.index; });
}

}  // namespace

int FilterAlertsForPrincipal(const Principal& principal, AlertBatch* batch) {
  if (!principal.cluster_scoped) return 0;
  const std::vector<int> index = KeptIndexes(batch->alerts.size(), batch->rejected);
  std::vector<ParsedAlert> kept;
  int refused = 0;
  for (size_t i = 0; i < batch->alerts.size(); ++i) {
    absl::Status s = Authenticator::Authorize(principal, batch->alerts[i].labels);
    if (s.ok()) {
      kept.push_back(std::move(batch->alerts[i]));
    } else {
      batch->rejected.push_back({index[i], std::string(s.message())});
      ++refused;
    }
  }
  batch->alerts = std::move(kept);
  if (refused > 0) SortByIndex(&batch->rejected);
  return refused;
}

int FilterEventsForPrincipal(const Principal& principal, std::vector<EventPtr>* events,
                             std::vector<Rejection>* rejected) {
  if (!principal.cluster_scoped) return 0;
  const std::vector<int> index = KeptIndexes(events->size(), *rejected);
  std::vector<EventPtr> kept;
  int refused = 0;
  for (size_t i = 0; i < events->size(); ++i) {
    absl::Status s = Authenticator::Authorize(principal, (*events)[i]->labels);
    if (s.ok()) {
      kept.push_back(std::move((*events)[i]));
    } else {
      rejected->push_back({index[i], std::string(s.message())});
      ++refused;
    }
  }
  *events = std::move(kept);
  if (refused > 0) SortByIndex(rejected);
  return refused;
}

AuthMetrics::AuthMetrics(metrics::Registry& registry)
    : failures_(registry.AddCounter(
          "hollowtrees_auth_failures_total",
          "Requests refused for missing or bad credentials, and alerts refused by the "
          "per-cluster check (reason=\"forbidden\").",
          {"reason"})) {}

void AuthMetrics::Count(absl::string_view reason, int n) {
  failures_.WithLabels({std::string(reason)}).Inc(n);
}

}  // namespace hollowtrees::engine
