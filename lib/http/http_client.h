#pragma once

// Outbound HTTP(S), behind a narrow interface so that components (Kubernetes
// and AWS clients, the exporter) can be tested against fakes.

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace hollowtrees::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";
  // Path with query string, e.g. "/api/v1/pods?limit=500".
  std::string path;
  Headers headers;
  std::string body;
  // Sent as Content-Type when the body is not empty.
  std::string content_type;
  // Overrides HttpClientOptions::timeout for this request when positive:
  // the deadline of the whole request.
  absl::Duration timeout = absl::ZeroDuration();
};

struct HttpResponse {
  int status = 0;
  Headers headers;
  std::string body;

  // The first header of that name (case-insensitive), or "" when absent.
  std::string Header(absl::string_view name) const;
};

struct TlsOptions {
  // Trusted CAs: a PEM file and/or PEM text. Neither: the system store.
  std::string ca_file;
  std::string ca_pem;
  // Client certificate and key for mutual TLS: files or PEM text.
  std::string cert_file;
  std::string cert_pem;
  std::string key_file;
  std::string key_pem;
  // Skips server certificate verification (kubeconfig's
  // insecure-skip-tls-verify). Never the default.
  bool insecure_skip_verify = false;
};

struct HttpClientOptions {
  // "http://host:port" or "https://host:port", optionally with a path prefix
  // ("https://host/prefix"), which is prepended to every request path.
  std::string base_url;
  TlsOptions tls;
  // Default: 5 s to connect.
  absl::Duration connect_timeout = absl::Seconds(5);
  // Default: 30 s for a whole request (Send), or for each wait for data
  // (SendStreaming).
  absl::Duration timeout = absl::Seconds(30);
  // Connections kept open for reuse; requests beyond this open new ones.
  int max_idle_connections = 16;
};

// Ends a streaming request (SendStreaming) from another thread: Cancel()
// interrupts a read that is waiting for data. Thread-safe; once cancelled it
// stays cancelled, and a request started with it afterwards ends at once.
// One request at a time per StreamCancel.
class StreamCancel {
 public:
  void Cancel();
  bool cancelled() const;
  // For implementations: `interrupt` is run by Cancel(), under a lock that
  // ClearInterrupt() also takes, so it never runs after ClearInterrupt().
  void SetInterrupt(std::function<void()> interrupt);
  void ClearInterrupt();

 private:
  mutable std::mutex mu_;
  bool cancelled_ = false;
  std::function<void()> interrupt_;
};

// Sends requests. Implementations are thread-safe: concurrent Send() calls
// use separate connections.
class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // Any HTTP status is a response (OK status); transport failures (refused,
  // timed out, TLS) are Unavailable, naming the URL and the cause. The
  // request's timeout bounds the whole request, from connecting to the
  // answer's last byte: a server that trickles its answer is cut off there.
  virtual absl::StatusOr<HttpResponse> Send(const HttpRequest& request) = 0;

  // A request whose response body is handed over piece by piece as it
  // arrives (Kubernetes watches, chunked streams). `request.timeout` bounds
  // each wait for data, not the whole request. `on_data` returning false ends
  // the request. Returns the response with its status and headers (the body
  // left empty when it went to `on_data`; for non-2xx statuses the body is
  // collected instead). Cancelled when `cancel` (optional) is cancelled:
  // Cancelled status. Default: Unimplemented.
  virtual absl::StatusOr<HttpResponse> SendStreaming(
      const HttpRequest& request, const std::function<bool(absl::string_view)>& on_data,
      StreamCancel* cancel = nullptr);
};

// A client over cpp-httplib with OpenSSL, keeping a pool of keep-alive
// connections with TCP_NODELAY. InvalidArgument for a bad URL or unreadable
// TLS material.
absl::StatusOr<std::unique_ptr<HttpClient>> NewHttpClient(const HttpClientOptions& options);

struct Url {
  std::string scheme;  // "http" or "https"
  std::string host;    // without brackets for IPv6
  int port = 0;
  std::string path;    // "" or "/prefix..."
};
// Parses "scheme://host[:port][/path]"; the default port follows the scheme.
absl::StatusOr<Url> ParseUrl(absl::string_view url);

}  // namespace hollowtrees::http
