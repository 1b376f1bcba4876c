#pragma once

// spot-termination-exporter assembled: the metadata poller, the /metrics
// server, and optionally the fast-path notifier.
//
// HTTP: GET <metrics_path> (the exposition, from the last poll: it never
// waits for the metadata service), GET / (a landing page linking to it, as
// the original), GET /healthz ("ok" while serving).

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "exporter/exporter_metrics.h"
#include "exporter/imds_metadata.h"
#include "exporter/metadata.h"
#include "exporter/notifier.h"
#include "exporter/poller.h"
#include "lib/http/server_util.h"

namespace httplib {
class Server;
}
namespace spdlog {
class logger;
}

namespace hollowtrees::exporter {

struct ExporterOptions {
  // HOST:PORT or :PORT to serve on. Default ":9189" (the original's).
  std::string bind_addr = ":9189";
  // Path of the exposition; must start with '/'. Default "/metrics".
  std::string metrics_path = "/metrics";
  // The metadata service (endpoint, timeout, token TTL).
  ImdsMetadataOptions imds;
  // Time between polls. Default 1 s.
  absl::Duration poll_interval = absl::Seconds(1);
  // The last successful poll counts only this long (then
  // aws_instance_metadata_service_available is 0 even if no poll failed,
  // e.g. the poller is stuck). Zero: 2 * poll_interval + 4 * imds.timeout.
  absl::Duration stale_after = absl::ZeroDuration();
  // The fast path; off when notify.url is empty.
  NotifierOptions notify;
  // Worker threads for HTTP. Default 4.
  int http_threads = 4;
};

class Exporter {
 public:
  // Validates, binds, starts polling and serving. InvalidArgument for bad
  // options (naming the option), Unavailable when the address is taken.
  // `logger` must outlive the exporter.
  static absl::StatusOr<std::unique_ptr<Exporter>> Start(const ExporterOptions& options,
                                                         spdlog::logger& logger);
  // With a metadata source of the caller's (must outlive the exporter);
  // options.imds is then ignored except for the timeout.
  static absl::StatusOr<std::unique_ptr<Exporter>> Start(const ExporterOptions& options,
                                                         InstanceMetadata& metadata,
                                                         spdlog::logger& logger);
  ~Exporter();  // Stop()
  Exporter(const Exporter&) = delete;
  Exporter& operator=(const Exporter&) = delete;

  const std::string& host() const { return host_; }
  int port() const { return serving_->port(); }
  // What GET <metrics_path> answers now.
  std::string RenderMetrics();
  const MetadataPoller& poller() const { return *poller_; }
  // Null when the fast path is off.
  const Notifier* notifier() const { return notifier_.get(); }
  // Stops serving, polling and pushing. Idempotent.
  void Stop();

 private:
  Exporter(const ExporterOptions& options, spdlog::logger& logger);
  absl::Status Init(InstanceMetadata& metadata);

  ExporterOptions options_;
  spdlog::logger& logger_;
  std::unique_ptr<InstanceMetadata> owned_metadata_;
  ExporterMetrics metrics_;
  std::unique_ptr<Notifier> notifier_;
  std::unique_ptr<MetadataPoller> poller_;
  std::unique_ptr<httplib::Server> server_;
  std::unique_ptr<http::ServingThread> serving_;  // after server_: stops first
  std::string host_;
};

// Checks options without starting anything: InvalidArgument naming the
// offending option.
absl::Status ValidateExporterOptions(const ExporterOptions& options);

}  // namespace hollowtrees::exporter
