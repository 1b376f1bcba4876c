// fake-kube-apiserver: the fake Kubernetes API server as a process, for
// manual runs and tests that need a separate server. State comes from a JSON
// file (see FakeApiServer::LoadState); TLS material from files (make it with
// --make-pki DIR, which writes a CA, server and client certificates there).

#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_split.h"
#include "lib/common/signals.h"
#include "tests/fakes/kube/fake_apiserver.h"
#include "tests/fakes/kube/test_pki.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0", "HOST:PORT to serve on (port 0: any free port)");
ABSL_FLAG(std::string, state, "", "JSON file with the initial cluster state");
ABSL_FLAG(std::string, tls_cert_file, "", "server certificate (PEM); empty: plain HTTP");
ABSL_FLAG(std::string, tls_key_file, "", "server key (PEM)");
ABSL_FLAG(std::string, client_ca_file, "", "CA whose client certificates authenticate");
ABSL_FLAG(std::string, tokens, "", "comma-separated accepted bearer tokens");
ABSL_FLAG(std::string, make_pki, "",
          "write a test CA, server and client certificates into this folder and serve TLS "
          "with them (overrides --tls-cert-file, --tls-key-file, --client-ca-file)");
ABSL_FLAG(bool, reschedule, true, "replace terminating ReplicaSet pods on schedulable nodes");
ABSL_FLAG(bool, eviction, true, "serve the pods/eviction subresource");
ABSL_FLAG(std::string, git_version, "v1.30.0", "version reported by /version");

int main(int argc, char** argv) {
  hollowtrees::SignalWaiter signals({SIGTERM, SIGINT});
  absl::SetProgramUsageMessage("fake-kube-apiserver: a fake Kubernetes API server for tests");
  absl::ParseCommandLine(argc, argv);
  hollowtrees::testing::FakeApiServerOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  options.tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
  options.client_ca_file = absl::GetFlag(FLAGS_client_ca_file);
  options.reschedule = absl::GetFlag(FLAGS_reschedule);
  options.git_version = absl::GetFlag(FLAGS_git_version);
  for (absl::string_view t : absl::StrSplit(absl::GetFlag(FLAGS_tokens), ',', absl::SkipEmpty())) {
    options.tokens.emplace_back(t);
  }
  if (!absl::GetFlag(FLAGS_make_pki).empty()) {
    auto pki = hollowtrees::testing::MakeTestPki(absl::GetFlag(FLAGS_make_pki));
    if (!pki.ok()) {
      fprintf(stderr, "fake-kube-apiserver: %s\n", std::string(pki.status().message()).c_str());
      return 1;
    }
    options.tls_cert_file = pki->server_cert_file;
    options.tls_key_file = pki->server_key_file;
    options.client_ca_file = pki->ca_cert_file;
  }
  auto server = hollowtrees::testing::FakeApiServer::Start(options);
  if (!server.ok()) {
    fprintf(stderr, "fake-kube-apiserver: %s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  (*server)->SetEvictionServed(absl::GetFlag(FLAGS_eviction));
  if (!absl::GetFlag(FLAGS_state).empty()) {
    std::ifstream in(absl::GetFlag(FLAGS_state));
    std::stringstream ss;
    ss << in.rdbuf();
    nlohmann::json state = nlohmann::json::parse(ss.str(), nullptr, false);
    if (!in || state.is_discarded()) {
      fprintf(stderr, "fake-kube-apiserver: %s is not readable JSON\n",
              absl::GetFlag(FLAGS_state).c_str());
      return 1;
    }
    absl::Status s = (*server)->LoadState(state);
    if (!s.ok()) {
      fprintf(stderr, "fake-kube-apiserver: %s: %s\n", absl::GetFlag(FLAGS_state).c_str(),
              std::string(s.message()).c_str());
      return 1;
    }
  }
  const std::string host = options.listen.substr(0, options.listen.rfind(':'));
  printf("listening on %s:%d\n", host.c_str(), (*server)->port());
  fflush(stdout);
  signals.Wait();
  (*server)->Stop();
  return 0;
}
