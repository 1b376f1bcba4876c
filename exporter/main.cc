// spot-termination-exporter: a Prometheus exporter of EC2 spot interruption
// notices and rebalance recommendations, with an optional direct push of a
// CloudEvent to the Hollowtrees engine.
//
//   spot-termination-exporter [--bind-addr :9189] [--metrics-path /metrics]
//       [--metadata-endpoint URL] [--log-level LEVEL] [--poll-interval 1s]
//       [--notify-url URL [--node-name NAME] [--notify-label k=v]...]

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "exporter/exporter.h"
#include "lib/common/daemon.h"
#include "lib/common/flags.h"
#include "lib/common/logging.h"
#include "lib/common/signals.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, bind_addr, ":9189", "bind address for the metrics server");
ABSL_FLAG(std::string, metrics_path, "/metrics", "path to metrics endpoint");
ABSL_FLAG(std::string, metadata_endpoint, "http://169.254.169.254/latest/meta-data/",
          "metadata endpoint to query (the IMDSv2 token endpoint, /latest/api/token, is "
          "derived from it)");
ABSL_FLAG(std::string, log_level, "info", "log level: trace, debug, info, warn, error");
ABSL_FLAG(std::string, log_format, "text", "log format: text or json");
ABSL_FLAG(absl::Duration, poll_interval, absl::Seconds(1), "time between metadata polls");
ABSL_FLAG(absl::Duration, metadata_timeout, absl::Seconds(2),
          "timeout of each metadata request (connect and read)");
ABSL_FLAG(absl::Duration, token_ttl, absl::Hours(6), "lifetime asked for IMDSv2 tokens (1s..6h)");
ABSL_FLAG(std::string, notify_url, "",
          "fast path: POST a CloudEvent here when a notice appears, e.g. "
          "http://hollowtrees:9092/api/v1/events (default: off)");
ABSL_FLAG(std::string, node_name, "",
          "the Kubernetes node name, sent as the `node` label (default: $NODE_NAME)");
ABSL_FLAG(std::vector<std::string>, notify_label, {},
          "extra label k=v for pushed events, e.g. cluster_name=prod; repeat the flag or "
          "separate with commas");
ABSL_FLAG(std::string, notify_source, "spot-termination-exporter",
          "the CloudEvent source of pushed events");

namespace {

// absl keeps only the last occurrence of a flag; --notify-label may repeat.
std::vector<std::string> CollectRepeated(int argc, char** argv, const std::string& name) {
  std::vector<std::string> out;
  const std::string eq = "--" + name + "=";
  const std::string bare = "--" + name;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") break;
    std::string value;
    if (absl::StartsWith(arg, eq)) {
      value = arg.substr(eq.size());
    } else if (arg == bare && i + 1 < argc) {
      value = argv[++i];
    } else {
      continue;
    }
    for (absl::string_view part : absl::StrSplit(value, ',', absl::SkipEmpty())) {
      out.emplace_back(part);
    }
  }
  return out;
}

std::string NormaliseLevel(std::string level) {
  // The original took logrus levels.
  if (level == "warning") return "warn";
  if (level == "fatal" || level == "panic") return "critical";
  return level;
}

}  // namespace

int main(int argc, char** argv) {
  hollowtrees::InitDaemon();
  hollowtrees::SignalWaiter signals({SIGTERM, SIGINT, SIGQUIT});
  hollowtrees::InitFlags("spot-termination-exporter",
      "Prometheus exporter of EC2 spot interruption notices.\n"
      "  spot-termination-exporter [--bind-addr :9189] [--metrics-path /metrics]\n"
      "      [--metadata-endpoint URL] [--log-level LEVEL] [--notify-url URL]");
  hollowtrees::AcceptDashedFlags(argc, argv);
  const std::vector<std::string> label_args = CollectRepeated(argc, argv, "notify_label");
  absl::ParseCommandLine(argc, argv);

  auto logger = hollowtrees::MakeLogger(
      "spot-termination-exporter",
      {.level = NormaliseLevel(absl::GetFlag(FLAGS_log_level)),
       .format = absl::GetFlag(FLAGS_log_format)});
  if (!logger.ok()) {
    std::fprintf(stderr, "spot-termination-exporter: %s\n",
                 std::string(logger.status().message()).c_str());
    return 2;
  }

  hollowtrees::exporter::ExporterOptions options;
  options.bind_addr = absl::GetFlag(FLAGS_bind_addr);
  options.metrics_path = absl::GetFlag(FLAGS_metrics_path);
  options.imds.metadata_endpoint = absl::GetFlag(FLAGS_metadata_endpoint);
  options.imds.timeout = absl::GetFlag(FLAGS_metadata_timeout);
  options.imds.token_ttl = absl::GetFlag(FLAGS_token_ttl);
  options.poll_interval = absl::GetFlag(FLAGS_poll_interval);
  options.notify.url = absl::GetFlag(FLAGS_notify_url);
  options.notify.source = absl::GetFlag(FLAGS_notify_source);
  options.notify.node_name = absl::GetFlag(FLAGS_node_name);
  if (options.notify.node_name.empty()) {
    if (const char* env = std::getenv("NODE_NAME")) options.notify.node_name = env;
  }
  for (const std::string& kv : label_args) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::fprintf(stderr, "spot-termination-exporter: --notify-label \"%s\": want NAME=VALUE\n",
                   kv.c_str());
      return 2;
    }
    options.notify.labels.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  if (options.notify.url.empty() && !options.notify.labels.empty()) {
    std::fprintf(stderr, "spot-termination-exporter: --notify-label needs --notify-url\n");
    return 2;
  }
  if (absl::Status s = hollowtrees::exporter::ValidateExporterOptions(options); !s.ok()) {
    std::fprintf(stderr, "spot-termination-exporter: %s\n", std::string(s.message()).c_str());
    return 2;
  }

  auto exporter = hollowtrees::exporter::Exporter::Start(options, **logger);
  if (!exporter.ok()) {
    (*logger)->critical("cannot start: {}", exporter.status().message());
    return 1;
  }
  (*logger)->info("metadata endpoint {}, polling every {}; fast path {}",
                  options.imds.metadata_endpoint, absl::FormatDuration(options.poll_interval),
                  options.notify.url.empty() ? std::string("off") : options.notify.url);
  (*logger)->info("listening on {}:{}{}", (*exporter)->host(), (*exporter)->port(),
                  options.metrics_path);
  const int sig = signals.Wait();
  (*logger)->info("caught signal {}, exiting", sig);
  (*exporter)->Stop();
  return 0;
}
