#include "lib/aws/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "lib/common/url.h"

namespace hollowtrees::aws {
namespace {

constexpr char kAlgorithm[] = "AWS4-HMAC-SHA256";

// Removes "." and ".." segments and empty segments, keeping a trailing slash.
std::string NormalizePath(absl::string_view path) {
  if (path.empty()) return "/";
  std::vector<absl::string_view> out;
  for (absl::string_view seg : absl::StrSplit(path, '/')) {
    if (seg.empty() || seg == ".") continue;
    if (seg == "..") {
      if (!out.empty()) out.pop_back();
      continue;
    }
    out.push_back(seg);
  }
  std::string result = absl::StrCat("/", absl::StrJoin(out, "/"));
  const bool trailing = absl::EndsWith(path, "/") || absl::EndsWith(path, "/.") ||
                        absl::EndsWith(path, "/..");
  if (trailing && result != "/") result.push_back('/');
  return result;
}

std::string CanonicalUri(absl::string_view path, bool normalize) {
  if (path.empty()) return "/";
  if (!normalize) return std::string(path);
  // The wire path is already encoded once; SigV4 encodes it once more.
  return PercentEncode(NormalizePath(path), Slash::kKeep);
}

std::string CanonicalQuery(absl::string_view query) {
  std::vector<std::pair<std::string, std::string>> pairs;
  for (absl::string_view part : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    const size_t eq = part.find('=');
    std::string name = PercentDecode(part.substr(0, eq));
    std::string value = eq == absl::string_view::npos ? "" : PercentDecode(part.substr(eq + 1));
    pairs.emplace_back(PercentEncode(name), PercentEncode(value));
  }
  std::sort(pairs.begin(), pairs.end());
  std::vector<std::string> parts;
  parts.reserve(pairs.size());
  for (auto& [k, v] : pairs) parts.push_back(absl::StrCat(k, "=", v));
  return absl::StrJoin(parts, "&");
}

std::string CanonicalHeaderValue(absl::string_view value) {
  std::string out;
  bool space = false;
  for (char c : absl::StripAsciiWhitespace(value)) {
    if (c == ' ' || c == '\t') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

bool IsUnsignedHeader(absl::string_view lower) {
  return lower == "authorization" || lower == "user-agent" || lower == "content-length" ||
         lower == "expect" || lower == "connection" || lower == "x-amzn-trace-id" ||
         lower == "accept-encoding" || lower == "transfer-encoding" || lower == "keep-alive";
}

std::string HeaderValue(const http::Headers& headers, absl::string_view name) {
  for (const auto& [k, v] : headers) {
    if (absl::EqualsIgnoreCase(k, name)) return v;
  }
  return "";
}

}  // namespace

std::string HexEncode(absl::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::string Sha256Hex(absl::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return HexEncode(absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

std::string HmacSha256(absl::string_view key, absl::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string FormatAmzDate(absl::Time t) {
  return absl::FormatTime("%Y%m%dT%H%M%SZ", t, absl::UTCTimeZone());
}

std::string FormatAmzShortDate(absl::Time t) {
  return absl::FormatTime("%Y%m%d", t, absl::UTCTimeZone());
}

absl::StatusOr<absl::Time> ParseAmzDate(absl::string_view text) {
  // absl::ParseTime's %Y is greedy over "20150830T...", so the fields are
  // read by position: yyyymmddThhmmssZ.
  auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("bad X-Amz-Date \"", text, "\": want yyyymmddThhmmssZ"));
  };
  if (text.size() != 16 || text[8] != 'T' || text[15] != 'Z') return bad();
  int v[6];
  const int pos[6] = {0, 4, 6, 9, 11, 13};
  const int len[6] = {4, 2, 2, 2, 2, 2};
  for (int i = 0; i < 6; ++i) {
    v[i] = 0;
    for (int j = 0; j < len[i]; ++j) {
      const char c = text[pos[i] + j];
      if (!absl::ascii_isdigit(c)) return bad();
      v[i] = v[i] * 10 + (c - '0');
    }
  }
  const absl::CivilSecond cs(v[0], v[1], v[2], v[3], v[4], v[5]);
  if (cs.year() != v[0] || cs.month() != v[1] || cs.day() != v[2] || cs.hour() != v[3] ||
      cs.minute() != v[4] || cs.second() != v[5]) {
    return bad();
  }
  return absl::FromCivil(cs, absl::UTCTimeZone());
}

std::vector<std::string> HeadersToSign(const SignableRequest& request) {
  std::vector<std::string> names;
  for (const auto& [k, v] : request.headers) {
    std::string lower = absl::AsciiStrToLower(k);
    if (!IsUnsignedHeader(lower)) names.push_back(std::move(lower));
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

std::string CanonicalRequest(const SignableRequest& request,
                             const std::vector<std::string>& signed_headers,
                             bool normalize_path) {
  // name -> values in order of appearance, joined by ','.
  std::map<std::string, std::vector<std::string>> values;
  for (const auto& [k, v] : request.headers) {
    values[absl::AsciiStrToLower(k)].push_back(CanonicalHeaderValue(v));
  }
  std::string headers;
  for (const std::string& name : signed_headers) {
    absl::StrAppend(&headers, name, ":", absl::StrJoin(values[name], ","), "\n");
  }
  std::string payload_hash = HeaderValue(request.headers, "x-amz-content-sha256");
  if (payload_hash.empty()) payload_hash = Sha256Hex(request.body);
  return absl::StrCat(request.method, "\n", CanonicalUri(request.path, normalize_path), "\n",
                      CanonicalQuery(request.query), "\n", headers, "\n",
                      absl::StrJoin(signed_headers, ";"), "\n", payload_hash);
}

std::string CredentialScope(absl::Time t, absl::string_view region, absl::string_view service) {
  return absl::StrCat(FormatAmzShortDate(t), "/", region, "/", service, "/aws4_request");
}

std::string StringToSign(absl::Time t, absl::string_view scope, absl::string_view canonical_request) {
  return absl::StrCat(kAlgorithm, "\n", FormatAmzDate(t), "\n", scope, "\n",
                      Sha256Hex(canonical_request));
}

std::string SigningKey(absl::string_view secret_access_key, absl::Time t, absl::string_view region,
                       absl::string_view service) {
  const std::string k_date = HmacSha256(absl::StrCat("AWS4", secret_access_key), FormatAmzShortDate(t));
  const std::string k_region = HmacSha256(k_date, region);
  const std::string k_service = HmacSha256(k_region, service);
  return HmacSha256(k_service, "aws4_request");
}

std::string ComputeSignatureWithKey(const SignableRequest& request,
                                    const std::vector<std::string>& signed_headers,
                                    absl::string_view signing_key, const SigningParams& params) {
  const std::string canonical = CanonicalRequest(request, signed_headers, params.normalize_path);
  const std::string scope = CredentialScope(params.time, params.region, params.service);
  const std::string sts = StringToSign(params.time, scope, canonical);
  return HexEncode(HmacSha256(signing_key, sts));
}

std::string ComputeSignature(const SignableRequest& request,
                             const std::vector<std::string>& signed_headers,
                             absl::string_view secret_access_key, const SigningParams& params) {
  return ComputeSignatureWithKey(
      request, signed_headers,
      SigningKey(secret_access_key, params.time, params.region, params.service), params);
}

std::string SigningKeyCache::Get(absl::string_view secret_access_key, absl::Time t,
                                 absl::string_view region, absl::string_view service) {
  std::string id = absl::StrCat(Sha256Hex(secret_access_key), "/", FormatAmzShortDate(t), "/",
                                region, "/", service);
  absl::MutexLock lock(&mu_);
  auto it = keys_.find(id);
  if (it != keys_.end()) return it->second;
  if (keys_.size() >= 16) keys_.clear();  // a new day, or rotated credentials
  std::string key = SigningKey(secret_access_key, t, region, service);
  keys_.emplace(std::move(id), key);
  return key;
}

void SignRequest(SignableRequest& request, const Credentials& credentials,
                 const SigningParams& params, SigningKeyCache* cache) {
  if (HeaderValue(request.headers, "x-amz-date").empty()) {
    request.headers.emplace_back("X-Amz-Date", FormatAmzDate(params.time));
  }
  if (!credentials.session_token.empty() &&
      HeaderValue(request.headers, "x-amz-security-token").empty()) {
    request.headers.emplace_back("X-Amz-Security-Token", credentials.session_token);
  }
  const std::vector<std::string> signed_headers = HeadersToSign(request);
  const std::string key =
      cache != nullptr
          ? cache->Get(credentials.secret_access_key, params.time, params.region, params.service)
          : SigningKey(credentials.secret_access_key, params.time, params.region, params.service);
  const std::string signature = ComputeSignatureWithKey(request, signed_headers, key, params);
  request.headers.emplace_back(
      "Authorization",
      absl::StrCat(kAlgorithm, " Credential=", credentials.access_key_id, "/",
                   CredentialScope(params.time, params.region, params.service),
                   ", SignedHeaders=", absl::StrJoin(signed_headers, ";"),
                   ", Signature=", signature));
}

absl::StatusOr<ParsedAuthorization> ParseAuthorization(absl::string_view header) {
  absl::string_view rest = absl::StripAsciiWhitespace(header);
  if (!absl::ConsumePrefix(&rest, kAlgorithm) || rest.empty() || rest[0] != ' ') {
    return absl::InvalidArgumentError(
        "Authorization header does not start with the algorithm AWS4-HMAC-SHA256");
  }
  ParsedAuthorization out;
  bool have_credential = false, have_signed = false, have_signature = false;
  for (absl::string_view part : absl::StrSplit(rest, ',', absl::SkipWhitespace())) {
    part = absl::StripAsciiWhitespace(part);
    const size_t eq = part.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("Authorization component \"", part,
                                                     "\" is not key=value"));
    }
    absl::string_view key = part.substr(0, eq);
    absl::string_view value = part.substr(eq + 1);
    if (key == "Credential") {
      std::vector<std::string> c = absl::StrSplit(value, '/');
      if (c.size() != 5 || c[4] != "aws4_request" || c[0].empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "Credential \"", value, "\" is not AKID/yyyymmdd/region/service/aws4_request"));
      }
      out.access_key_id = c[0];
      out.date = c[1];
      out.region = c[2];
      out.service = c[3];
      have_credential = true;
    } else if (key == "SignedHeaders") {
      out.signed_headers = absl::StrSplit(value, ';', absl::SkipEmpty());
      have_signed = true;
    } else if (key == "Signature") {
      out.signature = std::string(value);
      have_signature = true;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown Authorization component \"", key, "\""));
    }
  }
  if (!have_credential) return absl::InvalidArgumentError("Authorization lacks Credential");
  if (!have_signed) return absl::InvalidArgumentError("Authorization lacks SignedHeaders");
  if (!have_signature) return absl::InvalidArgumentError("Authorization lacks Signature");
  return out;
}

}  // namespace hollowtrees::aws
