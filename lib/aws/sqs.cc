#include "lib/aws/sqs.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "lib/aws/endpoints.h"
#include "lib/aws/region.h"
#include "lib/aws/sigv4.h"
#include "lib/common/logging.h"
#include "lib/common/status_macros.h"
#include "nlohmann/json.hpp"
#include "spdlog/logger.h"

namespace hollowtrees::aws {
namespace {

using json = nlohmann::json;

constexpr char kContentType[] = "application/x-amz-json-1.0";
constexpr char kTargetPrefix[] = "AmazonSQS.";

// A region name as AWS spells them: "us-east-1", "us-gov-west-1", "cn-north-1".
bool IsRegionName(absl::string_view s) {
  std::vector<absl::string_view> parts = absl::StrSplit(s, '-');
  if (parts.size() < 3 || parts.front().size() != 2) return false;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (parts[i].empty()) return false;
    for (char c : parts[i]) {
      if (!absl::ascii_islower(c)) return false;
    }
  }
  if (parts.back().empty()) return false;
  for (char c : parts.back()) {
    if (!absl::ascii_isdigit(c)) return false;
  }
  return true;
}

// Error codes and request ids travel in a status payload whose fields are
// separated by newlines (query_client.cc): keep only word characters.
bool IsCleanCode(absl::string_view s) {
  if (s.empty() || s.size() > 256) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

// "com.amazonaws.sqs#QueueDoesNotExist:http://internal..." -> "QueueDoesNotExist".
std::string ShortErrorType(absl::string_view type) {
  const size_t colon = type.find(':');
  if (colon != absl::string_view::npos) type = type.substr(0, colon);
  const size_t hash = type.rfind('#');
  if (hash != absl::string_view::npos) type = type.substr(hash + 1);
  return std::string(absl::StripAsciiWhitespace(type));
}

std::string JsonString(const json& object, std::initializer_list<const char*> keys) {
  if (!object.is_object()) return "";
  for (const char* k : keys) {
    auto it = object.find(k);
    if (it != object.end() && it->is_string()) return it->get<std::string>();
  }
  return "";
}

bool IsThrottle(absl::string_view c) {
  return c == "RequestThrottled" || c == "ThrottlingException" || c == "Throttling" ||
         c == "AWS.SimpleQueueService.RequestThrottled" || c == "KmsThrottled" ||
         c == "AWS.SimpleQueueService.KmsThrottled" || c == "RequestThrottledException" ||
         c == "TooManyRequestsException";
}

std::string Md5Hex(absl::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, EVP_md5(), nullptr);
  return HexEncode(absl::string_view(reinterpret_cast<const char*>(out), len));
}

absl::Status CheckReceiptHandle(const std::string& handle) {
  if (handle.empty()) return absl::InvalidArgumentError("SQS: empty receipt handle");
  if (handle.size() > kSqsMaxReceiptHandleLength) {
    return absl::InvalidArgumentError(absl::StrCat("SQS: receipt handle of ", handle.size(),
                                                   " characters (at most ",
                                                   kSqsMaxReceiptHandleLength, ")"));
  }
  return absl::OkStatus();
}

// nlohmann's dump throws on invalid UTF-8 (a receipt handle or URL given by a
// caller): an InvalidArgument instead.
absl::StatusOr<std::string> Dump(const json& j, absl::string_view action) {
  try {
    return j.dump();
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("SQS ", action, ": ", e.what()));
  }
}

absl::Status Malformed(absl::string_view action, absl::string_view what) {
  return absl::InternalError(absl::StrCat("SQS ", action, ": malformed answer: ", what));
}

absl::StatusOr<json> ParseAnswer(absl::string_view action, const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Malformed(action, "not JSON");
  if (!j.is_object()) return Malformed(action, "not a JSON object");
  return j;
}

// An attribute's value: SQS sends strings; a number is tolerated.
std::optional<std::string> AttributeText(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  return std::nullopt;
}

absl::StatusOr<std::vector<SqsMessage>> ParseReceive(const std::string& body) {
  constexpr absl::string_view kAction = "ReceiveMessage";
  HT_ASSIGN_OR_RETURN(json j, ParseAnswer(kAction, body));
  std::vector<SqsMessage> out;
  auto list = j.find("Messages");
  if (list == j.end() || list->is_null()) return out;  // an empty long poll
  if (!list->is_array()) return Malformed(kAction, "Messages is not an array");
  for (size_t i = 0; i < list->size(); ++i) {
    const json& m = (*list)[i];
    const std::string at = absl::StrCat("Messages[", i, "]");
    if (!m.is_object()) return Malformed(kAction, absl::StrCat(at, " is not an object"));
    SqsMessage msg;
    for (auto [key, field] :
         {std::pair{"MessageId", &msg.message_id}, std::pair{"ReceiptHandle", &msg.receipt_handle},
          std::pair{"Body", &msg.body}}) {
      auto it = m.find(key);
      if (it == m.end() || !it->is_string()) {
        return Malformed(kAction, absl::StrCat(at, ".", key, " is missing or not a string"));
      }
      *field = it->get<std::string>();
    }
    if (msg.receipt_handle.empty()) {
      return Malformed(kAction, absl::StrCat(at, ".ReceiptHandle is empty"));
    }
    auto md5 = m.find("MD5OfBody");
    if (md5 != m.end() && md5->is_string() &&
        !absl::EqualsIgnoreCase(md5->get<std::string>(), Md5Hex(msg.body))) {
      return absl::InternalError(absl::StrCat("SQS ReceiveMessage: ", at, " (", msg.message_id,
                                              "): MD5OfBody ", md5->get<std::string>(),
                                              " does not match the body (", Md5Hex(msg.body), ")"));
    }
    auto attrs = m.find("Attributes");
    if (attrs != m.end() && !attrs->is_null()) {
      if (!attrs->is_object()) {
        return Malformed(kAction, absl::StrCat(at, ".Attributes is not an object"));
      }
      for (const char* name : {"ApproximateReceiveCount", "SentTimestamp",
                               "ApproximateFirstReceiveTimestamp", "SenderId"}) {
        auto it = attrs->find(name);
        if (it == attrs->end() || it->is_null()) continue;
        std::optional<std::string> text = AttributeText(*it);
        const std::string where = absl::StrCat(at, ".Attributes.", name);
        if (!text) return Malformed(kAction, absl::StrCat(where, " is not a string"));
        if (absl::string_view(name) == "SenderId") {
          msg.sender_id = *text;
        } else if (absl::string_view(name) == "ApproximateReceiveCount") {
          if (!absl::SimpleAtoi(*text, &msg.receive_count) || msg.receive_count < 0) {
            return Malformed(kAction, absl::StrCat(where, " \"", *text, "\" is not a count"));
          }
        } else {
          int64_t ms = 0;
          if (!absl::SimpleAtoi(*text, &ms) || ms < 0) {
            return Malformed(kAction,
                             absl::StrCat(where, " \"", *text, "\" is not epoch milliseconds"));
          }
          (absl::string_view(name) == "SentTimestamp" ? msg.sent : msg.first_received) =
              absl::FromUnixMillis(ms);
        }
      }
    }
    out.push_back(std::move(msg));
  }
  return out;
}

struct ResolvedQueue {
  std::string region;
  std::string endpoint;
};

// Checks the queue URL and finds the region (options, the URL's host, then
// the environment) and the endpoint.
absl::StatusOr<ResolvedQueue> ResolveQueue(const SqsClientOptions& options, const Env& env) {
  const std::string& q = options.queue_url;
  auto bad_url = [&q](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("SQS queue URL \"", q, "\": ", why));
  };
  if (q.empty()) return absl::InvalidArgumentError("SQS: no queue URL");
  for (char c : q) {
    if (absl::ascii_isspace(c) || absl::ascii_iscntrl(c) || c == '?' || c == '#') {
      return bad_url("has a space, a control character, '?' or '#'");
    }
  }
  auto url = http::ParseUrl(q);
  if (!url.ok()) return bad_url(url.status().message());
  std::vector<absl::string_view> segments = absl::StrSplit(url->path, '/', absl::SkipEmpty());
  if (segments.size() != 2 || absl::StrContains(url->path, "//")) {
    return bad_url("the path must be /<account>/<queue name>");
  }
  ResolvedQueue out;
  if (!options.region.empty()) {
    auto r = ResolveRegion(options.region, env);
    if (!r.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("SQS: region \"", options.region, "\" is not a region name"));
    }
    out.region = *r;
  } else {
    out.region = SqsRegionFromQueueUrl(q);
    if (out.region.empty()) {
      auto r = ResolveRegion("", env);
      if (!r.ok()) {
        return absl::Status(
            r.status().code(),
            absl::StrCat("SQS queue URL \"", q, "\" names no region, and ", r.status().message()));
      }
      out.region = *r;
    }
  }
  out.endpoint = ResolveEndpoint("SQS", "sqs", out.region, env);
  if (auto e = http::ParseUrl(out.endpoint); !e.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("SQS endpoint \"", out.endpoint, "\": ", e.status().message()));
  }
  return out;
}

}  // namespace

std::string SqsRegionFromQueueUrl(absl::string_view queue_url) {
  auto url = http::ParseUrl(queue_url);
  if (!url.ok()) return "";
  const std::string host = absl::AsciiStrToLower(url->host);
  // The legacy global name is us-east-1's.
  if (host == "queue.amazonaws.com") return "us-east-1";
  std::vector<std::string> labels = absl::StrSplit(host, '.');
  // Legacy regional: <region>.queue.amazonaws.com[.cn].
  if (labels.size() >= 4 && labels[1] == "queue" && labels[2] == "amazonaws" &&
      IsRegionName(labels[0])) {
    return labels[0];
  }
  // sqs.<region>.amazonaws.com[.cn], vpce-....sqs.<region>.vpce.amazonaws.com,
  // sqs.<region>.localhost.localstack.cloud.
  for (size_t i = 0; i + 1 < labels.size(); ++i) {
    if (labels[i] == "sqs" && IsRegionName(labels[i + 1])) return labels[i + 1];
  }
  return "";
}

absl::StatusCode SqsErrorCode(const AwsError& e) {
  const std::string& c = e.code;
  if (IsThrottle(c) || e.http_status >= 500) return absl::StatusCode::kUnavailable;
  if (c == "QueueDoesNotExist" || c == "AWS.SimpleQueueService.NonExistentQueue") {
    return absl::StatusCode::kNotFound;
  }
  if (c == "AccessDenied" || c == "AccessDeniedException" || c == "KmsAccessDenied" ||
      c == "AWS.SimpleQueueService.KmsAccessDenied") {
    return absl::StatusCode::kPermissionDenied;
  }
  if (c == "MessageNotInflight" || c == "AWS.SimpleQueueService.MessageNotInflight") {
    return absl::StatusCode::kFailedPrecondition;
  }
  if (c == "ReceiptHandleIsInvalid" || c == "AWS.SimpleQueueService.ReceiptHandleIsInvalid" ||
      c == "InvalidIdFormat" || c == "InvalidAddress" || c == "InvalidParameterValue") {
    return absl::StatusCode::kInvalidArgument;
  }
  if (c == "OverLimit" || c == "AWS.SimpleQueueService.OverLimit") {
    return absl::StatusCode::kResourceExhausted;
  }
  return AwsErrorCode(e);
}

absl::Status MakeSqsStatus(const AwsError& error) {
  absl::Status base = MakeAwsStatus(error);
  const absl::StatusCode code = SqsErrorCode(error);
  if (code == base.code()) return base;
  absl::Status out(code, base.message());
  base.ForEachPayload(
      [&out](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

AwsError ParseSqsError(const http::HttpResponse& response) {
  AwsError e;
  e.http_status = response.status;
  e.request_id = std::string(absl::StripAsciiWhitespace(response.Header("x-amzn-RequestId")));
  if (!IsCleanCode(e.request_id)) e.request_id.clear();
  const json body = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  e.message = JsonString(body, {"message", "Message", "errorMessage"});
  // The Query-era code ("AWS.SimpleQueueService.NonExistentQueue;Sender") is
  // the stable one; the JSON type is the fallback.
  std::vector<std::string> candidates;
  const std::string query_error = response.Header("x-amzn-query-error");
  if (!query_error.empty()) {
    candidates.emplace_back(absl::StripAsciiWhitespace(
        absl::string_view(query_error).substr(0, query_error.find(';'))));
  }
  candidates.push_back(ShortErrorType(JsonString(body, {"__type"})));
  candidates.push_back(ShortErrorType(JsonString(body, {"code", "Code"})));
  candidates.push_back(ShortErrorType(response.Header("X-Amzn-ErrorType")));
  for (const std::string& c : candidates) {
    if (IsCleanCode(c)) {
      e.code = c;
      break;
    }
  }
  if (e.code.empty()) {
    e.code = response.status >= 500 ? "InternalFailure" : "UnknownError";
    e.message = absl::StrCat("HTTP ", response.status, " with an unknown error body: ",
                             absl::string_view(response.body).substr(0, 200));
  }
  return e;
}

SqsClient::SqsClient(SqsClientOptions options, std::string region, std::string endpoint,
                     std::unique_ptr<http::HttpClient> http, CredentialsProvider* credentials,
                     Clock& clock, spdlog::logger* logger)
    : options_(std::move(options)),
      region_(std::move(region)),
      endpoint_(std::move(endpoint)),
      http_(std::move(http)),
      credentials_(credentials),
      clock_(clock),
      logger_(logger),
      // Full jitter: uniform in [0, min(max_delay, base_delay * 2^(n-1))].
      backoff_({.initial = options_.retry.base_delay,
                .max = options_.retry.max_delay,
                .jitter_min = 0.0,
                .jitter_max = 1.0}) {
  auto url = http::ParseUrl(endpoint_);  // checked by the factory
  if (url.ok()) {
    const bool default_port =
        (url->scheme == "https" && url->port == 443) || (url->scheme == "http" && url->port == 80);
    host_header_ = default_port ? url->host : absl::StrCat(url->host, ":", url->port);
    // The HTTP client puts the endpoint's path before the request's "/".
    path_ = url->path + "/";
  }
}

absl::StatusOr<std::unique_ptr<SqsClient>> SqsClient::Create(const SqsClientOptions& options,
                                                             const Env& env,
                                                             CredentialsProvider* credentials,
                                                             Clock& clock, spdlog::logger* logger) {
  HT_ASSIGN_OR_RETURN(ResolvedQueue q, ResolveQueue(options, env));
  http::HttpClientOptions http_options;
  http_options.base_url = q.endpoint;
  http_options.connect_timeout = options.connect_timeout;
  // Each request sets its own timeout; this covers the longest long poll.
  http_options.timeout = options.timeout + kSqsMaxWait;
  http_options.tls.ca_file = options.ca_file;
  auto http = http::NewHttpClient(http_options);
  if (!http.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("SQS endpoint \"", q.endpoint, "\": ", http.status().message()));
  }
  return CreateWithHttp(options, env, std::move(http).value(), credentials, clock, logger);
}

absl::StatusOr<std::unique_ptr<SqsClient>> SqsClient::CreateWithHttp(
    const SqsClientOptions& options, const Env& env, std::unique_ptr<http::HttpClient> http,
    CredentialsProvider* credentials, Clock& clock, spdlog::logger* logger) {
  HT_ASSIGN_OR_RETURN(ResolvedQueue q, ResolveQueue(options, env));
  if (http == nullptr) return absl::InvalidArgumentError("SQS: no HTTP client");
  return std::unique_ptr<SqsClient>(new SqsClient(options, std::move(q.region),
                                                  std::move(q.endpoint), std::move(http),
                                                  credentials, clock, logger));
}

absl::StatusOr<std::string> SqsClient::CallOnce(absl::string_view action, const std::string& body,
                                                absl::Duration timeout,
                                                http::StreamCancel* cancel) {
  SignableRequest req;  // POST
  req.path = path_;
  req.body = body;
  req.headers = {{"Host", host_header_},
                 {"Content-Type", kContentType},
                 {"X-Amz-Target", absl::StrCat(kTargetPrefix, action)}};
  if (credentials_ != nullptr) {
    HT_ASSIGN_OR_RETURN(Credentials creds, credentials_->Get());
    SignRequest(req, creds, {.region = region_, .service = "sqs", .time = clock_.Now()}, &keys_);
  }
  http::HttpRequest http_req{.method = "POST", .path = "/", .body = req.body, .timeout = timeout};
  for (auto& [k, v] : req.headers) {
    if (k == "Content-Type") {
      http_req.content_type = v;
    } else {
      http_req.headers.emplace_back(k, v);
    }
  }
  HT_ASSIGN_OR_RETURN(http::HttpResponse res, cancel == nullptr
                                                  ? http_->Send(http_req)
                                                  : SendCancellable(http_req, *cancel));
  if (res.status >= 200 && res.status < 300) return std::move(res.body);
  return MakeSqsStatus(ParseSqsError(res));
}

absl::StatusOr<http::HttpResponse> SqsClient::SendCancellable(const http::HttpRequest& request,
                                                              http::StreamCancel& cancel) {
  // Send() cannot be interrupted; SendStreaming() can, but bounds each read
  // rather than the whole request. So: a StreamCancel of this attempt's own,
  // cancelled by the caller's (forwarded) or by a timer at the request's
  // deadline, whichever comes first.
  http::StreamCancel attempt;
  cancel.SetInterrupt([&attempt] { attempt.Cancel(); });
  if (cancel.cancelled()) {
    cancel.ClearInterrupt();
    return absl::CancelledError("SQS: cancelled");
  }
  absl::Mutex mu;
  bool done = false;
  std::thread timer([&] {
    absl::MutexLock lock(&mu);
    if (!mu.AwaitWithTimeout(absl::Condition(&done), request.timeout)) attempt.Cancel();
  });
  std::string body;
  bool too_large = false;
  auto res = http_->SendStreaming(
      request,
      [&](absl::string_view data) {
        if (body.size() + data.size() > kSqsMaxAnswerBytes) {
          too_large = true;
          return false;
        }
        body.append(data.data(), data.size());
        return true;
      },
      &attempt);
  {
    absl::MutexLock lock(&mu);
    done = true;
  }
  timer.join();
  cancel.ClearInterrupt();
  if (cancel.cancelled()) return absl::CancelledError("SQS: cancelled");
  if (too_large) {
    return absl::InternalError(
        absl::StrCat("SQS: an answer larger than ", kSqsMaxAnswerBytes, " bytes"));
  }
  if (!res.ok()) {
    if (attempt.cancelled()) {
      return absl::UnavailableError(absl::StrCat("SQS ", endpoint_, ": no complete answer within ",
                                                 absl::FormatDuration(request.timeout),
                                                 " (the request's deadline)"));
    }
    return res.status();
  }
  // A 2xx body went to the callback; others were collected.
  if (res->status >= 200 && res->status < 300) res->body = std::move(body);
  return res;
}

absl::StatusOr<std::string> SqsClient::Call(absl::string_view action, const std::string& body,
                                            absl::Duration timeout, absl::Time deadline,
                                            http::StreamCancel* cancel) {
  // Throttling and 5xx are Unavailable (SqsErrorCode), as are transport
  // failures; a request cut at its timeout is retried too.
  auto retryable = [](const absl::Status& s) {
    return absl::IsUnavailable(s) || (absl::IsDeadlineExceeded(s) && !GetAwsError(s).has_value());
  };
  const RetryLoop loop{.retry = options_.retry,
                       .clock = clock_,
                       .backoff = backoff_,
                       .credentials = credentials_,
                       .logger = logger_,
                       .what = absl::StrCat("sqs ", action, " ", options_.queue_url),
                       .retryable = retryable,
                       .cancel = cancel};
  return RunWithRetries<std::string>(loop, timeout, deadline, [&](absl::Duration each) {
    return CallOnce(action, body, each, cancel);
  });
}

absl::StatusOr<std::vector<SqsMessage>> SqsClient::Receive(const SqsReceiveOptions& options,
                                                           absl::Time deadline,
                                                           http::StreamCancel* cancel) {
  if (options.max_messages < 1 || options.max_messages > kSqsMaxReceiveMessages) {
    return absl::InvalidArgumentError(
        absl::StrCat("SQS ReceiveMessage: max_messages ", options.max_messages, " is not 1 to 10"));
  }
  if (options.wait < absl::ZeroDuration() || options.wait > kSqsMaxWait) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SQS ReceiveMessage: wait ", absl::FormatDuration(options.wait), " is not 0 to 20s"));
  }
  if (options.visibility_timeout < absl::ZeroDuration() ||
      options.visibility_timeout > kSqsMaxVisibilityTimeout) {
    return absl::InvalidArgumentError(absl::StrCat("SQS ReceiveMessage: visibility timeout ",
                                                   absl::FormatDuration(options.visibility_timeout),
                                                   " is not 0 to 12h"));
  }
  int64_t wait_s = absl::ToInt64Seconds(options.wait);
  // A long poll that would outlast the deadline is shortened to end a second
  // before it: an empty answer in time, rather than a cut request.
  const absl::Duration room = deadline - clock_.Now() - absl::Seconds(1);
  if (absl::Seconds(wait_s) > room) {
    wait_s = std::max<int64_t>(0, absl::ToInt64Seconds(room));
  }
  // The documented MessageSystemAttributeNames, and the older AttributeNames
  // it replaced (still accepted by SQS) for emulators that know only that.
  const json names = {"ApproximateReceiveCount", "SentTimestamp",
                      "ApproximateFirstReceiveTimestamp", "SenderId"};
  json request = {{"QueueUrl", options_.queue_url},
                  {"MaxNumberOfMessages", options.max_messages},
                  {"WaitTimeSeconds", wait_s},
                  {"MessageSystemAttributeNames", names},
                  {"AttributeNames", names}};
  // Whole seconds; a fraction rounds up (0.5 s is 1 s, not the queue's default).
  const int64_t visibility_s =
      absl::ToInt64Seconds(absl::Ceil(options.visibility_timeout, absl::Seconds(1)));
  if (visibility_s > 0) request["VisibilityTimeout"] = visibility_s;
  HT_ASSIGN_OR_RETURN(std::string body, Dump(request, "ReceiveMessage"));
  HT_ASSIGN_OR_RETURN(
      std::string answer,
      Call("ReceiveMessage", body, absl::Seconds(wait_s) + options_.timeout, deadline, cancel));
  return ParseReceive(answer);
}

absl::Status SqsClient::Delete(const std::string& receipt_handle, absl::Time deadline) {
  HT_RETURN_IF_ERROR(CheckReceiptHandle(receipt_handle));
  HT_ASSIGN_OR_RETURN(
      std::string body,
      Dump({{"QueueUrl", options_.queue_url}, {"ReceiptHandle", receipt_handle}}, "DeleteMessage"));
  // The answer has no fields: its body (empty or "{}") is not read.
  return Call("DeleteMessage", body, options_.timeout, deadline).status();
}

absl::Status SqsClient::ChangeVisibility(const std::string& receipt_handle, absl::Duration timeout,
                                         absl::Time deadline) {
  HT_RETURN_IF_ERROR(CheckReceiptHandle(receipt_handle));
  if (timeout < absl::ZeroDuration() || timeout > kSqsMaxVisibilityTimeout) {
    return absl::InvalidArgumentError(absl::StrCat("SQS ChangeMessageVisibility: timeout ",
                                                   absl::FormatDuration(timeout),
                                                   " is not 0 to 12h"));
  }
  HT_ASSIGN_OR_RETURN(std::string body, Dump({{"QueueUrl", options_.queue_url},
                                              {"ReceiptHandle", receipt_handle},
                                              {"VisibilityTimeout", absl::ToInt64Seconds(timeout)}},
                                             "ChangeMessageVisibility"));
  return Call("ChangeMessageVisibility", body, options_.timeout, deadline).status();
}

absl::StatusOr<std::vector<absl::Status>> SqsClient::DeleteBatch(
    const std::vector<std::string>& receipt_handles, absl::Time deadline) {
  constexpr absl::string_view kAction = "DeleteMessageBatch";
  std::vector<absl::Status> out(receipt_handles.size());
  std::vector<size_t> valid;
  for (size_t i = 0; i < receipt_handles.size(); ++i) {
    out[i] = CheckReceiptHandle(receipt_handles[i]);
    if (out[i].ok()) valid.push_back(i);
  }
  bool any_done = false;
  for (size_t start = 0; start < valid.size(); start += kSqsMaxBatchEntries) {
    const size_t end = std::min(valid.size(), start + kSqsMaxBatchEntries);
    auto fail_chunk = [&](const absl::Status& s) {
      for (size_t k = start; k < end; ++k) out[valid[k]] = s;
    };
    if (any_done && clock_.Now() >= deadline) {
      fail_chunk(absl::DeadlineExceededError(
          "SQS DeleteMessageBatch: the deadline passed before this entry was sent"));
      continue;
    }
    // Entry ids are the positions in this request, "msg1".."msg10" (as in
    // the API reference's example): unique and in the documented alphabet
    // whatever the handles are.
    json entries = json::array();
    for (size_t k = start; k < end; ++k) {
      entries.push_back({{"Id", absl::StrCat("msg", k - start + 1)},
                         {"ReceiptHandle", receipt_handles[valid[k]]}});
    }
    absl::StatusOr<std::string> answer =
        Dump({{"QueueUrl", options_.queue_url}, {"Entries", std::move(entries)}}, kAction);
    if (answer.ok()) answer = Call(kAction, *answer, options_.timeout, deadline);
    absl::StatusOr<json> parsed =
        answer.ok() ? ParseAnswer(kAction, *answer) : absl::StatusOr<json>(answer.status());
    std::vector<std::optional<absl::Status>> results(end - start);
    auto entry_index = [&](const json& entry) -> std::optional<size_t> {
      const std::string id = JsonString(entry, {"Id"});
      absl::string_view digits = id;
      size_t n = 0;
      if (!absl::ConsumePrefix(&digits, "msg") || !absl::SimpleAtoi(digits, &n) || n < 1 ||
          n > results.size() || absl::StrCat("msg", n) != id) {
        return std::nullopt;
      }
      return n - 1;
    };
    if (parsed.ok()) {
      for (const char* list : {"Successful", "Failed"}) {
        auto it = parsed->find(list);
        if (it == parsed->end() || it->is_null()) continue;
        if (!it->is_array()) {
          parsed = Malformed(kAction, absl::StrCat(list, " is not an array"));
          break;
        }
        for (const json& entry : *it) {
          std::optional<size_t> n = entry_index(entry);
          if (!n) {
            parsed = Malformed(kAction, absl::StrCat(list, " names an entry id that was not sent"));
            break;
          }
          if (absl::string_view(list) == "Successful") {
            results[*n] = absl::OkStatus();
            continue;
          }
          const bool sender = entry.is_object() && entry.contains("SenderFault") &&
                              entry["SenderFault"].is_boolean() && entry["SenderFault"].get<bool>();
          AwsError e{.http_status = sender ? 400 : 500,
                     .code = JsonString(entry, {"Code"}),
                     .message = JsonString(entry, {"Message"})};
          if (!IsCleanCode(e.code)) e.code = sender ? "UnknownError" : "InternalFailure";
          results[*n] = MakeSqsStatus(e);
        }
        if (!parsed.ok()) break;
      }
    }
    if (!parsed.ok()) {
      // The request as a whole failed: nothing is known of its entries.
      if (!any_done) return parsed.status();
      fail_chunk(parsed.status());
      continue;
    }
    any_done = true;
    for (size_t k = start; k < end; ++k) {
      const std::optional<absl::Status>& r = results[k - start];
      out[valid[k]] = r.has_value()
                          ? *r
                          : absl::InternalError(absl::StrCat(
                                "SQS DeleteMessageBatch: no result for entry msg", k - start + 1));
    }
  }
  return out;
}

}  // namespace hollowtrees::aws
