#pragma once

// Shared bits of the libFuzzer targets: a fixed clock (runs must be
// reproducible) and a helper that exercises what an accepted event feeds
// into next (its protobuf form), so the fuzzers reach past the parser.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/event/event.h"

namespace hollowtrees::fuzz {

inline absl::Time FixedNow() { return absl::FromUnixSeconds(1700000000); }

inline absl::string_view AsView(const uint8_t* data, size_t size) {
  return absl::string_view(reinterpret_cast<const char*>(data), size);
}

// An accepted event must reach a plugin intact: its protobuf form has to
// serialize and parse back (proto3 strings must be UTF-8). Aborts otherwise,
// so the fuzzer reports it.
inline void Touch(const engine::Event& e) {
  auto proto = e.ToProto();
  std::string wire;
  io::cloudevents::v1::CloudEvent back;
  if (!proto.SerializeToString(&wire) || !back.ParseFromString(wire)) {
    std::fprintf(stderr, "an accepted event does not survive the protobuf format\n");
    std::abort();
  }
  (void)e.DedupKey();
}

}  // namespace hollowtrees::fuzz
