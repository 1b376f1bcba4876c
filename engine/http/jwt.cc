#include "engine/http/jwt.h"

#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"

namespace hollowtrees::engine {
namespace {

absl::Status Fail(JwtFailure why, JwtFailure* out, absl::string_view message) {
  if (out != nullptr) *out = why;
  return absl::UnauthenticatedError(message);
}

bool IsBase64UrlChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

// Strict base64url without padding: only the alphabet, and a length that a
// whole number of bytes can have (mod 4 != 1).
bool DecodePart(absl::string_view part, std::string* out) {
  if (part.empty() || part.size() % 4 == 1) return false;
  for (char c : part) {
    if (!IsBase64UrlChar(c)) return false;
  }
  return absl::WebSafeBase64Unescape(part, out);
}

// A NumericDate (RFC 7519 section 2): a JSON number of seconds.
bool NumericDate(const nlohmann::json& v, absl::Time* out) {
  if (!v.is_number()) return false;
  const double s = v.get<double>();
  if (!std::isfinite(s) || s < -1e11 || s > 1e11) return false;
  *out = absl::FromUnixMillis(static_cast<int64_t>(s * 1000));
  return true;
}

struct JwtDeleter {
  void operator()(jwt_t* j) const { jwt_free(j); }
};

}  // namespace

absl::string_view JwtFailureName(JwtFailure failure) {
  switch (failure) {
    case JwtFailure::kNone: return "none";
    case JwtFailure::kMalformed: return "malformed";
    case JwtFailure::kAlgorithm: return "algorithm";
    case JwtFailure::kSignature: return "signature";
    case JwtFailure::kExpired: return "expired";
    case JwtFailure::kNotYetValid: return "not_yet_valid";
    case JwtFailure::kClaims: return "claims";
  }
  return "unknown";
}

absl::StatusOr<JwtClaims> VerifyHs256Jwt(absl::string_view token, absl::string_view key,
                                         const JwtVerifyOptions& options, JwtFailure* failure) {
  if (failure != nullptr) *failure = JwtFailure::kNone;
  if (token.size() > kMaxJwtBytes) {
    return Fail(JwtFailure::kMalformed, failure,
                absl::StrCat("token longer than ", kMaxJwtBytes, " bytes"));
  }
  std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3) {
    return Fail(JwtFailure::kMalformed, failure,
                "token is not a JWT (want three base64url parts separated by dots)");
  }
  std::string header_text, claims_text, signature;
  if (!DecodePart(parts[0], &header_text)) {
    return Fail(JwtFailure::kMalformed, failure, "JWT header is not base64url");
  }
  if (!DecodePart(parts[1], &claims_text)) {
    return Fail(JwtFailure::kMalformed, failure, "JWT claims are not base64url");
  }
  if (!DecodePart(parts[2], &signature)) {
    return Fail(JwtFailure::kMalformed, failure, "JWT signature is missing or not base64url");
  }
  // nlohmann's parser takes a NUL byte for the end of the text: refuse them.
  if (header_text.find('\0') != std::string::npos || claims_text.find('\0') != std::string::npos) {
    return Fail(JwtFailure::kMalformed, failure, "JWT header or claims contain a NUL byte");
  }
  const nlohmann::json header = nlohmann::json::parse(header_text, nullptr, false);
  if (header.is_discarded() || !header.is_object()) {
    return Fail(JwtFailure::kMalformed, failure, "JWT header is not a JSON object");
  }
  const auto alg = header.find("alg");
  if (alg == header.end() || !alg->is_string() || alg->get_ref<const std::string&>() != "HS256") {
    return Fail(JwtFailure::kAlgorithm, failure, "JWT algorithm must be HS256");
  }
  if (header.contains("crit")) {
    return Fail(JwtFailure::kAlgorithm, failure, "JWT header has unsupported critical extensions");
  }
  if (signature.size() != 32) {
    return Fail(JwtFailure::kSignature, failure, "JWT signature does not verify");
  }
  const nlohmann::json claims = nlohmann::json::parse(claims_text, nullptr, false);
  if (claims.is_discarded() || !claims.is_object()) {
    return Fail(JwtFailure::kMalformed, failure, "JWT claims are not a JSON object");
  }
  if (key.empty() || key.size() > static_cast<size_t>(INT32_MAX)) {
    return Fail(JwtFailure::kSignature, failure, "JWT signature does not verify");
  }

  // The signature, by libjwt (constant-time comparison). The token is known
  // to hold only base64url characters and dots: no NUL inside.
  const std::string token_z(token);
  jwt_t* raw = nullptr;
  const int rc = jwt_decode(&raw, token_z.c_str(), reinterpret_cast<const unsigned char*>(key.data()),
                            static_cast<int>(key.size()));
  std::unique_ptr<jwt_t, JwtDeleter> decoded(raw);
  if (rc != 0 || decoded == nullptr) {
    return Fail(JwtFailure::kSignature, failure, "JWT signature does not verify");
  }
  if (jwt_get_alg(decoded.get()) != JWT_ALG_HS256) {
    return Fail(JwtFailure::kAlgorithm, failure, "JWT algorithm must be HS256");
  }

  JwtClaims out;
  auto string_claim = [&](const char* name, std::string* field) {
    const auto it = claims.find(name);
    if (it == claims.end()) return true;
    if (!it->is_string()) return false;
    *field = it->get<std::string>();
    return true;
  };
  for (const auto& [name, field] : {std::pair<const char*, std::string*>{"sub", &out.subject},
                                    {"iss", &out.issuer},
                                    {"scope", &out.scope},
                                    {"jti", &out.id}}) {
    if (!string_claim(name, field)) {
      return Fail(JwtFailure::kClaims, failure, absl::StrCat("JWT claim ", name, " must be a string"));
    }
  }
  if (const auto aud = claims.find("aud"); aud != claims.end()) {
    if (aud->is_string()) {
      out.audience.push_back(aud->get<std::string>());
    } else if (aud->is_array()) {
      for (const auto& a : *aud) {
        if (!a.is_string()) {
          return Fail(JwtFailure::kClaims, failure, "JWT claim aud must be a string or strings");
        }
        out.audience.push_back(a.get<std::string>());
      }
    } else {
      return Fail(JwtFailure::kClaims, failure, "JWT claim aud must be a string or strings");
    }
  }
  absl::Time t;
  if (const auto exp = claims.find("exp"); exp != claims.end()) {
    if (!NumericDate(*exp, &t)) {
      return Fail(JwtFailure::kClaims, failure, "JWT claim exp must be a number of seconds");
    }
    out.expires_at = t;
  }
  if (const auto nbf = claims.find("nbf"); nbf != claims.end()) {
    if (!NumericDate(*nbf, &t)) {
      return Fail(JwtFailure::kClaims, failure, "JWT claim nbf must be a number of seconds");
    }
    out.not_before = t;
  }
  if (out.expires_at && options.now > *out.expires_at + options.leeway) {
    return Fail(JwtFailure::kExpired, failure, "JWT has expired");
  }
  if (out.not_before && options.now + options.leeway < *out.not_before) {
    return Fail(JwtFailure::kNotYetValid, failure, "JWT is not valid yet (nbf)");
  }
  if (!options.issuer.empty() && out.issuer != options.issuer) {
    return Fail(JwtFailure::kClaims, failure, "JWT issuer (iss) is not the one configured");
  }
  if (!options.audience.empty() &&
      std::find(out.audience.begin(), out.audience.end(), options.audience) == out.audience.end()) {
    return Fail(JwtFailure::kClaims, failure, "JWT audience (aud) does not include this engine");
  }
  return out;
}

std::string Base32Encode(absl::string_view data) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string out;
  out.reserve((data.size() + 4) / 5 * 8);
  uint64_t buffer = 0;
  int bits = 0;
  for (unsigned char c : data) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 5) {
      out.push_back(kAlphabet[(buffer >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (5 - bits)) & 31]);
  while (out.size() % 8 != 0) out.push_back('=');
  return out;
}

std::string SignHs256JwtForTesting(absl::string_view claims_json, absl::string_view key,
                                   absl::string_view header_json) {
  if (header_json.empty()) header_json = R"({"alg":"HS256","typ":"JWT"})";
  std::string h, c;
  absl::WebSafeBase64Escape(header_json, &h);
  absl::WebSafeBase64Escape(claims_json, &c);
  const std::string input = absl::StrCat(h, ".", c);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &mac_len);
  std::string sig;
  absl::WebSafeBase64Escape(absl::string_view(reinterpret_cast<const char*>(mac), mac_len), &sig);
  return absl::StrCat(input, ".", sig);
}

}  // namespace hollowtrees::engine
