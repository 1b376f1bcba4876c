#include "tests/fakes/kube/configmaps.h"

#include <optional>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace hollowtrees::testing {
namespace {

using nlohmann::json;

ResourceType ConfigMapType() {
  ResourceType t{.group = "",
                 .version = "v1",
                 .kind = "ConfigMap",
                 .plural = "configmaps",
                 .singular = "configmap",
                 .short_names = {"cm"}};
  // Decoding into core/v1 ConfigMap: map[string]string and map[string][]byte.
  t.decode = [t](const json& obj) -> std::optional<FakeReply> {
    for (const char* field : {"data", "binaryData"}) {
      auto it = obj.find(field);
      if (it == obj.end() || it->is_null()) continue;
      const bool binary = std::string(field) == "binaryData";
      const std::string path = absl::StrCat("ConfigMap.", field);
      if (!it->is_object()) {
        return DecodeError(t, GoUnmarshalTypeError(
                                  *it, path, binary ? "map[string][]uint8" : "map[string]string"));
      }
      for (const auto& v : *it) {
        if (!v.is_string())
          return DecodeError(t, GoUnmarshalTypeError(v, path, binary ? "[]uint8" : "string"));
        std::string decoded;
        if (binary && !absl::Base64Unescape(v.get<std::string>(), &decoded)) {
          return DecodeError(t, "illegal base64 data");
        }
      }
    }
    return std::nullopt;
  };
  // ValidateConfigMap's size rule: the values of data and binaryData
  // (decoded) together, against core.MaxSecretSize.
  t.validate = [t](const json& obj) -> std::optional<FakeReply> {
    size_t total = 0;
    if (auto it = obj.find("data"); it != obj.end() && it->is_object()) {
      for (const auto& v : *it) total += v.get_ref<const std::string&>().size();
    }
    if (auto it = obj.find("binaryData"); it != obj.end() && it->is_object()) {
      for (const auto& v : *it) {
        std::string decoded;
        absl::Base64Unescape(v.get<std::string>(), &decoded);
        total += decoded.size();
      }
    }
    if (total <= kMaxConfigMapBytes) return std::nullopt;
    return Invalid(t, obj.at("metadata").value("name", ""),
                   {{"FieldValueTooLong", "[]",
                     absl::StrCat("Too long: must have at most ", kMaxConfigMapBytes, " bytes")}});
  };
  return t;
}

}  // namespace

FakeConfigMaps::FakeConfigMaps() : FakeObjectStore(ConfigMapType()) {}

void FakeConfigMaps::Set(const std::string& ns, const std::string& name, const json& data) {
  Modify(ns, name, [&data](json& obj) { obj["data"] = data; });
}

}  // namespace hollowtrees::testing
