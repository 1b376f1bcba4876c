#pragma once

// Outbound HTTP(S), behind a narrow interface so that components (Kubernetes
// and AWS clients, the exporter) can be tested against fakes.

#include <memory>
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
  // Overrides HttpClientOptions::timeout for this request when positive.
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
  // Default: 30 s to read or write once connected.
  absl::Duration timeout = absl::Seconds(30);
  // Connections kept open for reuse; requests beyond this open new ones.
  int max_idle_connections = 16;
};

// Sends requests. Implementations are thread-safe: concurrent Send() calls
// use separate connections.
class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // Any HTTP status is a response (OK status); transport failures (refused,
  // timed out, TLS) are Unavailable, naming the URL and the cause.
  virtual absl::StatusOr<HttpResponse> Send(const HttpRequest& request) = 0;
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
