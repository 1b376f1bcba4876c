#pragma once

// Alertmanager-style label matchers: name="v", name!="v", name=~"re",
// name!~"re". Regexes are RE2 (the dialect Prometheus and Alertmanager use),
// fully anchored. Immutable and thread-safe once made.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/event/event.h"

namespace re2 {
class RE2;
}

namespace hollowtrees::engine {

class LabelMatcher {
 public:
  enum class Op { kEqual, kNotEqual, kRegex, kNotRegex };

  // Parses `name<op>"value"` (the value may also be unquoted). InvalidArgument
  // naming the problem: bad syntax, bad label name, a regex that does not
  // compile (with RE2's reason).
  static absl::StatusOr<LabelMatcher> Parse(absl::string_view text);
  static absl::StatusOr<LabelMatcher> Make(std::string name, Op op, std::string value);

  // A missing label matches as the empty string (as in Alertmanager).
  bool Matches(const Labels& labels) const;

  const std::string& name() const { return name_; }
  Op op() const { return op_; }
  const std::string& value() const { return value_; }
  std::string ToString() const;

 private:
  LabelMatcher(std::string name, Op op, std::string value, std::shared_ptr<const re2::RE2> re)
      : name_(std::move(name)), op_(op), value_(std::move(value)), re_(std::move(re)) {}
  std::string name_;
  Op op_;
  std::string value_;
  std::shared_ptr<const re2::RE2> re_;
};

}  // namespace hollowtrees::engine
