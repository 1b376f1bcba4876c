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
  // Calls handled at once; further calls wait in a queue. Default 64.
  int max_concurrent_calls = 64;
  // Calls that may wait for a worker; 0: none wait. A call that finds the
  // queue full is answered at once with OUTCOME_RETRY and `queue_full_retry_after`
  // (the engine calls again after that, with its backoff) instead of joining
  // an unbounded backlog. Default 256: four calls per worker of the default
  // pool, more than the engine sends to one plugin at once with default rules.
  int max_queued_calls = 256;
  // The retry_after of that RETRY answer. Default 1s.
  absl::Duration queue_full_retry_after = absl::Seconds(1);
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
  //   hollowtrees_action_plugin_calls_queued{plugin}
  //   hollowtrees_action_plugin_calls_not_run_total{plugin,reason}
  //     (reason: queue_full, deadline_exceeded)
  // and the plugin adds its own (ActionPlugin::RegisterMetrics). It must
  // outlive the server.
  metrics::Registry* registry = nullptr;
  std::string metrics_name = "plugin";
};

// Serves one ActionPlugin over gRPC with the standard health service.
// ActionPlugin::Handle runs on a pool of `max_concurrent_calls` workers; up to
// `max_queued_calls` more calls wait for one, in arrival order. Calls the SDK
// answers without running the action:
//   - the queue is full: OUTCOME_RETRY with retry_after, at once;
//   - the call's deadline passed (or the caller cancelled it) while it waited:
//     gRPC status DEADLINE_EXCEEDED (CANCELLED), and Handle is never called,
//     so an action the engine has already given up on does not run late.
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
