#include "webhook/server.h"

#include <cstring>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/common/logging.h"
#include "lib/http/http_client.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/webhook/fakes.h"
#include "tests/webhook/kube_fixture.h"
#include "webhook/configmap_shares.h"

namespace hollowtrees::webhook {
namespace {

using ::hollowtrees::testing::IsOk;
using nlohmann::json;
using ::testing::HasSubstr;

std::shared_ptr<spdlog::logger> Logger() {
  static auto* l = new std::shared_ptr<spdlog::logger>(*MakeLogger("server-test", {.level = "off"}));
  return *l;
}

json Deployment(const std::string& name) {
  json obj;
  obj["apiVersion"] = "apps/v1";
  obj["kind"] = "Deployment";
  obj["metadata"] = {{"name", name}, {"namespace", "shop"}, {"labels", {{"release", "shop"}}}};
  obj["spec"]["replicas"] = 3;
  obj["spec"]["template"]["metadata"]["annotations"] = {{"team", "payments"}};
  obj["spec"]["template"]["spec"]["containers"] = json::array({{{"name", "c"}, {"image", "nginx"}}});
  return obj;
}

json Review(const std::string& version, const json& object, const std::string& uid) {
  return {{"apiVersion", "admission.k8s.io/" + version},
          {"kind", "AdmissionReview"},
          {"request",
           {{"uid", uid},
            {"kind", {{"group", "apps"}, {"version", "v1"}, {"kind", object["kind"]}}},
            {"resource", {{"group", "apps"}, {"version", "v1"}, {"resource", "deployments"}}},
            {"namespace", "shop"},
            {"name", object["metadata"]["name"]},
            {"operation", "CREATE"},
            {"object", object}}}};
}

json Patched(const json& response, const json& object) {
  std::string decoded;
  EXPECT_TRUE(absl::Base64Unescape(response["patch"].get<std::string>(), &decoded));
  return object.patch(json::parse(decoded));
}

class ServerTest : public testing::KubeFixture {
 protected:
  std::unique_ptr<http::HttpClient> Client(int port) {
    auto c = http::NewHttpClient({.base_url = "https://127.0.0.1:" + std::to_string(port),
                                  .tls = {.ca_file = pki_.ca_cert_file}});
    EXPECT_THAT(c, IsOk());
    return std::move(*c);
  }
  absl::StatusOr<http::HttpResponse> Post(http::HttpClient& c, const std::string& path,
                                          const std::string& body) {
    return c.Send({.method = "POST", .path = path, .body = body, .content_type = "application/json"});
  }
};

TEST_F(ServerTest, AdmissionAndExtenderOverTls) {
  testing::FakeShareSource source;
  source.Set("shop.deployment.web", "30");
  testing::FakeCluster cluster;
  cluster.AddNode("od-1", {{"karpenter.sh/capacity-type", "on-demand"}});
  cluster.AddNode("spot-1", {{"karpenter.sh/capacity-type", "spot"}});
  cluster.SetDesired("web", 10);
  bool ready = false;
  ASSERT_OK_AND_ASSIGN(auto certs, CertReloader::Create({.cert_file = pki_.server_cert_file,
                                                         .key_file = pki_.server_key_file},
                                                        Logger()));
  Admitter admitter(source, {}, Logger());
  Extender extender(cluster, {}, Logger());
  metrics::Registry registry;
  ASSERT_OK_AND_ASSIGN(auto server,
                       WebhookServer::Start({.listen = "127.0.0.1:0", .ready = [&] { return ready; }},
                                            *certs, admitter, extender, registry, Logger()));
  auto client = Client(server->port());

  for (const std::string version : {"v1", "v1beta1"}) {
    const json object = Deployment("web");
    ASSERT_OK_AND_ASSIGN(auto res, Post(*client, "/mutate", Review(version, object, "uid-" + version).dump()));
    ASSERT_EQ(res.status, 200) << res.body;
    EXPECT_THAT(res.Header("Content-Type"), HasSubstr("application/json"));
    const json review = json::parse(res.body);
    EXPECT_EQ(review["apiVersion"], "admission.k8s.io/" + version);
    EXPECT_EQ(review["response"]["uid"], "uid-" + version);
    EXPECT_EQ(review["response"]["allowed"], true);
    const json patched = Patched(review["response"], object);
    EXPECT_EQ(patched["spec"]["template"]["metadata"]["annotations"],
              json({{"team", "payments"}, {"app.banzaicloud.io/odPercentage", "30"}}));
    EXPECT_EQ(patched["spec"]["template"]["spec"]["schedulerName"], "spot-scheduler");
  }

  json pod = {{"metadata", {{"name", "web-1"}, {"uid", "web-1"}, {"labels", {{"workload", "web"}}},
                            {"annotations", {{"app.banzaicloud.io/odPercentage", "30"}}}}}};
  json args = {{"pod", pod}, {"nodenames", {"od-1", "spot-1"}}};
  ASSERT_OK_AND_ASSIGN(auto res, Post(*client, "/filter", args.dump()));
  ASSERT_EQ(res.status, 200);
  EXPECT_EQ(json::parse(res.body)["nodenames"], json({"od-1"}));
  ASSERT_OK_AND_ASSIGN(res, Post(*client, "/prioritize", args.dump()));
  ASSERT_EQ(res.status, 200);
  EXPECT_EQ(json::parse(res.body), json::parse(R"([{"host":"od-1","score":10},{"host":"spot-1","score":0}])"));

  // Bad input: 400 with a reason, and the server stays up.
  ASSERT_OK_AND_ASSIGN(res, Post(*client, "/mutate", "{not json"));
  EXPECT_EQ(res.status, 400);
  EXPECT_THAT(json::parse(res.body)["error"].get<std::string>(), HasSubstr("not a JSON object"));
  ASSERT_OK_AND_ASSIGN(res, Post(*client, "/filter", "[]"));
  EXPECT_EQ(res.status, 400);
  ASSERT_OK_AND_ASSIGN(res, Post(*client, "/prioritize", "nope"));
  EXPECT_EQ(res.status, 400);
  ASSERT_OK_AND_ASSIGN(res, client->Send({.method = "POST", .path = "/mutate", .body = "x",
                                          .content_type = "text/plain"}));
  EXPECT_EQ(res.status, 415);

  ASSERT_OK_AND_ASSIGN(res, client->Send({.path = "/readyz"}));
  EXPECT_EQ(res.status, 503);
  ready = true;
  ASSERT_OK_AND_ASSIGN(res, client->Send({.path = "/readyz"}));
  EXPECT_EQ(res.status, 200);
  ASSERT_OK_AND_ASSIGN(res, client->Send({.path = "/healthz"}));
  EXPECT_EQ(res.status, 200);
  ASSERT_OK_AND_ASSIGN(res, client->Send({.path = "/metrics"}));
  EXPECT_THAT(res.body, HasSubstr("spot_config_webhook_admission_requests_total{result=\"patched\"} 2"));
  EXPECT_THAT(res.body, HasSubstr("spot_config_webhook_admission_requests_total{result=\"bad_request\"} 2"));
  EXPECT_THAT(res.body, HasSubstr("spot_config_webhook_extender_requests_total{verb=\"filter\",code=\"200\"} 1"));
}

// The binary, end to end: ConfigMap in the fake API server, AdmissionReview
// over TLS, the entry removed afterwards.
TEST_F(ServerTest, BinaryMutatesFromTheWatchedConfigMapAndRemovesTheEntry) {
  api_->configmaps().Set("pipeline-system", "spot-deploy-config",
                         {{"shop.deployment.web", "30"}, {"shop.deployment.api", "50"}});
  ASSERT_OK_AND_ASSIGN(
      auto proc, hollowtrees::testing::Subprocess::Start(
                     {hollowtrees::testing::BinaryPath("spot-config-webhook"),
                      "--listen=127.0.0.1:0", "--tls-cert-file=" + pki_.server_cert_file,
                      "--tls-private-key-file=" + pki_.server_key_file,
                      "--kubeconfig=" + WriteKubeconfig()}));
  ASSERT_OK_AND_ASSIGN(std::string port_text, proc->WaitForOutput("listening on port (\\d+)"));
  auto client = Client(std::stoi(port_text));
  ASSERT_TRUE(Eventually([&] {
    auto r = client->Send({.path = "/readyz"});
    return r.ok() && r->status == 200;
  }));
  const json object = Deployment("web");
  ASSERT_OK_AND_ASSIGN(auto res, Post(*client, "/mutate", Review("v1", object, "u1").dump()));
  ASSERT_EQ(res.status, 200) << res.body;
  const json patched = Patched(json::parse(res.body)["response"], object);
  EXPECT_EQ(patched["spec"]["template"]["metadata"]["annotations"]["app.banzaicloud.io/odPercentage"], "30");
  EXPECT_TRUE(Eventually([&] {
    auto cm = api_->configmaps().Get("pipeline-system", "spot-deploy-config");
    return cm.has_value() && !(*cm)["data"].contains("shop.deployment.web");
  }));
  EXPECT_EQ((*api_->configmaps().Get("pipeline-system", "spot-deploy-config"))["data"],
            json({{"shop.deployment.api", "50"}}));
  // Once the watch has delivered the removal, the same request is no longer patched.
  EXPECT_TRUE(Eventually([&] {
    auto r = Post(*client, "/mutate", Review("v1", object, "u2").dump());
    return r.ok() && !json::parse(r->body)["response"].contains("patch");
  }));
  EXPECT_EQ(proc->Stop(), 0);
}

TEST_F(ServerTest, ExtenderOnlySidecarServesNoAdmissionAndNeedsNoConfigMap) {
  // No ConfigMap access at all: a kubeconfig with a token the API refuses.
  const std::string kubeconfig = dir_ + "/bad-kubeconfig";
  std::string text = *hollowtrees::testing::ReadFileToString(WriteKubeconfig());
  text.replace(text.find(testing::kToken), strlen(testing::kToken), "refused");
  ASSERT_THAT(hollowtrees::testing::WriteStringToFile(kubeconfig, text), IsOk());
  ASSERT_OK_AND_ASSIGN(
      auto proc, hollowtrees::testing::Subprocess::Start(
                     {hollowtrees::testing::BinaryPath("spot-config-webhook"),
                      "--listen=127.0.0.1:0", "--serve=extender",
                      "--tls-cert-file=" + pki_.server_cert_file,
                      "--tls-private-key-file=" + pki_.server_key_file,
                      "--kubeconfig=" + kubeconfig}));
  ASSERT_OK_AND_ASSIGN(std::string port_text, proc->WaitForOutput("listening on port (\\d+)"));
  auto client = Client(std::stoi(port_text));
  ASSERT_OK_AND_ASSIGN(auto res, client->Send({.path = "/readyz"}));
  EXPECT_EQ(res.status, 200);
  ASSERT_OK_AND_ASSIGN(res, Post(*client, "/mutate", Review("v1", Deployment("web"), "u").dump()));
  EXPECT_EQ(res.status, 404);
  json pod = {{"metadata", {{"name", "p"}, {"namespace", "shop"}}}};
  ASSERT_OK_AND_ASSIGN(res, Post(*client, "/filter", json({{"pod", pod}, {"nodenames", {"n1"}}}).dump()));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(json::parse(res.body)["nodenames"], json({"n1"}));  // not annotated: passes
  EXPECT_EQ(api_->RequestCounts()["GET configmaps"], 0);
  EXPECT_EQ(proc->Stop(), 0);
}

TEST_F(ServerTest, BinaryReportsEveryBadFlag) {
  ASSERT_OK_AND_ASSIGN(
      auto proc, hollowtrees::testing::Subprocess::Start(
                     {hollowtrees::testing::BinaryPath("spot-config-webhook"), "--listen=nowhere",
                      "--unlabeled-nodes=maybe", "--on-demand-labels=x", "--serve=everything"}));
  ASSERT_OK_AND_ASSIGN(int code, proc->Wait(absl::Seconds(20)));
  EXPECT_EQ(code, 1);
  const std::string out = proc->Output();
  EXPECT_THAT(out, HasSubstr("--tls-cert-file is required"));
  EXPECT_THAT(out, HasSubstr("--tls-private-key-file is required"));
  EXPECT_THAT(out, HasSubstr("--unlabeled-nodes"));
  EXPECT_THAT(out, HasSubstr("--on-demand-labels"));
  EXPECT_THAT(out, HasSubstr("--listen"));
  EXPECT_THAT(out, HasSubstr("--serve: unknown part \"everything\""));
}

}  // namespace
}  // namespace hollowtrees::webhook
