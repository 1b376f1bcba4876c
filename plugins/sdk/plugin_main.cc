#include "plugins/sdk/plugin_main.h"

#include <csignal>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "httplib.h"
#include "lib/common/daemon.h"
#include "lib/common/flags.h"
#include "lib/common/logging.h"
#include "lib/common/signals.h"
#include "lib/http/server_util.h"
#include "lib/metrics/metrics.h"
#include "plugins/sdk/server.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, listen, "", "HOST:PORT to serve gRPC on (port 0: any free port)");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error");
ABSL_FLAG(std::string, log_format, "text", "text or json");
ABSL_FLAG(int, max_concurrent_calls, 64, "calls handled at once");
ABSL_FLAG(int, max_queued_calls, 256,
          "calls that may wait for a worker; a call beyond them is answered RETRY at once "
          "(0: none wait)");
ABSL_FLAG(absl::Duration, queue_full_retry_after, absl::Seconds(1),
          "the retry_after of the RETRY answered when the queue is full");
ABSL_FLAG(std::string, tls_cert_file, "", "serve TLS with this PEM certificate (with --tls-key-file)");
ABSL_FLAG(std::string, tls_key_file, "", "the PEM private key of --tls-cert-file");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "require client certificates signed by these PEM CAs (mutual TLS)");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(30),
          "on SIGTERM, how long running calls may take to finish");
ABSL_FLAG(std::string, metrics_listen, "",
          "HOST:PORT to serve /metrics and /healthz over HTTP on (port 0: any free port); "
          "empty: no metrics endpoint");

namespace hollowtrees::plugin {

int PluginMain(int argc, char** argv, const PluginInfo& info, const PluginFactory& factory) {
  InitDaemon();
  // Before any thread starts, so that only the waiter sees these signals.
  SignalWaiter signals({SIGTERM, SIGINT});
  InitFlags(info.name,
      absl::StrCat(info.name, ": a Hollowtrees action plugin (gRPC). ", info.usage));
  AcceptDashedFlags(argc, argv);
  absl::ParseCommandLine(argc, argv);

  LogOptions log_options{absl::GetFlag(FLAGS_log_level), absl::GetFlag(FLAGS_log_format)};
  auto logger = MakeLogger(info.name, log_options);
  if (!logger.ok()) {
    fprintf(stderr, "%s: %s\n", info.name, std::string(logger.status().message()).c_str());
    return 2;
  }
  auto plugin = factory(**logger);
  if (!plugin.ok()) {
    (*logger)->critical("cannot start: {}", plugin.status().message());
    return 1;
  }
  PluginServerOptions options;
  options.listen = absl::GetFlag(FLAGS_listen).empty() ? info.default_listen
                                                       : absl::GetFlag(FLAGS_listen);
  options.max_concurrent_calls = absl::GetFlag(FLAGS_max_concurrent_calls);
  options.max_queued_calls = absl::GetFlag(FLAGS_max_queued_calls);
  options.queue_full_retry_after = absl::GetFlag(FLAGS_queue_full_retry_after);
  options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  options.tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
  options.tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca_file);
  metrics::Registry registry;
  options.registry = &registry;
  options.metrics_name = info.name;
  auto server = PluginServer::Start(**plugin, options, **logger);
  if (!server.ok()) {
    (*logger)->critical("cannot start: {}", server.status().message());
    return 1;
  }
  // The metrics endpoint, when asked for: the call counters of the SDK.
  httplib::Server metrics_server;
  std::unique_ptr<http::ServingThread> metrics_serving;  // after metrics_server: stops first
  if (const std::string address = absl::GetFlag(FLAGS_metrics_listen); !address.empty()) {
    auto hp = http::ParseHostPort(address);
    if (!hp.ok()) {
      (*logger)->critical("cannot start: --metrics-listen: {}", hp.status().message());
      return 2;
    }
    http::ConfigureServer(metrics_server, {.threads = 4});
    metrics_server.Get("/metrics", [&registry](const httplib::Request&, httplib::Response& res) {
      res.set_content(registry.Expose(), std::string(metrics::Registry::kContentType));
    });
    metrics_server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("ok\n", "text/plain");
    });
    auto serving = http::ServingThread::Start(metrics_server, *hp);
    if (!serving.ok()) {
      (*logger)->critical("cannot start: --metrics-listen: {}", serving.status().message());
      return 1;
    }
    metrics_serving = *std::move(serving);
    (*logger)->info("metrics on {}:{}", hp->host, metrics_serving->port());
  }
  const size_t colon = options.listen.rfind(':');
  if (!options.tls_cert_file.empty()) {
    (*logger)->info("serving {}", options.tls_client_ca_file.empty()
                                      ? "TLS"
                                      : "mutual TLS (client certificates required)");
  }
  (*logger)->info("listening on {}:{}", options.listen.substr(0, colon), (*server)->port());
  const int sig = signals.Wait();
  (*logger)->info("received signal {}, shutting down (grace {})", sig,
                  absl::FormatDuration(absl::GetFlag(FLAGS_shutdown_grace)));
  (*server)->Shutdown(absl::GetFlag(FLAGS_shutdown_grace));
  if (metrics_serving) metrics_serving->Stop();
  (*logger)->info("stopped");
  return 0;
}

}  // namespace hollowtrees::plugin
