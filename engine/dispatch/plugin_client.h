#pragma once

// Calling action plugins, behind a narrow interface (tests use a fake).

#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "engine/rules/config.h"
#include "hollowtrees/plugin/v1/plugin.pb.h"

namespace hollowtrees::engine {

struct PluginReply {
  // OK when the plugin answered; otherwise the transport's error (gRPC code
  // mapped to the canonical code, e.g. Unavailable, DeadlineExceeded).
  absl::Status transport;
  hollowtrees::plugin::v1::HandleResponse response;
};

class PluginClient {
 public:
  virtual ~PluginClient() = default;
  // Calls the plugin's Handle with a deadline of `timeout`. `done` runs
  // exactly once, on any thread, possibly before Call returns. Thread-safe.
  virtual void Call(const PluginConfig& plugin, const hollowtrees::plugin::v1::HandleRequest& request,
                    absl::Duration timeout, std::function<void(PluginReply)> done) = 0;
};

// The real client: one long-lived gRPC channel per plugin endpoint (address
// and TLS settings), made on first use and kept across reloads, never a
// connection per event. TLS and mutual TLS per plugin entry. Thread-safe.
std::unique_ptr<PluginClient> NewGrpcPluginClient();

}  // namespace hollowtrees::engine
