// libFuzzer target: the Alertmanager webhook body (POST /api/v1/webhooks/alertmanager).
#include "engine/intake/alerts.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hollowtrees;
  auto batch = engine::ParseAlertmanagerWebhook(fuzz::AsView(data, size), fuzz::FixedNow());
  if (!batch.ok()) return 0;
  const std::string fallback = batch->external_url.empty() ? "fuzz" : batch->external_url;
  for (engine::ParsedAlert& a : batch->alerts) {
    auto e = engine::AlertToEvent(std::move(a), engine::IntakeSource::kAlertmanager, fallback,
                                  fuzz::FixedNow());
    fuzz::Touch(*e);
  }
  return 0;
}
