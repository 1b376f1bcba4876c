#include "engine/dispatch/dispatcher.h"

#include "absl/strings/str_cat.h"
#include "lib/common/check.h"
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
      options_(options),
      backoff_({.initial = options.initial_backoff, .max = options.max_backoff}, options.seed) {}

void Dispatcher::SetRuleset(std::shared_ptr<const Ruleset> ruleset) {
  scheduler_.Post([this, ruleset = std::move(ruleset)]() mutable { ruleset_ = std::move(ruleset); });
}

void Dispatcher::Submit(std::vector<EventPtr> events, std::vector<int64_t> journal_seqs) {
  backlog_.fetch_add(events.size(), std::memory_order_relaxed);
  scheduler_.Post([this, events = std::move(events), seqs = std::move(journal_seqs)] {
    for (const EventPtr& e : events) {
      Dispatch(e);
      backlog_.fetch_sub(1, std::memory_order_relaxed);
    }
    if (!seqs.empty()) store_.EventsDispatched(seqs);
  });
}

const Rule* Dispatcher::FindRule(const std::string& name) const {
  if (ruleset_ == nullptr) return nullptr;
  for (const Rule& r : ruleset_->rules()) {
    if (r.config->name == name) return &r;
  }
  return nullptr;
}

bool Dispatcher::SameChain(const Rule& rule, const FlowRecord& record) {
  if (rule.chain.size() != record.steps.size()) return false;
  for (size_t i = 0; i < rule.chain.size(); ++i) {
    if (rule.chain[i].plugin->name != record.steps[i].plugin) return false;
  }
  return true;
}

void Dispatcher::Resume(Recovery recovery, std::function<void()> done) {
  scheduler_.Post([this, recovery = std::move(recovery), done = std::move(done)]() mutable {
    const absl::Time now = scheduler_.Now();
    for (const auto& [group, until] : recovery.cooldowns) {
      if (until <= now) continue;
      groups_[group] = Group{false, until};
      scheduler_.PostAfter(until - now, [this, group = group] { ExpireGroup(group); });
    }
    for (FlowRecord& record : recovery.unfinished) {
      const Rule* rule = FindRule(record.rule);
      if (rule == nullptr || !SameChain(*rule, record)) {
        record.state = FlowState::kFailed;
        record.error = rule == nullptr
                           ? "its rule was removed while the engine was down"
                           : "its rule's chain changed while the engine was down; replay it to run "
                             "the new chain";
        record.updated = now;
        store_.Put(record);
        metrics_.flows_completed.WithLabels({record.rule, "failed"}).Inc();
        logger_.error("event={} rule={} flow={} not resumed: {}", record.event->id, record.rule,
                      record.id, record.error);
        continue;
      }
      const bool was_queued = record.state == FlowState::kQueued;
      Flow& ref = AddFlow(*rule, std::move(record));
      for (const StepRecord& sr : ref.record.steps) {
        if (sr.state == StepState::kFailed) ref.any_step_failed = true;
      }
      logger_.info("event={} rule={} flow={} resuming at plugin {} (step {})", ref.record.event->id,
                   ref.record.rule, ref.record.id, ref.record.steps[ref.record.step].plugin,
                   ref.record.step + 1);
      if (was_queued && AtConcurrencyLimit(*rule)) {
        Enqueue(ref);
        continue;
      }
      Start(ref);
    }
    for (const EventPtr& e : recovery.undispatched) {
      if (e != nullptr) Dispatch(e, /*recovered=*/true);  // null: an unreadable row
    }
    store_.EventsDispatched(recovery.undispatched_seqs);
    if (done) done();
  });
}

void Dispatcher::Replay(const std::string& flow_id, std::function<void(absl::Status)> done) {
  scheduler_.Post([this, flow_id, done = std::move(done)] {
    if (flows_.contains(flow_id)) {
      done(absl::FailedPreconditionError(absl::StrCat("flow ", flow_id, " is still running")));
      return;
    }
    std::optional<FlowRecord> record = store_.Get(flow_id);
    if (!record || !record->event) {
      done(absl::NotFoundError(absl::StrCat("no flow ", flow_id)));
      return;
    }
    if (record->state != FlowState::kFailed) {
      done(absl::FailedPreconditionError(absl::StrCat(
          "flow ", flow_id, " is ", FlowStateName(record->state), "; only failed flows are replayed")));
      return;
    }
    const Rule* rule = FindRule(record->rule);
    if (rule == nullptr) {
      done(absl::NotFoundError(absl::StrCat("rule \"", record->rule, "\" of flow ", flow_id,
                                            " is no longer configured")));
      return;
    }
    size_t first = 0;
    if (SameChain(*rule, *record)) {
      while (first < record->steps.size() && (record->steps[first].state == StepState::kDone ||
                                              record->steps[first].state == StepState::kSkipped)) {
        ++first;
      }
      if (first == record->steps.size()) first = 0;
    } else {
      record->steps.clear();
      for (const ChainStep& step : rule->chain) record->steps.push_back({step.plugin->name});
    }
    for (size_t i = first; i < record->steps.size(); ++i) {
      record->steps[i] = StepRecord{record->steps[i].plugin};
    }
    record->step = first;
    record->error.clear();
    record->state = FlowState::kRunning;
    Flow& ref = AddFlow(*rule, *std::move(record));
    metrics_.flows_started.WithLabels({ref.record.rule}).Inc();
    logger_.info("event={} rule={} flow={} replayed from plugin {}", ref.record.event->id,
                 ref.record.rule, flow_id, ref.record.steps[first].plugin);
    Start(ref);
    done(absl::OkStatus());
  });
}

void Dispatcher::Dispatch(const EventPtr& event, bool recovered) {
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
    if (recovered && store_.Get(id).has_value()) continue;  // dispatched before the crash
    FlowRecord record;
    record.id = id;
    record.rule = rule_name;
    record.group_key = group.substr(rule_name.size() + 1);
    record.event = event;
    record.created = now;
    for (const ChainStep& step : rule->chain) record.steps.push_back({step.plugin->name});
    Flow& ref = AddFlow(*rule, std::move(record));
    metrics_.flows_started.WithLabels({rule_name}).Inc();
    if (AtConcurrencyLimit(*rule)) {
      ref.record.state = FlowState::kQueued;
      Enqueue(ref);
      Record(ref);
      logger_.info("event={} rule={} flow={} queued: {} flows of this rule already running",
                   event->id, rule_name, id, rule->config->concurrency);
      continue;
    }
    Start(ref);
  }
}

Dispatcher::Flow& Dispatcher::AddFlow(const Rule& rule, FlowRecord record) {
  auto flow = std::make_unique<Flow>();
  flow->ruleset = ruleset_;
  flow->rule = &rule;
  flow->group = absl::StrCat(record.rule, std::string(1, '\0'), record.group_key);
  flow->event_proto = record.event->ToProto();
  flow->record = std::move(record);
  groups_[flow->group] = Group{true, absl::InfinitePast()};
  Flow& ref = *flow;
  const bool added = flows_.emplace(ref.record.id, std::move(flow)).second;
  HT_CHECK(added, "a flow id already running");
  return ref;
}

bool Dispatcher::AtConcurrencyLimit(const Rule& rule) {
  const int limit = rule.config->concurrency;
  return limit > 0 && running_by_rule_[rule.config->name] >= limit;
}

void Dispatcher::Enqueue(Flow& flow) {
  queued_by_rule_[flow.record.rule].push_back(flow.record.id);
  ++queued_;
  metrics_.flows_queued.Inc();
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
  StepRecord& sr = flow.record.steps[flow.record.step];
  ++sr.attempts;
  sr.state = StepState::kRunning;
  flow.record.state = FlowState::kRunning;
  flow.record.updated = scheduler_.Now();
  // The plugin is called only once this attempt is durably recorded, so a
  // restart redelivers it rather than forgetting it.
  store_.Put(flow.record, [this, flow_id, attempt = sr.attempts] {
    scheduler_.Post([this, flow_id, attempt] { SendCall(flow_id, attempt); });
  });
}

void Dispatcher::StopCalling() {
  scheduler_.Post([this] { stop_calling_ = true; });
}

void Dispatcher::SendCall(const std::string& flow_id, int attempt) {
  if (stop_calling_) return;  // shutting down: resumes after the restart
  if (options_.may_call && !options_.may_call()) {
    // Not sure to lead any more: the next leader makes this call.
    logger_.warn("flow={} attempt={}: not calling, this replica may have lost the Lease", flow_id,
                 attempt);
    return;
  }
  auto it = flows_.find(flow_id);
  if (it == flows_.end()) return;
  Flow& flow = *it->second;
  const ChainStep& step = flow.rule->chain[flow.record.step];
  StepRecord& sr = flow.record.steps[flow.record.step];
  if (sr.attempts != attempt || sr.state != StepState::kRunning) return;  // stale

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
  ++in_flight_;
  plugins_.Call(*step.plugin, request, step.timeout, [this, flow_id](PluginReply reply) {
    scheduler_.Post([this, flow_id, reply = std::move(reply)]() mutable {
      OnReply(flow_id, std::move(reply));
    });
  });
}

// What a plugin's answer (or its absence) means for the step.
struct Dispatcher::StepVerdict {
  std::string outcome;  // the `outcome` label of hollowtrees_plugin_calls_total
  bool ok = false;      // done or skipped: go on with the next step
  bool retry = false;   // worth another attempt, if the rule allows one
  absl::Duration retry_after = absl::ZeroDuration();  // the plugin's minimum wait
};

void Dispatcher::OnReply(const std::string& flow_id, PluginReply reply) {
  HT_CHECK(in_flight_ > 0, "a plugin reply without a call in flight");
  --in_flight_;
  auto it = flows_.find(flow_id);
  if (it == flows_.end()) return;
  Flow& flow = *it->second;
  StepRecord& sr = flow.record.steps[flow.record.step];
  const std::string& plugin = flow.rule->chain[flow.record.step].plugin->name;
  const absl::Duration took = scheduler_.Now() - flow.call_started;
  metrics_.plugin_call_duration.WithLabels({plugin}).Observe(absl::ToDoubleSeconds(took));

  const StepVerdict verdict = ReadReply(reply, sr);
  metrics_.plugin_calls.WithLabels({plugin, verdict.outcome}).Inc();
  if (verdict.ok) {
    StepSucceeded(flow, verdict, took);
  } else if (verdict.retry && sr.attempts <= flow.rule->config->retries) {
    RetryStep(flow, verdict);
  } else {
    StepFailed(flow, verdict);
  }
}

Dispatcher::StepVerdict Dispatcher::ReadReply(const PluginReply& reply, StepRecord& sr) {
  StepVerdict v;
  if (!reply.transport.ok()) {
    v.outcome = "error";
    sr.message = absl::StrCat("no answer: ", absl::StatusCodeToString(reply.transport.code()), ": ",
                              reply.transport.message());
    v.retry = RetryableTransport(reply.transport.code());
    return v;
  }
  const pb::HandleResponse& r = reply.response;
  sr.message = r.message();
  switch (r.outcome()) {
    case pb::HandleResponse::OUTCOME_DONE:
      v.outcome = "done";
      v.ok = true;
      sr.state = StepState::kDone;
      break;
    case pb::HandleResponse::OUTCOME_SKIPPED:
      v.outcome = "skipped";
      v.ok = true;
      sr.state = StepState::kSkipped;
      break;
    case pb::HandleResponse::OUTCOME_RETRY:
      v.outcome = "retry";
      v.retry = true;
      v.retry_after =
          absl::Seconds(r.retry_after().seconds()) + absl::Nanoseconds(r.retry_after().nanos());
      break;
    default:
      v.outcome = "failed";
      if (r.outcome() == pb::HandleResponse::OUTCOME_UNSPECIFIED) {
        sr.message = absl::StrCat("plugin gave no outcome; ", r.message());
      }
  }
  return v;
}

void Dispatcher::StepSucceeded(Flow& flow, const StepVerdict& verdict, absl::Duration took) {
  const StepRecord& sr = flow.record.steps[flow.record.step];
  const std::string& plugin = flow.rule->chain[flow.record.step].plugin->name;
  logger_.info("event={} rule={} plugin={} flow={} attempt={} {}: {} ({})", flow.record.event->id,
               flow.record.rule, plugin, flow.record.id, sr.attempts, verdict.outcome, sr.message,
               absl::FormatDuration(took));
  ++flow.record.step;
  Advance(flow);
}

void Dispatcher::RetryStep(Flow& flow, const StepVerdict& verdict) {
  StepRecord& sr = flow.record.steps[flow.record.step];
  const std::string& plugin = flow.rule->chain[flow.record.step].plugin->name;
  const absl::Duration delay = backoff_.Delay(sr.attempts, verdict.retry_after);
  sr.state = StepState::kRetrying;
  flow.record.state = FlowState::kRetrying;
  flow.record.error = sr.message;
  Record(flow);
  logger_.warn("event={} rule={} plugin={} flow={} attempt={} {}: {}; retrying in {}",
               flow.record.event->id, flow.record.rule, plugin, flow.record.id, sr.attempts,
               verdict.outcome, sr.message, absl::FormatDuration(delay));
  scheduler_.PostAfter(delay, [this, flow_id = flow.record.id] { CallStep(flow_id); });
}

void Dispatcher::StepFailed(Flow& flow, const StepVerdict& verdict) {
  StepRecord& sr = flow.record.steps[flow.record.step];
  const std::string& plugin = flow.rule->chain[flow.record.step].plugin->name;
  sr.state = StepState::kFailed;
  flow.any_step_failed = true;
  flow.record.error = absl::StrCat(plugin, ": ", sr.message);
  if (verdict.retry) absl::StrAppend(&flow.record.error, " (after ", sr.attempts, " attempts)");
  logger_.error("event={} rule={} plugin={} flow={} attempt={} failed: {}", flow.record.event->id,
                flow.record.rule, plugin, flow.record.id, sr.attempts, flow.record.error);
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
    store_.GroupCooldown(flow.group, scheduler_.Now() + cooldown);
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

}  // namespace hollowtrees::engine
