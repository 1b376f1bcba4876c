#include "webhook/configmap_shares.h"

#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/common/logging.h"
#include "tests/testing/status_matchers.h"
#include "tests/webhook/kube_fixture.h"

namespace hollowtrees::webhook {
namespace {

using ::hollowtrees::testing::IsOk;
using ::hollowtrees::testing::StatusIs;
using nlohmann::json;

std::shared_ptr<spdlog::logger> Logger() {
  static auto* l = new std::shared_ptr<spdlog::logger>(*MakeLogger("configmap-test", {.level = "off"}));
  return *l;
}

class ConfigMapSharesTest : public testing::KubeFixture {
 protected:
  std::unique_ptr<ConfigMapShares> Make(bool remove = true) {
    ConfigMapSharesOptions o;
    o.remove_consumed = remove;
    o.watch.min_backoff = absl::Milliseconds(10);
    o.watch.max_backoff = absl::Milliseconds(100);
    auto s = std::make_unique<ConfigMapShares>(*client_, o, Logger());
    s->Start();
    return s;
  }
  std::optional<std::string> Value(ConfigMapShares& s, const std::string& key) {
    auto v = s.Lookup(key);
    return v.ok() ? *v : std::nullopt;
  }
  hollowtrees::testing::FakeConfigMaps& cms() { return api_->configmaps(); }
};

TEST_F(ConfigMapSharesTest, ReadsTheConfigMapAndFollowsItsChanges) {
  cms().Set("pipeline-system", "spot-deploy-config", {{"shop.deployment.web", "30"}});
  cms().Set("pipeline-system", "other", {{"shop.deployment.db", "50"}});
  cms().Set("default", "spot-deploy-config", {{"shop.deployment.db", "50"}});
  auto shares = Make();
  ASSERT_TRUE(shares->WaitForSync(absl::Seconds(10)));
  EXPECT_EQ(Value(*shares, "shop.deployment.web"), "30");
  EXPECT_EQ(Value(*shares, "shop.deployment.db"), std::nullopt);  // other ConfigMaps ignored
  const int64_t lists = shares->cache().stats().lists;

  cms().Set("pipeline-system", "spot-deploy-config",
            {{"shop.deployment.web", "40"}, {"shop.statefulset.db", "100"}});
  EXPECT_TRUE(Eventually([&] { return Value(*shares, "shop.statefulset.db") == "100"; }));
  EXPECT_EQ(Value(*shares, "shop.deployment.web"), "40");
  cms().Delete("pipeline-system", "spot-deploy-config");
  EXPECT_TRUE(Eventually([&] { return !Value(*shares, "shop.deployment.web").has_value(); }));
  cms().Set("pipeline-system", "spot-deploy-config", {{"x.deployment.y", "5"}});
  EXPECT_TRUE(Eventually([&] { return Value(*shares, "x.deployment.y") == "5"; }));
  // All of it through the one watch: no list per change, no GET per lookup.
  EXPECT_EQ(shares->cache().stats().lists, lists);
  EXPECT_EQ(api_->RequestCounts()["GET configmaps"], lists + shares->cache().stats().watches);
}

TEST_F(ConfigMapSharesTest, MissingConfigMapIsEmptyUntilCreated) {
  auto shares = Make();
  ASSERT_TRUE(shares->WaitForSync(absl::Seconds(10)));
  EXPECT_THAT(shares->Lookup("shop.deployment.web"), IsOk());
  EXPECT_EQ(Value(*shares, "shop.deployment.web"), std::nullopt);
  // Created through the API, as Pipeline would.
  auto created = client_->Create(
      "/api/v1/namespaces/pipeline-system/configmaps",
      {{"apiVersion", "v1"}, {"kind", "ConfigMap"},
       {"metadata", {{"name", "spot-deploy-config"}}}, {"data", {{"shop.deployment.web", "25"}}}});
  ASSERT_THAT(created, IsOk());
  EXPECT_TRUE(Eventually([&] { return Value(*shares, "shop.deployment.web") == "25"; }));
}

TEST_F(ConfigMapSharesTest, ConsumedEntryIsRemovedAndOthersKept) {
  cms().Set("pipeline-system", "spot-deploy-config",
            {{"shop.deployment.web", "30"}, {"shop.deployment.api", "60"}});
  auto shares = Make();
  ASSERT_TRUE(shares->WaitForSync(absl::Seconds(10)));
  shares->Consumed("shop.deployment.web", "30");
  EXPECT_TRUE(Eventually([&] { return shares->stats().removed == 1; }));
  auto cm = cms().Get("pipeline-system", "spot-deploy-config");
  ASSERT_TRUE(cm.has_value());
  EXPECT_EQ((*cm)["data"], json({{"shop.deployment.api", "60"}}));
  EXPECT_TRUE(Eventually([&] { return !Value(*shares, "shop.deployment.web").has_value(); }));
  EXPECT_EQ(Value(*shares, "shop.deployment.api"), "60");
}

TEST_F(ConfigMapSharesTest, TransientRemovalFailuresAreRetried) {
  cms().Set("pipeline-system", "spot-deploy-config", {{"shop.deployment.web", "30"}});
  ConfigMapSharesOptions o;
  o.removal_backoff = absl::Milliseconds(5);
  ConfigMapShares shares(*client_, o, Logger());
  shares.Start();
  ASSERT_TRUE(shares.WaitForSync(absl::Seconds(10)));
  cms().FailNextWrites(2, 503);
  shares.Consumed("shop.deployment.web", "30");
  EXPECT_TRUE(Eventually([&] { return shares.stats().removed == 1; }));
  EXPECT_EQ(api_->RequestCounts()["PATCH configmaps"], 3);
  // Failing every try: counted as failed, entry left.
  cms().Set("pipeline-system", "spot-deploy-config", {{"shop.deployment.api", "10"}});
  cms().FailNextWrites(100, 500);
  shares.Consumed("shop.deployment.api", "10");
  EXPECT_TRUE(Eventually([&] { return shares.stats().removal_failed == 1; }));
  EXPECT_EQ(api_->RequestCounts()["PATCH configmaps"], 3 + o.removal_attempts);
  shares.Stop();
}

TEST_F(ConfigMapSharesTest, EntryRewrittenMeanwhileIsNotRemoved) {
  cms().Set("pipeline-system", "spot-deploy-config", {{"shop.deployment.web", "70"}});
  auto shares = Make();
  ASSERT_TRUE(shares->WaitForSync(absl::Seconds(10)));
  shares->Consumed("shop.deployment.web", "30");  // applied 30, ConfigMap now says 70
  EXPECT_TRUE(Eventually([&] { return shares->stats().removal_skipped == 1; }));
  EXPECT_EQ((*cms().Get("pipeline-system", "spot-deploy-config"))["data"]["shop.deployment.web"], "70");
  EXPECT_EQ(shares->stats().removed, 0);
}

TEST_F(ConfigMapSharesTest, KeepModeLeavesEntries) {
  cms().Set("pipeline-system", "spot-deploy-config", {{"shop.deployment.web", "30"}});
  auto shares = Make(/*remove=*/false);
  ASSERT_TRUE(shares->WaitForSync(absl::Seconds(10)));
  shares->Consumed("shop.deployment.web", "30");
  EXPECT_EQ(shares->pending_removals(), 0u);  // nothing was queued
  EXPECT_EQ(api_->RequestCounts()["PATCH configmaps"], 0);
  EXPECT_EQ(Value(*shares, "shop.deployment.web"), "30");
}

TEST_F(ConfigMapSharesTest, DroppedWatchIsResumedFromItsVersion) {
  cms().Set("pipeline-system", "spot-deploy-config", {{"a.deployment.b", "1"}});
  auto shares = Make();
  ASSERT_TRUE(shares->WaitForSync(absl::Seconds(10)));
  ASSERT_TRUE(Eventually([&] { return cms().open_watches() == 1; }));
  cms().EndWatches();
  cms().Set("pipeline-system", "spot-deploy-config", {{"a.deployment.b", "2"}});
  EXPECT_TRUE(Eventually([&] { return Value(*shares, "a.deployment.b") == "2"; }));
  EXPECT_GE(shares->cache().stats().watches, 2);
  // Resumed from the last resourceVersion: no second LIST.
  EXPECT_EQ(shares->cache().stats().lists, 1);
  EXPECT_EQ(shares->cache().stats().expired, 0);
}

TEST_F(ConfigMapSharesTest, ExpiredVersionLeadsToAFreshList) {
  cms().Set("pipeline-system", "spot-deploy-config", {{"a.deployment.b", "1"}});
  auto shares = Make();
  ASSERT_TRUE(shares->WaitForSync(absl::Seconds(10)));
  ASSERT_TRUE(Eventually([&] { return cms().open_watches() == 1; }));
  const int64_t lists = shares->cache().stats().lists;
  // The server forgets its history and drops the watch: resuming from the
  // old version gets 410 Expired, and the cache lists again.
  cms().Compact();
  cms().EndWatches();
  EXPECT_TRUE(Eventually([&] { return shares->cache().stats().expired >= 1; }));
  EXPECT_TRUE(Eventually([&] { return shares->cache().stats().lists > lists; }));
  cms().Set("pipeline-system", "spot-deploy-config", {{"a.deployment.b", "3"}});
  EXPECT_TRUE(Eventually([&] { return Value(*shares, "a.deployment.b") == "3"; }));
}

TEST_F(ConfigMapSharesTest, UnreachableOrUnauthorizedApiIsUnavailable) {
  kube::KubeConfig bad;
  bad.server = api_->url();
  bad.tls.ca_file = pki_.ca_cert_file;
  bad.token = "wrong";
  ASSERT_OK_AND_ASSIGN(auto client, kube::KubeClient::Create(bad));
  ConfigMapSharesOptions o;
  o.watch.min_backoff = absl::Milliseconds(10);
  ConfigMapShares shares(*client, o, Logger());
  shares.Start();
  EXPECT_FALSE(shares.WaitForSync(absl::Milliseconds(300)));
  EXPECT_THAT(shares.Lookup("a.deployment.b"), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_TRUE(Eventually([&] { return shares.cache().stats().errors >= 2; }));  // retried
  shares.Stop();
}

// The fake's ConfigMaps against the real kubectl: discovery, apply (GET 404,
// then POST), get, JSON patch; the webhook's cache follows each change.
TEST_F(ConfigMapSharesTest, KubectlWritesWhatTheCacheSees) {
  if (!KubectlInstalled()) GTEST_SKIP() << "kubectl is not installed";
  auto shares = Make();
  ASSERT_TRUE(shares->WaitForSync(absl::Seconds(10)));
  auto kubectl = [&](const std::vector<std::string>& args) { return Kubectl(args); };
  const std::string manifest = dir_ + "/cm.yaml";
  ASSERT_THAT(hollowtrees::testing::WriteStringToFile(
                  manifest,
                  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: spot-deploy-config\n"
                  "  namespace: pipeline-system\ndata:\n  shop.deployment.web: \"30\"\n"),
              IsOk());
  // The fake serves no OpenAPI document, so client-side validation is off.
  auto [code, out] = kubectl({"apply", "--validate=false", "-f", manifest});
  ASSERT_EQ(code, 0) << out;
  EXPECT_THAT(out, ::testing::HasSubstr("configmap/spot-deploy-config created"));
  EXPECT_TRUE(Eventually([&] { return Value(*shares, "shop.deployment.web") == "30"; }));
  std::tie(code, out) = kubectl({"get", "configmap", "-n", "pipeline-system", "spot-deploy-config",
                                 "-o", "jsonpath={.data.shop\\.deployment\\.web}"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_EQ(out, "30");
  std::tie(code, out) = kubectl({"patch", "configmap", "-n", "pipeline-system", "spot-deploy-config",
                                 "--type=merge", "-p", R"({"data":{"shop.deployment.web":"45"}})"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_TRUE(Eventually([&] { return Value(*shares, "shop.deployment.web") == "45"; }));
  std::tie(code, out) = kubectl({"delete", "configmap", "-n", "pipeline-system", "spot-deploy-config"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_TRUE(Eventually([&] { return !Value(*shares, "shop.deployment.web").has_value(); }));
}

TEST(WatchDecoderTest, EventsSplitAnywhereAreReassembled) {
  kube::WatchDecoder d;
  std::vector<std::string> seen;
  auto on = [&](kube::WatchEvent e) {
    seen.push_back(e.type + ":" + e.object["metadata"]["resourceVersion"].get<std::string>());
  };
  const std::string stream =
      R"({"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"1"}}})" "\n"
      R"({"type":"MODIFIED","object":{"metadata":{"name":"a","resourceVersion":"2"}}})" "\n\n"
      R"({"type":"DELETED","object":{"metadata":{"name":"a","resourceVersion":"3"}}})" "\n";
  for (size_t cut = 1; cut < stream.size(); cut += 7) {
    seen.clear();
    kube::WatchDecoder fresh;
    ASSERT_THAT(fresh.Feed(stream.substr(0, cut), on), IsOk());
    ASSERT_THAT(fresh.Feed(stream.substr(cut), on), IsOk());
    EXPECT_EQ(seen, std::vector<std::string>({"ADDED:1", "MODIFIED:2", "DELETED:3"})) << cut;
  }
  EXPECT_THAT(d.Feed("<html>proxy error</html>\n", on),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("not an event")));
}

TEST_F(ConfigMapSharesTest, StopEndsAnOpenWatchPromptly) {
  auto shares = Make();
  ASSERT_TRUE(shares->WaitForSync(absl::Seconds(10)));
  ASSERT_TRUE(Eventually([&] { return cms().open_watches() == 1; }));
  const absl::Time start = absl::Now();
  shares->Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

}  // namespace
}  // namespace hollowtrees::webhook
