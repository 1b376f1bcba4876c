#include "tests/fakes/kube/leases.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/common/rfc3339.h"

namespace hollowtrees::testing {
namespace {

using nlohmann::json;

constexpr char kRfc3339Micro[] = "2006-01-02T15:04:05.000000Z07:00";

bool IsInt32(const json& v) {
  if (!v.is_number_integer()) return false;
  if (v.is_number_unsigned()) return v.get<uint64_t>() <= std::numeric_limits<int32_t>::max();
  const int64_t n = v.get<int64_t>();
  return n >= std::numeric_limits<int32_t>::min() && n <= std::numeric_limits<int32_t>::max();
}

// Go's time.Parse(RFC3339Micro, s): exactly six fractional digits, upper
// case T and Z, or a numeric zone.
bool IsMicroTime(const std::string& s) {
  if (s.size() != 27 && s.size() != 32) return false;
  if (s[10] != 'T' || s[19] != '.') return false;
  for (size_t i = 20; i < 26; ++i) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  if (s.size() == 27 ? s[26] != 'Z' : (s[26] != '+' && s[26] != '-')) return false;
  return ParseRfc3339(s).ok();
}

ResourceType LeaseType() {
  ResourceType t{.group = "coordination.k8s.io",
                 .version = "v1",
                 .kind = "Lease",
                 .plural = "leases",
                 .singular = "lease",
                 .allow_create_on_update = true,
                 .allow_unconditional_update = false};
  t.decode = [t](const json& obj) -> std::optional<FakeReply> {
    auto spec_it = obj.find("spec");
    if (spec_it == obj.end() || spec_it->is_null()) return std::nullopt;
    const json& spec = *spec_it;
    if (!spec.is_object())
      return DecodeError(t, GoUnmarshalTypeError(spec, "Lease.spec", "v1.LeaseSpec"));
    auto present = [&spec](const char* key) -> const json* {
      auto it = spec.find(key);
      return it == spec.end() || it->is_null() ? nullptr : &*it;
    };
    for (const char* key : {"holderIdentity", "strategy", "preferredHolder"}) {
      const json* v = present(key);
      if (v != nullptr && !v->is_string()) {
        return DecodeError(
            t, GoUnmarshalTypeError(*v, absl::StrCat("LeaseSpec.spec.", key), "string"));
      }
    }
    for (const char* key : {"leaseDurationSeconds", "leaseTransitions"}) {
      const json* v = present(key);
      if (v != nullptr && !IsInt32(*v)) {
        return DecodeError(t,
                           GoUnmarshalTypeError(*v, absl::StrCat("LeaseSpec.spec.", key), "int32"));
      }
    }
    for (const char* key : {"acquireTime", "renewTime"}) {
      const json* v = present(key);
      if (v == nullptr) continue;
      if (!v->is_string()) {
        // MicroTime.UnmarshalJSON decodes a string first.
        return DecodeError(t, absl::StrCat("json: cannot unmarshal ", GoJsonKind(*v),
                                           " into Go value of type string"));
      }
      if (!IsMicroTime(v->get<std::string>())) {
        return DecodeError(t, absl::StrCat("parsing time \"", v->get<std::string>(), "\" as \"",
                                           kRfc3339Micro, "\": not in that layout"));
      }
    }
    return std::nullopt;
  };
  t.validate = [t](const json& obj) -> std::optional<FakeReply> {
    auto spec_it = obj.find("spec");
    if (spec_it == obj.end() || !spec_it->is_object()) return std::nullopt;
    const json& spec = *spec_it;
    std::vector<FieldError> errors;
    auto it = spec.find("leaseDurationSeconds");
    if (it != spec.end() && it->is_number_integer() && it->get<int64_t>() <= 0) {
      errors.push_back(
          {"FieldValueInvalid", "spec.leaseDurationSeconds",
           absl::StrCat("Invalid value: ", it->get<int64_t>(), ": must be greater than 0")});
    }
    it = spec.find("leaseTransitions");
    if (it != spec.end() && it->is_number_integer() && it->get<int64_t>() < 0) {
      errors.push_back({"FieldValueInvalid", "spec.leaseTransitions",
                        absl::StrCat("Invalid value: ", it->get<int64_t>(),
                                     ": must be greater than or equal to 0")});
    }
    const json strategy_json = spec.value("strategy", json());
    const std::string strategy = strategy_json.is_string() ? strategy_json.get<std::string>() : "";
    if (!strategy.empty() && !absl::StrContains(strategy, '/') &&
        strategy != "OldestEmulationVersion") {
      // Upstream names the field spec.strategy.strategy (Child("strategy") twice).
      errors.push_back({"FieldValueNotSupported", "spec.strategy.strategy",
                        absl::StrCat("Unsupported value: \"", strategy,
                                     "\": supported values: \"OldestEmulationVersion\"")});
    }
    const json holder = spec.value("preferredHolder", json());
    if (holder.is_string() && !holder.get<std::string>().empty() && strategy.empty()) {
      errors.push_back({"FieldValueForbidden", "spec.preferredHolder",
                        "Forbidden: may only be specified if `strategy` is defined"});
    }
    if (errors.empty()) return std::nullopt;
    return Invalid(t, obj.at("metadata").value("name", ""), errors);
  };
  return t;
}

}  // namespace

FakeLeases::FakeLeases() : FakeObjectStore(LeaseType()) {}

}  // namespace hollowtrees::testing
