// fake-imds: the fake EC2 instance metadata service as a process, with a
// control API for scripts (see fake_imds.h). Prints "listening on HOST:PORT".

#include <csignal>
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "lib/common/signals.h"
#include "lib/http/server_util.h"
#include "tests/fakes/imds/fake_imds.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0", "HOST:PORT to serve on");
ABSL_FLAG(std::string, mode, "v2-only", "v2-only, v1-and-v2 or v1-only");
ABSL_FLAG(std::string, instance_id, "i-0123456789abcdef0", "instance-id");
ABSL_FLAG(std::string, instance_type, "m5.large", "instance-type");
ABSL_FLAG(std::string, availability_zone, "us-east-1a", "placement/availability-zone");

int main(int argc, char** argv) {
  hollowtrees::SignalWaiter signals({SIGTERM, SIGINT});
  absl::ParseCommandLine(argc, argv);
  auto hp = hollowtrees::http::ParseHostPort(absl::GetFlag(FLAGS_listen));
  auto mode = hollowtrees::testing::ParseImdsMode(absl::GetFlag(FLAGS_mode));
  if (!hp.ok() || !mode.ok()) {
    fprintf(stderr, "fake-imds: %s\n",
            std::string((!hp.ok() ? hp.status() : mode.status()).message()).c_str());
    return 2;
  }
  hollowtrees::testing::FakeImdsOptions options;
  options.host = hp->host;
  options.port = hp->port;
  options.mode = *mode;
  options.instance_id = absl::GetFlag(FLAGS_instance_id);
  options.instance_type = absl::GetFlag(FLAGS_instance_type);
  options.availability_zone = absl::GetFlag(FLAGS_availability_zone);
  auto fake = hollowtrees::testing::FakeImds::Start(options);
  if (!fake.ok()) {
    fprintf(stderr, "fake-imds: %s\n", std::string(fake.status().message()).c_str());
    return 1;
  }
  (*fake)->EnableControlApi();
  printf("listening on %s:%d\n", options.host.c_str(), (*fake)->port());
  fflush(stdout);
  signals.Wait();
  return 0;
}
