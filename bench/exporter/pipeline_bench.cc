// exporter_pipeline_bench: how long from a spot notice appearing in the
// instance metadata to the engine's first plugin call (where a drain would
// start), for both paths side by side in one run:
//
//   prometheus: fake IMDS -> exporter -> Prometheus scrape -> alert rule ->
//               alert push (POST /api/v2/alerts) -> engine -> plugin
//   fast path:  fake IMDS -> exporter --notify-url -> engine -> plugin
//
// Each path has its own fake metadata service and instance; a run switches
// both notices on at the same instant and waits for both plugin calls. Runs
// start at a random phase of the poll/scrape cycle.
//
//   build/bin/exporter_pipeline_bench [--runs 10] [--poll_interval 1s]
//       [--scrape_interval 1s]
//
// Needs the build's hollowtrees, ht-log-action-plugin and
// spot-termination-exporter (next to this binary) and /usr/bin/prometheus.

#include <algorithm>
#include <cstdio>
#include <random>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "lib/http/http_client.h"
#include "nlohmann/json.hpp"
#include "tests/fakes/imds/fake_imds.h"
#include "tests/testing/subprocess.h"

ABSL_FLAG(int, runs, 10, "notices per path");
ABSL_FLAG(absl::Duration, poll_interval, absl::Seconds(1), "exporter --poll-interval");
ABSL_FLAG(absl::Duration, scrape_interval, absl::Seconds(1),
          "Prometheus scrape and rule evaluation interval");

namespace {

using hollowtrees::testing::FakeImds;
using hollowtrees::testing::Subprocess;
using json = nlohmann::json;

constexpr char kListening[] = R"(listening on [^ ]*:(\d+))";
constexpr char kPromId[] = "i-0aaaaaaaaaaaaaaa1";
constexpr char kFastId[] = "i-0bbbbbbbbbbbbbbb2";

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "exporter_pipeline_bench: %s\n", what.c_str());
  std::exit(1);
}

template <typename T>
T Must(absl::StatusOr<T> v, const std::string& what) {
  if (!v.ok()) Die(absl::StrCat(what, ": ", v.status().message()));
  return *std::move(v);
}

std::string Prom(absl::Duration d) {
  return absl::StrCat(absl::ToInt64Milliseconds(d), "ms");
}

struct Percentiles {
  double median, mean, worst, best;
};
Percentiles Stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (double x : v) sum += x;
  const size_t n = v.size();
  const double median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  return {median, sum / n, v.back(), v.front()};
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int runs = absl::GetFlag(FLAGS_runs);
  const absl::Duration poll = absl::GetFlag(FLAGS_poll_interval);
  const absl::Duration scrape = absl::GetFlag(FLAGS_scrape_interval);
  const std::string dir = hollowtrees::testing::MakeTempDir("ht-exporter-bench");
  std::string bin_dir = argv[0];
  bin_dir = bin_dir.substr(0, bin_dir.rfind('/'));
  auto bin = [&](const std::string& name) { return absl::StrCat(bin_dir, "/", name); };

  auto imds_prom = Must(FakeImds::Start({.instance_id = kPromId}), "fake IMDS");
  auto imds_fast = Must(FakeImds::Start({.instance_id = kFastId}), "fake IMDS");

  const std::string record = dir + "/calls.jsonl";
  auto plugin = Must(Subprocess::Start({bin("ht-log-action-plugin"), "--listen=127.0.0.1:0",
                                        "--record-file=" + record},
                                       {}, dir),
                     "log plugin");
  const std::string plugin_port = Must(plugin->WaitForOutput(kListening), "log plugin port");

  const std::string rules = dir + "/rules.yaml";
  (void)hollowtrees::testing::WriteStringToFile(rules, absl::StrCat(R"(action_plugins:
  - name: "ht-log-action-plugin"
    address: "127.0.0.1:)", plugin_port, R"("
rules:
  - name: "drain_k8s_spot_instance"
    event_type: "prometheus.server.alert.SpotTerminationNotice"
    action_plugins: ["ht-log-action-plugin"]
    match:
      - cluster_name: "test-cluster"
    group_by: [instance_id]
)"));
  auto engine = Must(Subprocess::Start({bin("hollowtrees"), "--config=" + rules,
                                        "--listen=127.0.0.1:0", "--data-dir=" + dir + "/engine"},
                                       {}, dir),
                     "engine");
  const std::string engine_port = Must(engine->WaitForOutput(kListening), "engine port");

  auto exporter_prom = Must(
      Subprocess::Start({bin("spot-termination-exporter"), "--bind-addr=127.0.0.1:0",
                         "--metadata-endpoint=" + imds_prom->endpoint() + "/latest/meta-data/",
                         "--poll-interval=" + Prom(poll)},
                        {}, dir),
      "exporter");
  const std::string exporter_port =
      Must(exporter_prom->WaitForOutput(kListening), "exporter port");
  auto exporter_fast = Must(
      Subprocess::Start({bin("spot-termination-exporter"), "--bind-addr=127.0.0.1:0",
                         "--metadata-endpoint=" + imds_fast->endpoint() + "/latest/meta-data/",
                         "--poll-interval=" + Prom(poll),
                         absl::StrCat("--notify-url=http://127.0.0.1:", engine_port,
                                      "/api/v1/events"),
                         "--node-name=bench-node", "--notify-label=cluster_name=test-cluster"},
                        {}, dir),
      "exporter");
  (void)Must(exporter_fast->WaitForOutput(kListening), "exporter port");

  const std::string prom_config = dir + "/prometheus.yml";
  const std::string prom_rules = dir + "/alerts.yml";
  (void)hollowtrees::testing::WriteStringToFile(prom_rules, R"(groups:
  - name: spot
    rules:
      - alert: SpotTerminationNotice
        expr: aws_instance_termination_imminent{instance_action!=""} == 1
        labels:
          cluster_name: test-cluster
)");
  (void)hollowtrees::testing::WriteStringToFile(
      prom_config, absl::StrCat("global:\n  scrape_interval: ", Prom(scrape),
                                "\n  evaluation_interval: ", Prom(scrape), "\nrule_files: [\"",
                                prom_rules, "\"]\nalerting:\n  alertmanagers:\n    - api_version: v2\n"
                                "      static_configs:\n        - targets: [\"127.0.0.1:",
                                engine_port, "\"]\nscrape_configs:\n  - job_name: spot\n"
                                "    static_configs:\n      - targets: [\"127.0.0.1:",
                                exporter_port, "\"]\n"));
  auto prometheus = Must(
      Subprocess::Start({"/usr/bin/prometheus", "--config.file=" + prom_config,
                         "--web.listen-address=127.0.0.1:0", "--storage.tsdb.path=" + dir + "/tsdb",
                         "--rules.alert.resend-delay=1s"},
                        {}, dir),
      "prometheus");
  const std::string prom_port = Must(
      prometheus->WaitForOutput(R"(msg="Listening on" address=127\.0\.0\.1:(\d+))",
                                absl::Seconds(30)),
      "prometheus port");
  auto prom_api = Must(
      hollowtrees::http::NewHttpClient({.base_url = "http://127.0.0.1:" + prom_port}), "client");

  auto firing_alerts = [&]() -> int {
    auto r = prom_api->Send({.path = "/api/v1/alerts"});
    if (!r.ok() || r->status != 200) return -1;
    json j = json::parse(r->body, nullptr, false);
    if (j.is_discarded()) return -1;
    return static_cast<int>(j["data"]["alerts"].size());
  };
  // The first call after `since` for `instance_id`, or InfinitePast.
  auto call_after = [&](const std::string& instance_id, absl::Time since) {
    auto text = hollowtrees::testing::ReadFileToString(record);
    if (!text.ok()) return absl::InfinitePast();
    for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
      json j = json::parse(line, nullptr, false);
      if (j.is_discarded() || j["labels"].value("instance_id", "") != instance_id) continue;
      const absl::Time at = absl::FromUnixMicros(j.value("received_at_us", int64_t{0}));
      if (at >= since) return at;
    }
    return absl::InfinitePast();
  };
  // Wait until Prometheus has the target up (first scrape done).
  for (absl::Time deadline = absl::Now() + absl::Seconds(30);; absl::SleepFor(absl::Milliseconds(100))) {
    auto r = prom_api->Send({.path = "/api/v1/query?query=up"});
    if (r.ok() && r->status == 200 && r->body.find("\"1\"") != std::string::npos) break;
    if (absl::Now() > deadline) Die("Prometheus never scraped the exporter");
  }

  std::printf("config: exporter --poll-interval %s; Prometheus scrape_interval = "
              "evaluation_interval = %s, --rules.alert.resend-delay=1s, alert pushed straight to "
              "the engine (/api/v2/alerts); engine rule group_by [instance_id]; plugin = "
              "ht-log-action-plugin\n",
              Prom(poll).c_str(), Prom(scrape).c_str());
  std::printf("%-4s %14s %14s\n", "run", "prometheus_ms", "fast_path_ms");
  std::vector<double> prom_ms, fast_ms;
  std::mt19937 rng(42);
  for (int run = 1; run <= runs; ++run) {
    // A random phase against the poll and scrape cycles.
    absl::SleepFor(absl::Milliseconds(std::uniform_int_distribution<int>(0, 1000)(rng)));
    const absl::Time t0 = absl::Now();
    imds_prom->SetSpotAction("terminate", t0 + absl::Minutes(2));
    imds_fast->SetSpotAction("terminate", t0 + absl::Minutes(2));
    absl::Time prom_at = absl::InfinitePast(), fast_at = absl::InfinitePast();
    const absl::Time deadline = t0 + absl::Seconds(60);
    while ((prom_at == absl::InfinitePast() || fast_at == absl::InfinitePast()) &&
           absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
      if (prom_at == absl::InfinitePast()) prom_at = call_after(kPromId, t0);
      if (fast_at == absl::InfinitePast()) fast_at = call_after(kFastId, t0);
    }
    if (prom_at == absl::InfinitePast() || fast_at == absl::InfinitePast()) {
      Die(absl::StrCat("run ", run, ": no plugin call within 60 s\nengine:\n", engine->Output()));
    }
    prom_ms.push_back(absl::ToDoubleMilliseconds(prom_at - t0));
    fast_ms.push_back(absl::ToDoubleMilliseconds(fast_at - t0));
    std::printf("%-4d %14.0f %14.0f\n", run, prom_ms.back(), fast_ms.back());
    std::fflush(stdout);
    imds_prom->ClearSpotAction();
    imds_fast->ClearSpotAction();
    // Let the Prometheus alert resolve so the next run fires a new one.
    for (absl::Time d = absl::Now() + absl::Seconds(60); firing_alerts() != 0;
         absl::SleepFor(absl::Milliseconds(50))) {
      if (absl::Now() > d) Die("Prometheus alert never resolved");
    }
    absl::SleepFor(absl::Seconds(1));  // the notice is gone from the fast exporter too
  }
  const Percentiles p = Stats(prom_ms), f = Stats(fast_ms);
  std::printf("\nnotice -> first plugin call (ms), %d runs\n", runs);
  std::printf("%-12s %8s %8s %8s %8s\n", "path", "median", "mean", "best", "worst");
  std::printf("%-12s %8.0f %8.0f %8.0f %8.0f\n", "prometheus", p.median, p.mean, p.best, p.worst);
  std::printf("%-12s %8.0f %8.0f %8.0f %8.0f\n", "fast_path", f.median, f.mean, f.best, f.worst);
  prometheus->Stop();
  exporter_fast->Stop();
  exporter_prom->Stop();
  engine->Stop();
  plugin->Stop();
  return 0;
}
