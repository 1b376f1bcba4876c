#pragma once

// The AWS Query protocol (Auto Scaling, EC2, STS): a form-encoded POST with
// Action and Version, signed with SigV4, answered with XML. AWS error bodies
// become typed errors; throttling and 5xx are retried with exponential
// backoff and full jitter.

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "lib/aws/credentials.h"
#include "lib/aws/retry.h"
#include "lib/aws/environment.h"
#include "lib/common/backoff.h"
#include "lib/common/clock.h"
#include "lib/http/http_client.h"
#include "pugixml.hpp"

namespace spdlog {
class logger;
}

namespace hollowtrees::aws {

// An error answered by an AWS service.
struct AwsError {
  int http_status = 0;
  std::string code;        // "Throttling", "ValidationError", "InvalidInstanceID.NotFound", ...
  std::string message;
  std::string request_id;
};

// The canonical code an AWS error code maps to: Throttling,
// RequestLimitExceeded and 5xx are Unavailable (retryable); authentication
// problems Unauthenticated; AccessDenied/UnauthorizedOperation
// PermissionDenied; *.NotFound NotFound; validation errors InvalidArgument;
// ResourceContention and ScalingActivityInProgress Unavailable.
absl::StatusCode AwsErrorCode(const AwsError& error);
// A Status carrying the error (message "AWS <code>: <message> (HTTP n, request id r)")
// with the AwsError attached as a payload.
absl::Status MakeAwsStatus(const AwsError& error);
// The AwsError inside a status made by MakeAwsStatus, if any.
std::optional<AwsError> GetAwsError(const absl::Status& status);
// True when the status is an AWS error of this code.
bool IsAwsError(const absl::Status& status, absl::string_view code);

// Parses both AWS error shapes: <ErrorResponse><Error><Code> (Auto Scaling,
// STS, ...) and <Response><Errors><Error><Code> (EC2). InvalidArgument when
// the body is neither.
absl::StatusOr<AwsError> ParseAwsErrorBody(absl::string_view body, int http_status);

using QueryParams = std::vector<std::pair<std::string, std::string>>;
// "a=b&c=d" with SigV4's encoding (unreserved characters kept).
std::string FormEncode(const QueryParams& params);
// Parses a form body; '+' is a space. Keys keep their order.
QueryParams FormDecode(absl::string_view body);

struct QueryClientOptions {
  // "https://autoscaling.us-east-1.amazonaws.com" (see endpoints.h).
  std::string endpoint;
  std::string region;
  // The SigV4 signing name: "autoscaling", "ec2", "sts".
  std::string service;
  // The API version: "2011-01-01" (Auto Scaling), "2016-11-15" (EC2), "2011-06-15" (STS).
  std::string version;
  // Per request; default 10 s.
  absl::Duration timeout = absl::Seconds(10);
  absl::Duration connect_timeout = absl::Seconds(3);
  RetryOptions retry;
  // CA bundle for https endpoints (AWS_CA_BUNDLE); empty: the system store.
  std::string ca_file;
};

// Calls one service. Thread-safe. The credentials provider, clock and logger
// are not owned and must outlive the client; a null provider sends unsigned
// requests (STS AssumeRoleWithWebIdentity needs no signature).
class QueryClient {
 public:
  static absl::StatusOr<std::unique_ptr<QueryClient>> Create(const QueryClientOptions& options,
                                                             CredentialsProvider* credentials,
                                                             Clock& clock, spdlog::logger* logger);
  // For tests: over a given HTTP client (owned).
  static std::unique_ptr<QueryClient> CreateWithHttp(const QueryClientOptions& options,
                                                     std::unique_ptr<http::HttpClient> http,
                                                     CredentialsProvider* credentials, Clock& clock,
                                                     spdlog::logger* logger);

  // Calls `action` with `params` (Action and Version are added). Returns the
  // XML of a 2xx answer. AWS errors come back as MakeAwsStatus statuses after
  // the retries; transport failures as Unavailable. Each attempt's timeout
  // is cut to what is left before `deadline` (but not below 1 s), and no
  // retry starts after it (the last error is returned). On
  // ExpiredToken it asks the credentials provider to refresh, once.
  absl::StatusOr<std::unique_ptr<pugi::xml_document>> Call(
      absl::string_view action, const QueryParams& params,
      absl::Time deadline = absl::InfiniteFuture());

  const QueryClientOptions& options() const { return options_; }

 private:
  QueryClient(QueryClientOptions options, std::unique_ptr<http::HttpClient> http,
              CredentialsProvider* credentials, Clock& clock, spdlog::logger* logger);
  absl::StatusOr<std::unique_ptr<pugi::xml_document>> CallOnce(absl::string_view action,
                                                               const std::string& body,
                                                               absl::Duration timeout);

  const QueryClientOptions options_;
  std::unique_ptr<http::HttpClient> http_;
  CredentialsProvider* credentials_;
  Clock& clock_;
  spdlog::logger* logger_;
  std::string host_header_;
  SigningKeyCache keys_;
  Backoff backoff_;
};

// XML helpers for typed clients: the text of a child path ("a/b/c"), ignoring
// namespaces; "" when absent.
std::string XmlText(const pugi::xml_node& node, absl::string_view path);
pugi::xml_node XmlChild(const pugi::xml_node& node, absl::string_view path);

}  // namespace hollowtrees::aws
