#include "webhook/capacity.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace hollowtrees::webhook {

namespace {
bool Matches(const std::map<std::string, std::string>& labels, const LabelPairs& pairs) {
  for (const auto& [k, v] : pairs) {
    auto it = labels.find(k);
    if (it != labels.end() && it->second == v) return true;
  }
  return false;
}
}  // namespace

Capacity ClassifyNode(const std::map<std::string, std::string>& labels,
                      const CapacityOptions& options) {
  if (Matches(labels, options.on_demand)) return Capacity::kOnDemand;
  if (Matches(labels, options.spot)) return Capacity::kSpot;
  return options.unlabeled_capacity;
}

absl::StatusOr<LabelPairs> ParseLabelPairs(absl::string_view text) {
  LabelPairs out;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    item = absl::StripAsciiWhitespace(item);
    const size_t eq = item.find('=');
    if (eq == absl::string_view::npos || eq == 0 || eq + 1 == item.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad label pair \"", item, "\": want key=value"));
    }
    out.emplace_back(std::string(item.substr(0, eq)), std::string(item.substr(eq + 1)));
  }
  return out;
}

absl::StatusOr<Capacity> ParseCapacity(absl::string_view text) {
  if (text == "on-demand") return Capacity::kOnDemand;
  if (text == "spot") return Capacity::kSpot;
  return absl::InvalidArgumentError(
      absl::StrCat("bad capacity \"", text, "\": want on-demand or spot"));
}

const char* CapacityName(Capacity c) { return c == Capacity::kOnDemand ? "on-demand" : "spot"; }

}  // namespace hollowtrees::webhook
