#pragma once

// The engine's configuration (rules.yaml): the original project's format,
// unchanged, plus the extensions docs/rules.md lists. Parsed in stages into
// immutable typed structs: YAML syntax, then a typed decode that rejects
// unknown keys, then cross-checks (plugin names exist, regexes compile,
// durations parse, names unique). Every problem is reported, each as
// "FILE:LINE:COL: message" (1-based), in file order.
//
// One validator for every entry point: the daemon at start and at reload,
// `hollowtrees check-config`, and CI.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/event/limits.h"
#include "engine/rules/matcher.h"
#include "engine/rules/security_config.h"
#include "lib/common/logging.h"
#include "nlohmann/json.hpp"

namespace hollowtrees::engine {

inline constexpr int kDefaultRetries = 3;
inline constexpr absl::Duration kDefaultPluginTimeout = absl::Minutes(2);

struct TlsConfig {
  std::string ca_file;      // trust these CAs for the plugin's certificate
  std::string cert_file;    // client certificate (mutual TLS), with key_file
  std::string key_file;
  std::string server_name;  // expected name in the plugin's certificate
};

struct PluginConfig {
  std::string name;
  std::string address;  // host:port, as gRPC dials it
  // Per-call deadline for this plugin unless the rule entry says otherwise.
  std::optional<absl::Duration> timeout;
  std::optional<TlsConfig> tls;
};

enum class OnFailure { kStop, kContinue };
enum class StatusFilter { kFiring, kResolved, kAny };

// One entry of a rule's action_plugins: a name, or {name, timeout, params}.
struct RulePluginRef {
  std::string name;
  std::optional<absl::Duration> timeout;
  nlohmann::json params = nlohmann::json::object();
};

struct RuleConfig {
  std::string name;
  std::string description;
  std::vector<std::string> event_types;  // from event_type and/or event_types
  // `match` (label equals value, all must hold) and `matchers`, together.
  std::vector<LabelMatcher> matchers;
  std::vector<std::string> group_by;  // empty: group by the whole label set
  absl::Duration cooldown = absl::ZeroDuration();
  int retries = kDefaultRetries;       // further attempts per plugin call
  std::optional<absl::Duration> timeout;
  int concurrency = 0;                 // flows at once; 0: no limit
  OnFailure on_failure = OnFailure::kStop;
  StatusFilter alert_status = StatusFilter::kFiring;
  std::vector<RulePluginRef> action_plugins;
};

struct IntakeConfig {
  // Largest request body accepted (413 above it). Default 4 MiB.
  size_t max_body_bytes = 4u << 20;
  // How long an event id is remembered after it was last received, so that
  // re-sends are absorbed. Default 6h (Prometheus re-sends resolved alerts
  // for 15m; firing ones refresh the entry on every re-send).
  absl::Duration dedup_window = absl::Hours(6);
  // Upper bound of remembered ids (the oldest go first). Default 1,000,000.
  size_t max_dedup_entries = 1000000;
  // CloudEvent source for alerts without a generatorURL.
  std::string default_source = "hollowtrees";
  // Events accepted but not yet dispatched. Default 100,000.
  size_t queue_capacity = 100000;
  // HTTP worker threads. Each open keep-alive connection holds one until it
  // idles out (2 s), so this bounds the senders served at once; an idle
  // worker costs a few kB. Default 64.
  int http_threads = 64;
  // What one alert or event may carry (engine/event/limits.h): more is
  // refused, that alert or event alone, with the bound it passed.
  EventLimits limits;

  bool operator==(const IntakeConfig&) const = default;
};

// One SQS queue the engine polls for AWS events (EventBridge rules, Auto
// Scaling lifecycle hooks).
struct SqsSourceConfig {
  // Unique among the SQS sources; the `source` label of their metrics.
  std::string name;
  // "https://sqs.us-east-1.amazonaws.com/123456789012/hollowtrees".
  std::string queue_url;
  // Empty: from the queue URL, else AWS_REGION / AWS_DEFAULT_REGION.
  std::string region;

  bool operator==(const SqsSourceConfig&) const = default;
};

struct SourcesConfig {
  std::vector<SqsSourceConfig> sqs;

  bool operator==(const SourcesConfig&) const = default;
};

// High availability (docs/high-availability.md): several replicas, the
// holder of a coordination.k8s.io/v1 Lease acts, the others accept and keep.
struct HaConfig {
  std::string ns = "hollowtrees";  // `namespace`: the Lease's and the state's
  std::string lease_name = "hollowtrees-engine";
  // "": $POD_NAME, else the host name (resolved when the engine starts).
  std::string identity;
  absl::Duration lease_duration = absl::Seconds(4);
  absl::Duration renew_deadline = absl::Seconds(2);
  absl::Duration retry_period = absl::Milliseconds(500);
  // "": the in-cluster configuration; else a kubeconfig file.
  std::string kubeconfig;

  bool operator==(const HaConfig&) const = default;
};

struct Config {
  std::string file;  // where it was loaded from
  std::string listen = "0.0.0.0:9092";
  std::string data_dir;
  LogOptions log;
  IntakeConfig intake;
  // Event sources the engine polls (besides its HTTP endpoints).
  SourcesConfig sources;
  // Absent: one replica, no Kubernetes needed.
  std::optional<HaConfig> ha;
  std::vector<PluginConfig> action_plugins;
  std::vector<RuleConfig> rules;
  // Security of the HTTP listener (docs/security.md); absent: plain HTTP,
  // no authentication.
  std::optional<ListenerTlsConfig> tls;
  std::optional<AuthConfig> auth;

  const PluginConfig* FindPlugin(absl::string_view name) const;
};

// Parses configuration text; `filename` prefixes the messages. On failure,
// InvalidArgument whose message is every problem, one per line.
absl::StatusOr<Config> ParseConfig(absl::string_view text, const std::string& filename);

// Reads and parses a file. NotFound/InvalidArgument as above.
absl::StatusOr<Config> LoadConfigFile(const std::string& path);

}  // namespace hollowtrees::engine
