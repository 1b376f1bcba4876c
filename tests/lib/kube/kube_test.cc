// lib/kube: kubeconfig and in-cluster configuration, credentials (token
// files, exec plugins), the client against the fake API server over HTTPS,
// and the fake's strictness (it must refuse what the real server refuses).

#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include <sys/stat.h>
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/kube/credentials.h"
#include "lib/kube/kube_client.h"
#include "lib/kube/kube_config.h"
#include "lib/kube/kube_error.h"
#include "lib/kube/label_selector.h"
#include "tests/fakes/kube/fake_apiserver.h"
#include "tests/fakes/kube/test_pki.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/trickle_server.h"

namespace hollowtrees::kube {
namespace {

using ::hollowtrees::testing::IsOk;
using ::hollowtrees::testing::StatusIs;
using ::testing::HasSubstr;
using nlohmann::json;

constexpr char kToken[] = "s3cret";

TEST(KubeErrorTest, StatusBodiesBecomeTypedErrors) {
  const std::string body = R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
    "message":"Cannot evict pod as it would violate the pod's disruption budget.",
    "reason":"TooManyRequests","details":{"causes":[{"reason":"DisruptionBudget",
    "message":"The disruption budget web needs 2 healthy pods and has 2 currently"}]},"code":429})";
  absl::Status s = KubeStatusError(429, body, "POST /x/eviction");
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kResourceExhausted,
                          HasSubstr("POST /x/eviction: HTTP 429 TooManyRequests: Cannot evict")));
  EXPECT_THAT(s.message(), HasSubstr("needs 2 healthy pods"));
  auto e = GetKubeError(s);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, 429);
  EXPECT_EQ(e->reason, "TooManyRequests");
  EXPECT_EQ(e->cause_reason, "DisruptionBudget");

  EXPECT_EQ(KubeStatusError(404, "", "GET").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(KubeStatusError(409, R"({"kind":"Status","reason":"AlreadyExists","code":409})", "")
                .code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(KubeStatusError(409, R"({"kind":"Status","reason":"Conflict","code":409})", "").code(),
            absl::StatusCode::kAborted);
  EXPECT_EQ(KubeStatusError(401, "", "").code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(KubeStatusError(403, "", "").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(KubeStatusError(415, "", "").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(KubeStatusError(500, "", "").code(), absl::StatusCode::kInternal);
  EXPECT_EQ(KubeStatusError(503, "", "").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(KubeStatusError(504, "", "").code(), absl::StatusCode::kDeadlineExceeded);
  absl::Status plain = KubeStatusError(502, "<html>bad gateway</html>", "GET /api");
  EXPECT_THAT(plain, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("bad gateway")));
  EXPECT_FALSE(GetKubeError(absl::NotFoundError("x")).has_value());
}

TEST(LabelSelectorTest, ParsesAndMatchesEveryForm) {
  ASSERT_OK_AND_ASSIGN(LabelSelector s,
                       LabelSelector::Parse("app=web, tier!=db,env in (prod, staging),!canary,team"));
  EXPECT_TRUE(s.Matches({{"app", "web"}, {"env", "prod"}, {"team", "a"}}));
  EXPECT_FALSE(s.Matches({{"app", "web"}, {"env", "dev"}, {"team", "a"}}));
  EXPECT_FALSE(s.Matches({{"app", "web"}, {"env", "prod"}, {"team", "a"}, {"canary", "1"}}));
  EXPECT_FALSE(s.Matches({{"app", "web"}, {"env", "prod"}, {"team", "a"}, {"tier", "db"}}));
  EXPECT_FALSE(s.Matches({{"app", "web"}, {"env", "prod"}}));
  ASSERT_OK_AND_ASSIGN(LabelSelector n, LabelSelector::Parse("x notin (a)"));
  EXPECT_TRUE(n.Matches({}));
  EXPECT_FALSE(n.Matches({{"x", "a"}}));
  ASSERT_OK_AND_ASSIGN(LabelSelector all, LabelSelector::Parse(""));
  EXPECT_TRUE(all.Matches({{"a", "b"}}));
  EXPECT_THAT(LabelSelector::Parse("a in (b"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("a in (b")));
  EXPECT_THAT(LabelSelector::Parse("a=b c"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("invalid label value")));
  EXPECT_THAT(LabelSelector::Parse("a,,b"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty term")));
}

constexpr char kKubeconfig[] = R"(apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://prod.example:6443
    certificate-authority: certs/ca.pem
- name: staging
  cluster:
    server: https://staging.example
    certificate-authority-data: Y2EtcGVt
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    client-certificate: /abs/admin.crt
    client-key: admin.key
- name: eks
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws
      args: [eks, get-token, --cluster-name, prod]
      env:
      - name: AWS_PROFILE
        value: ops
      installHint: install the AWS CLI
- name: robot
  user:
    tokenFile: robot.token
contexts:
- name: prod-admin
  context: {cluster: prod, user: admin}
- name: prod-eks
  context: {cluster: prod, user: eks, namespace: ops}
- name: staging-robot
  context: {cluster: staging, user: robot}
- name: broken
  context: {cluster: nowhere, user: admin}
current-context: prod-admin
)";

TEST(KubeClientDeadlineTest, ATricklingApiServerIsCutOffAtTheRequestsDeadline) {
  // An API server that answers one byte every 50 ms (10 s in all).
  ASSERT_OK_AND_ASSIGN(auto slow, hollowtrees::testing::TrickleServer::Start(
                                      hollowtrees::testing::TrickleServer::SlowJsonAnswer(150),
                                      absl::Milliseconds(50)));
  KubeConfig c;
  c.server = slow->url();
  c.token = std::string(1, 't');
  ASSERT_OK_AND_ASSIGN(auto client, KubeClient::Create(c, {.timeout = absl::Seconds(1)}));
  const absl::Time started = absl::Now();
  auto r = client->Get("/api/v1/nodes/n1");
  const absl::Duration took = absl::Now() - started;
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("deadline"));
  EXPECT_LT(took, absl::Seconds(3)) << "the request outlived its deadline: " << r.status();
}

TEST(KubeconfigTest, ContextsClustersUsers) {
  ASSERT_OK_AND_ASSIGN(KubeConfig c, ParseKubeconfig(kKubeconfig, "/home/u/.kube"));
  EXPECT_EQ(c.context, "prod-admin");
  EXPECT_EQ(c.server, "https://prod.example:6443");
  EXPECT_EQ(c.tls.ca_file, "/home/u/.kube/certs/ca.pem");
  EXPECT_EQ(c.tls.cert_file, "/abs/admin.crt");
  EXPECT_EQ(c.tls.key_file, "/home/u/.kube/admin.key");
  EXPECT_EQ(c.default_namespace, "default");
  EXPECT_FALSE(c.exec.has_value());

  ASSERT_OK_AND_ASSIGN(c, ParseKubeconfig(kKubeconfig, "/k", "prod-eks"));
  ASSERT_TRUE(c.exec.has_value());
  EXPECT_EQ(c.exec->command, "aws");
  EXPECT_EQ(c.exec->api_version, "client.authentication.k8s.io/v1beta1");
  EXPECT_THAT(c.exec->args, ::testing::ElementsAre("eks", "get-token", "--cluster-name", "prod"));
  EXPECT_EQ(c.exec->env.size(), 1u);
  EXPECT_EQ(c.exec->install_hint, "install the AWS CLI");
  EXPECT_EQ(c.default_namespace, "ops");

  ASSERT_OK_AND_ASSIGN(c, ParseKubeconfig(kKubeconfig, "/k", "staging-robot"));
  EXPECT_EQ(c.tls.ca_pem, "ca-pem");
  EXPECT_TRUE(c.tls.insecure_skip_verify);
  EXPECT_EQ(c.token_file, "/k/robot.token");

  EXPECT_THAT(ParseKubeconfig(kKubeconfig, "/k", "nope"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no context named \"nope\"")));
  EXPECT_THAT(ParseKubeconfig(kKubeconfig, "/k", "broken"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no cluster named \"nowhere\"")));
  EXPECT_THAT(ParseKubeconfig("clusters: [", "/k", "", "bad.yaml"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bad.yaml:")));
  EXPECT_THAT(ParseKubeconfig("apiVersion: v1\nkind: Config\n", "/k"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no current-context")));
  EXPECT_THAT(LoadKubeconfig("/nonexistent/kubeconfig"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("/nonexistent/kubeconfig")));
  const std::string bad_exec = absl::StrReplaceAll(std::string(kKubeconfig),
      {{"client.authentication.k8s.io/v1beta1", "client.authentication.k8s.io/v1alpha1"}});
  EXPECT_THAT(ParseKubeconfig(bad_exec, "/k", "prod-eks"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("v1alpha1")));
}

TEST(InClusterTest, ServiceAccountAndEnvironment) {
  const std::string root = testing::MakeTempDir("sa");
  EXPECT_THAT(LoadInClusterConfig({.root = root, .host = "", .port = ""}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("KUBERNETES_SERVICE_HOST")));
  EXPECT_THAT(LoadInClusterConfig({.root = root, .host = "10.96.0.1", .port = "443"}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("token")));
  ASSERT_THAT(testing::WriteStringToFile(root + "/token", "abc"), IsOk());
  ASSERT_THAT(testing::WriteStringToFile(root + "/namespace", "kube-system\n"), IsOk());
  ASSERT_OK_AND_ASSIGN(KubeConfig c, LoadInClusterConfig({.root = root, .host = "10.96.0.1", .port = "443"}));
  EXPECT_EQ(c.server, "https://10.96.0.1:443");
  EXPECT_EQ(c.token_file, root + "/token");
  EXPECT_EQ(c.tls.ca_file, root + "/ca.crt");
  EXPECT_EQ(c.default_namespace, "kube-system");
  ASSERT_OK_AND_ASSIGN(c, LoadInClusterConfig({.root = root, .host = "fd00::1", .port = "6443"}));
  EXPECT_EQ(c.server, "https://[fd00::1]:6443");
}

TEST(CredentialsTest, TokenFileIsReadAgainWhenItRotates) {
  const std::string dir = testing::MakeTempDir("tok");
  KubeConfig c;
  c.token_file = dir + "/token";
  ASSERT_THAT(testing::WriteStringToFile(c.token_file, "one\n"), IsOk());
  ASSERT_OK_AND_ASSIGN(auto creds, NewCredentials(c));
  EXPECT_EQ(*creds->Authorization(), "Bearer one");
  ASSERT_THAT(testing::WriteStringToFile(c.token_file, "second-token"), IsOk());
  EXPECT_EQ(*creds->Authorization(), "Bearer second-token");
  unlink(c.token_file.c_str());
  EXPECT_THAT(creds->Authorization(), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("token")));
}

TEST(CredentialsTest, ExecPluginTokenIsCachedUntilItsExpiry) {
  const std::string dir = testing::MakeTempDir("exec");
  const std::string script = dir + "/cred.sh";
  ASSERT_THAT(testing::WriteStringToFile(script, R"SH(#!/bin/sh
echo x >> "$COUNT_FILE"
n=$(wc -l < "$COUNT_FILE")
echo "$KUBERNETES_EXEC_INFO" > "$INFO_FILE"
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"tok-%s","expirationTimestamp":"2030-01-01T00:00:00Z"}}' "$n"
)SH"), IsOk());
  chmod(script.c_str(), 0755);
  KubeConfig c;
  c.server = "https://k.example";
  c.exec = ExecConfig{.api_version = "client.authentication.k8s.io/v1",
                      .command = script,
                      .env = {{"COUNT_FILE", dir + "/count"}, {"INFO_FILE", dir + "/info"}},
                      .provide_cluster_info = true};
  FakeClock clock(absl::FromCivil(absl::CivilSecond(2029, 12, 31, 23, 0, 0), absl::UTCTimeZone()));
  CredentialsOptions o;
  o.clock = &clock;
  ASSERT_OK_AND_ASSIGN(auto creds, NewCredentials(c, o));
  EXPECT_EQ(*creds->Authorization(), "Bearer tok-1");
  EXPECT_EQ(*creds->Authorization(), "Bearer tok-1");
  auto info = json::parse(*testing::ReadFileToString(dir + "/info"));
  EXPECT_EQ(info["kind"], "ExecCredential");
  EXPECT_EQ(info["spec"]["interactive"], false);
  EXPECT_EQ(info["spec"]["cluster"]["server"], "https://k.example");
  clock.Advance(absl::Hours(2));  // past the expiry: run again
  EXPECT_EQ(*creds->Authorization(), "Bearer tok-2");
  EXPECT_TRUE(creds->Invalidate());  // a 401: run again
  EXPECT_EQ(*creds->Authorization(), "Bearer tok-3");
}

TEST(CredentialsTest, ExecPluginFailuresAreClear) {
  const std::string dir = testing::MakeTempDir("exec");
  const std::string script = dir + "/fail.sh";
  ASSERT_THAT(testing::WriteStringToFile(script, "#!/bin/sh\necho 'no SSO session' >&2\nexit 4\n"), IsOk());
  chmod(script.c_str(), 0755);
  ExecConfig e{.api_version = "client.authentication.k8s.io/v1", .command = script};
  EXPECT_THAT(RunExecPlugin(e, "", absl::Seconds(10)),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("exited with 4: no SSO session")));
  e.command = "ht-no-such-command";
  e.install_hint = "install it from example.com";
  EXPECT_THAT(RunExecPlugin(e, "", absl::Seconds(10)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("install it from example.com")));
  ASSERT_THAT(testing::WriteStringToFile(script, "#!/bin/sh\nsleep 30\n"), IsOk());
  e.command = script;
  const absl::Time t0 = absl::Now();
  EXPECT_THAT(RunExecPlugin(e, "", absl::Milliseconds(300)),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5));
  ASSERT_THAT(testing::WriteStringToFile(script, "#!/bin/sh\necho '{\"kind\":\"ExecCredential\",\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"status\":{\"token\":\"x\"}}'\n"), IsOk());
  EXPECT_THAT(RunExecPlugin(e, "", absl::Seconds(10)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("v1beta1")));
}

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("kube");
    auto pki = testing::MakeTestPki(dir_);
    ASSERT_THAT(pki, IsOk());
    pki_ = *pki;
    auto server = testing::FakeApiServer::Start({.tls_cert_file = pki_.server_cert_file,
                                                 .tls_key_file = pki_.server_key_file,
                                                 .client_ca_file = pki_.ca_cert_file,
                                                 .tokens = {kToken}});
    ASSERT_THAT(server, IsOk());
    server_ = std::move(*server);
    ASSERT_THAT(server_->AddNode({{"metadata", {{"name", "n1"}}}}), IsOk());
  }

  KubeConfig Config() {
    KubeConfig c;
    c.server = server_->url();
    c.tls.ca_file = pki_.ca_cert_file;
    c.token = kToken;
    c.description = "test";
    return c;
  }

  std::unique_ptr<KubeClient> Client(const KubeConfig& c, KubeClientOptions o = {}) {
    auto client = KubeClient::Create(c, o);
    EXPECT_THAT(client, IsOk());
    return client.ok() ? std::move(*client) : nullptr;
  }

  std::string dir_;
  testing::TestPki pki_;
  std::unique_ptr<testing::FakeApiServer> server_;
};

TEST_F(ClientTest, AuthenticatesByTokenOrClientCertificateAndRefusesOtherwise) {
  auto client = Client(Config());
  ASSERT_OK_AND_ASSIGN(json node, client->Get("/api/v1/nodes/n1"));
  EXPECT_EQ(node["kind"], "Node");
  EXPECT_EQ(node["metadata"]["name"], "n1");

  KubeConfig cert = Config();
  cert.token.clear();
  cert.tls.cert_pem = pki_.client_cert_pem;
  cert.tls.key_pem = pki_.client_key_pem;
  EXPECT_THAT(Client(cert)->Get("/api/v1/nodes/n1"), IsOk());

  KubeConfig none = Config();
  none.token = "wrong";
  auto r = Client(none)->Get("/api/v1/nodes/n1");
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("401 Unauthorized")));
  EXPECT_EQ(GetKubeError(r.status())->reason, "Unauthorized");

  KubeConfig untrusted = Config();
  untrusted.tls.ca_file.clear();
  untrusted.tls.ca_pem = "";
  EXPECT_THAT(Client(untrusted)->Get("/version"), StatusIs(absl::StatusCode::kUnavailable));
  untrusted.tls.insecure_skip_verify = true;
  EXPECT_THAT(Client(untrusted)->Get("/version"), IsOk());
}

TEST_F(ClientTest, ListFollowsContinue) {
  for (int i = 0; i < 7; ++i) {
    ASSERT_THAT(server_->AddPod({{"metadata", {{"name", absl::StrCat("p", i)}, {"namespace", "default"}}},
                                 {"spec", {{"nodeName", i % 2 ? "n1" : "n2"}}}}),
                IsOk());
  }
  auto client = Client(Config());
  server_->ResetRequestCounts();
  ASSERT_OK_AND_ASSIGN(json all, client->List("/api/v1/pods", {.limit = 3}));
  EXPECT_EQ(all["items"].size(), 7u);
  EXPECT_EQ(all["kind"], "PodList");
  EXPECT_FALSE(all["metadata"].contains("continue"));
  EXPECT_EQ(server_->RequestCount(), 3);
  ASSERT_OK_AND_ASSIGN(json on_n1, client->List("/api/v1/pods", {.field_selector = "spec.nodeName=n1"}));
  EXPECT_EQ(on_n1["items"].size(), 3u);
  EXPECT_THAT(client->List("/api/v1/pods", {.field_selector = "spec.foo=bar"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("field label not supported: spec.foo")));
  EXPECT_THAT(client->List("/api/v1/pods", {.label_selector = "a in (b"}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(ClientTest, PatchCreateDeleteAndTheFakesStrictness) {
  auto client = Client(Config());
  ASSERT_OK_AND_ASSIGN(json n, client->Patch("/api/v1/nodes/n1", {{"spec", {{"unschedulable", true}}}},
                                             PatchType::kStrategicMerge));
  EXPECT_EQ(n["spec"]["unschedulable"], true);
  ASSERT_OK_AND_ASSIGN(n, client->Patch("/api/v1/nodes/n1", {{"spec", {{"unschedulable", nullptr}}}},
                                        PatchType::kMerge));
  EXPECT_FALSE(n["spec"].contains("unschedulable"));
  ASSERT_OK_AND_ASSIGN(n, client->Patch("/api/v1/nodes/n1",
                                        json::array({{{"op", "add"}, {"path", "/metadata/labels"},
                                                      {"value", {{"a", "b"}}}}}),
                                        PatchType::kJson));
  EXPECT_EQ(n["metadata"]["labels"]["a"], "b");
  // Optimistic concurrency: a stale resourceVersion is a conflict.
  EXPECT_THAT(client->Patch("/api/v1/nodes/n1", {{"metadata", {{"resourceVersion", "1"}}}},
                            PatchType::kMerge),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("the object has been modified")));
  // What the real API server refuses, the fake refuses.
  EXPECT_THAT(client->Request("PATCH", "/api/v1/nodes/n1", "{}", "application/apply-patch+yaml"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("415 UnsupportedMediaType")));
  EXPECT_THAT(client->Request("PATCH", "/api/v1/nodes/n1", "{not json", "application/merge-patch+json"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("400 BadRequest")));
  EXPECT_THAT(client->Request("POST", "/api/v1/namespaces/default/events", "{}", "text/plain"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("415")));
  EXPECT_THAT(client->Get("/api/v1/nodes/ghost"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nodes \"ghost\" not found")));
  EXPECT_THAT(client->Get("/api/v1/widgets"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(client->Request("PUT", "/api/v1/nodes", "{}", "application/json"),
              StatusIs(absl::StatusCode::kUnimplemented, HasSubstr("405")));

  ASSERT_OK_AND_ASSIGN(json ev, client->Create("/api/v1/namespaces/default/events",
                                               {{"metadata", {{"generateName", "n1."}}},
                                                {"involvedObject", {{"kind", "Node"}, {"name", "n1"}}},
                                                {"reason", "Test"}}));
  EXPECT_THAT(ev["metadata"]["name"].get<std::string>(), ::testing::StartsWith("n1."));
  EXPECT_THAT(client->Create("/api/v1/namespaces/default/events", {{"metadata", {{"name", "x"}}}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("involvedObject")));
  EXPECT_EQ(server_->Events().size(), 1u);

  ASSERT_THAT(server_->AddPod({{"metadata", {{"name", "p"}, {"namespace", "default"}}},
                               {"spec", {{"nodeName", "n1"}, {"terminationGracePeriodSeconds", 30}}},
                               {"status", {{"phase", "Running"}}}}),
              IsOk());
  EXPECT_THAT(client->Delete("/api/v1/namespaces/default/pods/p",
                             {{"kind", "DeleteOptions"}, {"preconditions", {{"uid", "other"}}}}),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("Precondition failed")));
  ASSERT_OK_AND_ASSIGN(json deleted, client->Delete("/api/v1/namespaces/default/pods/p",
                                                    {{"kind", "DeleteOptions"}, {"gracePeriodSeconds", 30}}));
  EXPECT_TRUE(deleted["metadata"].contains("deletionTimestamp"));
  EXPECT_TRUE(server_->GetPod("default", "p").has_value());  // terminating for 30 s
  ASSERT_THAT(client->Delete("/api/v1/namespaces/default/pods/p", {{"gracePeriodSeconds", 0}}), IsOk());
  EXPECT_FALSE(server_->GetPod("default", "p").has_value());
}

TEST_F(ClientTest, EvictionHonoursDisruptionBudgets) {
  auto pod = [](const std::string& name) {
    return json{{"metadata", {{"name", name}, {"namespace", "default"}, {"labels", {{"app", "web"}}}}},
                {"spec", {{"nodeName", "n1"}}},
                {"status", {{"phase", "Running"}, {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}}}};
  };
  ASSERT_THAT(server_->AddPod(pod("a")), IsOk());
  ASSERT_THAT(server_->AddPod(pod("b")), IsOk());
  ASSERT_THAT(server_->AddPodDisruptionBudget(
                  {{"metadata", {{"name", "web-pdb"}, {"namespace", "default"}}},
                   {"spec", {{"minAvailable", 1}, {"selector", {{"matchLabels", {{"app", "web"}}}}}}}}),
              IsOk());
  auto client = Client(Config());
  auto evict = [&](const std::string& name) {
    return client->Create(absl::StrCat("/api/v1/namespaces/default/pods/", name, "/eviction"),
                          {{"apiVersion", "policy/v1"},
                           {"kind", "Eviction"},
                           {"metadata", {{"name", name}, {"namespace", "default"}}},
                           {"deleteOptions", {{"gracePeriodSeconds", 0}}}});
  };
  ASSERT_OK_AND_ASSIGN(json pdb, client->Get("/apis/policy/v1/namespaces/default/poddisruptionbudgets/web-pdb"));
  EXPECT_EQ(pdb["status"]["disruptionsAllowed"], 1);
  EXPECT_THAT(evict("a"), IsOk());
  auto refused = evict("b");
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("web-pdb")));
  EXPECT_EQ(GetKubeError(refused.status())->cause_reason, "DisruptionBudget");
  EXPECT_THAT(evict("ghost"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(client->Create("/api/v1/namespaces/default/pods/b/eviction",
                             {{"apiVersion", "policy/v1"}, {"kind", "Eviction"}, {"metadata", {{"name", "a"}}}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("does not match")));
  ASSERT_THAT(server_->AddPodDisruptionBudget(
                  {{"metadata", {{"name", "second"}, {"namespace", "default"}}},
                   {"spec", {{"minAvailable", 0}, {"selector", {{"matchLabels", {{"app", "web"}}}}}}}}),
              IsOk());
  EXPECT_THAT(evict("b"), StatusIs(absl::StatusCode::kInternal, HasSubstr("more than one PodDisruptionBudget")));
  server_->SetEvictionServed(false);
  EXPECT_THAT(evict("b"), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_OK_AND_ASSIGN(json v1, client->Get("/api/v1"));
  for (const auto& r : v1["resources"]) EXPECT_NE(r["name"], "pods/eviction");
}

TEST(ClientTimeoutTest, EveryRequestHasATimeout) {
  // A listener that never answers.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 16), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  KubeConfig c;
  c.server = absl::StrCat("http://127.0.0.1:", ntohs(addr.sin_port));
  ASSERT_OK_AND_ASSIGN(auto client, KubeClient::Create(c, {.timeout = absl::Milliseconds(300)}));
  const absl::Time t0 = absl::Now();
  EXPECT_THAT(client->Get("/version"), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5));
  close(fd);
}

}  // namespace
}  // namespace hollowtrees::kube

namespace hollowtrees::kube {
namespace {

TEST(FakeApiServerBinaryTest, ServesStateFromAFileOverTls) {
  const std::string dir = testing::MakeTempDir("fake-bin");
  ASSERT_THAT(testing::WriteStringToFile(
                  dir + "/state.json",
                  R"({"nodes":[{"metadata":{"name":"n1"}}],
                      "pods":[{"metadata":{"name":"p1","namespace":"default"},"spec":{"nodeName":"n1"}}]})"),
              IsOk());
  auto proc = testing::Subprocess::Start({testing::BinaryPath("fake-kube-apiserver"), "--listen",
                                          "127.0.0.1:0", "--make_pki", dir, "--tokens", "a,b",
                                          "--state", dir + "/state.json"});
  ASSERT_THAT(proc, IsOk());
  auto port = (*proc)->WaitForOutput("listening on 127.0.0.1:([0-9]+)");
  ASSERT_THAT(port, IsOk()) << (*proc)->Output();
  KubeConfig c;
  c.server = absl::StrCat("https://127.0.0.1:", *port);
  c.tls.ca_file = dir + "/ca.crt";
  c.token = "b";
  ASSERT_OK_AND_ASSIGN(auto client, KubeClient::Create(c));
  ASSERT_OK_AND_ASSIGN(json pods, client->List("/api/v1/namespaces/default/pods"));
  ASSERT_EQ(pods["items"].size(), 1u);
  EXPECT_EQ(pods["items"][0]["metadata"]["name"], "p1");
  ASSERT_OK_AND_ASSIGN(json version, client->Get("/version"));
  EXPECT_EQ(version["gitVersion"], "v1.30.0");
  client.reset();  // close its keep-alive connections: the server stops at once
  EXPECT_EQ((*proc)->Stop(), 0);

  ASSERT_THAT(testing::WriteStringToFile(dir + "/bad.json", R"({"nodes":[{"spec":{}}]})"), IsOk());
  auto bad = testing::Subprocess::Start({testing::BinaryPath("fake-kube-apiserver"), "--state",
                                         dir + "/bad.json"});
  ASSERT_THAT(bad, IsOk());
  auto code = (*bad)->Wait(absl::Seconds(20));
  ASSERT_THAT(code, IsOk());
  EXPECT_EQ(*code, 1);
  EXPECT_THAT((*bad)->Output(), HasSubstr("without metadata.name"));
}

}  // namespace
}  // namespace hollowtrees::kube
