#include "engine/dispatcher.h"

#include "absl/strings/str_cat.h"
#include "lib/common/logging.h"
#include "spdlog/spdlog.h"

namespace hollowtrees::engine {
namespace {

namespace pb = hollowtrees::plugin::v1;

// Transport errors worth another attempt: the plugin may come back or
// answer in time. Others (unimplemented, bad request, denied) will not heal.
bool RetryableTransport(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kCancelled:
      return true;
    default:
      return false;
  }
}

std::string FlowId(const std::string& rule, const Event& event) {
  uint64_t h = Fnv1a(kFnvOffset, rule);
  h = Fnv1a(h, absl::string_view("\0", 1));
  h = Fnv1a(h, event.DedupKey());
  return FingerprintHex(h);
}

}  // namespace

Dispatcher::Dispatcher(Scheduler& scheduler, PluginClient& plugins, FlowStore& store,
                       EngineMetrics& metrics, spdlog::logger& logger, DispatcherOptions options)
    : scheduler_(scheduler), plugins_(plugins), store_(store), metrics_(metrics), logger_(logger),
      options_(options), rng_(options.seed) {}

void Dispatcher::SetRuleset(std::shared_ptr<const Ruleset> ruleset) {
  scheduler_.Post([this, ruleset = std::move(ruleset)]() mutable { ruleset_ = std::move(ruleset); });
}

void Dispatcher::Submit(std::vector<EventPtr> events) {
  scheduler_.Post([this, events = std::move(events)] {
    for (const EventPtr& e : events) Dispatch(e);
  });
}

void Dispatcher::Dispatch(const EventPtr& event) {
  if (ruleset_ == nullptr) return;
  matched_.clear();
  ruleset_->Match(*event, &matched_);
  if (matched_.empty()) {
    metrics_.events_unmatched.Inc();
    logger_.debug("event={} type={} matched no rule", event->id, event->type);
    return;
  }
  const absl::Time now = scheduler_.Now();
  for (const Rule* rule : matched_) {
    const std::string& rule_name = rule->config->name;
    metrics_.rule_matches.WithLabels({rule_name}).Inc();
    std::string group = absl::StrCat(rule_name, std::string(1, '\0'), Ruleset::GroupKey(*rule, *event));
    auto g = groups_.find(group);
    if (g != groups_.end() && (g->second.running || g->second.cooldown_until > now)) {
      metrics_.flows_absorbed.WithLabels({rule_name}).Inc();
      logger_.debug("event={} rule={} absorbed: its group {} is {}", event->id, rule_name,
                    group.substr(rule_name.size() + 1), g->second.running ? "running" : "cooling down");
      continue;
    }
    const std::string id = FlowId(rule_name, *event);
    if (flows_.contains(id)) continue;  // the same event delivered twice
    auto flow = std::make_unique<Flow>();
    flow->ruleset = ruleset_;
    flow->rule = rule;
    flow->group = group;
    flow->event_proto = event->ToProto();
    flow->record.id = id;
    flow->record.rule = rule_name;
    flow->record.group_key = group.substr(rule_name.size() + 1);
    flow->record.event = event;
    flow->record.created = now;
    for (const ChainStep& step : rule->chain) flow->record.steps.push_back({step.plugin->name});
    groups_[group] = Group{true, absl::InfinitePast()};
    metrics_.flows_started.WithLabels({rule_name}).Inc();
    Flow& ref = *flow;
    flows_.emplace(id, std::move(flow));
    const int limit = rule->config->concurrency;
    if (limit > 0 && running_by_rule_[rule_name] >= limit) {
      ref.record.state = FlowState::kQueued;
      queued_by_rule_[rule_name].push_back(id);
      ++queued_;
      metrics_.flows_queued.Inc();
      Record(ref);
      logger_.info("event={} rule={} flow={} queued: {} flows of this rule already running",
                   event->id, rule_name, id, limit);
      continue;
    }
    Start(ref);
  }
}

void Dispatcher::Start(Flow& flow) {
  ++running_by_rule_[flow.record.rule];
  metrics_.flows_running.Inc();
  logger_.info("event={} type={} rule={} flow={} started ({} plugins)", flow.record.event->id,
               flow.record.event->type, flow.record.rule, flow.record.id, flow.rule->chain.size());
  CallStep(flow.record.id);
}

void Dispatcher::CallStep(const std::string& flow_id) {
  auto it = flows_.find(flow_id);
  if (it == flows_.end()) return;
  Flow& flow = *it->second;
  const ChainStep& step = flow.rule->chain[flow.record.step];
  StepRecord& sr = flow.record.steps[flow.record.step];
  ++sr.attempts;
  sr.state = StepState::kRunning;
  flow.record.state = FlowState::kRunning;
  Record(flow);

  pb::HandleRequest request;
  *request.mutable_event() = flow.event_proto;
  request.set_rule(flow.record.rule);
  *request.mutable_params() = step.params;
  request.set_attempt(static_cast<uint32_t>(sr.attempts));
  request.set_flow_id(flow.record.id);
  request.set_plugin(step.plugin->name);
  flow.call_started = scheduler_.Now();
  logger_.debug("event={} rule={} plugin={} flow={} attempt={} calling {}", flow.record.event->id,
                flow.record.rule, step.plugin->name, flow.record.id, sr.attempts,
                step.plugin->address);
  plugins_.Call(*step.plugin, request, step.timeout, [this, flow_id](PluginReply reply) {
    scheduler_.Post([this, flow_id, reply = std::move(reply)]() mutable {
      OnReply(flow_id, std::move(reply));
    });
  });
}

void Dispatcher::OnReply(const std::string& flow_id, PluginReply reply) {
  auto it = flows_.find(flow_id);
  if (it == flows_.end()) return;
  Flow& flow = *it->second;
  const ChainStep& step = flow.rule->chain[flow.record.step];
  StepRecord& sr = flow.record.steps[flow.record.step];
  const std::string& plugin = step.plugin->name;
  const absl::Duration took = scheduler_.Now() - flow.call_started;
  metrics_.plugin_call_duration.WithLabels({plugin}).Observe(absl::ToDoubleSeconds(took));

  bool retry = false;
  bool ok = false;
  absl::Duration retry_after = absl::ZeroDuration();
  std::string outcome;
  if (!reply.transport.ok()) {
    outcome = "error";
    sr.message = absl::StrCat("no answer: ", absl::StatusCodeToString(reply.transport.code()), ": ",
                              reply.transport.message());
    retry = RetryableTransport(reply.transport.code());
  } else {
    const pb::HandleResponse& r = reply.response;
    sr.message = r.message();
    switch (r.outcome()) {
      case pb::HandleResponse::OUTCOME_DONE:
        outcome = "done";
        ok = true;
        sr.state = StepState::kDone;
        break;
      case pb::HandleResponse::OUTCOME_SKIPPED:
        outcome = "skipped";
        ok = true;
        sr.state = StepState::kSkipped;
        break;
      case pb::HandleResponse::OUTCOME_RETRY:
        outcome = "retry";
        retry = true;
        retry_after = absl::Seconds(r.retry_after().seconds()) + absl::Nanoseconds(r.retry_after().nanos());
        break;
      default:
        outcome = "failed";
        if (r.outcome() == pb::HandleResponse::OUTCOME_UNSPECIFIED) {
          sr.message = absl::StrCat("plugin gave no outcome; ", r.message());
        }
    }
  }
  metrics_.plugin_calls.WithLabels({plugin, outcome}).Inc();
  const std::string& event_id = flow.record.event->id;

  if (ok) {
    logger_.info("event={} rule={} plugin={} flow={} attempt={} {}: {} ({})", event_id,
                 flow.record.rule, plugin, flow_id, sr.attempts, outcome, sr.message,
                 absl::FormatDuration(took));
    ++flow.record.step;
    Advance(flow);
    return;
  }
  if (retry && sr.attempts <= flow.rule->config->retries) {
    const absl::Duration delay = Backoff(sr.attempts, retry_after);
    sr.state = StepState::kRetrying;
    flow.record.state = FlowState::kRetrying;
    flow.record.error = sr.message;
    Record(flow);
    logger_.warn("event={} rule={} plugin={} flow={} attempt={} {}: {}; retrying in {}", event_id,
                 flow.record.rule, plugin, flow_id, sr.attempts, outcome, sr.message,
                 absl::FormatDuration(delay));
    scheduler_.PostAfter(delay, [this, flow_id] { CallStep(flow_id); });
    return;
  }
  sr.state = StepState::kFailed;
  flow.any_step_failed = true;
  flow.record.error = absl::StrCat(plugin, ": ", sr.message);
  if (retry) absl::StrAppend(&flow.record.error, " (after ", sr.attempts, " attempts)");
  logger_.error("event={} rule={} plugin={} flow={} attempt={} failed: {}", event_id,
                flow.record.rule, plugin, flow_id, sr.attempts, flow.record.error);
  if (flow.rule->config->on_failure == OnFailure::kStop) {
    Finish(flow, FlowState::kFailed);
    return;
  }
  ++flow.record.step;
  Advance(flow);
}

void Dispatcher::Advance(Flow& flow) {
  if (flow.record.step < flow.rule->chain.size()) {
    CallStep(flow.record.id);
    return;
  }
  --flow.record.step;  // point at the last step in the record
  Finish(flow, flow.any_step_failed ? FlowState::kFailed : FlowState::kSucceeded);
}

void Dispatcher::Finish(Flow& flow, FlowState state) {
  flow.record.state = state;
  Record(flow);
  const std::string rule = flow.record.rule;
  const std::string id = flow.record.id;
  metrics_.flows_completed.WithLabels({rule, state == FlowState::kSucceeded ? "succeeded" : "failed"})
      .Inc();
  metrics_.flows_running.Dec();
  logger_.log(state == FlowState::kSucceeded ? spdlog::level::info : spdlog::level::err,
              "event={} rule={} flow={} {}{}", flow.record.event->id, rule, id, FlowStateName(state),
              flow.record.error.empty() ? "" : absl::StrCat(": ", flow.record.error));

  const absl::Duration cooldown = flow.rule->config->cooldown;
  if (cooldown > absl::ZeroDuration()) {
    groups_[flow.group] = Group{false, scheduler_.Now() + cooldown};
    scheduler_.PostAfter(cooldown, [this, group = flow.group] { ExpireGroup(group); });
  } else {
    groups_.erase(flow.group);
  }
  flows_.erase(id);  // `flow` is gone from here on

  --running_by_rule_[rule];
  auto q = queued_by_rule_.find(rule);
  if (q != queued_by_rule_.end() && !q->second.empty()) {
    const std::string next = q->second.front();
    q->second.pop_front();
    --queued_;
    metrics_.flows_queued.Dec();
    auto it = flows_.find(next);
    if (it != flows_.end()) Start(*it->second);
  }
}

void Dispatcher::ExpireGroup(const std::string& group) {
  auto g = groups_.find(group);
  if (g != groups_.end() && !g->second.running && g->second.cooldown_until <= scheduler_.Now()) {
    groups_.erase(g);
  }
}

void Dispatcher::Record(Flow& flow) {
  flow.record.updated = scheduler_.Now();
  store_.Put(flow.record);
}

absl::Duration Dispatcher::Backoff(int attempt, absl::Duration retry_after) {
  absl::Duration b = options_.initial_backoff;
  for (int i = 1; i < attempt && b < options_.max_backoff; ++i) b *= 2;
  b = std::min(b, options_.max_backoff);
  const int64_t half_us = absl::ToInt64Microseconds(b) / 2;
  std::uniform_int_distribution<int64_t> jitter(0, std::max<int64_t>(half_us, 0));
  const absl::Duration delay = absl::Microseconds(half_us + jitter(rng_));
  return std::max(delay, retry_after);
}

}  // namespace hollowtrees::engine
