#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "plugins/sdk/plugin.h"

namespace grpc {
class Server;
}
namespace hollowtrees::metrics {
class Registry;
}

namespace hollowtrees::plugin {

struct PluginServerOptions {
  // HOST:PORT to serve on; port 0 picks a free port (see port()).
  std::string listen = "0.0.0.0:8887";
  // Calls handled at once; further calls wait. Default 64.
  int max_concurrent_calls = 64;
  // The service name reported to the gRPC health service besides "".
  std::string health_service_name = "hollowtrees.plugin.v1.ActionPlugin";
  // TLS: serve with this PEM certificate (chain) and key when both are set;
  // plaintext when both are empty.
  std::string tls_cert_file;
  std::string tls_key_file;
  // Mutual TLS: with a CA file, callers must present a certificate signed by
  // one of its CAs; others are refused in the handshake.
  std::string tls_client_ca_file;
  // When set, calls are counted in it, labelled plugin=`metrics_name`:
  //   hollowtrees_action_plugin_calls_total{plugin,outcome}
  //   hollowtrees_action_plugin_call_duration_seconds{plugin} (histogram)
  //   hollowtrees_action_plugin_calls_in_flight{plugin}
  // and the plugin adds its own (ActionPlugin::RegisterMetrics). It must
  // outlive the server.
  metrics::Registry* registry = nullptr;
  std::string metrics_name = "plugin";
};

// Serves one ActionPlugin over gRPC with the standard health service.
// The plugin and logger must outlive the server. Thread-safe.
class PluginServer {
 public:
  // Binds and starts serving. Unavailable when the address is taken (port
  // sharing is turned off, so a taken port is an error, not a silent share).
  // InvalidArgument when the TLS options are incomplete or a file cannot be
  // read.
  static absl::StatusOr<std::unique_ptr<PluginServer>> Start(ActionPlugin& plugin,
                                                             const PluginServerOptions& options,
                                                             spdlog::logger& logger);
  ~PluginServer();  // Shutdown(0) if not shut down yet.

  int port() const { return port_; }

  // Reports NOT_SERVING, stops accepting calls, lets running calls finish
  // for up to `grace` (they see Context::cancelled() after it), then returns.
  void Shutdown(absl::Duration grace);

  class Impl;

 private:
  PluginServer() = default;
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool shut_down_ = false;
};

}  // namespace hollowtrees::plugin
