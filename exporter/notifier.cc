#include "exporter/notifier.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "lib/common/check.h"
#include "lib/common/logging.h"
#include "lib/common/rfc3339.h"
#include "lib/common/status_macros.h"
#include "nlohmann/json.hpp"
#include "spdlog/logger.h"

namespace hollowtrees::exporter {
namespace {

using json = nlohmann::json;

constexpr absl::string_view kReservedLabels[] = {"alertname",         "instance_id",
                                                 "instance_type",     "availability_zone",
                                                 "node",              "instance_action"};

std::string Rfc3339(absl::Time t) { return FormatRfc3339(t, Rfc3339Fraction::kMillis); }

bool ValidLabelName(absl::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

PushEvent MakeEvent(const std::string& alertname, const std::string& id, json labels,
                    json annotations, const InstanceState& state, const NotifierOptions& options,
                    absl::Time seen_at) {
  labels["alertname"] = alertname;
  json event = {
      {"specversion", "1.0"},
      {"id", id},
      {"source", options.source},
      {"type", absl::StrCat("prometheus.server.alert.", alertname)},
      {"time", Rfc3339(seen_at)},
      {"subject", state.instance_id},
      {"datacontenttype", "application/json"},
      {"data",
       {{"labels", std::move(labels)},
        {"annotations", std::move(annotations)},
        {"status", "firing"},
        {"startsAt", Rfc3339(seen_at)}}},
  };
  return {alertname, id, event.dump()};
}

}  // namespace

absl::Status ValidateNotifierOptions(const NotifierOptions& options) {
  auto url = http::ParseUrl(options.url);
  if (!url.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("notify URL \"", options.url, "\": ", url.status().message()));
  }
  for (size_t i = 0; i < options.labels.size(); ++i) {
    const std::string& name = options.labels[i].first;
    if (!ValidLabelName(name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "notify label \"", name, "\": not a label name ([a-zA-Z_][a-zA-Z0-9_]*)"));
    }
    for (absl::string_view reserved : kReservedLabels) {
      if (name == reserved) {
        return absl::InvalidArgumentError(absl::StrCat(
            "notify label \"", name, "\": set by the exporter itself, cannot be given"));
      }
    }
    for (size_t j = 0; j < i; ++j) {
      if (options.labels[j].first == name) {
        return absl::InvalidArgumentError(
            absl::StrCat("notify label \"", name, "\": given more than once"));
      }
    }
  }
  if (options.source.empty()) return absl::InvalidArgumentError("notify source is empty");
  if (options.max_attempts < 1) return absl::InvalidArgumentError("max_attempts must be >= 1");
  return absl::OkStatus();
}

std::vector<PushEvent> BuildEvents(const InstanceState& state, const NotifierOptions& options,
                                   absl::Time seen_at) {
  std::vector<PushEvent> out;
  if (state.instance_id.empty()) return out;
  json labels = json::object();
  for (const auto& [k, v] : options.labels) labels[k] = v;
  labels["instance_id"] = state.instance_id;
  if (!state.instance_type.empty()) labels["instance_type"] = state.instance_type;
  if (!state.availability_zone.empty()) labels["availability_zone"] = state.availability_zone;
  if (!options.node_name.empty()) labels["node"] = options.node_name;
  if (state.spot) {
    json l = labels;
    l["instance_action"] = state.spot->action;
    json annotations = {
        {"summary", absl::StrCat("spot instance ", state.instance_id,
                                 " has an interruption notice: ", state.spot->action, " at ",
                                 state.spot->time_text)},
        {"termination_time", state.spot->time_text}};
    out.push_back(MakeEvent(kTerminationAlert,
                            absl::StrCat(state.instance_id, "/", kTerminationAlert, "/",
                                         state.spot->action, "/", state.spot->time_text),
                            std::move(l), std::move(annotations), state, options, seen_at));
  }
  if (state.rebalance) {
    json annotations = {
        {"summary", absl::StrCat("EC2 recommends rebalancing spot instance ", state.instance_id)},
        {"notice_time", state.rebalance->notice_time_text}};
    out.push_back(MakeEvent(kRebalanceAlert,
                            absl::StrCat(state.instance_id, "/", kRebalanceAlert, "/",
                                         state.rebalance->notice_time_text),
                            labels, std::move(annotations), state, options, seen_at));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Notifier>> Notifier::Create(NotifierOptions options,
                                                           ExporterMetrics& metrics,
                                                           spdlog::logger& logger) {
  HT_RETURN_IF_ERROR(ValidateNotifierOptions(options));
  auto url = http::ParseUrl(options.url);
  HT_CHECK(url.ok(), "the URL was validated above");
  const bool v6 = url->host.find(':') != std::string::npos;
  auto http = http::NewHttpClient({.base_url = absl::StrCat(url->scheme, "://", v6 ? "[" : "",
                                                            url->host, v6 ? "]" : "", ":",
                                                            url->port),
                                   .connect_timeout = options.timeout,
                                   .timeout = options.timeout,
                                   .max_idle_connections = 2});
  HT_RETURN_IF_ERROR(http.status());
  std::string path = url->path.empty() || url->path == "/" ? "/api/v1/events" : url->path;
  std::unique_ptr<Notifier> n(
      new Notifier(std::move(options), std::move(path), *std::move(http), metrics, logger));
  n->thread_ = std::thread([p = n.get()] { p->Run(); });
  return n;
}

Notifier::Notifier(NotifierOptions options, std::string path,
                   std::unique_ptr<http::HttpClient> http, ExporterMetrics& metrics,
                   spdlog::logger& logger)
    : options_(std::move(options)),
      path_(std::move(path)),
      http_(std::move(http)),
      metrics_(metrics),
      logger_(logger),
      clock_(options_.clock != nullptr ? *options_.clock : RealClock()),
      // Equal jitter: uniform in [b/2, b].
      backoff_({.initial = options_.initial_backoff,
                .max = options_.max_backoff,
                .jitter_min = 0.5,
                .jitter_max = 1.0}) {}

Notifier::~Notifier() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    for (const Pending& p : pending_) {
      logger_.warn("stopping: event {} not delivered ({} attempts)", p.event.id, p.attempts);
    }
  }
  if (thread_.joinable()) thread_.join();
}

void Notifier::Observe(const InstanceState& state) {
  if (!state.spot && !state.rebalance) return;
  const absl::Time now = clock_.Now();
  std::vector<PushEvent> events = BuildEvents(state, options_, now);
  absl::MutexLock lock(&mu_);
  for (PushEvent& e : events) {
    if (!seen_.insert(e.id).second) continue;
    logger_.info("pushing {} id={} to {}", e.alertname, e.id, options_.url);
    pending_.push_back({.event = std::move(e), .seen_at = now, .next_at = now});
  }
}

std::vector<std::string> Notifier::delivered() const {
  absl::MutexLock lock(&mu_);
  return delivered_;
}

std::vector<std::string> Notifier::failed() const {
  absl::MutexLock lock(&mu_);
  return failed_;
}

bool Notifier::Attempt(Pending& p) {
  ++p.attempts;
  auto r = http_->Send({.method = "POST",
                        .path = path_,
                        .body = p.event.body,
                        .content_type = "application/cloudevents+json",
                        .timeout = options_.timeout});
  const absl::Time now = clock_.Now();
  if (r.ok() && r->status >= 200 && r->status < 300) {
    metrics_.push_attempts("success").Inc();
    metrics_.pushed(p.event.alertname).Inc();
    metrics_.push_latency().Observe(absl::ToDoubleSeconds(now - p.seen_at));
    logger_.info("pushed {} id={}: HTTP {} after {} (attempt {})", p.event.alertname, p.event.id,
                 r->status, absl::FormatDuration(now - p.seen_at), p.attempts);
    absl::MutexLock lock(&mu_);
    delivered_.push_back(p.event.id);
    return true;
  }
  metrics_.push_attempts("error").Inc();
  const std::string reason =
      r.ok() ? absl::StrCat("HTTP ", r->status, " ", r->body.substr(0, 300))
             : std::string(r.status().message());
  const bool final = r.ok() && r->status >= 400 && r->status < 500 && r->status != 408 &&
                     r->status != 429;
  const bool exhausted =
      p.attempts >= options_.max_attempts || now - p.seen_at >= options_.give_up_after;
  if (final || exhausted) {
    logger_.error("push of {} id={} to {} failed, giving up after {} attempts: {}",
                  p.event.alertname, p.event.id, options_.url, p.attempts, reason);
    metrics_.push_failed(p.event.alertname).Inc();
    absl::MutexLock lock(&mu_);
    failed_.push_back(p.event.id);
    return true;
  }
  if (p.attempts == 1) {
    logger_.warn("push of {} id={} to {} failed, retrying: {}", p.event.alertname, p.event.id,
                 options_.url, reason);
  } else {
    logger_.debug("push of {} id={} attempt {} failed: {}", p.event.alertname, p.event.id,
                  p.attempts, reason);
  }
  return false;
}

void Notifier::Run() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    const absl::Time now = clock_.Now();
    auto earliest = std::min_element(
        pending_.begin(), pending_.end(),
        [](const Pending& a, const Pending& b) { return a.next_at < b.next_at; });
    if (earliest == pending_.end()) {
      auto has_work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !pending_.empty();
      };
      mu_.Await(absl::Condition(&has_work));
      continue;
    }
    if (earliest->next_at > now) {
      // Wake for the earliest retry, a new event, or stop.
      const size_t count = pending_.size();
      auto changed = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || pending_.size() != count;
      };
      mu_.AwaitWithTimeout(absl::Condition(&changed), earliest->next_at - now);
      continue;
    }
    Pending p = std::move(*earliest);
    pending_.erase(earliest);
    mu_.Unlock();
    const bool done = Attempt(p);
    mu_.Lock();
    if (!done) {
      p.next_at = clock_.Now() + backoff_.Delay(p.attempts);
      pending_.push_back(std::move(p));
    }
  }
}

}  // namespace hollowtrees::exporter
