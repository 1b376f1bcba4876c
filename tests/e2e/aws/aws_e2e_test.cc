// End to end: the engine (`hollowtrees`) with the original example rule (two
// plugins in order), a Prometheus-style alert over HTTP, and the real
// ht-aws-asg-action-plugin binary against the fake AWS. The Kubernetes
// plugin's place in the chain is taken by the example log plugin, which
// records what it got (ht-k8s-action-plugin has not landed yet).

#include <httplib.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/fakes/aws/fake_aws.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace hollowtrees::testing {
namespace {

constexpr char kInstance[] = "i-0000000000000a001";

class AwsEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("e2e-aws");
    ASSERT_OK_AND_ASSIGN(fake_, FakeAws::Start());
    fake_->AddGroup({.name = "spot-asg", .min_size = 1, .max_size = 3, .desired = 3,
                     .mixed_instance_types = {"m5.large", "m5a.large"}});
    fake_->AddInstance({.id = kInstance, .group = "spot-asg"});
    fake_->AddInstance({.id = "i-0000000000000a002", .group = "spot-asg"});
    fake_->AddInstance({.id = "i-0000000000000a003", .group = "spot-asg"});

    ASSERT_OK_AND_ASSIGN(log_plugin_, Subprocess::Start({BinaryPath("ht-log-action-plugin"),
                                                         "--listen", "127.0.0.1:0",
                                                         "--record_file", dir_ + "/k8s.jsonl"},
                                                        {}, dir_));
    ASSERT_OK_AND_ASSIGN(log_port_, log_plugin_->WaitForOutput("listening on 127.0.0.1:(\\d+)"));
    ASSERT_OK_AND_ASSIGN(
        aws_plugin_,
        Subprocess::Start({BinaryPath("ht-aws-asg-action-plugin"), "--listen", "127.0.0.1:0",
                           "--region", "us-east-1"},
                          {"AWS_ACCESS_KEY_ID=AKIDFAKEEXAMPLE",
                           "AWS_SECRET_ACCESS_KEY=fakeSecretKeyForTestsOnly/EXAMPLEKEY",
                           "AWS_SESSION_TOKEN=", "AWS_PROFILE=",
                           "AWS_ENDPOINT_URL=" + fake_->endpoint(),
                           "AWS_EC2_METADATA_DISABLED=true",
                           "AWS_CONFIG_FILE=" + dir_ + "/none",
                           "AWS_SHARED_CREDENTIALS_FILE=" + dir_ + "/none"},
                          dir_));
    ASSERT_OK_AND_ASSIGN(aws_port_, aws_plugin_->WaitForOutput("listening on 127.0.0.1:(\\d+)"));

    // The original project's example rule, with the plugins' addresses.
    const std::string config = absl::StrCat(R"(action_plugins:
  - name: "ht-k8s-action-plugin"
    address: "127.0.0.1:)", log_port_, R"("
  - name: "ht-aws-asg-action-plugin"
    address: "127.0.0.1:)", aws_port_, R"("
rules:
  - name: "drain_k8s_spot_instance"
    description: "drain k8s node and replace AWS instance with a new one"
    event_type: "prometheus.server.alert.SpotTerminationNotice"
    action_plugins:
      - "ht-k8s-action-plugin"
      - "ht-aws-asg-action-plugin"
    match:
      - cluster_name: "test-cluster"
)");
    ASSERT_THAT(WriteStringToFile(dir_ + "/rules.yaml", config), IsOk());
    ASSERT_OK_AND_ASSIGN(engine_, Subprocess::Start({BinaryPath("hollowtrees"), "--config",
                                                     dir_ + "/rules.yaml", "--listen",
                                                     "127.0.0.1:0", "--data-dir", dir_ + "/data"},
                                                    {}, dir_));
    ASSERT_OK_AND_ASSIGN(std::string port, engine_->WaitForOutput("listening on 127.0.0.1:(\\d+)"));
    engine_port_ = std::stoi(port);
  }

  void TearDown() override {
    if (engine_) engine_->Stop();
    if (aws_plugin_) aws_plugin_->Stop();
    if (log_plugin_) log_plugin_->Stop();
  }

  int PostAlert(const std::string& instance_id, const std::string& cluster) {
    nlohmann::json alert = {
        {"labels", {{"alertname", "SpotTerminationNotice"},
                    {"cluster_name", cluster},
                    {"instance_id", instance_id},
                    {"node", "ip-10-0-1-23.ec2.internal"},
                    {"instance_action", "terminate"}}},
        {"annotations", {{"summary", "spot instance is about to be reclaimed"}}},
        {"startsAt", "2026-11-21T06:00:00Z"},
        {"endsAt", "2099-01-01T00:00:00Z"},
        {"generatorURL", "http://prometheus:9090/graph?g0.expr=aws_instance_termination_imminent"}};
    httplib::Client c("127.0.0.1", engine_port_);
    auto r = c.Post("/api/v2/alerts", nlohmann::json::array({alert}).dump(), "application/json");
    return r ? r->status : -1;
  }

  // Polls the fake until the instance has left its group (deadline 20 s).
  bool WaitDetached(const std::string& id) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (absl::Now() < deadline) {
      auto i = fake_->Instance(id);
      if (i && i->group.empty()) return true;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return false;
  }

  std::string dir_;
  std::unique_ptr<FakeAws> fake_;
  std::unique_ptr<Subprocess> log_plugin_, aws_plugin_, engine_;
  std::string log_port_, aws_port_;
  int engine_port_ = 0;
};

TEST_F(AwsEndToEndTest, AlertDrainsThenReplacesTheInstance) {
  ASSERT_EQ(PostAlert(kInstance, "test-cluster") / 100, 2);
  ASSERT_TRUE(WaitDetached(kInstance)) << engine_->Output() << aws_plugin_->Output();
  // Desired capacity kept: the group launches the replacement at once.
  EXPECT_EQ(fake_->Group("spot-asg")->desired, 3);
  ASSERT_EQ(fake_->Launched().size(), 1u);
  EXPECT_EQ(fake_->CountCalls("DetachInstances"), 1);
  for (const auto& c : fake_->Calls()) {
    if (c.action == "DetachInstances") {
      EXPECT_EQ(c.params.at("ShouldDecrementDesiredCapacity"), "false");
    }
  }
  // The first plugin of the chain got the same event, before the AWS one
  // (the engine calls the next plugin only after the previous answered).
  ASSERT_OK_AND_ASSIGN(std::string rec, ReadFileToString(dir_ + "/k8s.jsonl"));
  std::vector<std::string> lines = absl::StrSplit(rec, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 1u) << rec;
  auto first = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(first["type"], "prometheus.server.alert.SpotTerminationNotice");
  EXPECT_EQ(first["labels"]["instance_id"], kInstance);

  // Prometheus re-sends the firing alert: no second detach.
  ASSERT_EQ(PostAlert(kInstance, "test-cluster") / 100, 2);
  // An alert of another cluster does not match the rule.
  ASSERT_EQ(PostAlert("i-0000000000000a002", "other-cluster") / 100, 2);
  // A later alert for another instance of this cluster does get handled,
  // which also bounds the wait for the two above.
  ASSERT_EQ(PostAlert("i-0000000000000a003", "test-cluster") / 100, 2);
  ASSERT_TRUE(WaitDetached("i-0000000000000a003")) << engine_->Output();
  EXPECT_EQ(fake_->CountCalls("DetachInstances"), 2);
  EXPECT_EQ(fake_->Instance("i-0000000000000a002")->group, "spot-asg");
  EXPECT_EQ(fake_->Group("spot-asg")->desired, 3);
}

}  // namespace
}  // namespace hollowtrees::testing
