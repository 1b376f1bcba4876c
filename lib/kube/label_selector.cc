#include "lib/kube/label_selector.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace hollowtrees::kube {
namespace {

bool ValidKey(absl::string_view key) {
  if (key.empty() || key.size() > 316) return false;
  for (char c : key) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_' && c != '.' && c != '/') return false;
  }
  return true;
}

bool ValidValue(absl::string_view v) {
  if (v.size() > 63) return false;
  for (char c : v) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

// Splits on commas that are not inside parentheses.
std::vector<std::string> SplitTerms(absl::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  for (char c : text) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  out.push_back(cur);
  return out;
}

}  // namespace

absl::StatusOr<LabelSelector> LabelSelector::Parse(absl::string_view text) {
  LabelSelector sel;
  if (absl::StripAsciiWhitespace(text).empty()) return sel;
  for (const std::string& raw : SplitTerms(text)) {
    absl::string_view t = absl::StripAsciiWhitespace(raw);
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad label selector \"", text, "\": term \"", t, "\": ", why));
    };
    if (t.empty()) return bad("empty term");
    Term term;
    size_t pos;
    if (t.front() == '!') {
      term.key = std::string(absl::StripAsciiWhitespace(t.substr(1)));
      term.op = Op::kNotExists;
    } else if ((pos = t.find("!=")) != absl::string_view::npos) {
      term.key = std::string(absl::StripAsciiWhitespace(t.substr(0, pos)));
      term.op = Op::kNotEq;
      term.values.emplace_back(absl::StripAsciiWhitespace(t.substr(pos + 2)));
    } else if ((pos = t.find("==")) != absl::string_view::npos) {
      term.key = std::string(absl::StripAsciiWhitespace(t.substr(0, pos)));
      term.op = Op::kEq;
      term.values.emplace_back(absl::StripAsciiWhitespace(t.substr(pos + 2)));
    } else if ((pos = t.find('=')) != absl::string_view::npos) {
      term.key = std::string(absl::StripAsciiWhitespace(t.substr(0, pos)));
      term.op = Op::kEq;
      term.values.emplace_back(absl::StripAsciiWhitespace(t.substr(pos + 1)));
    } else if ((pos = t.find('(')) != absl::string_view::npos) {
      if (t.back() != ')') return bad("missing )");
      std::vector<std::string> head =
          absl::StrSplit(absl::StripAsciiWhitespace(t.substr(0, pos)), ' ', absl::SkipEmpty());
      if (head.size() != 2) return bad("want KEY in (...) or KEY notin (...)");
      term.key = head[0];
      if (head[1] == "in") {
        term.op = Op::kIn;
      } else if (head[1] == "notin") {
        term.op = Op::kNotIn;
      } else {
        return bad(absl::StrCat("unknown operator \"", head[1], "\""));
      }
      for (absl::string_view v :
           absl::StrSplit(t.substr(pos + 1, t.size() - pos - 2), ',')) {
        term.values.emplace_back(absl::StripAsciiWhitespace(v));
      }
    } else {
      term.key = std::string(t);
      term.op = Op::kExists;
    }
    if (!ValidKey(term.key)) return bad("invalid label key");
    for (const auto& v : term.values) {
      if (!ValidValue(v)) return bad(absl::StrCat("invalid label value \"", v, "\""));
    }
    sel.terms_.push_back(std::move(term));
  }
  return sel;
}

bool LabelSelector::Matches(const std::map<std::string, std::string>& labels) const {
  for (const Term& t : terms_) {
    auto it = labels.find(t.key);
    const bool has = it != labels.end();
    auto in_values = [&] {
      return has && std::find(t.values.begin(), t.values.end(), it->second) != t.values.end();
    };
    switch (t.op) {
      case Op::kEq:
      case Op::kIn:
        if (!in_values()) return false;
        break;
      case Op::kNotEq:
      case Op::kNotIn:
        if (in_values()) return false;
        break;
      case Op::kExists:
        if (!has) return false;
        break;
      case Op::kNotExists:
        if (has) return false;
        break;
    }
  }
  return true;
}

}  // namespace hollowtrees::kube
