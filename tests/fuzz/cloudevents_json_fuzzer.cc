// libFuzzer target: CloudEvents in the JSON format, structured mode and
// batch mode (the same input goes to both parsers).
#include "engine/intake/cloudevents.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hollowtrees;
  const absl::string_view body = fuzz::AsView(data, size);
  if (auto e = engine::ParseStructuredCloudEvent(body, fuzz::FixedNow()); e.ok()) fuzz::Touch(**e);
  if (auto b = engine::ParseCloudEventBatch(body, fuzz::FixedNow()); b.ok()) {
    for (const auto& e : b->events) fuzz::Touch(*e);
  }
  return 0;
}
