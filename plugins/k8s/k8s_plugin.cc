#include "plugins/k8s/k8s_plugin.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/common/duration.h"
#include "lib/common/logging.h"
#include "lib/common/deadline.h"
#include "lib/common/status_macros.h"
#include "lib/kube/label_selector.h"
#include "lib/metrics/metrics.h"
#include "plugins/k8s/kube_http_api.h"
#include "spdlog/spdlog.h"

namespace hollowtrees::k8s {

using nlohmann::json;

namespace {

absl::Status BadParam(absl::string_view key, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("params.", key, ": ", why));
}

absl::StatusOr<bool> ParamBool(const json& v, absl::string_view key) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_string() && (v == "true" || v == "false")) return v == "true";
  return BadParam(key, absl::StrCat("want true or false, got ", v.dump()));
}

absl::StatusOr<absl::Duration> ParamDuration(const json& v, absl::string_view key) {
  if (v.is_number() && v.get<double>() >= 0) return absl::Seconds(v.get<double>());
  if (v.is_string()) {
    auto d = ParsePromDuration(v.get<std::string>());
    if (d.ok()) return *d;
    return BadParam(key, d.status().message());
  }
  return BadParam(key, absl::StrCat("want a duration such as \"90s\", got ", v.dump()));
}

absl::StatusOr<std::string> ParamString(const json& v, absl::string_view key) {
  if (v.is_string()) return v.get<std::string>();
  return BadParam(key, absl::StrCat("want a string, got ", v.dump()));
}

// The host part of "host:port", "[v6]:port", "host" or a bare IPv6 address.
std::string HostOf(const std::string& instance) {
  if (!instance.empty() && instance.front() == '[') {
    const size_t close = instance.find(']');
    return close == std::string::npos ? instance : instance.substr(1, close - 1);
  }
  const size_t colon = instance.find(':');
  if (colon != std::string::npos && instance.find(':', colon + 1) == std::string::npos) {
    return instance.substr(0, colon);
  }
  return instance;
}


}  // namespace

absl::StatusOr<ActionParams> ParseParams(const json& params, const std::string& alert_status,
                                         const DrainOptions& defaults) {
  ActionParams out;
  out.drain = defaults;
  out.action = alert_status == "resolved" ? Action::kUncordon : Action::kDrain;
  if (params.is_null()) return out;
  if (!params.is_object()) return absl::InvalidArgumentError("params must be a map");
  DrainOptions& d = out.drain;
  for (auto it = params.begin(); it != params.end(); ++it) {
    const std::string& k = it.key();
    const json& v = it.value();
    if (k == "action") {
      HT_ASSIGN_OR_RETURN(std::string a, ParamString(v, k));
      if (a == "drain") {
        out.action = Action::kDrain;
      } else if (a == "cordon") {
        out.action = Action::kCordon;
      } else if (a == "uncordon") {
        out.action = Action::kUncordon;
      } else if (a == "wait-ready") {
        out.action = Action::kWaitReady;
      } else {
        return BadParam(
            k, absl::StrCat("want drain, cordon, uncordon or wait-ready, got \"", a, "\""));
      }
    } else if (k == "grace_period_seconds") {
      int64_t g = 0;
      if (v.is_number_integer()) {
        g = v.get<int64_t>();
      } else if (v.is_number_float() && v.get<double>() == static_cast<int64_t>(v.get<double>())) {
        g = static_cast<int64_t>(v.get<double>());
      } else {
        return BadParam(k, absl::StrCat("want a whole number of seconds, got ", v.dump()));
      }
      if (g < -1) return BadParam(k, "must be -1 (the pod's own), 0 or more");
      d.grace_period_seconds = g < 0 ? std::nullopt : std::optional<int64_t>(g);
    } else if (k == "timeout") {
      HT_ASSIGN_OR_RETURN(d.timeout, ParamDuration(v, k));
      if (d.timeout <= absl::ZeroDuration()) return BadParam(k, "must be positive");
    } else if (k == "pod_selector") {
      HT_ASSIGN_OR_RETURN(d.pod_selector, ParamString(v, k));
      auto sel = kube::LabelSelector::Parse(d.pod_selector);
      if (!sel.ok()) return BadParam(k, sel.status().message());
    } else if (k == "delete_emptydir_data") {
      HT_ASSIGN_OR_RETURN(d.delete_emptydir_data, ParamBool(v, k));
    } else if (k == "force") {
      HT_ASSIGN_OR_RETURN(d.force, ParamBool(v, k));
    } else if (k == "ignore_daemonsets") {
      HT_ASSIGN_OR_RETURN(d.ignore_daemonsets, ParamBool(v, k));
    } else if (k == "dry_run") {
      HT_ASSIGN_OR_RETURN(d.dry_run, ParamBool(v, k));
    } else if (k == "force_delete_near_deadline") {
      HT_ASSIGN_OR_RETURN(d.force_delete_near_deadline, ParamBool(v, k));
    } else if (k == "force_delete_margin") {
      HT_ASSIGN_OR_RETURN(d.force_delete_margin, ParamDuration(v, k));
    } else if (k == "evict_critical_last") {
      HT_ASSIGN_OR_RETURN(d.evict_critical_last, ParamBool(v, k));
    } else if (k == "record_event") {
      HT_ASSIGN_OR_RETURN(d.record_event, ParamBool(v, k));
    } else if (k == "event_message") {
      HT_ASSIGN_OR_RETURN(d.event_message, ParamString(v, k));
    } else if (k == "taint") {
      HT_ASSIGN_OR_RETURN(std::string t, ParamString(v, k));
      auto taint = ParseTaint(t);
      if (!taint.ok()) return BadParam(k, taint.status().message());
      d.taint = *taint;
    } else if (k == "cordon_hold") {
      HT_ASSIGN_OR_RETURN(d.cordon_hold, ParamDuration(v, k));
    } else if (k == "retry_interval") {
      HT_ASSIGN_OR_RETURN(d.retry_interval, ParamDuration(v, k));
      if (d.retry_interval <= absl::ZeroDuration()) return BadParam(k, "must be positive");
    } else if (k == "poll_interval") {
      HT_ASSIGN_OR_RETURN(d.poll_interval, ParamDuration(v, k));
      if (d.poll_interval <= absl::ZeroDuration()) return BadParam(k, "must be positive");
    } else {
      return BadParam(k, "unknown key (see plugins/k8s/README.md)");
    }
  }
  if (out.action == Action::kCordon) d.cordon_only = true;
  return out;
}

// ---- KubeconfigClusterApis ----

struct KubeconfigClusterApis::Entry {
  std::unique_ptr<kube::KubeClient> client;
  std::unique_ptr<KubeHttpApi> api;
};

KubeconfigClusterApis::KubeconfigClusterApis(KubeconfigClusterOptions options)
    : options_(std::move(options)) {}
KubeconfigClusterApis::~KubeconfigClusterApis() = default;

absl::StatusOr<KubeApi*> KubeconfigClusterApis::ForCluster(const std::string& cluster_name) {
  std::string key;
  std::string path;
  if (!options_.kubeconfig_dir.empty() && !cluster_name.empty()) {
    if (absl::StrContains(cluster_name, "/") || cluster_name == "." || cluster_name == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat("cluster_name \"", cluster_name, "\" is not a usable folder name"));
    }
    path = absl::StrCat(options_.kubeconfig_dir, "/", cluster_name, "/config");
    key = path;
  } else if (!options_.kubeconfig.empty()) {
    path = options_.kubeconfig;
    key = path;
  } else if (!options_.kubeconfig_dir.empty()) {
    return absl::InvalidArgumentError(
        "the event has no cluster_name label to choose a kubeconfig under --kubeconfig-dir");
  } else {
    key = "in-cluster";
  }
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(key);
  if (it != entries_.end()) return it->second->api.get();
  absl::StatusOr<kube::KubeConfig> config =
      path.empty() ? kube::LoadInClusterConfig(options_.in_cluster)
                   : kube::LoadKubeconfig(path, options_.context);
  if (!config.ok()) {
    std::string msg(config.status().message());
    if (absl::IsNotFound(config.status()) && !cluster_name.empty()) {
      msg = absl::StrCat("no kubeconfig for cluster \"", cluster_name, "\": ", msg);
    }
    return absl::Status(config.status().code(), msg);
  }
  HT_ASSIGN_OR_RETURN(auto client, kube::KubeClient::Create(*config, options_.client));
  auto entry = std::make_unique<Entry>();
  entry->client = std::move(client);
  entry->api = std::make_unique<KubeHttpApi>(*entry->client, "hollowtrees");
  KubeApi* api = entry->api.get();
  entries_[key] = std::move(entry);
  return api;
}

int64_t KubeconfigClusterApis::requests_sent() {
  absl::MutexLock lock(&mu_);
  int64_t n = 0;
  for (const auto& [k, e] : entries_) n += e->client->requests_sent();
  return n;
}

// ---- K8sPlugin ----

K8sPlugin::K8sPlugin(K8sPluginOptions options, ClusterApis& apis, Clock& clock,
                     spdlog::logger& logger)
    : options_(std::move(options)), apis_(apis), clock_(clock), logger_(logger) {}

K8sPlugin::~K8sPlugin() = default;

void K8sPlugin::RegisterMetrics(metrics::Registry& registry) {
  // Around the two-minute notice: the cordon should land within seconds.
  auto& family = registry.AddHistogram(
      "hollowtrees_k8s_plugin_notice_to_cordon_seconds",
      "Seconds from the event's time (the notice) to this plugin's cordon of the node, by "
      "action (drain, cordon).",
      {"action"}, {0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300});
  notice_to_cordon_drain_.store(&family.WithLabels({"drain"}));
  notice_to_cordon_cordon_.store(&family.WithLabels({"cordon"}));
}

Drainer& K8sPlugin::DrainerFor(KubeApi& api) {
  absl::MutexLock lock(&mu_);
  auto& slot = clusters_[&api];
  if (!slot) {
    slot = std::make_unique<PerCluster>();
    slot->drainer =
        std::make_unique<Drainer>(api, clock_, slot->barrier, logger_, options_.parallelism);
  }
  return *slot->drainer;
}

absl::StatusOr<NodeInfo> K8sPlugin::FindNodeInfo(KubeApi& api,
                                                 const std::map<std::string, std::string>& labels) {
  auto label = [&](const char* k) {
    auto it = labels.find(k);
    return it == labels.end() ? std::string() : it->second;
  };
  const std::string node = label("node");
  if (!node.empty()) {
    auto n = api.GetNode(node);
    if (absl::IsNotFound(n.status())) {
      return absl::NotFoundError(absl::StrCat("no node named \"", node, "\" (label node)"));
    }
    return n;
  }
  const std::string instance_id = label("instance_id");
  const std::string instance = label("instance");
  if (instance_id.empty() && instance.empty()) {
    return absl::InvalidArgumentError(
        "the event has none of the labels node, instance_id, instance: no node to act on");
  }
  HT_ASSIGN_OR_RETURN(std::vector<NodeInfo> nodes, api.ListNodes());
  if (!instance_id.empty()) {
    const std::string suffix = absl::StrCat("/", instance_id);
    for (const auto& n : nodes) {
      if (absl::EndsWith(n.provider_id, suffix) || n.provider_id == instance_id) return n;
    }
    return absl::NotFoundError(absl::StrCat("no node with spec.providerID aws:///<zone>/",
                                            instance_id, " (label instance_id) among ",
                                            nodes.size(), " nodes"));
  }
  const std::string host = HostOf(instance);
  for (const auto& n : nodes) {
    if (n.name == host) return n;
    for (const auto& a : n.addresses) {
      if (a == host) return n;
    }
  }
  return absl::NotFoundError(absl::StrCat("no node named or addressed \"", host,
                                          "\" (label instance=", instance, ") among ",
                                          nodes.size(), " nodes"));
}

absl::StatusOr<std::string> K8sPlugin::FindNode(KubeApi& api,
                                                const std::map<std::string, std::string>& labels) {
  HT_ASSIGN_OR_RETURN(NodeInfo n, FindNodeInfo(api, labels));
  return n.name;
}

plugin::Result K8sPlugin::WaitReady(KubeApi& api, const plugin::Request& request,
                                    const plugin::Context& context, const DrainOptions& d,
                                    const std::string& where) {
  // Until the `timeout` param (default the drain's), and in time for the
  // answer to reach the engine.
  absl::Time until = clock_.Now() + d.timeout;
  if (context.deadline != absl::InfiniteFuture()) {
    until = std::min(until, clock_.Now() + (context.deadline - absl::Now()) -
                                options_.deadline_margin);
  }
  const std::string what = request.Label("instance_id").empty()
                               ? request.Label("node")
                               : request.Label("instance_id");
  std::string state = "not looked at";
  while (true) {
    auto node = FindNodeInfo(api, request.labels);
    if (absl::IsInvalidArgument(node.status())) {
      return plugin::Result::Skipped(std::string(node.status().message()));
    }
    if (node.ok() && node->ready) {
      logger_.info("event={} node={} is Ready", request.event_id, node->name);
      return plugin::Result::Done(absl::StrCat(where, "node ", node->name, " is Ready"));
    }
    if (node.ok()) {
      state = absl::StrCat("node ", node->name, " is not Ready");
    } else if (absl::IsNotFound(node.status())) {
      state = "no node has registered for it yet";
    } else {
      state = std::string(node.status().message());  // an API error: tried again
    }
    if (context.cancelled()) {
      return plugin::Result::Retry(absl::StrCat(where, what, ": cancelled while waiting (", state,
                                                ")"));
    }
    if (clock_.Now() + d.poll_interval > until) break;
    clock_.SleepFor(d.poll_interval);
  }
  logger_.warn("event={} {}: not Ready in time: {}", request.event_id, what, state);
  return plugin::Result::Failed(absl::StrCat(where, what, ": not Ready within ",
                                             absl::FormatDuration(d.timeout), ": ", state));
}

plugin::Result K8sPlugin::Handle(const plugin::Request& request, const plugin::Context& context) {
  auto params = ParseParams(request.params, request.status, options_.defaults);
  if (!params.ok()) return plugin::Result::Failed(std::string(params.status().message()));
  const std::string cluster = request.Label("cluster_name");
  const std::string where = cluster.empty() ? "" : absl::StrCat("cluster ", cluster, ": ");
  // Every API call of this plugin call (finding the node too) ends in time
  // for the answer to reach the engine.
  ScopedDeadline call_deadline(context.deadline == absl::InfiniteFuture()
                                   ? absl::InfiniteFuture()
                                   : context.deadline - options_.deadline_margin);
  auto api = apis_.ForCluster(cluster);
  if (!api.ok()) return plugin::Result::FromStatus(api.status(), where);
  if (params->action == Action::kWaitReady) {
    return WaitReady(**api, request, context, params->drain, where);
  }
  auto node = FindNode(**api, request.labels);
  if (absl::IsInvalidArgument(node.status())) {
    return plugin::Result::Skipped(std::string(node.status().message()));
  }
  if (!node.ok()) return plugin::Result::FromStatus(node.status(), where);

  DrainOptions& d = params->drain;
  if (context.deadline != absl::InfiniteFuture()) {
    const absl::Duration left = context.deadline - absl::Now() - options_.deadline_margin;
    if (left <= absl::ZeroDuration()) {
      return plugin::Result::Retry("the call's deadline leaves no time to act");
    }
    d.timeout = std::min(d.timeout, left);
  }
  Drainer& drainer = DrainerFor(**api);
  logger_.info("event={} rule={} cluster={} node={} action={}", request.event_id, request.rule,
               cluster, *node,
               params->action == Action::kUncordon ? "uncordon"
               : d.cordon_only                     ? "cordon"
                                                   : "drain");
  if (params->action == Action::kUncordon) {
    auto msg = drainer.Uncordon(*node, d.taint, d.record_event, d.dry_run);
    if (!msg.ok()) return plugin::Result::FromStatus(msg.status(), where);
    return plugin::Result::Done(absl::StrCat(where, *msg));
  }
  metrics::Histogram* notice_to_cordon =
      (d.cordon_only ? notice_to_cordon_cordon_ : notice_to_cordon_drain_).load();
  auto on_cordoned = [&](absl::Time cordoned_at) {
    if (notice_to_cordon == nullptr || request.event_time == absl::InfinitePast()) return;
    notice_to_cordon->Observe(
        std::max(0.0, absl::ToDoubleSeconds(cordoned_at - request.event_time)));
  };
  auto result = drainer.Drain(*node, d, context.cancelled, on_cordoned);
  if (!result.ok()) {
    logger_.warn("event={} node={} drain failed: {}", request.event_id, *node, result.status());
    return plugin::Result::FromStatus(result.status(), where);
  }
  const std::string summary = absl::StrCat(where, result->Summary());
  if (result->cancelled) return plugin::Result::Retry(summary);
  if (!result->complete) {
    logger_.warn("event={} node={} {}", request.event_id, *node, summary);
    return plugin::Result::Failed(summary);
  }
  logger_.info("event={} node={} {}", request.event_id, *node, summary);
  return plugin::Result::Done(summary);
}

}  // namespace hollowtrees::k8s
