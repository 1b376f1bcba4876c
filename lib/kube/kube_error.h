#pragma once

// Kubernetes API errors as absl::Status.
//
// A failed API call answers with a `Status` object (kind: Status) carrying
// `code` (the HTTP status), `reason` (a CamelCase word such as NotFound,
// AlreadyExists, Conflict, TooManyRequests) and `message`. KubeStatusError()
// turns it into an absl::Status with a canonical code and keeps the three
// fields as a payload, so callers can branch on the code and still read the
// exact reason with GetKubeError().
//
// HTTP status -> absl code:
//   400 BadRequest, 422 Invalid, 415 UnsupportedMediaType -> InvalidArgument
//   401 Unauthorized                                        -> Unauthenticated
//   403 Forbidden                                           -> PermissionDenied
//   404 NotFound                                            -> NotFound
//   405 MethodNotAllowed                                    -> Unimplemented
//   409 AlreadyExists                                       -> AlreadyExists
//   409 Conflict (any other reason)                         -> Aborted
//   410 Gone/Expired                                        -> FailedPrecondition
//   429 TooManyRequests (a disruption budget, throttling)   -> ResourceExhausted
//   500 InternalError                                       -> Internal
//   503 ServiceUnavailable, 502                             -> Unavailable
//   504 Timeout                                             -> DeadlineExceeded
//   any other 4xx -> FailedPrecondition, other 5xx -> Unavailable
// Transport failures (refused, TLS, timeout) come from lib/http as Unavailable.

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace hollowtrees::kube {

struct KubeError {
  int code = 0;        // HTTP status code
  std::string reason;  // e.g. "NotFound", "TooManyRequests"
  std::string message;
  // The first cause's reason and message when the Status has details.causes
  // (e.g. "DisruptionBudget" for an eviction blocked by a budget).
  std::string cause_reason;
  std::string cause_message;
};

// The canonical code for an HTTP status and Kubernetes reason (table above).
absl::StatusCode CodeForHttpStatus(int http_status, absl::string_view reason);

// Builds the error for a non-2xx response. `body` is parsed as a Kubernetes
// Status when it is one; otherwise the body text (cut to 512 bytes) becomes the
// message. `what` ("GET /api/v1/nodes/x") prefixes the message.
absl::Status KubeStatusError(int http_status, absl::string_view body, absl::string_view what);

// The Kubernetes fields of an error made by KubeStatusError, or nullopt.
std::optional<KubeError> GetKubeError(const absl::Status& status);

}  // namespace hollowtrees::kube
