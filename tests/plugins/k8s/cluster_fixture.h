#pragma once

// A fake cluster over HTTPS for end-to-end drain tests: the fake API server
// with a test PKI, a bearer token, client-certificate auth, and kubeconfigs
// of every kind written next to it.

#include <memory>
#include <string>

#include "nlohmann/json.hpp"
#include "tests/fakes/kube/fake_apiserver.h"
#include "tests/fakes/kube/test_pki.h"

namespace hollowtrees::testing {

inline constexpr char kTestToken[] = "test-token-0123";

// Objects as the API returns them.
nlohmann::json NodeJson(const std::string& name, const std::string& instance_id,
                        const std::string& ip);
nlohmann::json PodJson(const std::string& ns, const std::string& name, const std::string& node,
                       const std::string& owner_kind = "", const std::string& owner_name = "",
                       int grace_seconds = 0, const nlohmann::json& labels = nlohmann::json::object());

// node-1 (i-0001, 10.0.0.1) to be drained and node-2 (i-0002, 10.0.0.2):
// on node-1 the DaemonSet pod kube-system/agent-node-1, the mirror pod
// kube-system/etcd-node-1, default/web-1 and default/web-2 (ReplicaSet web-rs
// of 3, budget web-pdb minAvailable 2), default/cache-1 (emptyDir,
// ReplicaSet cache-rs), default/bare (no controller), default/job-done
// (Succeeded); on node-2 default/web-3 and kube-system/agent-node-2.
nlohmann::json StandardCluster();

class FakeCluster {
 public:
  // Starts a TLS fake in a fresh temp dir. Asserts on failure (use ASSERT_NO_FATAL_FAILURE).
  static std::unique_ptr<FakeCluster> Start(const nlohmann::json& state,
                                            FakeApiServerOptions options = {});
  FakeApiServer& server() { return *server_; }
  const TestPki& pki() const { return pki_; }
  const std::string& dir() const { return dir_; }

  // Kubeconfigs (files under dir()) authenticating in different ways.
  std::string TokenKubeconfig(const std::string& token = kTestToken);
  std::string ClientCertFilesKubeconfig();
  std::string ClientCertDataKubeconfig();
  std::string TokenFileKubeconfig(const std::string& token_file);
  // An exec plugin script printing an ExecCredential (api version given),
  // counting its runs in `count_file`; the token expires after `ttl_seconds`
  // (negative: already expired).
  std::string ExecKubeconfig(const std::string& api_version, const std::string& count_file,
                             int ttl_seconds);
  std::string WriteKubeconfig(const std::string& name, const std::string& cluster_extra,
                              const std::string& user_body);

 private:
  std::string dir_;
  TestPki pki_;
  std::unique_ptr<FakeApiServer> server_;
};

}  // namespace hollowtrees::testing
