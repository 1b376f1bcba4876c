// libFuzzer target: the instance metadata answers the spot-termination
// exporter reads: spot/instance-action and events/recommendations/rebalance
// (exporter::ParseSpotAction, ParseRebalance) and, through one
// MetadataPoller::PollOnce over a fake metadata service, the identity items
// (instance-id, instance-type, placement/availability-zone) with both notices,
// each answered 200 with a body from the input, 404 or an error.
#include <fuzzer/FuzzedDataProvider.h>

#include "exporter/exporter_metrics.h"
#include "exporter/metadata.h"
#include "exporter/notice.h"
#include "exporter/poller.h"
#include "lib/common/clock.h"
#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/fuzz_http.h"

namespace {

using namespace hollowtrees;

class FuzzMetadata : public exporter::InstanceMetadata {
 public:
  explicit FuzzMetadata(FuzzedDataProvider& in) : in_(in) {}
  absl::StatusOr<std::optional<std::string>> Get(absl::string_view) override {
    switch (in_.ConsumeIntegralInRange(0, 5)) {
      case 0: return std::optional<std::string>();  // 404
      case 1: return absl::UnavailableError("fuzz: HTTP 500");
      default: return std::optional<std::string>(in_.ConsumeRandomLengthString(16 * 1024));
    }
  }
  int version() const override { return 2; }

 private:
  FuzzedDataProvider& in_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 128 * 1024) return 0;
  FuzzedDataProvider in(data, size);
  switch (in.ConsumeIntegralInRange(0, 2)) {
    case 0: {
      auto spot = exporter::ParseSpotAction(in.ConsumeRemainingBytesAsString());
      if (spot.ok() && spot->action.empty()) {
        std::fprintf(stderr, "a spot action was accepted without an action\n");
        std::abort();
      }
      break;
    }
    case 1:
      (void)exporter::ParseRebalance(in.ConsumeRemainingBytesAsString());
      break;
    case 2: {
      static exporter::ExporterMetrics* metrics = new exporter::ExporterMetrics();
      FuzzMetadata metadata(in);
      exporter::MetadataPoller poller(metadata, *metrics, *fuzz::SilentLogger());
      (void)poller.PollOnce();
      (void)poller.PollOnce();  // a second poll compares with the first
      break;
    }
  }
  return 0;
}
