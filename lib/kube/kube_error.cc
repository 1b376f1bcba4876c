#include "lib/kube/kube_error.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace hollowtrees::kube {
namespace {
constexpr char kPayloadUrl[] = "type.hollowtrees.io/kube.Status";
}  // namespace

absl::StatusCode CodeForHttpStatus(int http_status, absl::string_view reason) {
  switch (http_status) {
    case 400:
    case 415:
    case 422:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 405:
      return absl::StatusCode::kUnimplemented;
    case 409:
      return reason == "AlreadyExists" ? absl::StatusCode::kAlreadyExists
                                       : absl::StatusCode::kAborted;
    case 410:
      return absl::StatusCode::kFailedPrecondition;
    case 429:
      return absl::StatusCode::kResourceExhausted;
    case 500:
      return absl::StatusCode::kInternal;
    case 502:
    case 503:
      return absl::StatusCode::kUnavailable;
    case 504:
      return absl::StatusCode::kDeadlineExceeded;
    default:
      break;
  }
  if (http_status >= 400 && http_status < 500) return absl::StatusCode::kFailedPrecondition;
  return absl::StatusCode::kUnavailable;
}

namespace {

// A string member, or "" when absent or of another type: a Status body comes
// from the server (or whatever answers in its place), and nlohmann's value()
// throws for a member of the wrong type.
std::string StringField(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

absl::Status KubeStatusError(int http_status, absl::string_view body, absl::string_view what) {
  KubeError err;
  err.code = http_status;
  nlohmann::json j = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_object() && StringField(j, "kind") == "Status") {
    err.reason = StringField(j, "reason");
    err.message = StringField(j, "message");
    if (j.contains("code") && j["code"].is_number_integer()) err.code = j["code"].get<int>();
    const auto details = j.find("details");
    if (details != j.end() && details->is_object()) {
      const auto causes = details->find("causes");
      if (causes != details->end() && causes->is_array() && !causes->empty() &&
          (*causes)[0].is_object()) {
        err.cause_reason = StringField((*causes)[0], "reason");
        err.cause_message = StringField((*causes)[0], "message");
      }
    }
  } else {
    err.message = std::string(body.substr(0, 512));
  }
  std::string text = absl::StrCat(what, ": HTTP ", err.code);
  if (!err.reason.empty()) absl::StrAppend(&text, " ", err.reason);
  if (!err.message.empty()) absl::StrAppend(&text, ": ", err.message);
  if (!err.cause_message.empty() && err.cause_message != err.message) {
    absl::StrAppend(&text, " (", err.cause_message, ")");
  }
  absl::Status status(CodeForHttpStatus(err.code, err.reason), text);
  nlohmann::json payload = {{"code", err.code},
                            {"reason", err.reason},
                            {"message", err.message},
                            {"cause_reason", err.cause_reason},
                            {"cause_message", err.cause_message}};
  // A body that is not JSON is kept as text and need not be UTF-8 (nor is a
  // 512-byte cut of it): replace invalid bytes instead of throwing.
  status.SetPayload(kPayloadUrl, absl::Cord(payload.dump(-1, ' ', false,
                                                         nlohmann::json::error_handler_t::replace)));
  return status;
}

std::optional<KubeError> GetKubeError(const absl::Status& status) {
  auto payload = status.GetPayload(kPayloadUrl);
  if (!payload) return std::nullopt;
  nlohmann::json j = nlohmann::json::parse(std::string(*payload), nullptr, false);
  if (!j.is_object()) return std::nullopt;
  KubeError err;
  err.code = j.value("code", 0);
  err.reason = j.value("reason", "");
  err.message = j.value("message", "");
  err.cause_reason = j.value("cause_reason", "");
  err.cause_message = j.value("cause_message", "");
  return err;
}

}  // namespace hollowtrees::kube
