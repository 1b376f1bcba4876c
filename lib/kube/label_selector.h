#pragma once

// Kubernetes label selectors in their string form: `a=b`, `a==b`, `a!=b`,
// `a`, `!a`, `a in (x,y)`, `a notin (x,y)`, joined by commas (AND).

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hollowtrees::kube {

class LabelSelector {
 public:
  // InvalidArgument naming the bad term. An empty text selects everything.
  static absl::StatusOr<LabelSelector> Parse(absl::string_view text);
  bool Matches(const std::map<std::string, std::string>& labels) const;
  bool empty() const { return terms_.empty(); }

 private:
  enum class Op { kEq, kNotEq, kExists, kNotExists, kIn, kNotIn };
  struct Term {
    std::string key;
    Op op;
    std::vector<std::string> values;
  };
  std::vector<Term> terms_;
};

}  // namespace hollowtrees::kube
