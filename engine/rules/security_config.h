#pragma once

// The security sections of rules.yaml (docs/security.md documents every
// key): HTTPS on the engine's listener and the authentication of senders.
// Plain data, parsed and validated by ParseConfig (engine/rules/config.h); the
// secrets themselves stay in files and are read by Authenticator::Create,
// never copied into the configuration or a log line.

#include <string>
#include <vector>

#include "absl/time/time.h"

namespace hollowtrees::engine {

// `tls:` at the top level: serve HTTPS instead of HTTP.
struct ListenerTlsConfig {
  std::string cert_file;  // PEM certificate (chain); re-read when it changes
  std::string key_file;   // PEM private key; re-read when it changes
  // When set, clients must present a certificate signed by one of these CAs
  // (mutual TLS from senders). Read at start.
  std::string client_ca_file;
};

// The groups of endpoints `auth.protect` can name. /healthz and /readyz are
// never protected (probes carry no credentials).
enum class EndpointClass {
  kIntake,   // POST /api/v{1,2}/alerts, /api/v1/webhooks/alertmanager, /api/v1/events
  kApi,      // GET /api/v1/flows, /api/v1/rules (and future API calls)
  kMetrics,  // GET /metrics
  kOpen,     // /healthz, /readyz, unknown paths: never authenticated
};

// How the JWT secret file's bytes become the HMAC key.
enum class JwtKeyEncoding {
  kRaw,     // the file's bytes as they are (RFC 7518)
  kBase32,  // Base32 (RFC 4648, padded) of the file's bytes: what Banzai
            // Cloud Pipeline and the original Hollowtrees sign and verify with
};

struct JwtConfig {
  std::string hs256_secret_file;
  JwtKeyEncoding key_encoding = JwtKeyEncoding::kRaw;
  // The token's subject must be "clusters/<org_id>/<cluster_id>" and every
  // alert's cluster_id and org_id labels must equal those (the original
  // project's per-cluster authorization). Default false.
  bool require_cluster_match = false;
  std::string issuer;    // when set, the token's iss must equal it
  std::string audience;  // when set, the token's aud must be or contain it
  // Clock skew allowed on exp and nbf. Default 60s.
  absl::Duration leeway = absl::Seconds(60);
};

// `auth:` at the top level.
struct AuthConfig {
  // One accepted bearer token per line (blank lines and lines starting with
  // # are skipped). Empty: no static tokens.
  std::string bearer_tokens_file;
  bool jwt_enabled = false;
  JwtConfig jwt;
  // Which endpoint classes require credentials. Default: intake only.
  std::vector<EndpointClass> protect = {EndpointClass::kIntake};
};

}  // namespace hollowtrees::engine
