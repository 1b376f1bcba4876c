#include "exporter/exporter.h"

#include <httplib.h>
#include <sys/socket.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/common/logging.h"
#include "lib/http/server_util.h"
#include "spdlog/logger.h"

namespace hollowtrees::exporter {

absl::Status ValidateExporterOptions(const ExporterOptions& options) {
  if (auto hp = http::ParseHostPort(options.bind_addr); !hp.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--bind-addr: ", hp.status().message()));
  }
  if (!absl::StartsWith(options.metrics_path, "/") || options.metrics_path == "/") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--metrics-path \"", options.metrics_path, "\": must start with '/' and not be \"/\""));
  }
  if (auto e = ParseImdsEndpoint(options.imds.metadata_endpoint); !e.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--metadata-endpoint: ", e.status().message()));
  }
  if (options.poll_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--poll-interval must be positive");
  }
  if (options.imds.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--metadata-timeout must be positive");
  }
  if (!options.notify.url.empty()) {
    if (absl::Status s = ValidateNotifierOptions(options.notify); !s.ok()) return s;
  }
  return absl::OkStatus();
}

Exporter::Exporter(const ExporterOptions& options, spdlog::logger& logger)
    : options_(options), logger_(logger) {
  if (options_.stale_after <= absl::ZeroDuration()) {
    options_.stale_after = 2 * options_.poll_interval + 4 * options_.imds.timeout;
  }
}

absl::StatusOr<std::unique_ptr<Exporter>> Exporter::Start(const ExporterOptions& options,
                                                          spdlog::logger& logger) {
  if (absl::Status s = ValidateExporterOptions(options); !s.ok()) return s;
  auto imds = ImdsMetadata::Create(options.imds, logger);
  if (!imds.ok()) return imds.status();
  std::unique_ptr<Exporter> e(new Exporter(options, logger));
  e->owned_metadata_ = *std::move(imds);
  if (absl::Status s = e->Init(*e->owned_metadata_); !s.ok()) return s;
  return e;
}

absl::StatusOr<std::unique_ptr<Exporter>> Exporter::Start(const ExporterOptions& options,
                                                          InstanceMetadata& metadata,
                                                          spdlog::logger& logger) {
  if (absl::Status s = ValidateExporterOptions(options); !s.ok()) return s;
  std::unique_ptr<Exporter> e(new Exporter(options, logger));
  if (absl::Status s = e->Init(metadata); !s.ok()) return s;
  return e;
}

absl::Status Exporter::Init(InstanceMetadata& metadata) {
  if (!options_.notify.url.empty()) {
    auto n = Notifier::Create(options_.notify, metrics_, logger_);
    if (!n.ok()) return n.status();
    notifier_ = *std::move(n);
  }
  poller_ = std::make_unique<MetadataPoller>(metadata, metrics_, logger_,
                                             PollerOptions{.interval = options_.poll_interval});
  if (notifier_) {
    Notifier* n = notifier_.get();
    poller_->AddListener([n](const InstanceState& s) { n->Observe(s); });
  }

  server_ = std::make_unique<httplib::Server>();
  http::ConfigureServer(*server_, {.threads = options_.http_threads,
                                   .max_body_bytes = 64 << 10,
                                   .io_timeout = absl::Seconds(10)});
  // An idle keep-alive connection (a scraper's) holds a worker until this
  // runs out, and shutdown waits for it: keep it short.
  server_->set_keep_alive_timeout(1);
  // cpp-httplib's default socket options add SO_REUSEPORT, with which a second
  // exporter on a taken port would bind too and share the scrapes silently.
  server_->set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  server_->Get(options_.metrics_path, [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(RenderMetrics(), std::string(metrics::Registry::kContentType));
  });
  server_->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  server_->Get("/", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(absl::StrCat("<html>\n<head><title>Spot Termination Exporter</title></head>\n"
                                 "<body>\n<h1>Spot Termination Exporter</h1>\n<p><a href=\"",
                                 options_.metrics_path, "\">Metrics</a></p>\n</body>\n</html>\n"),
                    "text/html");
  });
  auto hp = http::ParseHostPort(options_.bind_addr);
  if (!hp.ok()) return hp.status();
  auto serving = http::ServingThread::Start(*server_, *hp);
  if (!serving.ok()) return serving.status();
  serving_ = *std::move(serving);
  host_ = hp->host;
  poller_->Start();
  return absl::OkStatus();
}

std::string Exporter::RenderMetrics() {
  return metrics_.Render(poller_->state(), absl::Now(), options_.stale_after);
}

void Exporter::Stop() {
  if (serving_) serving_->Stop();
  if (poller_) poller_->Stop();
  notifier_.reset();
}

Exporter::~Exporter() { Stop(); }

}  // namespace hollowtrees::exporter
