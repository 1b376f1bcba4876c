#pragma once

// Shared bits of the libFuzzer targets: a fixed clock (runs must be
// reproducible) and a helper that exercises what an accepted event feeds
// into next (its protobuf form), so the fuzzers reach past the parser.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/event.h"

namespace hollowtrees::fuzz {

inline absl::Time FixedNow() { return absl::FromUnixSeconds(1700000000); }

inline absl::string_view AsView(const uint8_t* data, size_t size) {
  return absl::string_view(reinterpret_cast<const char*>(data), size);
}

inline void Touch(const engine::Event& e) {
  auto proto = e.ToProto();
  std::string wire;
  proto.SerializeToString(&wire);
  (void)e.DedupKey();
}

}  // namespace hollowtrees::fuzz
