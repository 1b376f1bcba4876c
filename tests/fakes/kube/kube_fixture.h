#pragma once

// A gtest fixture: the fake Kubernetes API server over HTTPS with a bearer
// token, a KubeClient for it, a kubeconfig for binaries, and the real
// kubectl against it. For the tests of whatever talks to Kubernetes
// (tests/lib/kube, tests/webhook). Header-only; link ht_fake_kube.

#include <sys/stat.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "lib/kube/kube_client.h"
#include "tests/fakes/kube/fake_apiserver.h"
#include "tests/fakes/kube/test_pki.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace hollowtrees::testing {

inline constexpr char kFakeKubeToken[] = "fake-kube-test-token";
inline constexpr char kKubectlPath[] = "/usr/bin/kubectl";

class FakeKubeFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("ht-kube");
    mkdir((dir_ + "/apiserver").c_str(), 0700);
    ASSERT_OK_AND_ASSIGN(pki_, MakeTestPki(dir_ + "/apiserver"));
    FakeApiServerOptions o;
    o.tls_cert_file = pki_.server_cert_file;
    o.tls_key_file = pki_.server_key_file;
    o.tokens = {kFakeKubeToken};
    o.reschedule = false;
    ASSERT_OK_AND_ASSIGN(api_, FakeApiServer::Start(o));
    ASSERT_OK_AND_ASSIGN(client_, kube::KubeClient::Create(Config()));
  }

  // A configuration for another client of the fake.
  kube::KubeConfig Config() const {
    kube::KubeConfig config;
    config.server = api_->url();
    config.tls.ca_file = pki_.ca_cert_file;
    config.token = kFakeKubeToken;
    config.description = "fake";
    return config;
  }

  // A kubeconfig file for binaries.
  std::string WriteKubeconfig() {
    const std::string path = dir_ + "/kubeconfig";
    const std::string text =
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n"
        "    server: " +
        api_->url() + "\n    certificate-authority: " + pki_.ca_cert_file +
        "\nusers:\n- name: u\n  user:\n    token: " + kFakeKubeToken +
        "\ncontexts:\n- name: c\n  context:\n    cluster: fake\n    user: u\n"
        "current-context: c\n";
    EXPECT_TRUE(WriteStringToFile(path, text).ok());
    return path;
  }

  static bool KubectlInstalled() { return access(kKubectlPath, X_OK) == 0; }

  // Runs the real kubectl against the fake (its kubeconfig, a private
  // discovery cache); its exit code (-1 when it could not run or hung) and
  // output (stdout and stderr).
  std::pair<int, std::string> Kubectl(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {kKubectlPath, "--kubeconfig", WriteKubeconfig(), "--cache-dir",
                                     dir_ + "/kubectl-cache"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto proc = Subprocess::Start(argv);
    if (!proc.ok()) return {-1, std::string(proc.status().message())};
    auto code = (*proc)->Wait(absl::Seconds(60));
    return {code.ok() ? *code : -1, (*proc)->Output()};
  }

  // Polls `cond` until true or the deadline (no fixed sleeps).
  static bool Eventually(const std::function<bool()>& cond,
                         absl::Duration timeout = absl::Seconds(10)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      if (cond()) return true;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return cond();
  }

  std::string dir_;
  TestPki pki_;
  std::unique_ptr<FakeApiServer> api_;
  std::unique_ptr<kube::KubeClient> client_;
};

}  // namespace hollowtrees::testing
