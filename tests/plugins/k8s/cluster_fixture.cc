#include "tests/plugins/k8s/cluster_fixture.h"

#include <sys/stat.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/testing/subprocess.h"

namespace hollowtrees::testing {

using nlohmann::json;

json NodeJson(const std::string& name, const std::string& instance_id, const std::string& ip) {
  return {{"metadata", {{"name", name}, {"labels", {{"kubernetes.io/hostname", name}}}}},
          {"spec", {{"providerID", absl::StrCat("aws:///us-east-1a/", instance_id)}}},
          {"status",
           {{"conditions", {{{"type", "Ready"}, {"status", "True"}}}},
            {"addresses", {{{"type", "InternalIP"}, {"address", ip}}, {{"type", "Hostname"}, {"address", name}}}},
            {"nodeInfo", {{"kubeletVersion", "v1.30.0"}}}}}};
}

json PodJson(const std::string& ns, const std::string& name, const std::string& node,
             const std::string& owner_kind, const std::string& owner_name, int grace_seconds,
             const json& labels) {
  json pod = {{"metadata", {{"name", name}, {"namespace", ns}, {"labels", labels}}},
              {"spec",
               {{"nodeName", node},
                {"terminationGracePeriodSeconds", grace_seconds},
                {"containers", {{{"name", "main"}, {"image", "registry.k8s.io/pause:3.9"}}}}}},
              {"status", {{"phase", "Running"}, {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}}}};
  if (!owner_kind.empty()) {
    pod["metadata"]["ownerReferences"] = {{{"apiVersion", owner_kind == "Job" ? "batch/v1" : "apps/v1"},
                                           {"kind", owner_kind},
                                           {"name", owner_name},
                                           {"uid", absl::StrCat("uid-", owner_name)},
                                           {"controller", true}}};
  }
  return pod;
}

json StandardCluster() {
  json web = {{"app", "web"}};
  json state;
  state["nodes"] = {NodeJson("node-1", "i-0001", "10.0.0.1"), NodeJson("node-2", "i-0002", "10.0.0.2")};
  state["replicasets"] = {
      {{"metadata", {{"name", "web-rs"}, {"namespace", "default"}}}, {"spec", {{"replicas", 3}}}},
      {{"metadata", {{"name", "cache-rs"}, {"namespace", "default"}}}, {"spec", {{"replicas", 1}}}}};
  state["daemonsets"] = {{{"metadata", {{"name", "agent"}, {"namespace", "kube-system"}}}}};
  state["poddisruptionbudgets"] = {
      {{"metadata", {{"name", "web-pdb"}, {"namespace", "default"}}},
       {"spec", {{"minAvailable", 2}, {"selector", {{"matchLabels", web}}}}}}};
  json mirror = PodJson("kube-system", "etcd-node-1", "node-1", "Node", "node-1");
  mirror["metadata"]["annotations"] = {{"kubernetes.io/config.mirror", "0123abcd"}};
  json cache = PodJson("default", "cache-1", "node-1", "ReplicaSet", "cache-rs", 1, {{"app", "cache"}});
  cache["spec"]["volumes"] = {{{"name", "scratch"}, {"emptyDir", json::object()}}};
  json done = PodJson("default", "job-done", "node-1", "Job", "job");
  done["status"] = {{"phase", "Succeeded"}};
  state["pods"] = {PodJson("kube-system", "agent-node-1", "node-1", "DaemonSet", "agent"),
                   mirror,
                   PodJson("default", "web-1", "node-1", "ReplicaSet", "web-rs", 0, web),
                   PodJson("default", "web-2", "node-1", "ReplicaSet", "web-rs", 0, web),
                   cache,
                   PodJson("default", "bare", "node-1", "", "", 0),
                   done,
                   PodJson("default", "web-3", "node-2", "ReplicaSet", "web-rs", 0, web),
                   PodJson("kube-system", "agent-node-2", "node-2", "DaemonSet", "agent")};
  return state;
}

std::unique_ptr<FakeCluster> FakeCluster::Start(const json& state, FakeApiServerOptions options) {
  auto c = std::unique_ptr<FakeCluster>(new FakeCluster());
  c->dir_ = MakeTempDir("ht-k8s");
  auto pki = MakeTestPki(c->dir_);
  EXPECT_TRUE(pki.ok()) << pki.status();
  if (!pki.ok()) return nullptr;
  c->pki_ = *pki;
  options.tls_cert_file = c->pki_.server_cert_file;
  options.tls_key_file = c->pki_.server_key_file;
  options.client_ca_file = c->pki_.ca_cert_file;
  options.tokens = {kTestToken};
  auto server = FakeApiServer::Start(options);
  EXPECT_TRUE(server.ok()) << server.status();
  if (!server.ok()) return nullptr;
  c->server_ = std::move(*server);
  absl::Status s = c->server_->LoadState(state);
  EXPECT_TRUE(s.ok()) << s;
  return c;
}

std::string FakeCluster::WriteKubeconfig(const std::string& name, const std::string& cluster_extra,
                                         const std::string& user_body) {
  const std::string path = absl::StrCat(dir_, "/", name);
  const std::string text = absl::StrCat(R"(apiVersion: v1
kind: Config
preferences: {}
clusters:
- name: other
  cluster:
    server: https://127.0.0.1:1
- name: fake
  cluster:
    server: )", server_->url(), "\n", cluster_extra, R"(users:
- name: tester
  user:
)", user_body, R"(contexts:
- name: wrong
  context: {cluster: other, user: tester}
- name: fake
  context: {cluster: fake, user: tester, namespace: default}
current-context: fake
)");
  EXPECT_TRUE(WriteStringToFile(path, text).ok());
  return path;
}

std::string FakeCluster::TokenKubeconfig(const std::string& token) {
  return WriteKubeconfig("token.kubeconfig", "    certificate-authority: ca.crt\n",
                         absl::StrCat("    token: ", token, "\n"));
}

std::string FakeCluster::ClientCertFilesKubeconfig() {
  return WriteKubeconfig("cert.kubeconfig",
                         absl::StrCat("    certificate-authority: ", pki_.ca_cert_file, "\n"),
                         "    client-certificate: client.crt\n    client-key: client.key\n");
}

std::string FakeCluster::ClientCertDataKubeconfig() {
  return WriteKubeconfig(
      "certdata.kubeconfig",
      absl::StrCat("    certificate-authority-data: ", absl::Base64Escape(pki_.ca_cert_pem), "\n"),
      absl::StrCat("    client-certificate-data: ", absl::Base64Escape(pki_.client_cert_pem),
                   "\n    client-key-data: ", absl::Base64Escape(pki_.client_key_pem), "\n"));
}

std::string FakeCluster::TokenFileKubeconfig(const std::string& token_file) {
  return WriteKubeconfig("tokenfile.kubeconfig", "    certificate-authority: ca.crt\n",
                         absl::StrCat("    tokenFile: ", token_file, "\n"));
}

std::string FakeCluster::ExecKubeconfig(const std::string& api_version,
                                        const std::string& count_file, int ttl_seconds) {
  const std::string script = absl::StrCat(dir_, "/get-token.sh");
  const std::string text = absl::StrCat(R"SH(#!/bin/sh
# Prints an ExecCredential as `aws eks get-token` does; counts its runs.
echo run >> ")SH", count_file, R"SH("
case "$KUBERNETES_EXEC_INFO" in *ExecCredential*) ;; *) echo "no KUBERNETES_EXEC_INFO" >&2; exit 3;; esac
exp=$(date -u -d "@$(( $(date +%s) + )SH", ttl_seconds, R"SH( ))" +%Y-%m-%dT%H:%M:%SZ)
printf '{"kind":"ExecCredential","apiVersion":"%s","spec":{},"status":{"expirationTimestamp":"%s","token":"%s"}}\n' "$1" "$exp" "$HT_TOKEN"
)SH");
  EXPECT_TRUE(WriteStringToFile(script, text).ok());
  chmod(script.c_str(), 0755);
  return WriteKubeconfig(
      "exec.kubeconfig", "    certificate-authority: ca.crt\n",
      absl::StrCat("    exec:\n      apiVersion: ", api_version,
                   "\n      command: ./get-token.sh\n      args: [\"", api_version,
                   "\"]\n      env:\n      - name: HT_TOKEN\n        value: ", kTestToken,
                   "\n      interactiveMode: Never\n      installHint: install get-token.sh\n"));
}

}  // namespace hollowtrees::testing
