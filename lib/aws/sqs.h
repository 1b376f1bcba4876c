#pragma once

// Amazon SQS over the AWS JSON 1.0 protocol: POST / with
// Content-Type application/x-amz-json-1.0 and X-Amz-Target
// AmazonSQS.<Action>, a JSON body naming the queue by its URL, signed with
// SigV4 (signing name "sqs"), answered with JSON. Errors come as HTTP 4xx/5xx
// with {"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": ...} and
// the Query-era code in the x-amzn-query-error header; they become typed
// errors (AwsError inside an absl::Status, as query_client.h makes them).
// Throttling and 5xx are retried with capped exponential backoff and full
// jitter, within the call's deadline.
//
// Limits checked before sending (SQS developer guide, "Amazon SQS message
// quotas" and "queue and message identifiers"): a receipt handle is 1 to
// 1,024 characters; a receive takes 1 to 10 messages and waits 0 to 20 s;
// a visibility timeout is 0 to 12 hours; a batch holds at most 10 entries.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "lib/aws/credentials.h"
#include "lib/aws/environment.h"
#include "lib/aws/query_client.h"
#include "lib/common/backoff.h"
#include "lib/common/clock.h"
#include "lib/http/http_client.h"

namespace spdlog {
class logger;
}

namespace hollowtrees::aws {

inline constexpr size_t kSqsMaxReceiptHandleLength = 1024;
inline constexpr int kSqsMaxBatchEntries = 10;
inline constexpr int kSqsMaxReceiveMessages = 10;
inline constexpr absl::Duration kSqsMaxWait = absl::Seconds(20);
inline constexpr absl::Duration kSqsMaxVisibilityTimeout = absl::Hours(12);
// The largest answer read (ten messages of SQS's largest size, and room).
inline constexpr size_t kSqsMaxAnswerBytes = 16 << 20;

struct SqsMessage {
  std::string message_id;
  std::string receipt_handle;
  std::string body;
  int receive_count = 0;                             // ApproximateReceiveCount (0 when absent)
  absl::Time sent = absl::InfinitePast();            // SentTimestamp
  absl::Time first_received = absl::InfinitePast();  // ApproximateFirstReceiveTimestamp
  std::string sender_id;                             // SenderId ("" when absent)
};

struct SqsReceiveOptions {
  int max_messages = 10;                    // 1..10
  absl::Duration wait = absl::Seconds(20);  // long poll, 0..20 s (whole seconds)
  // 0..12 h, whole seconds (a fraction rounds up); zero: the queue's default.
  absl::Duration visibility_timeout = absl::ZeroDuration();
};

struct SqsClientOptions {
  // https://sqs.us-east-1.amazonaws.com/123456789012/name: sent unchanged as
  // QueueUrl, whatever the endpoint.
  std::string queue_url;
  // Empty: from the queue URL's host (sqs.<region>.amazonaws.com[.cn],
  // <region>.queue.amazonaws.com, queue.amazonaws.com for us-east-1, VPC
  // endpoint and LocalStack forms with "sqs.<region>."), else the
  // environment (ResolveRegion).
  std::string region;
  // Per call; for ReceiveMessage it is added to the long poll's wait.
  absl::Duration timeout = absl::Seconds(10);
  absl::Duration connect_timeout = absl::Seconds(3);
  RetryOptions retry;
  // CA bundle for https endpoints (AWS_CA_BUNDLE); empty: the system store.
  std::string ca_file;
};

// The region named by an SQS queue URL's host, or "" when the host names none
// (an IP address, a custom domain).
std::string SqsRegionFromQueueUrl(absl::string_view queue_url);

// The canonical code an SQS error maps to: throttling (RequestThrottled,
// ThrottlingException, AWS.SimpleQueueService.RequestThrottled, KmsThrottled)
// and 5xx Unavailable; QueueDoesNotExist /
// AWS.SimpleQueueService.NonExistentQueue NotFound; access denied
// PermissionDenied; ReceiptHandleIsInvalid and other bad input
// InvalidArgument; MessageNotInflight FailedPrecondition; OverLimit
// ResourceExhausted; anything else as AwsErrorCode.
absl::StatusCode SqsErrorCode(const AwsError& error);
// As MakeAwsStatus (same message and AwsError payload, so GetAwsError and
// IsAwsError work on it), with SqsErrorCode's code.
absl::Status MakeSqsStatus(const AwsError& error);
// Reads an AWS JSON protocol error answer: the code from the
// x-amzn-query-error header ("AWS.SimpleQueueService.NonExistentQueue;Sender")
// when present, else the body's "__type" (after '#', before ':') or "code",
// else the X-Amzn-ErrorType header; the message from "message" or "Message";
// the request id from x-amzn-RequestId. A body that names no code becomes
// "InternalFailure" (5xx) or "UnknownError", with the body's start as message.
AwsError ParseSqsError(const http::HttpResponse& response);

// A client of one queue. Thread-safe. The credentials provider, clock and
// logger are not owned and must outlive the client; a null provider sends
// unsigned requests (local fakes).
//
// Every call takes a deadline, as QueryClient::Call: each attempt's HTTP
// timeout (the whole request's, enforced by lib/http) is cut to what is left
// before it, though not below 1 s, and no retry or backoff starts past it
// (the last error is returned). Throttling, 5xx and transport failures are
// retried up to RetryOptions::max_attempts; ExpiredToken makes the
// credentials provider refresh, once a call.
class SqsClient {
 public:
  // Validates the URL (InvalidArgument naming it), resolves region and
  // endpoint (AWS_ENDPOINT_URL_SQS, then AWS_ENDPOINT_URL, else
  // https://sqs.<region>.amazonaws.com) from `env`. NotFound when no region
  // is found.
  static absl::StatusOr<std::unique_ptr<SqsClient>> Create(const SqsClientOptions& options,
                                                           const Env& env,
                                                           CredentialsProvider* credentials,
                                                           Clock& clock, spdlog::logger* logger);
  // As Create, over a given HTTP client (owned) that sends to endpoint(). A
  // Receive with a `cancel` goes through its SendStreaming.
  static absl::StatusOr<std::unique_ptr<SqsClient>> CreateWithHttp(
      const SqsClientOptions& options, const Env& env, std::unique_ptr<http::HttpClient> http,
      CredentialsProvider* credentials, Clock& clock, spdlog::logger* logger);

  // ReceiveMessage, asking for ApproximateReceiveCount, SentTimestamp,
  // ApproximateFirstReceiveTimestamp and SenderId. An empty long poll is an
  // empty vector, not an error. The HTTP timeout is `wait` + `timeout`; when
  // `deadline` leaves less than `wait` plus a second, the wait is shortened to
  // fit (whole seconds, down to 0). InvalidArgument for options out of range;
  // Internal for an answer that is not the documented JSON (naming what is
  // wrong), or whose MD5OfBody does not match a body.
  //
  // `cancel` (optional, not owned, one Receive at a time) ends the long poll
  // from another thread: Cancelled, at once when it is cancelled during the
  // request or before it (a backoff between retries is not interrupted; it
  // is at most RetryOptions::max_delay). Messages SQS had handed out in an
  // interrupted answer become visible again after their visibility timeout.
  absl::StatusOr<std::vector<SqsMessage>> Receive(const SqsReceiveOptions& options,
                                                  absl::Time deadline = absl::InfiniteFuture(),
                                                  http::StreamCancel* cancel = nullptr);
  // DeleteMessage.
  absl::Status Delete(const std::string& receipt_handle,
                      absl::Time deadline = absl::InfiniteFuture());
  // DeleteMessageBatch, 10 handles a request (more are split). Per handle, in
  // order: OK or that entry's error (a bad handle is InvalidArgument without
  // being sent). An error of a request as a whole is returned as the result
  // when it is the first request (nothing was deleted); for a later request
  // it becomes the status of each of that request's entries, as does the
  // deadline passing before a request is sent.
  absl::StatusOr<std::vector<absl::Status>> DeleteBatch(
      const std::vector<std::string>& receipt_handles,
      absl::Time deadline = absl::InfiniteFuture());
  // ChangeMessageVisibility; `timeout` is 0 to 12 hours (whole seconds).
  absl::Status ChangeVisibility(const std::string& receipt_handle, absl::Duration timeout,
                                absl::Time deadline = absl::InfiniteFuture());

  const std::string& region() const { return region_; }
  const std::string& endpoint() const { return endpoint_; }
  const std::string& queue_url() const { return options_.queue_url; }

 private:
  SqsClient(SqsClientOptions options, std::string region, std::string endpoint,
            std::unique_ptr<http::HttpClient> http, CredentialsProvider* credentials, Clock& clock,
            spdlog::logger* logger);

  // One signed request: the body of a 2xx answer, or the error.
  absl::StatusOr<std::string> CallOnce(absl::string_view action, const std::string& body,
                                       absl::Duration timeout, http::StreamCancel* cancel);
  // Sends with SendStreaming so that `cancel` can interrupt it, within
  // request.timeout for the whole request.
  absl::StatusOr<http::HttpResponse> SendCancellable(const http::HttpRequest& request,
                                                     http::StreamCancel& cancel);
  // Calls `action` with retries within `deadline`; each attempt's HTTP
  // timeout is `timeout` cut to what is left (not below 1 s). Returns the
  // raw 2xx body.
  absl::StatusOr<std::string> Call(absl::string_view action, const std::string& body,
                                   absl::Duration timeout, absl::Time deadline,
                                   http::StreamCancel* cancel = nullptr);

  const SqsClientOptions options_;
  const std::string region_;
  const std::string endpoint_;
  std::unique_ptr<http::HttpClient> http_;
  CredentialsProvider* credentials_;
  Clock& clock_;
  spdlog::logger* logger_;
  std::string host_header_;
  std::string path_;  // the endpoint's path prefix and "/", as sent and signed
  SigningKeyCache keys_;
  Backoff backoff_;
};

}  // namespace hollowtrees::aws
