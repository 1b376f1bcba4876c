// libFuzzer target: kubeconfig files (kube::ParseKubeconfig, then
// NewCredentials on an accepted one, without running exec plugins) and an
// exec credential plugin's output (kube::ParseExecCredential). The first
// byte chooses; the rest is the file or the plugin's stdout.
#include <fuzzer/FuzzedDataProvider.h>

#include "lib/kube/credentials.h"
#include "lib/kube/kube_config.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hollowtrees;
  if (size == 0 || size > 64 * 1024) return 0;  // both are small files
  const absl::string_view input = fuzz::AsView(data + 1, size - 1);
  if (data[0] % 2 == 0) {
    const char* context = (data[0] & 2) ? "prod" : "";
    auto config = kube::ParseKubeconfig(input, "/nonexistent/kube", context, "fuzz-kubeconfig");
    if (!config.ok()) return 0;
    auto credentials = kube::NewCredentials(*config);
    // A static token or basic auth answers at once; an exec plugin or a
    // token file is not run or read here (no I/O in a fuzz target).
    if (credentials.ok() && !config->exec && config->token_file.empty()) {
      (void)(*credentials)->Authorization();
    }
  } else {
    kube::ExecConfig exec;
    exec.api_version = (data[0] & 2) ? "client.authentication.k8s.io/v1beta1"
                                     : "client.authentication.k8s.io/v1";
    exec.command = "aws";
    auto result = kube::ParseExecCredential(input, exec);
    if (result.ok() && result->token.empty()) {
      std::fprintf(stderr, "an accepted ExecCredential has no token\n");
      std::abort();
    }
  }
  return 0;
}
