// libFuzzer target: AWS Query-protocol answers (XML), successes and errors,
// through the typed calls that decode them: EC2 DescribeInstances and
// TerminateInstances, DescribeInstances of many ids (filter, nextToken
// pages), Auto Scaling DescribeAutoScalingInstances, DescribeAutoScalingGroups
// (NextToken pages), DetachInstances, UpdateAutoScalingGroup, the lifecycle
// hook calls (CompleteLifecycleAction, RecordLifecycleActionHeartbeat,
// DescribeLifecycleHooks); and aws::ParseAwsErrorBody on its own. Every
// request is answered with a status and body from the input
// (tests/fuzz/fuzz_http.h); one attempt per call, no signing.
#include <fuzzer/FuzzedDataProvider.h>

#include "lib/aws/autoscaling.h"
#include "lib/aws/ec2.h"
#include "lib/aws/query_client.h"
#include "lib/common/clock.h"
#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/fuzz_http.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hollowtrees;
  if (size > 256 * 1024) return 0;
  FuzzedDataProvider in(data, size);
  const int mode = in.ConsumeIntegralInRange(0, 11);
  if (mode == 11) {
    const int status = in.ConsumeIntegralInRange(400, 599);
    auto e = aws::ParseAwsErrorBody(in.ConsumeRemainingBytesAsString(), status);
    if (e.ok()) {
      if (e->code.empty()) std::abort();
      absl::Status s = aws::MakeAwsStatus(*e);
      auto back = aws::GetAwsError(s);
      if (s.ok() || !back || back->code != e->code) {
        std::fprintf(stderr, "an AWS error does not survive its status\n");
        std::abort();
      }
    }
    return 0;
  }
  Clock& clock = RealClock();
  aws::QueryClientOptions options{.endpoint = "https://ec2.us-east-1.amazonaws.com",
                                  .region = "us-east-1",
                                  .service = mode < 2 || mode == 7 ? "ec2" : "autoscaling",
                                  .version = mode < 2 || mode == 7 ? aws::kEc2Version
                                                                   : aws::kAutoScalingVersion};
  options.retry.max_attempts = 1;  // no backoff sleeps
  auto client = aws::QueryClient::CreateWithHttp(
      options,
      std::make_unique<fuzz::ScriptedHttp>(in, std::vector<int>{200, 200, 200, 400, 403, 500, 503}),
      /*credentials=*/nullptr, clock, fuzz::SilentLogger().get());
  aws::Ec2Client ec2(*client);
  aws::AutoScalingClient asg(*client);
  switch (mode) {
    case 0: (void)ec2.DescribeInstance("i-0123456789abcdef0"); break;
    case 1: (void)ec2.TerminateInstances({"i-0123456789abcdef0", "i-1"}); break;
    case 2: (void)asg.DescribeAutoScalingInstance("i-0123456789abcdef0"); break;
    case 3: (void)asg.DescribeAutoScalingGroup("spot-workers"); break;
    case 4: (void)asg.DescribeAutoScalingGroups({"a", "b"}, absl::InfiniteFuture(), 4); break;
    case 5: (void)asg.DetachInstances("spot-workers", {"i-1"}, true); break;
    case 6: (void)asg.UpdateAutoScalingGroup("spot-workers", 1, 5, 3); break;
    case 7: {
      auto found = ec2.DescribeInstances({"i-0123456789abcdef0", "i-1", "i-2"},
                                         absl::InfiniteFuture(), 4);
      if (found.ok()) {
        for (const aws::Ec2Instance& i : *found) {
          // Only what was asked for comes back.
          if (i.instance_id != "i-0123456789abcdef0" && i.instance_id != "i-1" &&
              i.instance_id != "i-2") {
            std::fprintf(stderr, "DescribeInstances returned an instance not asked for\n");
            std::abort();
          }
        }
      }
      break;
    }
    case 8:
      (void)aws::IsNoActiveLifecycleAction(
          asg.CompleteLifecycleAction("g", "h", "token", "i-1", "CONTINUE"));
      break;
    case 9: (void)asg.RecordLifecycleActionHeartbeat("g", "h", "token", ""); break;
    case 10: (void)asg.DescribeLifecycleHooks("g"); break;
  }
  return 0;
}
