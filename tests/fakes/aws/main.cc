// fake-aws: the fake Auto Scaling / EC2 / STS / SQS endpoint as a process,
// for scripts and end-to-end tests. Prints "listening on HOST:PORT".

#include <csignal>
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_split.h"
#include "lib/common/signals.h"
#include "lib/http/server_util.h"
#include "tests/fakes/aws/fake_aws.h"
#include "tests/testing/subprocess.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0", "HOST:PORT to serve on");
ABSL_FLAG(std::string, region, "us-east-1", "the region requests must be signed for");
ABSL_FLAG(std::string, state, "", "JSON file with the initial state {groups, instances}");
ABSL_FLAG(std::string, access_key_id, "AKIDFAKEEXAMPLE", "accepted access key id");
ABSL_FLAG(std::string, secret_access_key, "fakeSecretKeyForTestsOnly/EXAMPLEKEY",
          "its secret");
ABSL_FLAG(std::string, sqs_queues, "",
          "comma-separated SQS queues to create at start (URLs "
          "http://HOST:PORT/123456789012/NAME); more through POST /control/sqs/queues");

int main(int argc, char** argv) {
  hollowtrees::SignalWaiter signals({SIGTERM, SIGINT});
  absl::ParseCommandLine(argc, argv);
  auto hp = hollowtrees::http::ParseHostPort(absl::GetFlag(FLAGS_listen));
  if (!hp.ok()) {
    fprintf(stderr, "fake-aws: %s\n", std::string(hp.status().message()).c_str());
    return 2;
  }
  hollowtrees::testing::FakeAwsOptions options;
  options.host = hp->host;
  options.port = hp->port;
  options.region = absl::GetFlag(FLAGS_region);
  options.credentials = {{absl::GetFlag(FLAGS_access_key_id), absl::GetFlag(FLAGS_secret_access_key)}};
  auto fake = hollowtrees::testing::FakeAws::Start(options);
  if (!fake.ok()) {
    fprintf(stderr, "fake-aws: %s\n", std::string(fake.status().message()).c_str());
    return 1;
  }
  if (!absl::GetFlag(FLAGS_state).empty()) {
    auto text = hollowtrees::testing::ReadFileToString(absl::GetFlag(FLAGS_state));
    auto json = text.ok() ? nlohmann::json::parse(*text, nullptr, false) : nlohmann::json();
    absl::Status s = !text.ok()            ? text.status()
                     : json.is_discarded() ? absl::InvalidArgumentError("state is not JSON")
                                           : (*fake)->LoadStateJson(json);
    if (!s.ok()) {
      fprintf(stderr, "fake-aws: --state: %s\n", std::string(s.message()).c_str());
      return 2;
    }
  }
  for (absl::string_view name :
       absl::StrSplit(absl::GetFlag(FLAGS_sqs_queues), ',', absl::SkipEmpty())) {
    auto url = (*fake)->CreateSqsQueue(std::string(name));
    if (!url.ok()) {
      fprintf(stderr, "fake-aws: --sqs_queues: %s\n", std::string(url.status().message()).c_str());
      return 2;
    }
  }
  (*fake)->EnableControlApi();
  printf("listening on %s:%d\n", options.host.c_str(), (*fake)->port());
  fflush(stdout);
  signals.Wait();
  return 0;
}
