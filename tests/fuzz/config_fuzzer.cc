// libFuzzer target: rules.yaml (ParseConfig), and for a valid file the
// compiled ruleset and its JSON view.
#include "engine/rules/config.h"
#include "engine/rules/ruleset.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hollowtrees;
  if (size > 64 * 1024) return 0;  // configuration files are small
  auto config = engine::ParseConfig(fuzz::AsView(data, size), "fuzz.yaml");
  if (!config.ok()) return 0;
  auto ruleset = engine::Ruleset::Build(*std::move(config));
  (void)ruleset->ToJson();
  return 0;
}
