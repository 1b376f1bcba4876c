#include "engine/event/limits.h"

#include "absl/strings/str_cat.h"

namespace hollowtrees::engine {

absl::Status CheckLabelLimits(const Labels& labels, absl::string_view what,
                              const EventLimits& limits) {
  if (labels.size() > limits.max_labels) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", labels.size(),
                                                   " entries, more than the limit of ",
                                                   limits.max_labels, " (intake.max_labels)"));
  }
  for (const auto& [name, value] : labels) {
    if (name.size() > limits.max_label_name_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": a name of ", name.size(), " bytes (\"", absl::string_view(name).substr(0, 32),
          "...\"), longer than the limit of ", limits.max_label_name_bytes,
          " (intake.max_label_name_bytes)"));
    }
    if (value.size() > limits.max_label_value_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ".", name.size() <= 64 ? name : name.substr(0, 64) + "...", ": a value of ",
          value.size(), " bytes, longer than the limit of ", limits.max_label_value_bytes,
          " (intake.max_label_value_bytes)"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckAttributeLimit(absl::string_view name, absl::string_view value,
                                 const EventLimits& limits) {
  if (value.size() <= limits.max_attribute_bytes) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(name, ": ", value.size(),
                                                 " bytes, longer than the limit of ",
                                                 limits.max_attribute_bytes,
                                                 " (intake.max_attribute_bytes)"));
}

}  // namespace hollowtrees::engine
