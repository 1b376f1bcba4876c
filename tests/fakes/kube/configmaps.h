#pragma once

// ConfigMaps for the fake Kubernetes API server: the part of the API the
// spot-config-webhook reads (list + watch into a cache, then a patch that
// removes a consumed entry). A FakeObjectStore (object_store.h: verbs,
// errors, watch) with the ConfigMap's checks:
// - decoding (400): `data` must be a string -> string object, `binaryData`
//   a string -> base64 object;
// - validation (422): data plus binaryData (decoded) may hold at most
//   1 MiB, as ValidateConfigMap (core.MaxSecretSize):
//   `ConfigMap "x" is invalid: []: Too long: must have at most 1048576 bytes`.
// Keys are not checked against the key rules.
//
// Thread-safe.

#include <string>

#include "nlohmann/json.hpp"
#include "tests/fakes/kube/object_store.h"

namespace hollowtrees::testing {

// The most data and binaryData a ConfigMap may hold, in bytes.
inline constexpr size_t kMaxConfigMapBytes = 1 << 20;

class FakeConfigMaps : public FakeObjectStore {
 public:
  FakeConfigMaps();

  // Creates or replaces `data` (a string->string object), unchecked.
  void Set(const std::string& ns, const std::string& name, const nlohmann::json& data);
};

}  // namespace hollowtrees::testing
