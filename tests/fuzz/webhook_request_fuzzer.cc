// libFuzzer target: what the API server and the scheduler send the
// spot-config-webhook. Mode 0: an AdmissionReview body (webhook::Admitter::
// Review, which must never throw: the server does not catch). Modes 1 and 2:
// an ExtenderArgs body for /filter and /prioritize, parsed the way the
// server does (ParseStrictJson) and given to webhook::Extender, where a json
// exception is an accepted answer (the server turns it into a 400). The
// on-demand percentage stored for the workload comes from the input too.
#include <fuzzer/FuzzedDataProvider.h>

#include "lib/common/clock.h"
#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/fuzz_http.h"
#include "webhook/admission.h"
#include "webhook/cluster_view.h"
#include "webhook/extender.h"
#include "lib/common/strict_json.h"

namespace {

using namespace hollowtrees;

class FuzzShares : public webhook::ShareSource {
 public:
  explicit FuzzShares(std::string value) : value_(std::move(value)) {}
  absl::StatusOr<std::optional<std::string>> Lookup(const std::string&) override {
    if (value_ == "-") return std::optional<std::string>();
    return std::optional<std::string>(value_);
  }
  void Consumed(const std::string&, const std::string&) override {}

 private:
  std::string value_;
};

class FuzzCluster : public webhook::ClusterView {
 public:
  explicit FuzzCluster(int desired) : desired_(desired) {}
  absl::StatusOr<std::map<std::string, std::string>> NodeLabels(const std::string& node) override {
    if (node == "spot-1") return std::map<std::string, std::string>{{"node.kubernetes.io/lifecycle", "spot"}};
    if (node == "od-1") {
      return std::map<std::string, std::string>{{"eks.amazonaws.com/capacityType", "ON_DEMAND"}};
    }
    return absl::NotFoundError("no such node");
  }
  absl::StatusOr<webhook::Workload> WorkloadOf(const nlohmann::json&) override {
    webhook::Workload w;
    w.id = "shop/ReplicaSet/web-abc";
    w.desired = desired_;
    w.pods = {{"u1", "web-1", "od-1"}, {"u2", "web-2", "spot-1"}, {"u3", "web-3", ""}};
    return w;
  }

 private:
  int desired_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 256 * 1024) return 0;
  FuzzedDataProvider in(data, size);
  const int mode = in.ConsumeIntegralInRange(0, 2);
  const std::string share = in.ConsumeRandomLengthString(16);
  const int desired = in.ConsumeIntegralInRange(-2, 1000);
  const std::string body = in.ConsumeRemainingBytesAsString();
  if (mode == 0) {
    // The ConfigMap's values came out of JSON: valid UTF-8 (the answer
    // quotes them and must dump).
    try {
      (void)nlohmann::json(share).dump();
    } catch (const nlohmann::json::exception&) {
      return 0;
    }
    FuzzShares shares(share);
    webhook::Admitter admitter(shares, {}, fuzz::SilentLogger());
    std::string result;
    auto review = admitter.Review(body, &result);
    if (review.ok()) (void)review->dump();
    return 0;
  }
  auto args = ParseStrictJson(body);
  if (!args.ok()) return 0;
  FuzzCluster cluster(desired);
  webhook::ExtenderOptions options;
  FakeClock clock(hollowtrees::fuzz::FixedNow());
  webhook::Extender extender(cluster, options, fuzz::SilentLogger(), clock);
  try {
    auto out = mode == 1 ? extender.Filter(*args) : extender.Prioritize(*args);
    if (out.ok()) (void)out->dump();
  } catch (const nlohmann::json::exception&) {
  }
  return 0;
}
