// libFuzzer target: what a highly available engine reads back from the
// Kubernetes API (docs/high-availability.md): the shared state ConfigMap
// (DecodeStateConfigMap: base64, gzip, the state's JSON, each flow and its
// event) and the Lease (kube::LeaseRecordFromJson). Mode 0 takes the input
// as the ConfigMap's JSON; mode 1 as the gzip stream inside it (base64 is
// added here), so the decompressor sees arbitrary bytes; mode 2 gzips the
// input as a state's JSON text, reaching the flows' decoding; mode 3 takes
// it as a Lease.
#include <fuzzer/FuzzedDataProvider.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/escaping.h"
#include "engine/ha/shared_state.h"
#include "lib/kube/lease.h"
#include "nlohmann/json.hpp"

namespace {

std::string GzipForFuzz(const std::string& text) {
  z_stream z{};
  if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) std::abort();
  std::string out(deflateBound(&z, text.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) std::abort();
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using nlohmann::json;
  using namespace hollowtrees;
  if (size > 256 * 1024) return 0;
  FuzzedDataProvider in(data, size);
  const int mode = in.ConsumeIntegralInRange(0, 3);
  const std::string rest = in.ConsumeRemainingBytesAsString();
  json cm;
  switch (mode) {
    case 0:
      cm = json::parse(rest, nullptr, false);
      if (cm.is_discarded()) return 0;
      break;
    case 1:
      cm = {{"binaryData", {{"state.json.gz", absl::Base64Escape(rest)}}}};
      break;
    case 2:
      cm = {{"binaryData", {{"state.json.gz", absl::Base64Escape(GzipForFuzz(rest))}}}};
      break;
    default: {
      const json lease = json::parse(rest, nullptr, false);
      if (lease.is_discarded()) return 0;
      auto record = kube::LeaseRecordFromJson(lease);
      if (record.ok()) {
        // What it read must write back to a spec that reads the same.
        auto again = kube::LeaseRecordFromJson(json{{"spec", kube::LeaseSpecToJson(*record)}});
        if (!again.ok() || again->holder_identity != record->holder_identity ||
            again->lease_transitions != record->lease_transitions ||
            again->lease_duration_seconds != record->lease_duration_seconds) {
          std::fprintf(stderr, "a Lease did not survive its own JSON\n");
          std::abort();
        }
      }
      return 0;
    }
  }
  auto content = engine::DecodeStateConfigMap(cm);
  if (content.ok()) {
    for (const auto& f : content->flows) {
      // The decoder keeps only flows it can resume: a step in range, an event.
      if (f.record.event == nullptr || f.record.step >= f.record.steps.size()) {
        std::fprintf(stderr, "a flow that cannot be resumed was kept\n");
        std::abort();
      }
    }
  }
  return 0;
}
