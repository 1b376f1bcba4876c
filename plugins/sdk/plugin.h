#pragma once

// The Hollowtrees plugin SDK: a plugin is a class with one method.
//
//   class MyPlugin : public hollowtrees::plugin::ActionPlugin {
//    public:
//     Result Handle(const Request& req, const Context& ctx) override {
//       if (req.Label("instance_id").empty()) return Result::Skipped("no instance_id");
//       ...
//       return Result::Done("did it");
//     }
//   };
//
// and a main of a few lines (plugin_main.h). Handle runs on a worker thread,
// never on a gRPC thread, so it may block for as long as the call's deadline.
// Calls beyond the workers wait in a bounded queue (PluginServerOptions::
// max_queued_calls); when it is full the SDK answers RETRY for the plugin, and
// a call whose deadline passed while it waited never reaches Handle.

#include <map>
#include <string>
#include "absl/status/status.h"
#include "absl/strings/string_view.h"

#include "absl/time/time.h"
#include "hollowtrees/plugin/v1/plugin.pb.h"
#include "nlohmann/json.hpp"

namespace spdlog {
class logger;
}
namespace hollowtrees::metrics {
class Registry;
}

namespace hollowtrees::plugin {

// One delivery of an event to this plugin, decoded for convenience.
struct Request {
  // The raw request as it came over the wire.
  const hollowtrees::plugin::v1::HandleRequest* raw = nullptr;
  const io::cloudevents::v1::CloudEvent& event() const { return raw->event(); }

  std::string event_id;
  std::string event_type;
  std::string event_source;
  // The event's `time` attribute (for alerts, startsAt, else when the engine
  // received them; for the exporter's pushed notice, when it read the
  // notice); InfinitePast when absent or not a time.
  absl::Time event_time = absl::InfinitePast();
  std::string rule;
  std::string flow_id;
  uint32_t attempt = 1;
  // The event's data parsed as JSON (null when it is not JSON).
  nlohmann::json data;
  // data.labels for alerts (string values only); empty otherwise.
  std::map<std::string, std::string> labels;
  // The rule's params for this plugin, as JSON (an object; empty when none).
  nlohmann::json params = nlohmann::json::object();
  // "firing" or "resolved" for alerts (data.status), else "".
  std::string status;

  // The label's value, or "" when absent.
  std::string Label(absl::string_view name) const;
  // Typed access to params with a default; a value of the wrong type yields
  // the default.
  std::string ParamString(absl::string_view key, absl::string_view def = "") const;
  bool ParamBool(absl::string_view key, bool def) const;
  double ParamNumber(absl::string_view key, double def) const;
};

// How a plugin answers.
struct Result {
  using Outcome = hollowtrees::plugin::v1::HandleResponse::Outcome;
  Outcome outcome = hollowtrees::plugin::v1::HandleResponse::OUTCOME_FAILED;
  std::string message;
  absl::Duration retry_after = absl::ZeroDuration();

  static Result Done(std::string message = "");
  static Result Skipped(std::string message);
  static Result Retry(std::string message, absl::Duration after = absl::ZeroDuration());
  static Result Failed(std::string message);
  // An error as an outcome: RETRY (after `retry_after`) for what may pass
  // (Unavailable, DeadlineExceeded, ResourceExhausted, Internal, Aborted,
  // Unknown), FAILED for the rest; the message is `prefix` and the status's.
  static Result FromStatus(const absl::Status& status, absl::string_view prefix = "",
                           absl::Duration retry_after = absl::ZeroDuration());
};

// What a call may consult while it runs.
struct Context {
  // The call's deadline as the engine set it (InfiniteFuture when none).
  absl::Time deadline = absl::InfiniteFuture();
  // True once the engine gave up on the call or the plugin is shutting down:
  // stop early and answer.
  std::function<bool()> cancelled = [] { return false; };
  // The plugin's logger (one named logger per plugin).
  spdlog::logger* logger = nullptr;
};

class ActionPlugin {
 public:
  virtual ~ActionPlugin() = default;
  // Called concurrently from several worker threads: implementations must be
  // thread-safe. Must not throw; an escaping exception becomes a failed
  // outcome naming it.
  virtual Result Handle(const Request& request, const Context& context) = 0;

  // Called by PluginServer::Start, once per server and before its first
  // call, when the server is given a registry (PluginMain always gives one;
  // /metrics serves it with --metrics-listen): add the plugin's own metric
  // families here. The registry outlives every call. The default adds
  // nothing.
  virtual void RegisterMetrics(metrics::Registry& registry) { (void)registry; }
};

// Decodes the wire request (exposed for tests). InvalidArgument never: data
// that is not JSON simply leaves `data` null.
Request DecodeRequest(const hollowtrees::plugin::v1::HandleRequest& raw);

}  // namespace hollowtrees::plugin
