// The spot-termination-exporter binary as operators run it, against the fake
// instance metadata service (in this process), checked by parsing its
// exposition, by `promtool check metrics`, by the Debian Prometheus scraping
// it, and (fast path) by the real engine and log plugin binaries.

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/http/http_client.h"
#include "nlohmann/json.hpp"
#include "tests/exporter/test_util.h"
#include "tests/fakes/imds/fake_imds.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace hollowtrees::exporter {
namespace {

using ::hollowtrees::exporter::testing::Find;
using ::hollowtrees::exporter::testing::ParseExposition;
using ::hollowtrees::exporter::testing::Sample;
using ::hollowtrees::exporter::testing::Value;
using ::hollowtrees::testing::BinaryPath;
using ::hollowtrees::testing::FakeImds;
using ::hollowtrees::testing::ImdsMode;
using ::hollowtrees::testing::IsOk;
using ::hollowtrees::testing::MakeTempDir;
using ::hollowtrees::testing::ReadFileToString;
using ::hollowtrees::testing::Subprocess;
using ::hollowtrees::testing::WriteStringToFile;
using ::testing::HasSubstr;
using ::testing::Optional;
using json = nlohmann::json;

constexpr char kId[] = "i-0123456789abcdef0";
constexpr char kListening[] = R"(listening on [^ ]*:(\d+))";

std::unique_ptr<http::HttpClient> Client(int port) {
  auto c = http::NewHttpClient({.base_url = absl::StrCat("http://127.0.0.1:", port),
                                .timeout = absl::Seconds(5)});
  return c.ok() ? *std::move(c) : nullptr;
}

// Runs `promtool check metrics` on `exposition`; returns exit code and output.
std::pair<int, std::string> PromtoolCheckMetrics(const std::string& dir,
                                                 const std::string& exposition) {
  const std::string file = absl::StrCat(dir, "/metrics-", absl::ToUnixNanos(absl::Now()), ".txt");
  if (!WriteStringToFile(file, exposition).ok()) return {-1, "cannot write " + file};
  auto p = Subprocess::Start({"/bin/sh", "-c", "exec /usr/bin/promtool check metrics < " + file},
                             {}, dir);
  if (!p.ok()) return {-1, std::string(p.status().message())};
  auto rc = (*p)->Wait(absl::Seconds(30));
  return {rc.ok() ? *rc : -1, (*p)->Output()};
}

class ExporterBinaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("ht-exporter");
    auto fake = FakeImds::Start({.mode = ImdsMode::kV2Only});
    ASSERT_THAT(fake, IsOk());
    fake_ = *std::move(fake);
  }

  std::string Endpoint() const { return fake_->endpoint() + "/latest/meta-data/"; }

  // Starts the exporter on 127.0.0.1:0 with `args`; sets port_.
  void StartExporter(std::vector<std::string> args) {
    std::vector<std::string> argv = {BinaryPath("spot-termination-exporter"),
                                     "--bind-addr=127.0.0.1:0", "--log-level=debug"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto p = Subprocess::Start(argv, {}, dir_);
    ASSERT_THAT(p, IsOk());
    exporter_ = *std::move(p);
    auto port = exporter_->WaitForOutput(kListening);
    ASSERT_THAT(port, IsOk()) << exporter_->Output();
    port_ = std::stoi(*port);
    http_ = Client(port_);
    ASSERT_NE(http_, nullptr);
  }

  // GET /metrics; records the slowest answer.
  std::string ScrapeText() {
    const absl::Time start = absl::Now();
    auto r = http_->Send({.path = "/metrics"});
    slowest_ = std::max(slowest_, absl::Now() - start);
    EXPECT_THAT(r, IsOk());
    if (!r.ok()) return "";
    EXPECT_EQ(r->status, 200);
    EXPECT_THAT(r->Header("Content-Type"), HasSubstr("text/plain; version=0.0.4"));
    return r->body;
  }
  std::vector<Sample> Scrape() { return ParseExposition(ScrapeText()); }

  // Scrapes until the series has the value (bounded); returns the last scrape.
  std::vector<Sample> WaitForSeries(const std::string& name,
                                    const std::map<std::string, std::string>& labels,
                                    double value, absl::Duration timeout = absl::Seconds(15)) {
    const absl::Time deadline = absl::Now() + timeout;
    std::vector<Sample> s;
    while (absl::Now() < deadline) {
      s = Scrape();
      if (Value(s, name, labels) == value) return s;
      absl::SleepFor(absl::Milliseconds(50));
    }
    ADD_FAILURE() << name << " never reached " << value << "; output:\n" << exporter_->Output();
    return s;
  }

  std::string dir_;
  std::unique_ptr<FakeImds> fake_;
  std::unique_ptr<Subprocess> exporter_;
  std::unique_ptr<http::HttpClient> http_;
  int port_ = 0;
  absl::Duration slowest_ = absl::ZeroDuration();
};

TEST_F(ExporterBinaryTest, ExposesTheOriginalSeriesAndFollowsANotice) {
  StartExporter({"--metadata-endpoint=" + Endpoint()});
  auto s = WaitForSeries("aws_instance_metadata_service_available", {{"instance_id", kId}}, 1);
  EXPECT_THAT(Value(s, "aws_instance_termination_imminent",
                    {{"instance_action", ""}, {"instance_id", kId}}),
              Optional(0.0));
  auto [rc, out] = PromtoolCheckMetrics(dir_, ScrapeText());
  EXPECT_EQ(rc, 0) << out;

  fake_->SetSpotAction("terminate", absl::Now() + absl::Minutes(2));
  s = WaitForSeries("aws_instance_termination_imminent",
                    {{"instance_action", "terminate"}, {"instance_id", kId}}, 1);
  EXPECT_THAT(Value(s, "aws_instance_termination_in", {{"instance_id", kId}}),
              Optional(::testing::AllOf(::testing::Gt(100.0), ::testing::Le(120.0))));
  std::tie(rc, out) = PromtoolCheckMetrics(dir_, ScrapeText());
  EXPECT_EQ(rc, 0) << out;

  fake_->SetRebalance(absl::Now());
  WaitForSeries("aws_instance_rebalance_recommended", {{"instance_id", kId}}, 1);

  // The landing page links to the metrics, as the original's did.
  auto root = http_->Send({.path = "/"});
  ASSERT_THAT(root, IsOk());
  EXPECT_THAT(root->body, HasSubstr("href=\"/metrics\""));
  EXPECT_EQ(exporter_->Stop(), 0);
}

TEST_F(ExporterBinaryTest, CustomMetricsPathAndIMDSv1Only) {
  fake_->SetMode(ImdsMode::kV1Only);
  StartExporter({"--metadata-endpoint=" + Endpoint(), "--metrics-path=/custom"});
  const absl::Time deadline = absl::Now() + absl::Seconds(15);
  std::vector<Sample> s;
  while (absl::Now() < deadline) {
    auto r = http_->Send({.path = "/custom"});
    ASSERT_THAT(r, IsOk());
    s = ParseExposition(r->body);
    if (Value(s, "spot_termination_exporter_imds_version") == 1.0) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_THAT(Value(s, "aws_instance_metadata_service_available", {{"instance_id", kId}}),
              Optional(1.0));
  EXPECT_THAT(Value(s, "spot_termination_exporter_imds_version"), Optional(1.0));
  auto r = http_->Send({.path = "/metrics"});
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->status, 404);
}

TEST_F(ExporterBinaryTest, SlowMetadataNeverSlowsTheScrape) {
  StartExporter({"--metadata-endpoint=" + Endpoint(), "--metadata-timeout=500ms"});
  WaitForSeries("aws_instance_metadata_service_available", {{"instance_id", kId}}, 1);
  fake_->SetSpotAction("terminate", absl::Now() + absl::Minutes(2));
  WaitForSeries("aws_instance_termination_imminent",
                {{"instance_action", "terminate"}, {"instance_id", kId}}, 1);
  fake_->SetDelay(absl::Seconds(3));
  slowest_ = absl::ZeroDuration();
  auto s = WaitForSeries("aws_instance_metadata_service_available", {{"instance_id", kId}}, 0);
  // The last known notice is still reported while the service is slow.
  EXPECT_THAT(Value(s, "aws_instance_termination_imminent",
                    {{"instance_action", "terminate"}, {"instance_id", kId}}),
              Optional(1.0));
  EXPECT_LT(slowest_, absl::Milliseconds(500)) << "a scrape waited for the metadata service";
  fake_->SetDelay(absl::ZeroDuration());
  WaitForSeries("aws_instance_metadata_service_available", {{"instance_id", kId}}, 1,
                absl::Seconds(20));
  EXPECT_THAT(exporter_->Output(), HasSubstr("metadata service unavailable"));
}

TEST_F(ExporterBinaryTest, UnreachableMetadataIsReportedNotFatal) {
  const int dead_port = fake_->port();
  fake_.reset();  // nothing listens there now
  StartExporter({absl::StrCat("--metadata-endpoint=http://127.0.0.1:", dead_port,
                              "/latest/meta-data/"),
                 "--metadata-timeout=300ms"});
  auto s = WaitForSeries("spot_termination_exporter_polls_total", {{"result", "failure"}}, 2);
  EXPECT_THAT(Value(s, "aws_instance_metadata_service_available", {{"instance_id", ""}}),
              Optional(0.0));
  EXPECT_THAT(Value(s, "aws_instance_termination_imminent",
                    {{"instance_action", ""}, {"instance_id", ""}}),
              Optional(0.0));
  EXPECT_TRUE(exporter_->Running());
  EXPECT_LT(slowest_, absl::Milliseconds(500));
  auto [rc, out] = PromtoolCheckMetrics(dir_, ScrapeText());
  EXPECT_EQ(rc, 0) << out;
}

TEST_F(ExporterBinaryTest, MalformedNoticeIsLoggedClearlyAndCounted) {
  fake_->SetRawSpotAction("{\"action\": terminate}");
  StartExporter({"--metadata-endpoint=" + Endpoint()});
  auto s = WaitForSeries("aws_instance_metadata_service_available", {{"instance_id", kId}}, 1);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (Value(s, "spot_termination_exporter_malformed_documents_total",
               {{"path", "spot/instance-action"}})
             .value_or(0) < 2 &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
    s = Scrape();
  }
  EXPECT_GE(Value(s, "spot_termination_exporter_malformed_documents_total",
                  {{"path", "spot/instance-action"}})
                .value_or(0),
            2);
  EXPECT_THAT(Value(s, "aws_instance_termination_imminent",
                    {{"instance_action", ""}, {"instance_id", kId}}),
              Optional(0.0));
  // One clear line for the whole time the document stays malformed.
  auto line = exporter_->WaitForOutput(R"( error .*(spot/instance-action: not valid JSON: .*))");
  ASSERT_THAT(line, IsOk()) << exporter_->Output();
  EXPECT_THAT(*line, HasSubstr("{\"action\": terminate}"));
  const std::string out = exporter_->Output();
  size_t count = 0;
  for (size_t at = out.find("not valid JSON"); at != std::string::npos;
       at = out.find("not valid JSON", at + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 1u) << out;
  EXPECT_TRUE(exporter_->Running());
}

TEST_F(ExporterBinaryTest, BadFlagsExitWithAMessageNamingTheFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--metadata-endpoint=http://169.254.169.254/latest/dynamic/"}, "--metadata-endpoint"},
      {{"--metrics-path=metrics"}, "--metrics-path"},
      {{"--bind-addr=9189"}, "--bind-addr"},
      {{"--log-level=loud"}, "loud"},
      {{"--notify-url=http://127.0.0.1:1/api/v1/events", "--notify-label=novalue"},
       "--notify-label"},
      {{"--notify-url=http://127.0.0.1:1/api/v1/events", "--notify-label=node=x"}, "node"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv = {BinaryPath("spot-termination-exporter")};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    auto p = Subprocess::Start(argv, {}, dir_);
    ASSERT_THAT(p, IsOk());
    auto rc = (*p)->Wait(absl::Seconds(10));
    ASSERT_THAT(rc, IsOk());
    EXPECT_EQ(*rc, 2) << c.args[0];
    EXPECT_THAT((*p)->Output(), HasSubstr(c.message)) << c.args[0];
  }
}

// The Debian Prometheus scrapes the exporter: the target is up and the
// series are queryable with their labels.
TEST_F(ExporterBinaryTest, DebianPrometheusScrapesTheExporter) {
  if (access("/usr/bin/prometheus", X_OK) != 0) GTEST_FAIL() << "/usr/bin/prometheus missing";
  StartExporter({"--metadata-endpoint=" + Endpoint()});
  fake_->SetSpotAction("stop", absl::Now() + absl::Minutes(2));
  WaitForSeries("aws_instance_termination_imminent",
                {{"instance_action", "stop"}, {"instance_id", kId}}, 1);

  const std::string config = absl::StrCat(dir_, "/prometheus.yml");
  ASSERT_THAT(WriteStringToFile(config, absl::StrCat(R"(global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: spot-termination-exporter
    static_configs:
      - targets: ["127.0.0.1:)", port_, R"("]
)")),
              IsOk());
  auto prom = Subprocess::Start({"/usr/bin/prometheus", "--config.file=" + config,
                                 "--web.listen-address=127.0.0.1:0",
                                 "--storage.tsdb.path=" + dir_ + "/tsdb", "--log.level=info"},
                                {}, dir_);
  ASSERT_THAT(prom, IsOk());
  auto prom_port = (*prom)->WaitForOutput(R"(msg="Listening on" address=127\.0\.0\.1:(\d+))",
                                          absl::Seconds(30));
  ASSERT_THAT(prom_port, IsOk()) << (*prom)->Output();
  auto api = Client(std::stoi(*prom_port));

  // Target up.
  std::string health;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (health != "up" && absl::Now() < deadline) {
    auto r = api->Send({.path = "/api/v1/targets"});
    if (r.ok() && r->status == 200) {
      json j = json::parse(r->body, nullptr, false);
      if (!j.is_discarded() && !j["data"]["activeTargets"].empty()) {
        health = j["data"]["activeTargets"][0].value("health", "");
        EXPECT_EQ(j["data"]["activeTargets"][0].value("lastError", ""), "");
      }
    }
    if (health != "up") absl::SleepFor(absl::Milliseconds(200));
  }
  ASSERT_EQ(health, "up") << (*prom)->Output();

  // The notice, queried back with its labels.
  json result;
  while (absl::Now() < deadline + absl::Seconds(15)) {
    auto r = api->Send({.path = "/api/v1/query?query=aws_instance_termination_imminent"});
    if (r.ok() && r->status == 200) {
      json j = json::parse(r->body, nullptr, false);
      if (!j.is_discarded() && !j["data"]["result"].empty()) {
        result = j["data"]["result"];
        break;
      }
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
  ASSERT_EQ(result.size(), 1u) << result.dump();
  EXPECT_EQ(result[0]["metric"]["instance_action"], "stop");
  EXPECT_EQ(result[0]["metric"]["instance_id"], kId);
  EXPECT_EQ(result[0]["metric"]["job"], "spot-termination-exporter");
  EXPECT_EQ(result[0]["value"][1], "1");
  EXPECT_EQ((*prom)->Stop(), 0);
}

// The fast path with the real engine: the exporter's push makes the engine
// call the plugin once; the same alert from Prometheus afterwards is absorbed
// by the rule's group (group_by: [instance_id]) and makes no second call.
TEST_F(ExporterBinaryTest, FastPathPushIsOneFlowWithTheLaterPrometheusAlert) {
  const std::string record = dir_ + "/calls.jsonl";
  auto plugin = Subprocess::Start({BinaryPath("ht-log-action-plugin"), "--listen=127.0.0.1:0",
                                   "--record-file=" + record},
                                  {}, dir_);
  ASSERT_THAT(plugin, IsOk());
  auto plugin_port = (*plugin)->WaitForOutput(kListening);
  ASSERT_THAT(plugin_port, IsOk()) << (*plugin)->Output();

  const std::string rules = dir_ + "/rules.yaml";
  ASSERT_THAT(WriteStringToFile(rules, absl::StrCat(R"(action_plugins:
  - name: "ht-log-action-plugin"
    address: "127.0.0.1:)", *plugin_port, R"("
    timeout: 10s
rules:
  - name: "drain_k8s_spot_instance"
    description: "drain k8s node and replace AWS instance with a new one"
    event_type: "prometheus.server.alert.SpotTerminationNotice"
    action_plugins:
      - "ht-log-action-plugin"
    match:
      - cluster_name: "test-cluster"
    group_by: [instance_id]
    cooldown: 10m
)")),
              IsOk());
  auto engine = Subprocess::Start({BinaryPath("hollowtrees"), "--config=" + rules,
                                   "--listen=127.0.0.1:0", "--data-dir=" + dir_ + "/engine"},
                                  {}, dir_);
  ASSERT_THAT(engine, IsOk());
  auto engine_port = (*engine)->WaitForOutput(kListening);
  ASSERT_THAT(engine_port, IsOk()) << (*engine)->Output();

  StartExporter({"--metadata-endpoint=" + Endpoint(),
                 absl::StrCat("--notify-url=http://127.0.0.1:", *engine_port, "/api/v1/events"),
                 "--node-name=ip-10-0-1-23.ec2.internal", "--notify-label=cluster_name=test-cluster",
                 "--poll-interval=200ms"});
  WaitForSeries("aws_instance_metadata_service_available", {{"instance_id", kId}}, 1);

  auto read_calls = [&]() {
    std::vector<json> calls;
    auto text = ReadFileToString(record);
    if (!text.ok()) return calls;
    for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
      json j = json::parse(line, nullptr, false);
      if (!j.is_discarded()) calls.push_back(j);
    }
    return calls;
  };
  auto wait_calls = [&](size_t n) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    std::vector<json> calls = read_calls();
    while (calls.size() < n && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(20));
      calls = read_calls();
    }
    return calls;
  };

  const absl::Time notice_at = absl::Now();
  fake_->SetSpotAction("terminate", notice_at + absl::Minutes(2));
  auto calls = wait_calls(1);
  ASSERT_EQ(calls.size(), 1u) << (*engine)->Output() << exporter_->Output();
  const absl::Duration reaction =
      absl::Microseconds(calls[0]["received_at_us"].get<int64_t>()) - (notice_at - absl::UnixEpoch());
  std::printf("fast path: notice to plugin call %s\n", absl::FormatDuration(reaction).c_str());
  EXPECT_EQ(calls[0]["type"], "prometheus.server.alert.SpotTerminationNotice");
  EXPECT_EQ(calls[0]["labels"]["instance_id"], kId);
  EXPECT_EQ(calls[0]["labels"]["node"], "ip-10-0-1-23.ec2.internal");
  EXPECT_EQ(calls[0]["labels"]["cluster_name"], "test-cluster");
  EXPECT_EQ(calls[0]["labels"]["instance_type"], "m5.large");
  EXPECT_EQ(calls[0]["labels"]["availability_zone"], "us-east-1a");
  EXPECT_EQ(calls[0]["labels"]["instance_action"], "terminate");

  // Prometheus' alert for the same instance, as it would send it, then one
  // for another instance: the second call proves the first alert was
  // processed (the engine handles events in order) and absorbed.
  auto engine_http = Client(std::stoi(*engine_port));
  auto alert = [&](const std::string& instance_id) {
    const std::string now = absl::FormatTime(absl::RFC3339_full, absl::Now(), absl::UTCTimeZone());
    const std::string ends =
        absl::FormatTime(absl::RFC3339_full, absl::Now() + absl::Minutes(4), absl::UTCTimeZone());
    return json::array({{{"labels",
                           {{"alertname", "SpotTerminationNotice"},
                            {"cluster_name", "test-cluster"},
                            {"instance", absl::StrCat("127.0.0.1:", port_)},
                            {"job", "spot-termination-exporter"},
                            {"instance_action", "terminate"},
                            {"instance_id", instance_id}}},
                          {"annotations", json::object()},
                          {"startsAt", now},
                          {"endsAt", ends},
                          {"generatorURL", "http://prometheus:9090/graph?g0.expr=x"}}})
        .dump();
  };
  for (const std::string& id : {std::string(kId), std::string("i-0fffffffffffffff0")}) {
    auto r = engine_http->Send({.method = "POST",
                                .path = "/api/v2/alerts",
                                .body = alert(id),
                                .content_type = "application/json"});
    ASSERT_THAT(r, IsOk());
    EXPECT_LT(r->status, 300) << r->body;
  }
  calls = wait_calls(2);
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1]["labels"]["instance_id"], "i-0fffffffffffffff0");
  // The exporter keeps seeing the notice every 200 ms but pushed it once.
  auto s = Scrape();
  EXPECT_THAT(Value(s, "spot_termination_exporter_pushes_total",
                    {{"alertname", "SpotTerminationNotice"}, {"result", "delivered"}}),
              Optional(1.0));
  EXPECT_EQ(read_calls().size(), 2u);
  EXPECT_EQ((*engine)->Stop(), 0);
  EXPECT_EQ((*plugin)->Stop(), 0);
}

}  // namespace
}  // namespace hollowtrees::exporter
