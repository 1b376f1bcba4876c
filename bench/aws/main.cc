// bench-aws: what the AWS side of a spot replacement costs, side by side in
// one run: SigV4 signing alone, the fake's verification, one signed Query
// round trip over loopback (pooled connection), and a whole `replace`
// (DescribeAutoScalingInstances, DescribeAutoScalingGroups, DetachInstances).
//
//   build/bin/bench-aws [--seconds 2]

#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "lib/aws/autoscaling.h"
#include "lib/aws/credentials.h"
#include "lib/aws/sigv4.h"
#include "lib/common/logging.h"
#include "plugins/aws_asg/instance_replacer.h"
#include "plugins/aws_asg/aws_asg_api.h"
#include "tests/fakes/aws/fake_aws.h"

ABSL_FLAG(double, seconds, 2.0, "time per measurement");

namespace {

using namespace hollowtrees;  // NOLINT: a benchmark main

template <typename F>
void Measure(const char* name, F&& fn) {
  const absl::Duration budget = absl::Seconds(absl::GetFlag(FLAGS_seconds));
  const absl::Time start = absl::Now();
  int64_t n = 0;
  while (absl::Now() - start < budget) {
    for (int i = 0; i < 16; ++i) fn(n++);
  }
  const double secs = absl::ToDoubleSeconds(absl::Now() - start);
  printf("%-44s %12.0f ops/s %10.2f us/op\n", name, n / secs, secs * 1e6 / n);
  fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  auto fake = testing::FakeAws::Start();
  if (!fake.ok()) {
    fprintf(stderr, "fake: %s\n", std::string(fake.status().message()).c_str());
    return 1;
  }
  const aws::Credentials creds{.access_key_id = "AKIDFAKEEXAMPLE",
                               .secret_access_key = "fakeSecretKeyForTestsOnly/EXAMPLEKEY"};
  aws::SignableRequest base;
  base.body = "Action=DescribeAutoScalingInstances&Version=2011-01-01&InstanceIds.member.1=i-0000000000000a001";
  base.headers = {{"Host", "autoscaling.us-east-1.amazonaws.com"},
                  {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
  const aws::SigningParams params{.region = "us-east-1", .service = "autoscaling", .time = absl::Now()};

  printf("%-44s %12s       %10s\n", "measurement", "throughput", "latency");
  Measure("SigV4 sign, key derived per request", [&](int64_t) {
    aws::SignableRequest r = base;
    aws::SignRequest(r, creds, params);
  });
  aws::SigningKeyCache cache;
  Measure("SigV4 sign, key cached (as QueryClient does)", [&](int64_t) {
    aws::SignableRequest r = base;
    aws::SignRequest(r, creds, params, &cache);
  });
  Measure("SigV4 signing key derivation (4 HMACs)", [&](int64_t) {
    (void)aws::SigningKey(creds.secret_access_key, params.time, "us-east-1", "autoscaling");
  });
  Measure("SHA-256 of the request body", [&](int64_t) { (void)aws::Sha256Hex(base.body); });
  aws::SignableRequest signed_req = base;
  aws::SignRequest(signed_req, creds, params);
  const auto names = aws::HeadersToSign(signed_req);
  Measure("SigV4 verify (recompute, as the fake does)", [&](int64_t) {
    (void)aws::ComputeSignature(signed_req, names, creds.secret_access_key, params);
  });

  auto logger = MakeLogger("bench-aws", {.level = "error"});
  auto provider = aws::NewStaticCredentials(creds);
  auto client = aws::QueryClient::Create({.endpoint = (*fake)->endpoint(), .region = "us-east-1",
                                          .service = "autoscaling",
                                          .version = aws::kAutoScalingVersion},
                                         provider.get(), RealClock(), logger->get());
  if (!client.ok()) return 1;
  aws::AutoScalingClient asg(**client);
  (*fake)->AddGroup({.name = "g", .min_size = 0, .max_size = 100000000, .desired = 1});
  (*fake)->AddInstance({.id = "i-0000000000000a001", .group = "g"});
  Measure("DescribeAutoScalingInstances round trip", [&](int64_t) {
    auto r = asg.DescribeAutoScalingInstance("i-0000000000000a001");
    if (!r.ok() || !r->has_value()) abort();
  });

  // A whole replace per op: each op detaches a fresh instance.
  aws_asg::AwsAsgApiOptions o;
  o.region = "us-east-1";
  o.env = {{"AWS_ACCESS_KEY_ID", creds.access_key_id},
           {"AWS_SECRET_ACCESS_KEY", creds.secret_access_key},
           {"AWS_ENDPOINT_URL", (*fake)->endpoint()},
           {"AWS_EC2_METADATA_DISABLED", "true"},
           {"AWS_CONFIG_FILE", "/nonexistent"},
           {"AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"}};
  auto api = aws_asg::NewAwsAsgApi(o, **logger);
  if (!api.ok()) return 1;
  aws_asg::InstanceReplacer replacer(**api, **logger);
  Measure("replace (describe x2 + DetachInstances)", [&](int64_t i) {
    const std::string id = absl::StrFormat("i-%017x", 0x100000 + i);
    (*fake)->AddInstance({.id = id, .group = "g"});
    auto out = replacer.Run({.instance_id = id});
    if (out.kind != aws_asg::ReplaceOutcome::kDone) {
      fprintf(stderr, "replace: %s\n", out.message.c_str());
      abort();
    }
  });
  return 0;
}
