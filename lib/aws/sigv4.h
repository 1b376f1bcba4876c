#pragma once

// AWS Signature Version 4 (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html):
// canonical request, string to sign, signing key, Authorization header, and
// the parsing of an Authorization header for servers (the test fakes) that
// verify signatures. Pure functions over OpenSSL; thread-safe.

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "lib/http/http_client.h"

namespace hollowtrees::aws {

// A set of AWS credentials. Long-term credentials have no session token and
// never expire; temporary ones (STS, instance profile) carry both.
struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;
  absl::Time expiration = absl::InfiniteFuture();
  // Where they came from, for logs ("environment", "profile default", ...).
  std::string source;
};

// Lower-case hex of the bytes.
std::string HexEncode(absl::string_view bytes);
// Lower-case hex SHA-256 of the data.
std::string Sha256Hex(absl::string_view data);
// Raw HMAC-SHA256 of data under key.
std::string HmacSha256(absl::string_view key, absl::string_view data);

// "20150830T123600Z" and "20150830".
std::string FormatAmzDate(absl::Time t);
std::string FormatAmzShortDate(absl::Time t);
absl::StatusOr<absl::Time> ParseAmzDate(absl::string_view text);

// A request as it goes on the wire, before or after signing.
struct SignableRequest {
  std::string method = "POST";
  // The path as sent, percent-encoded ("/" when empty).
  std::string path = "/";
  // The raw query string without '?', as sent.
  std::string query;
  // Must include Host (as sent, with :port when not the scheme's default).
  http::Headers headers;
  std::string body;
};

struct SigningParams {
  std::string region;
  std::string service;  // the signing name: "autoscaling", "ec2", "sts", ...
  absl::Time time;
  // Every service but S3 normalises the path and encodes it a second time.
  bool normalize_path = true;
};

// The headers SignRequest signs: every header of the request but those
// proxies and clients rewrite (authorization, user-agent, content-length,
// expect, connection, x-amzn-trace-id), lower-cased, sorted, unique.
std::vector<std::string> HeadersToSign(const SignableRequest& request);

// The canonical request over the named (lower-case, sorted) headers; the
// payload hash is X-Amz-Content-Sha256 when present, else SHA-256 of the body.
std::string CanonicalRequest(const SignableRequest& request,
                             const std::vector<std::string>& signed_headers,
                             bool normalize_path = true);

// "<date>/<region>/<service>/aws4_request".
std::string CredentialScope(absl::Time t, absl::string_view region, absl::string_view service);

std::string StringToSign(absl::Time t, absl::string_view scope, absl::string_view canonical_request);

// The raw signing key: HMAC chain over date, region, service, "aws4_request".
std::string SigningKey(absl::string_view secret_access_key, absl::Time t, absl::string_view region,
                       absl::string_view service);

// The hex signature of the request over the given headers.
std::string ComputeSignature(const SignableRequest& request,
                             const std::vector<std::string>& signed_headers,
                             absl::string_view secret_access_key, const SigningParams& params);

// Derived signing keys, reused while secret, date, region and service stay
// the same (a day): deriving one is four HMACs, half the cost of signing.
// Keeps at most 16 keys. Thread-safe.
class SigningKeyCache {
 public:
  std::string Get(absl::string_view secret_access_key, absl::Time t, absl::string_view region,
                  absl::string_view service);

 private:
  absl::Mutex mu_;
  std::map<std::string, std::string> keys_ ABSL_GUARDED_BY(mu_);
};

// The hex signature over the given headers with an already derived key.
std::string ComputeSignatureWithKey(const SignableRequest& request,
                                    const std::vector<std::string>& signed_headers,
                                    absl::string_view signing_key, const SigningParams& params);

// Signs in place: adds X-Amz-Date (unless present), X-Amz-Security-Token for
// session credentials, then Authorization over HeadersToSign(). With a
// cache, the signing key is derived once per day.
void SignRequest(SignableRequest& request, const Credentials& credentials,
                 const SigningParams& params, SigningKeyCache* cache = nullptr);

// The parts of "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request,
// SignedHeaders=host;x-amz-date, Signature=hex".
struct ParsedAuthorization {
  std::string access_key_id;
  std::string date;  // yyyymmdd
  std::string region;
  std::string service;
  std::vector<std::string> signed_headers;
  std::string signature;
};
// InvalidArgument naming what is malformed.
absl::StatusOr<ParsedAuthorization> ParseAuthorization(absl::string_view header);

}  // namespace hollowtrees::aws
