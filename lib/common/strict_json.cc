#include "lib/common/strict_json.h"

#include <string>
#include <unordered_set>
#include <vector>

#include "absl/strings/str_cat.h"

namespace hollowtrees {
namespace {

// A SAX pass before the DOM is built: depth and duplicate keys.
class StrictJsonCheck : public nlohmann::json_sax<nlohmann::json> {
 public:
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    keys_.emplace_back();
    return Deeper();
  }
  bool key(string_t& k) override {
    if (!keys_.back().insert(k).second) {
      error_ = absl::StrCat("body is not valid JSON: duplicate key \"", k.substr(0, 100), "\"");
      return false;
    }
    return true;
  }
  bool end_object() override {
    keys_.pop_back();
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override { return Deeper(); }
  bool end_array() override {
    --depth_;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }
  const std::string& error() const { return error_; }

 private:
  bool Deeper() {
    if (++depth_ <= kMaxJsonDepth) return true;
    error_ = absl::StrCat("body is not valid JSON: nested deeper than ", kMaxJsonDepth, " levels");
    return false;
  }
  int depth_ = 0;
  std::vector<std::unordered_set<std::string>> keys_;
  std::string error_;
};

}  // namespace

absl::StatusOr<nlohmann::json> ParseStrictJson(absl::string_view body) {
  if (const size_t nul = body.find('\0'); nul != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("body is not valid JSON (NUL byte at offset ", nul, ")"));
  }
  StrictJsonCheck check;
  if (!nlohmann::json::sax_parse(body.begin(), body.end(), &check,
                                 nlohmann::json::input_format_t::json, /*strict=*/true,
                                 /*ignore_comments=*/false)) {
    return absl::InvalidArgumentError(check.error().empty() ? "body is not valid JSON"
                                                            : check.error());
  }
  nlohmann::json parsed = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
  if (parsed.is_discarded()) return absl::InvalidArgumentError("body is not valid JSON");
  return parsed;
}

}  // namespace hollowtrees
