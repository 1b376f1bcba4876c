// ht-engine-bench: the engine's alert intake against Alertmanager 0.25 on the
// same machine with the same load, side by side in one run.
//
// For each receiver (hollowtrees, then Alertmanager; each runs alone):
//   1. resident memory right after start (VmRSS of its PID);
//   2. closed loop: --connections keep-alive connections post 64-alert
//      batches back to back for --duration: accepted alerts/s;
//   3. open loop: --rate alerts/s offered on a fixed schedule for --duration:
//      acknowledgement latency p50/p99 (from the scheduled send time);
//   4. engine only: one alert per batch in the open loop matches a rule whose
//      plugin runs in this process (plugins/sdk PluginServer); latency from
//      the POST of the batch to the plugin's Handle, p50/p99;
//   5. resident memory after the load.
// The receivers run as subprocesses on 127.0.0.1 port 0 in a temp dir and are
// stopped by their PID.

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "bench/engine/load.h"
#include "httplib.h"
#include "lib/common/flags.h"
#include "lib/common/logging.h"
#include "plugins/sdk/server.h"
#include "tests/testing/subprocess.h"

ABSL_FLAG(absl::Duration, duration, absl::Seconds(5), "how long each measured phase posts");
ABSL_FLAG(int, connections, 8, "connections (one thread each) posting alerts");
ABSL_FLAG(double, rate, 5000, "alerts/s offered in the open-loop (latency) phase");
ABSL_FLAG(int, batch, 64, "alerts per request");
ABSL_FLAG(int, match_every, 64,
          "open-loop phase: one alert in N matches the engine's rule and goes to the plugin");
ABSL_FLAG(absl::Duration, warmup, absl::Seconds(1), "closed-loop warm-up before measuring");
ABSL_FLAG(absl::Duration, settle, absl::Seconds(3),
          "pause between the closed loop and the open loop, for queued work to drain");
ABSL_FLAG(std::string, engine, "", "the hollowtrees binary (default: next to this program)");
ABSL_FLAG(std::string, alertmanager, "/usr/bin/prometheus-alertmanager",
          "the Alertmanager binary; empty: measure the engine only");
ABSL_FLAG(std::string, only, "", "measure only this receiver: hollowtrees or alertmanager");
ABSL_FLAG(std::string, journal, "both",
          "the engine without a journal (off), with one under the temp dir (on), or both");
ABSL_FLAG(bool, keep_files, false, "keep the temp dir (configs, logs, data) afterwards");

namespace hollowtrees::bench {
namespace {

using testing::Subprocess;

constexpr char kRule[] = "bench_first_call";

// Records when each matching alert (by its `seq` label) reached the plugin.
class ArrivalPlugin : public plugin::ActionPlugin {
 public:
  plugin::Result Handle(const plugin::Request& request, const plugin::Context&) override {
    const Clock::time_point now = Clock::now();
    uint64_t seq = 0;
    if (absl::SimpleAtoi(request.Label("seq"), &seq)) {
      absl::MutexLock lock(&mu_);
      arrivals_.emplace(seq, now);  // the first call counts; a retry does not
    }
    return plugin::Result::Done("recorded");
  }

  size_t Count() {
    absl::MutexLock lock(&mu_);
    return arrivals_.size();
  }
  std::map<uint64_t, Clock::time_point> Arrivals() {
    absl::MutexLock lock(&mu_);
    return arrivals_;
  }

 private:
  absl::Mutex mu_;
  std::map<uint64_t, Clock::time_point> arrivals_ ABSL_GUARDED_BY(mu_);
};

// When each matching alert was posted.
class SendLog {
 public:
  void Record(uint64_t first, int count, uint64_t match_every, Clock::time_point t) {
    absl::MutexLock lock(&mu_);
    for (uint64_t s = first; s < first + count; ++s) {
      if (IsMatching(s, match_every)) sent_[s] = t;
    }
  }
  std::map<uint64_t, Clock::time_point> Sent() {
    absl::MutexLock lock(&mu_);
    return sent_;
  }

 private:
  absl::Mutex mu_;
  std::map<uint64_t, Clock::time_point> sent_ ABSL_GUARDED_BY(mu_);
};

// The resident set of a process in kB; -1 when it is gone.
int64_t RssKb(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    long kb = 0;  // NOLINT(runtime/int): sscanf's %ld
    if (sscanf(line.c_str(), "VmRSS: %ld kB", &kb) == 1) return kb;
  }
  return -1;
}

// CPU time (user + system) a process has used so far, in seconds; -1 when
// it is gone.
double CpuSeconds(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat;
  if (!std::getline(in, stat)) return -1;
  // Fields after the command name, which is in parentheses and may hold
  // spaces: state(3) ... utime(14) stime(15).
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return -1;
  std::vector<std::string> fields = absl::StrSplit(stat.substr(paren + 2), ' ');
  double utime = 0, stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtod(fields[11], &utime) ||
      !absl::SimpleAtod(fields[12], &stime)) {
    return -1;
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

absl::Status WaitHttpOk(int port, const std::string& path, absl::Duration timeout) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(1, 0);
  client.set_read_timeout(1, 0);
  const absl::Time deadline = absl::Now() + timeout;
  std::string last = "no answer";
  while (absl::Now() < deadline) {
    auto res = client.Get(path.c_str());
    if (res && res->status == 200) return absl::OkStatus();
    last = res ? absl::StrCat("HTTP ", res->status) : httplib::to_string(res.error());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("GET 127.0.0.1:", port, path, " did not answer 200 within ",
                   absl::FormatDuration(timeout), " (last: ", last, ")"));
}

struct Receiver {
  std::string name;
  std::unique_ptr<Subprocess> process;
  int port = 0;
  std::string path;  // where alerts are posted
  // The receiver's own counter of alerts received, as a metric name and a
  // label matcher of its samples (text exposition), to check that every
  // acknowledged alert was counted.
  std::string received_metric;
  std::string received_labels;
};

// Sums the samples of `name` whose label text contains `labels` in the
// receiver's /metrics; -1 when it cannot be read.
double ScrapeCounter(int port, const std::string& name, const std::string& labels) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(5, 0);
  auto res = client.Get("/metrics");
  if (!res || res->status != 200) return -1;
  double total = 0;
  for (absl::string_view line : absl::StrSplit(res->body, '\n')) {
    if (!absl::StartsWith(line, name) || line.size() <= name.size()) continue;
    const char next = line[name.size()];
    if (next != '{' && next != ' ') continue;
    if (!labels.empty() && !absl::StrContains(line, labels)) continue;
    double v = 0;
    const size_t space = line.rfind(' ');
    if (space != absl::string_view::npos && absl::SimpleAtod(line.substr(space + 1), &v)) {
      total += v;
    }
  }
  return total;
}

absl::StatusOr<Receiver> StartReceiver(std::string name, std::vector<std::string> argv,
                                       const std::string& port_regex, const std::string& ready,
                                       const std::string& dir) {
  auto process = Subprocess::Start(std::move(argv), {}, dir);
  if (!process.ok()) return process.status();
  auto port = (*process)->WaitForOutput(port_regex, absl::Seconds(30));
  if (!port.ok()) return port.status();
  Receiver r{std::move(name), std::move(*process), 0, "/api/v2/alerts"};
  if (!absl::SimpleAtoi(*port, &r.port)) return absl::InternalError("bad port " + *port);
  absl::Status s = WaitHttpOk(r.port, ready, absl::Seconds(30));
  if (!s.ok()) return s;
  return r;
}

absl::StatusOr<Receiver> StartEngine(const std::string& binary, const std::string& dir,
                                     int plugin_port, bool journal) {
  const std::string config = dir + "/hollowtrees.yaml";
  absl::Status s = testing::WriteStringToFile(config, absl::StrCat(R"(# ht-engine-bench
action_plugins:
  - name: "bench"
    address: "127.0.0.1:)", plugin_port, R"("
rules:
  - name: ")", kRule, R"("
    event_type: "prometheus.server.alert.SpotTerminationNotice"
    action_plugins: ["bench"]
    match:
      - cluster_name: "bench"
)"));
  if (!s.ok()) return s;
  std::vector<std::string> argv = {binary, "--config", config, "--listen", "127.0.0.1:0",
                                   "--log-level", "info"};
  if (journal) {
    // A fresh journal per run, on the same disk as the temp dir.
    const std::string data = dir + "/engine-data-" + std::to_string(absl::ToUnixMicros(absl::Now()));
    std::filesystem::create_directories(data);
    argv.push_back("--data-dir");
    argv.push_back(data);
  }
  auto r = StartReceiver(journal ? "hollowtrees+journal" : "hollowtrees", argv,
                         R"(listening on 127\.0\.0\.1:(\d+))", "/readyz", dir);
  if (r.ok()) {
    r->received_metric = "hollowtrees_events_received_total";
    r->received_labels = R"(source="prometheus")";
  }
  return r;
}

absl::StatusOr<Receiver> StartAlertmanager(const std::string& binary, const std::string& dir) {
  const std::string config = dir + "/alertmanager.yml";
  absl::Status s = testing::WriteStringToFile(config, R"(# ht-engine-bench: accept, notify nobody
route:
  receiver: blackhole
  group_by: [alertname]
receivers:
  - name: blackhole
)");
  if (!s.ok()) return s;
  auto r = StartReceiver("alertmanager",
                         {binary, "--config.file=" + config, "--storage.path=" + dir + "/am-data",
                          "--web.listen-address=127.0.0.1:0", "--cluster.listen-address=",
                          "--log.level=info"},
                         R"(msg="Listening on" address=127\.0\.0\.1:(\d+))", "/-/ready", dir);
  if (r.ok()) {
    r->received_metric = "alertmanager_alerts_received_total";
    r->received_labels = R"(version="v2")";
  }
  return r;
}

// Figures of one receiver; negative means "not measured".
struct Figures {
  double alerts_per_s = -1;
  double cpu_us_per_alert = -1;  // the receiver's CPU time in the closed loop
  double closed_p50_us = -1, closed_p99_us = -1;
  uint64_t closed_failed = 0;
  double ack_p50_us = -1, ack_p99_us = -1, ack_max_us = -1;
  uint64_t open_sent = 0, open_failed = 0;
  double offered_rate = 0, achieved_rate = 0;
  double plugin_p50_us = -1, plugin_p99_us = -1, plugin_max_us = -1;
  uint64_t plugin_expected = 0, plugin_arrived = 0;
  double rss_idle_mb = -1, rss_after_mb = -1;
  uint64_t acknowledged = 0;  // alerts in 2xx answers, all phases
  uint64_t dropped = 0;       // of those, said dropped by the receiver (queue full)
  double counted = -1;        // the receiver's own count of alerts received
  int exit_code = -1;
  std::string errors;
};

std::string Ms(double us) { return absl::StrFormat("%.3f", us / 1000.0); }

void NoteError(Figures& f, const std::string& phase, const LoadResult& r) {
  if (r.requests_failed > 0) {
    absl::StrAppend(&f.errors, phase, ": ", r.requests_failed, " failed requests, first: ",
                    r.first_error, "\n");
  }
}

// Runs every phase against one started receiver.
Figures Measure(Receiver& receiver, std::atomic<uint64_t>& next_seq, ArrivalPlugin* plugin) {
  Figures f;
  auto rss_mb = [&] {
    const int64_t kb = RssKb(receiver.process->pid());
    return kb < 0 ? -1.0 : kb / 1024.0;
  };
  f.rss_idle_mb = rss_mb();

  LoadOptions load;
  load.port = receiver.port;
  load.path = receiver.path;
  load.connections = absl::GetFlag(FLAGS_connections);
  load.batch_size = absl::GetFlag(FLAGS_batch);
  load.next_seq = &next_seq;

  if (absl::GetFlag(FLAGS_warmup) > absl::ZeroDuration()) {
    load.duration = absl::GetFlag(FLAGS_warmup);
    LoadResult warm = RunClosedLoop(load);
    f.acknowledged += warm.alerts_accepted + warm.alerts_dropped;
    f.dropped += warm.alerts_dropped;
    NoteError(f, "warm-up", warm);
  }

  load.duration = absl::GetFlag(FLAGS_duration);
  const double cpu_before = CpuSeconds(receiver.process->pid());
  LoadResult closed = RunClosedLoop(load);
  const double cpu_after = CpuSeconds(receiver.process->pid());
  f.acknowledged += closed.alerts_accepted + closed.alerts_dropped;
  f.dropped += closed.alerts_dropped;
  if (cpu_before >= 0 && cpu_after >= 0 && closed.alerts_accepted > 0) {
    f.cpu_us_per_alert = (cpu_after - cpu_before) * 1e6 / closed.alerts_accepted;
  }
  f.alerts_per_s = closed.AlertsPerSecond();
  f.closed_failed = closed.requests_failed;
  f.closed_p50_us = Quantile(closed.latencies_us, 0.5);
  f.closed_p99_us = Quantile(closed.latencies_us, 0.99);
  NoteError(f, "closed loop", closed);

  // Let the receiver finish what the flood queued (both receivers work
  // asynchronously) so that the open loop measures the steady state at the
  // offered rate, not the tail of the closed loop.
  absl::SleepFor(absl::GetFlag(FLAGS_settle));

  SendLog sends;
  load.rate = absl::GetFlag(FLAGS_rate);
  if (plugin != nullptr) {
    load.match_every = static_cast<uint64_t>(std::max(absl::GetFlag(FLAGS_match_every), 0));
    const uint64_t every = load.match_every;
    load.on_send = [&sends, every](uint64_t first, int n, Clock::time_point t) {
      sends.Record(first, n, every, t);
    };
  }
  LoadResult open = RunOpenLoop(load);
  f.acknowledged += open.alerts_accepted + open.alerts_dropped;
  f.dropped += open.alerts_dropped;
  f.offered_rate = load.rate;
  f.achieved_rate = open.AlertsPerSecond();
  f.open_sent = open.requests_ok + open.requests_failed;
  f.open_failed = open.requests_failed;
  f.ack_p50_us = Quantile(open.latencies_us, 0.5);
  f.ack_p99_us = Quantile(open.latencies_us, 0.99);
  f.ack_max_us = Quantile(open.latencies_us, 1.0);
  NoteError(f, "open loop", open);

  if (plugin != nullptr) {
    const auto sent = sends.Sent();
    f.plugin_expected = sent.size();
    // Every matching alert must reach the plugin; wait for the stragglers.
    const absl::Time deadline = absl::Now() + absl::Seconds(15);
    auto all_arrived = [&] {
      const auto arrivals = plugin->Arrivals();
      for (const auto& [seq, t] : sent) {
        if (!arrivals.contains(seq)) return false;
      }
      return true;
    };
    while (!all_arrived() && absl::Now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    const auto arrivals = plugin->Arrivals();
    std::vector<int64_t> lat;
    for (const auto& [seq, t] : sent) {
      auto it = arrivals.find(seq);
      if (it == arrivals.end()) continue;
      lat.push_back(std::chrono::duration_cast<std::chrono::microseconds>(it->second - t).count());
    }
    f.plugin_arrived = lat.size();
    if (lat.empty()) lat.push_back(-1000);  // shown as "-"
    f.plugin_p50_us = Quantile(lat, 0.5);
    f.plugin_p99_us = Quantile(lat, 0.99);
    f.plugin_max_us = Quantile(lat, 1.0);
    if (f.plugin_arrived < f.plugin_expected) {
      absl::StrAppend(&f.errors, "plugin: ", f.plugin_expected - f.plugin_arrived, " of ",
                      f.plugin_expected, " matching alerts never reached the plugin\n");
    }
  }
  f.rss_after_mb = rss_mb();
  f.counted = ScrapeCounter(receiver.port, receiver.received_metric, receiver.received_labels);
  if (f.counted >= 0 && f.counted < static_cast<double>(f.acknowledged)) {
    absl::StrAppend(&f.errors, "it acknowledged ", f.acknowledged, " alerts but counted only ",
                    f.counted, " in ", receiver.received_metric, "\n");
  }
  f.exit_code = receiver.process->Stop(absl::Seconds(20));
  return f;
}

// One column per receiver measured, in the order given; `engine` and `am`
// (may be null) are the columns the targets compare.
void PrintTable(const std::vector<std::pair<std::string, const Figures*>>& cols, const Figures* e,
                const Figures* am) {
  auto row = [](const std::string& what, const std::vector<std::string>& cells,
                const std::string& target) {
    printf("%-40s", what.c_str());
    for (const auto& c : cells) printf(" %20s", c.c_str());
    printf("   %s\n", target.c_str());
  };
  // One cell per receiver: "-" when it was not measured.
  using Cell = std::function<std::string(const Figures&)>;
  auto both = [&](const std::string& what, const Cell& cell, const std::string& target,
                  bool engine_only = false) {
    std::vector<std::string> cells;
    for (const auto& [name, f] : cols) {
      cells.push_back(f == nullptr ? "-" : (engine_only && f == am) ? "n/a" : cell(*f));
    }
    row(what, cells, target);
  };
  auto ms = [](double us) { return us < 0 ? std::string("-") : Ms(us); };
  auto mb = [](double v) { return v < 0 ? std::string("-") : absl::StrFormat("%.1f", v); };
  const double rate = absl::GetFlag(FLAGS_rate);
  printf("\n");
  std::vector<std::string> names;
  for (const auto& [name, f] : cols) names.push_back(name);
  row("", names, "target");
  both("accepted alerts/s (closed loop)",
       [](const Figures& f) { return absl::StrFormat("%.0f", f.alerts_per_s); },
       e && am && am->alerts_per_s > 0
           ? absl::StrFormat(">= 3x alertmanager (now %.2fx)", e->alerts_per_s / am->alerts_per_s)
           : ">= 3x alertmanager");
  both("  receiver CPU per alert (us)",
       [](const Figures& f) {
         return f.cpu_us_per_alert < 0 ? std::string("-")
                                       : absl::StrFormat("%.2f", f.cpu_us_per_alert);
       },
       "");
  both("  request latency p50 / p99 (ms)",
       [&](const Figures& f) { return ms(f.closed_p50_us) + " / " + ms(f.closed_p99_us); }, "");
  both(absl::StrFormat("ack latency p50 @ %.0f alerts/s (ms)", rate),
       [&](const Figures& f) { return ms(f.ack_p50_us); }, "");
  both(absl::StrFormat("ack latency p99 @ %.0f alerts/s (ms)", rate),
       [&](const Figures& f) { return ms(f.ack_p99_us); }, "< 2 ms");
  both(absl::StrFormat("ack latency max @ %.0f alerts/s (ms)", rate),
       [&](const Figures& f) { return ms(f.ack_max_us); }, "");
  both("  achieved open-loop alerts/s",
       [](const Figures& f) { return absl::StrFormat("%.0f", f.achieved_rate); }, "");
  both("alert -> first plugin call p50 (ms)", [&](const Figures& f) { return ms(f.plugin_p50_us); },
       "", true);
  both("alert -> first plugin call p99 (ms)", [&](const Figures& f) { return ms(f.plugin_p99_us); },
       "< 5 ms", true);
  both("alert -> first plugin call max (ms)", [&](const Figures& f) { return ms(f.plugin_max_us); },
       "", true);
  both("  plugin calls arrived / expected",
       [](const Figures& f) { return absl::StrCat(f.plugin_arrived, " / ", f.plugin_expected); },
       "", true);
  both("RSS idle after start (MB)", [&](const Figures& f) { return mb(f.rss_idle_mb); },
       "< 30 MB (engine)");
  both("RSS after load (MB)", [&](const Figures& f) { return mb(f.rss_after_mb); }, "");
  both("failed requests (closed / open loop)",
       [](const Figures& f) { return absl::StrCat(f.closed_failed, " / ", f.open_failed); }, "0");
  both("alerts dropped (queue full, 2xx)",
       [](const Figures& f) { return absl::StrCat(f.dropped); }, "0");
  both("alerts counted by it / acknowledged",
       [](const Figures& f) {
         return absl::StrCat(f.counted < 0 ? "?" : absl::StrFormat("%.0f", f.counted), " / ",
                             f.acknowledged);
       },
       "equal");
  both("exit code on SIGTERM", [](const Figures& f) { return absl::StrCat(f.exit_code); }, "0");
  for (const auto& [name, f] : cols) {
    if (f != nullptr && !f->errors.empty()) printf("\n%s problems:\n%s", name.c_str(), f->errors.c_str());
  }
}

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "ht-engine-bench [--duration 5s] [--connections 8] [--rate 5000]: the engine's alert "
      "intake against Alertmanager's /api/v2/alerts, side by side");
  AcceptDashedFlags(argc, argv);  // --keep-files as well as --keep_files
  absl::ParseCommandLine(argc, argv);

  const std::string only = absl::GetFlag(FLAGS_only);
  if (!only.empty() && only != "hollowtrees" && only != "alertmanager") {
    fprintf(stderr, "ht-engine-bench: --only must be hollowtrees or alertmanager\n");
    return 2;
  }
  const bool run_engine = only != "alertmanager";
  const std::string journal_flag = absl::GetFlag(FLAGS_journal);
  if (journal_flag != "on" && journal_flag != "off" && journal_flag != "both") {
    fprintf(stderr, "ht-engine-bench: --journal must be on, off or both\n");
    return 2;
  }
  std::string engine_bin = absl::GetFlag(FLAGS_engine);
  if (engine_bin.empty()) {
    engine_bin = (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "hollowtrees")
                     .string();
  }
  if (run_engine && access(engine_bin.c_str(), X_OK) != 0) {
    fprintf(stderr, "ht-engine-bench: %s is not an executable (build it, or pass --engine)\n",
            engine_bin.c_str());
    return 2;
  }
  const std::string am_bin = only == "hollowtrees" ? "" : absl::GetFlag(FLAGS_alertmanager);
  if (!am_bin.empty() && access(am_bin.c_str(), X_OK) != 0) {
    fprintf(stderr, "ht-engine-bench: %s is not an executable (apt-get install "
                    "prometheus-alertmanager, or pass --alertmanager=)\n", am_bin.c_str());
    return 2;
  }
  if (absl::GetFlag(FLAGS_connections) < 1 || absl::GetFlag(FLAGS_batch) < 1 ||
      absl::GetFlag(FLAGS_rate) <= 0 || absl::GetFlag(FLAGS_duration) <= absl::ZeroDuration()) {
    fprintf(stderr, "ht-engine-bench: --connections, --batch, --rate, --duration must be > 0\n");
    return 2;
  }

  auto logger = MakeLogger("bench-plugin", {.level = "warn"});
  if (!logger.ok()) {
    fprintf(stderr, "ht-engine-bench: %s\n", std::string(logger.status().message()).c_str());
    return 2;
  }
  ArrivalPlugin plugin;
  auto server = plugin::PluginServer::Start(plugin, {.listen = "127.0.0.1:0"}, **logger);
  if (!server.ok()) {
    fprintf(stderr, "ht-engine-bench: plugin server: %s\n",
            std::string(server.status().message()).c_str());
    return 1;
  }

  const std::string dir = testing::MakeTempDir("ht-engine-bench");
  printf("ht-engine-bench: duration %s, connections %d, batch %d, open-loop rate %.0f alerts/s, "
         "1 in %d open-loop alerts to the plugin; files in %s\n",
         absl::FormatDuration(absl::GetFlag(FLAGS_duration)).c_str(),
         absl::GetFlag(FLAGS_connections), absl::GetFlag(FLAGS_batch), absl::GetFlag(FLAGS_rate),
         absl::GetFlag(FLAGS_match_every), dir.c_str());
  fflush(stdout);

  std::atomic<uint64_t> next_seq{0};
  // Without and with the journal, as asked (--journal off, on, both).
  std::vector<bool> journal_modes;
  if (journal_flag == "off" || journal_flag == "both") journal_modes.push_back(false);
  if (journal_flag == "on" || journal_flag == "both") journal_modes.push_back(true);
  std::vector<std::pair<std::string, Figures>> engine_runs;
  for (bool journal : run_engine ? journal_modes : std::vector<bool>{}) {
    auto engine = StartEngine(engine_bin, dir, (*server)->port(), journal);
    if (!engine.ok()) {
      fprintf(stderr, "ht-engine-bench: cannot start the engine: %s\n",
              std::string(engine.status().message()).c_str());
      return 1;
    }
    printf("measuring %s (pid %d, port %d)...\n", engine->name.c_str(), engine->process->pid(),
           engine->port);
    fflush(stdout);
    const std::string name = engine->name;
    engine_runs.emplace_back(name, Measure(*engine, next_seq, &plugin));
  }

  std::optional<Figures> am_figures;
  if (!am_bin.empty()) {
    auto am = StartAlertmanager(am_bin, dir);
    if (!am.ok()) {
      fprintf(stderr, "ht-engine-bench: cannot start Alertmanager: %s\n",
              std::string(am.status().message()).c_str());
      return 1;
    }
    printf("measuring alertmanager (pid %d, port %d)...\n", am->process->pid(), am->port);
    fflush(stdout);
    am_figures = Measure(*am, next_seq, nullptr);
  }
  (*server)->Shutdown(absl::Seconds(1));

  std::vector<std::pair<std::string, const Figures*>> cols;
  for (const auto& [name, f] : engine_runs) cols.emplace_back(name, &f);
  if (am_figures) cols.emplace_back("alertmanager", &*am_figures);
  PrintTable(cols, engine_runs.empty() ? nullptr : &engine_runs.front().second,
             am_figures ? &*am_figures : nullptr);
  bool clean = !am_figures || am_figures->errors.empty();
  for (const auto& [name, f] : engine_runs) clean = clean && f.errors.empty();
  if (!absl::GetFlag(FLAGS_keep_files) && clean) {
    std::filesystem::remove_all(dir);
  } else {
    printf("\nfiles (configs, logs) kept in %s\n", dir.c_str());
  }
  return 0;
}

}  // namespace
}  // namespace hollowtrees::bench

int main(int argc, char** argv) { return hollowtrees::bench::Main(argc, argv); }
