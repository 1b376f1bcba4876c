#include "exporter/notice.h"

#include "absl/strings/str_cat.h"
#include "lib/common/rfc3339.h"
#include "nlohmann/json.hpp"

namespace hollowtrees::exporter {
namespace {

using json = nlohmann::json;

absl::StatusOr<json> ParseObject(absl::string_view body, absl::string_view what) {
  json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": not valid JSON: \"", body.substr(0, 120), "\""));
  }
  if (!j.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": not a JSON object: \"", body.substr(0, 120), "\""));
  }
  return j;
}

absl::Time ParseTimeOrPast(const std::string& text) {
  auto t = ParseRfc3339(text);
  return t.ok() ? *t : absl::InfinitePast();
}

}  // namespace

absl::StatusOr<SpotAction> ParseSpotAction(absl::string_view body) {
  auto j = ParseObject(body, "spot/instance-action");
  if (!j.ok()) return j.status();
  auto action = j->find("action");
  if (action == j->end() || !action->is_string() || action->get<std::string>().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "spot/instance-action: \"action\" is missing or not a non-empty string: \"",
        body.substr(0, 120), "\""));
  }
  SpotAction out;
  out.action = action->get<std::string>();
  auto time = j->find("time");
  if (time != j->end() && time->is_string()) {
    out.time_text = time->get<std::string>();
    out.time = ParseTimeOrPast(out.time_text);
  }
  return out;
}

absl::StatusOr<RebalanceRecommendation> ParseRebalance(absl::string_view body) {
  auto j = ParseObject(body, "events/recommendations/rebalance");
  if (!j.ok()) return j.status();
  auto t = j->find("noticeTime");
  if (t == j->end() || !t->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "events/recommendations/rebalance: \"noticeTime\" is missing or not a string: \"",
        body.substr(0, 120), "\""));
  }
  RebalanceRecommendation out;
  out.notice_time_text = t->get<std::string>();
  out.notice_time = ParseTimeOrPast(out.notice_time_text);
  return out;
}

}  // namespace hollowtrees::exporter
