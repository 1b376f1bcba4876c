#pragma once

// Verification of JSON Web Tokens signed with HMAC SHA-256 (RFC 7519,
// RFC 7515 compact serialization, RFC 7518 "HS256"). The signature check is
// libjwt's (Debian's libjwt, constant-time comparison); the strict shape
// checks, the algorithm pin and the claim checks are ours, so that nothing
// but a well-formed HS256 token with valid times passes:
// - the token is three base64url parts (no padding, nothing else), at most
//   kMaxJwtBytes long;
// - the header's alg must be exactly "HS256" ("none", "HS512", "RS256" and
//   anything else are refused before any key is used), and it may not carry
//   "crit";
// - exp and nbf, when present, must be numbers and hold at `now` within the
//   leeway; a token without exp does not expire (Pipeline issues such
//   tokens); iss and aud are checked when the options ask for them.
//
// Pure functions of their inputs; thread-safe.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace hollowtrees::engine {

inline constexpr size_t kMaxJwtBytes = 8192;

// Why a token was refused; also the `reason` label of
// hollowtrees_auth_failures_total.
enum class JwtFailure {
  kNone,
  kMalformed,     // not three base64url parts, header or claims not a JSON object
  kAlgorithm,     // alg is not HS256, or crit is present
  kSignature,     // the signature does not verify with the key
  kExpired,       // now > exp + leeway
  kNotYetValid,   // now + leeway < nbf
  kClaims,        // a claim has the wrong type, or iss/aud do not match
};
absl::string_view JwtFailureName(JwtFailure failure);

struct JwtClaims {
  std::string subject;                 // sub ("" when absent)
  std::string issuer;                  // iss
  std::vector<std::string> audience;   // aud (a string or a list)
  std::string scope;                   // scope (Pipeline: "api:invoke")
  std::string id;                      // jti
  std::optional<absl::Time> expires_at;
  std::optional<absl::Time> not_before;
};

struct JwtVerifyOptions {
  absl::Time now;                                  // the verifier's clock
  absl::Duration leeway = absl::Seconds(60);       // allowed clock skew
  std::string issuer;                              // required iss, when not empty
  std::string audience;                            // required aud, when not empty
};

// Verifies `token` against the HMAC `key` (not empty). On failure
// Unauthenticated with a message that names the problem but never repeats
// the token or the key, and `*failure` (when given) says which check failed.
absl::StatusOr<JwtClaims> VerifyHs256Jwt(absl::string_view token, absl::string_view key,
                                         const JwtVerifyOptions& options,
                                         JwtFailure* failure = nullptr);

// Base32 (RFC 4648 section 6, with padding) of `data`: how Pipeline derives
// its HMAC key from the configured signing key.
std::string Base32Encode(absl::string_view data);

// Signs `claims_json` (a JSON object) as an HS256 token. For tests and
// tools; `header_json` defaults to {"alg":"HS256","typ":"JWT"}.
std::string SignHs256JwtForTesting(absl::string_view claims_json, absl::string_view key,
                                   absl::string_view header_json = "");

}  // namespace hollowtrees::engine
