#include "lib/aws/query_client.h"

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "lib/common/logging.h"
#include "lib/common/status_macros.h"
#include "lib/common/url.h"
#include "spdlog/logger.h"

namespace hollowtrees::aws {
namespace {

constexpr char kPayloadUrl[] = "type.hollowtrees/aws.AwsError";

// Payload encoding: status\ncode\nrequest id\nmessage.
std::string EncodeError(const AwsError& e) {
  return absl::StrCat(e.http_status, "\n", e.code, "\n", e.request_id, "\n", e.message);
}

bool IsThrottle(absl::string_view code) {
  return code == "Throttling" || code == "ThrottlingException" || code == "RequestLimitExceeded" ||
         code == "RequestThrottled" || code == "TooManyRequestsException" ||
         code == "SlowDown" || code == "EC2ThrottledException" ||
         code == "RequestThrottledException";
}

bool Retryable(const absl::Status& s) {
  if (auto e = GetAwsError(s)) {
    return IsThrottle(e->code) || e->http_status >= 500 || e->code == "InternalError" ||
           e->code == "InternalFailure" || e->code == "ServiceUnavailable";
  }
  // Transport failure (connection refused, reset, timed out).
  return absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s);
}

}  // namespace

absl::StatusCode AwsErrorCode(const AwsError& e) {
  const std::string& c = e.code;
  if (IsThrottle(c) || e.http_status >= 500 || c == "ResourceContention" ||
      c == "ScalingActivityInProgress" || c == "ServiceUnavailable" || c == "InternalError" ||
      c == "InternalFailure") {
    return absl::StatusCode::kUnavailable;
  }
  if (c == "SignatureDoesNotMatch" || c == "InvalidClientTokenId" || c == "AuthFailure" ||
      c == "ExpiredToken" || c == "ExpiredTokenException" || c == "IncompleteSignature" ||
      c == "MissingAuthenticationToken" || c == "InvalidIdentityToken" ||
      c == "RequestExpired") {
    return absl::StatusCode::kUnauthenticated;
  }
  if (c == "AccessDenied" || c == "AccessDeniedException" || c == "UnauthorizedOperation" ||
      c == "OptInRequired") {
    return absl::StatusCode::kPermissionDenied;
  }
  if (absl::EndsWith(c, ".NotFound") || c == "ResourceNotFound") return absl::StatusCode::kNotFound;
  if (c == "ResourceInUse" || c == "IncorrectInstanceState" || c == "IncorrectState") {
    return absl::StatusCode::kFailedPrecondition;
  }
  if (c == "LimitExceeded" || c == "AlreadyExists") return absl::StatusCode::kFailedPrecondition;
  if (e.http_status >= 400 && e.http_status < 500) return absl::StatusCode::kInvalidArgument;
  return absl::StatusCode::kUnknown;
}

absl::Status MakeAwsStatus(const AwsError& error) {
  absl::Status s(AwsErrorCode(error),
                 absl::StrCat("AWS ", error.code, ": ", error.message, " (HTTP ", error.http_status,
                              error.request_id.empty() ? "" : ", request id ", error.request_id,
                              ")"));
  s.SetPayload(kPayloadUrl, absl::Cord(EncodeError(error)));
  return s;
}

std::optional<AwsError> GetAwsError(const absl::Status& status) {
  auto payload = status.GetPayload(kPayloadUrl);
  if (!payload) return std::nullopt;
  std::vector<std::string> parts = absl::StrSplit(std::string(*payload), absl::MaxSplits('\n', 3));
  if (parts.size() != 4) return std::nullopt;
  AwsError e;
  if (!absl::SimpleAtoi(parts[0], &e.http_status)) return std::nullopt;
  e.code = parts[1];
  e.request_id = parts[2];
  e.message = parts[3];
  return e;
}

bool IsAwsError(const absl::Status& status, absl::string_view code) {
  auto e = GetAwsError(status);
  return e && e->code == code;
}

pugi::xml_node XmlChild(const pugi::xml_node& node, absl::string_view path) {
  pugi::xml_node n = node;
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    n = n.child(std::string(part).c_str());
    if (!n) return n;
  }
  return n;
}

std::string XmlText(const pugi::xml_node& node, absl::string_view path) {
  return XmlChild(node, path).text().get();
}


absl::StatusOr<AwsError> ParseAwsErrorBody(absl::string_view body, int http_status) {
  pugi::xml_document doc;
  const pugi::xml_parse_result parsed = doc.load_buffer(body.data(), body.size());
  AwsError e;
  e.http_status = http_status;
  if (!parsed) {
    return absl::InvalidArgumentError(absl::StrCat("HTTP ", http_status,
                                                   " with a body that is not XML: ",
                                                   parsed.description()));
  }
  pugi::xml_node root = doc.document_element();
  pugi::xml_node error;
  if (std::string(root.name()) == "ErrorResponse") {
    error = root.child("Error");
    e.request_id = XmlText(root, "RequestId");
  } else if (std::string(root.name()) == "Response") {
    error = XmlChild(root, "Errors/Error");
    e.request_id = XmlText(root, "RequestID");
    if (e.request_id.empty()) e.request_id = XmlText(root, "RequestId");
  }
  if (!error || XmlText(error, "Code").empty()) {
    return absl::InvalidArgumentError(absl::StrCat("HTTP ", http_status,
                                                   " with an unknown error body <", root.name(), ">"));
  }
  // Codes are words ("Throttling", "InvalidInstanceID.NotFound"), request ids
  // [0-9a-f-]: anything else (a newline above all) would not survive the
  // status payload (EncodeError: fields separated by newlines).
  e.code = std::string(absl::StripAsciiWhitespace(XmlText(error, "Code")));
  e.request_id = std::string(absl::StripAsciiWhitespace(e.request_id));
  for (const std::string* field : {&e.code, &e.request_id}) {
    if (absl::c_any_of(*field, [](char c) { return c == '\n' || c == '\r'; })) {
      return absl::InvalidArgumentError(absl::StrCat("HTTP ", http_status,
                                                     " with a malformed error code or request id"));
    }
  }
  if (e.code.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("HTTP ", http_status,
                                                   " with an unknown error body <", root.name(), ">"));
  }
  e.message = XmlText(error, "Message");
  return e;
}

std::string FormEncode(const QueryParams& params) {
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out.push_back('&');
    absl::StrAppend(&out, PercentEncode(k), "=", PercentEncode(v));
  }
  return out;
}

QueryParams FormDecode(absl::string_view body) {
  QueryParams out;
  for (absl::string_view part : absl::StrSplit(body, '&', absl::SkipEmpty())) {
    const size_t eq = part.find('=');
    out.emplace_back(PercentDecode(part.substr(0, eq), Plus::kSpace),
                     eq == absl::string_view::npos ? "" : PercentDecode(part.substr(eq + 1), Plus::kSpace));
  }
  return out;
}

QueryClient::QueryClient(QueryClientOptions options, std::unique_ptr<http::HttpClient> http,
                         CredentialsProvider* credentials, Clock& clock, spdlog::logger* logger)
    : options_(std::move(options)), http_(std::move(http)), credentials_(credentials),
      clock_(clock), logger_(logger),
      // Full jitter: uniform in [0, min(max_delay, base_delay * 2^(n-1))].
      backoff_({.initial = options_.retry.base_delay,
                .max = options_.retry.max_delay,
                .jitter_min = 0.0,
                .jitter_max = 1.0}) {
  auto url = http::ParseUrl(options_.endpoint);
  if (url.ok()) {
    const bool default_port = (url->scheme == "https" && url->port == 443) ||
                              (url->scheme == "http" && url->port == 80);
    host_header_ = default_port ? url->host : absl::StrCat(url->host, ":", url->port);
  }
}

absl::StatusOr<std::unique_ptr<QueryClient>> QueryClient::Create(const QueryClientOptions& options,
                                                                  CredentialsProvider* credentials,
                                                                  Clock& clock,
                                                                  spdlog::logger* logger) {
  if (options.region.empty()) return absl::InvalidArgumentError("AWS client: no region");
  HT_ASSIGN_OR_RETURN(http::Url url, http::ParseUrl(options.endpoint));
  (void)url;
  http::HttpClientOptions http_options{.base_url = options.endpoint,
                                       .connect_timeout = options.connect_timeout,
                                       .timeout = options.timeout};
  http_options.tls.ca_file = options.ca_file;
  HT_ASSIGN_OR_RETURN(auto http, http::NewHttpClient(http_options));
  return CreateWithHttp(options, std::move(http), credentials, clock, logger);
}

std::unique_ptr<QueryClient> QueryClient::CreateWithHttp(const QueryClientOptions& options,
                                                         std::unique_ptr<http::HttpClient> http,
                                                         CredentialsProvider* credentials,
                                                         Clock& clock, spdlog::logger* logger) {
  return std::unique_ptr<QueryClient>(
      new QueryClient(options, std::move(http), credentials, clock, logger));
}

absl::StatusOr<std::unique_ptr<pugi::xml_document>> QueryClient::CallOnce(absl::string_view action,
                                                                          const std::string& body,
                                                                          absl::Duration timeout) {
  SignableRequest req;  // POST / by default
  req.body = body;
  req.headers = {{"Host", host_header_},
                 {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
  if (credentials_ != nullptr) {
    HT_ASSIGN_OR_RETURN(Credentials creds, credentials_->Get());
    SignRequest(req, creds,
                {.region = options_.region, .service = options_.service, .time = clock_.Now()},
                &keys_);
  }
  http::HttpRequest http_req{.method = "POST", .path = "/", .body = req.body,
                             .timeout = timeout};
  for (auto& [k, v] : req.headers) {
    if (k == "Content-Type") {
      http_req.content_type = v;
    } else {
      http_req.headers.emplace_back(k, v);
    }
  }
  HT_ASSIGN_OR_RETURN(http::HttpResponse res, http_->Send(http_req));
  if (res.status >= 200 && res.status < 300) {
    auto doc = std::make_unique<pugi::xml_document>();
    const pugi::xml_parse_result parsed = doc->load_buffer(res.body.data(), res.body.size());
    if (!parsed) {
      return absl::InternalError(absl::StrCat(options_.service, " ", action,
                                              ": response is not XML: ", parsed.description()));
    }
    return doc;
  }
  auto error = ParseAwsErrorBody(res.body, res.status);
  if (!error.ok()) {
    AwsError e{.http_status = res.status,
               .code = res.status >= 500 ? "InternalFailure" : "UnknownError",
               .message = std::string(error.status().message()),
               .request_id = res.Header("x-amzn-RequestId")};
    return MakeAwsStatus(e);
  }
  return MakeAwsStatus(*error);
}

absl::StatusOr<std::unique_ptr<pugi::xml_document>> QueryClient::Call(absl::string_view action,
                                                                      const QueryParams& params,
                                                                      absl::Time deadline) {
  QueryParams all = {{"Action", std::string(action)}, {"Version", options_.version}};
  all.insert(all.end(), params.begin(), params.end());
  const std::string body = FormEncode(all);
  const RetryLoop loop{.retry = options_.retry,
                       .clock = clock_,
                       .backoff = backoff_,
                       .credentials = credentials_,
                       .logger = logger_,
                       .what = absl::StrCat(options_.service, " ", action),
                       .retryable = &Retryable};
  return RunWithRetries<std::unique_ptr<pugi::xml_document>>(
      loop, options_.timeout, deadline,
      [&](absl::Duration timeout) { return CallOnce(action, body, timeout); });
}

}  // namespace hollowtrees::aws
