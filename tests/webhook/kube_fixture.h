#pragma once

// A fake Kubernetes API server over HTTPS with a bearer token, and a client
// for it, for the webhook's tests.

#include <sys/stat.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "lib/kube/kube_client.h"
#include "tests/fakes/kube/fake_apiserver.h"
#include "tests/fakes/kube/test_pki.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace hollowtrees::webhook::testing {

inline constexpr char kToken[] = "webhook-test-token";

class KubeFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = hollowtrees::testing::MakeTempDir("ht-webhook");
    mkdir((dir_ + "/apiserver").c_str(), 0700);
    ASSERT_OK_AND_ASSIGN(pki_, hollowtrees::testing::MakeTestPki(dir_ + "/apiserver"));
    hollowtrees::testing::FakeApiServerOptions o;
    o.tls_cert_file = pki_.server_cert_file;
    o.tls_key_file = pki_.server_key_file;
    o.tokens = {kToken};
    o.reschedule = false;
    ASSERT_OK_AND_ASSIGN(api_, hollowtrees::testing::FakeApiServer::Start(o));
    kube::KubeConfig config;
    config.server = api_->url();
    config.tls.ca_file = pki_.ca_cert_file;
    config.token = kToken;
    config.description = "fake";
    ASSERT_OK_AND_ASSIGN(client_, kube::KubeClient::Create(config));
  }

  // A kubeconfig file for binaries.
  std::string WriteKubeconfig() {
    const std::string path = dir_ + "/kubeconfig";
    const std::string text = "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n"
                             "    server: " + api_->url() + "\n    certificate-authority: " +
                             pki_.ca_cert_file +
                             "\nusers:\n- name: u\n  user:\n    token: " + kToken +
                             "\ncontexts:\n- name: c\n  context:\n    cluster: fake\n    user: u\n"
                             "current-context: c\n";
    EXPECT_TRUE(hollowtrees::testing::WriteStringToFile(path, text).ok());
    return path;
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
  hollowtrees::testing::TestPki pki_;
  std::unique_ptr<hollowtrees::testing::FakeApiServer> api_;
  std::unique_ptr<kube::KubeClient> client_;
};

}  // namespace hollowtrees::webhook::testing
