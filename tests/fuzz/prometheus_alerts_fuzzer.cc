// libFuzzer target: the Prometheus push body (POST /api/v{1,2}/alerts).
#include "engine/intake/alerts.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hollowtrees;
  auto batch = engine::ParsePrometheusAlerts(fuzz::AsView(data, size), fuzz::FixedNow());
  if (!batch.ok()) return 0;
  for (engine::ParsedAlert& a : batch->alerts) {
    auto e = engine::AlertToEvent(std::move(a), engine::IntakeSource::kPrometheus, "fuzz",
                                  fuzz::FixedNow());
    fuzz::Touch(*e);
  }
  return 0;
}
