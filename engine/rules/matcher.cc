#include "engine/rules/matcher.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "re2/re2.h"

namespace hollowtrees::engine {
namespace {

absl::StatusOr<std::string> Unquote(absl::string_view v, absl::string_view text) {
  std::string out;
  for (size_t i = 1; i + 1 < v.size(); ++i) {
    if (v[i] != '\\') {
      if (v[i] == '"') {
        return absl::InvalidArgumentError(absl::StrCat("matcher ", text, ": unescaped quote in value"));
      }
      out += v[i];
      continue;
    }
    ++i;
    if (i + 1 >= v.size()) break;
    switch (v[i]) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case '\\': out += '\\'; break;
      case '"': out += '"'; break;
      default:
        // Keep regex escapes such as \d and \. as written.
        out += '\\';
        out += v[i];
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<LabelMatcher> LabelMatcher::Parse(absl::string_view text) {
  const absl::string_view t = absl::StripAsciiWhitespace(text);
  size_t i = 0;
  while (i < t.size() && (absl::ascii_isalnum(t[i]) || t[i] == '_')) ++i;
  const std::string name(t.substr(0, i));
  absl::string_view rest = absl::StripLeadingAsciiWhitespace(t.substr(i));
  Op op;
  if (absl::StartsWith(rest, "=~")) {
    op = Op::kRegex;
    rest.remove_prefix(2);
  } else if (absl::StartsWith(rest, "!~")) {
    op = Op::kNotRegex;
    rest.remove_prefix(2);
  } else if (absl::StartsWith(rest, "!=")) {
    op = Op::kNotEqual;
    rest.remove_prefix(2);
  } else if (absl::StartsWith(rest, "=")) {
    op = Op::kEqual;
    rest.remove_prefix(1);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("matcher '", text, "': want name, an operator (=, !=, =~, !~) and a value"));
  }
  rest = absl::StripAsciiWhitespace(rest);
  std::string value;
  if (!rest.empty() && rest.front() == '"') {
    if (rest.size() < 2 || rest.back() != '"') {
      return absl::InvalidArgumentError(absl::StrCat("matcher '", text, "': unterminated quoted value"));
    }
    auto unquoted = Unquote(rest, text);
    if (!unquoted.ok()) return unquoted.status();
    value = *std::move(unquoted);
  } else {
    value = std::string(rest);
  }
  return Make(name, op, std::move(value));
}

absl::StatusOr<LabelMatcher> LabelMatcher::Make(std::string name, Op op, std::string value) {
  if (!IsValidLabelName(name)) {
    return absl::InvalidArgumentError(absl::StrCat("matcher: invalid label name \"", name, "\""));
  }
  std::shared_ptr<const re2::RE2> re;
  if (op == Op::kRegex || op == Op::kNotRegex) {
    RE2::Options options;
    options.set_log_errors(false);
    auto compiled = std::make_shared<re2::RE2>(absl::StrCat("^(?:", value, ")$"), options);
    if (!compiled->ok()) {
      return absl::InvalidArgumentError(absl::StrCat("matcher on \"", name, "\": bad regex \"", value,
                                                     "\": ", compiled->error()));
    }
    re = std::move(compiled);
  }
  return LabelMatcher(std::move(name), op, std::move(value), std::move(re));
}

bool LabelMatcher::Matches(const Labels& labels) const {
  static const std::string kEmpty;
  const std::string* v = FindLabel(labels, name_);
  const std::string& actual = v != nullptr ? *v : kEmpty;
  switch (op_) {
    case Op::kEqual: return actual == value_;
    case Op::kNotEqual: return actual != value_;
    case Op::kRegex: return RE2::FullMatch(actual, *re_);
    case Op::kNotRegex: return !RE2::FullMatch(actual, *re_);
  }
  return false;
}

std::string LabelMatcher::ToString() const {
  static constexpr const char* kOps[] = {"=", "!=", "=~", "!~"};
  std::string escaped;
  for (char c : value_) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += c;
  }
  return absl::StrCat(name_, kOps[static_cast<int>(op_)], "\"", escaped, "\"");
}

}  // namespace hollowtrees::engine
