#include "engine/dispatch/dispatcher.h"

#include "absl/strings/str_cat.h"
#include "engine/intake/alerts.h"
#include "engine/rules/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spdlog/sinks/null_sink.h"
#include "spdlog/spdlog.h"
#include "tests/engine/fakes.h"

namespace hollowtrees::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Outcome = hollowtrees::plugin::v1::HandleResponse;

constexpr char kPlugins[] = R"(
action_plugins:
  - {name: a, address: "127.0.0.1:1"}
  - {name: b, address: "127.0.0.1:2", timeout: 7s}
  - {name: c, address: "127.0.0.1:3"}
)";

class DispatcherTest : public ::testing::Test {
 protected:
  DispatcherTest()
      : logger_("test", std::make_shared<spdlog::sinks::null_sink_mt>()), metrics_(registry_),
        dispatcher_(scheduler_, plugins_, store_, metrics_, logger_, {.seed = 42}) {}

  void Load(const std::string& rules) {
    auto config = ParseConfig(absl::StrCat(kPlugins, rules), "rules.yaml");
    ASSERT_TRUE(config.ok()) << config.status();
    dispatcher_.SetRuleset(Ruleset::Build(*std::move(config)));
    scheduler_.RunPending();
  }

  // An alert as Prometheus sends it; `labels` is a JSON object's inside.
  EventPtr Alert(const std::string& labels, const std::string& starts = "2024-01-01T00:00:00Z",
                 const std::string& ends = "") {
    const std::string body = absl::StrCat(R"([{"labels":{)", labels, R"(},"startsAt":")", starts,
                                          R"(")", ends.empty() ? "" : absl::StrCat(R"(,"endsAt":")", ends, R"(")"),
                                          "}]");
    auto batch = ParsePrometheusAlerts(body, absl::FromUnixSeconds(1704067200 + 60));
    EXPECT_TRUE(batch.ok() && batch->alerts.size() == 1) << body;
    return AlertToEvent(std::move(batch->alerts[0]), IntakeSource::kPrometheus, "test",
                        scheduler_.Now());
  }

  void Submit(std::vector<EventPtr> events) {
    dispatcher_.Submit(std::move(events));
    scheduler_.RunPending();
  }
  void Answer(size_t i, Outcome::Outcome o, std::string msg = "",
              absl::Duration retry_after = absl::ZeroDuration()) {
    plugins_.Answer(i, o, std::move(msg), retry_after);
    scheduler_.RunPending();
  }
  FlowRecord OnlyFlow() {
    auto flows = store_.List({});
    EXPECT_EQ(flows.size(), 1u);
    return flows.empty() ? FlowRecord{} : flows[0];
  }
  double Counter(metrics::Family<metrics::Counter>& f, std::vector<std::string> labels) {
    return f.WithLabels(labels).Value();
  }

  spdlog::logger logger_;
  metrics::Registry registry_;
  EngineMetrics metrics_;
  testing::FakeScheduler scheduler_;
  testing::FakePluginClient plugins_;
  MemoryFlowStore store_;
  Dispatcher dispatcher_;
};

constexpr char kChain[] = R"(
rules:
  - name: drain
    event_type: prometheus.server.alert.SpotTerminationNotice
    match:
      - cluster_name: test-cluster
    action_plugins: [a, b, c]
)";

TEST_F(DispatcherTest, CallsThePluginsInOrderEachAfterThePreviousAnswered) {
  Load(kChain);
  EventPtr e = Alert(R"("alertname":"SpotTerminationNotice","cluster_name":"test-cluster")");
  Submit({e});
  EXPECT_THAT(plugins_.Log(), ElementsAre("a/" + e->id + "/1"));
  Answer(0, Outcome::OUTCOME_DONE);
  EXPECT_THAT(plugins_.Log(), ElementsAre("a/" + e->id + "/1", "b/" + e->id + "/1"));
  Answer(1, Outcome::OUTCOME_SKIPPED);
  EXPECT_EQ(plugins_.size(), 3u);
  EXPECT_EQ(plugins_.At(2).plugin, "c");
  Answer(2, Outcome::OUTCOME_DONE, "drained");

  FlowRecord f = OnlyFlow();
  EXPECT_EQ(f.state, FlowState::kSucceeded);
  EXPECT_EQ(f.rule, "drain");
  ASSERT_EQ(f.steps.size(), 3u);
  EXPECT_EQ(f.steps[0].state, StepState::kDone);
  EXPECT_EQ(f.steps[1].state, StepState::kSkipped);
  EXPECT_EQ(f.steps[2].message, "drained");
  EXPECT_EQ(Counter(metrics_.flows_completed, {"drain", "succeeded"}), 1);
  EXPECT_EQ(Counter(metrics_.plugin_calls, {"b", "skipped"}), 1);
  EXPECT_EQ(dispatcher_.running_flows(), 0u);
}

TEST_F(DispatcherTest, RequestCarriesEventRuleParamsAttemptAndDeadline) {
  Load(R"(
rules:
  - name: r
    event_type: prometheus.server.alert.X
    timeout: 30s
    action_plugins:
      - a
      - name: b
        params: {action: replace, grace: 10, dry_run: true, note: "10"}
      - name: c
        timeout: 5s
)");
  EventPtr e = Alert(R"("alertname":"X","instance_id":"i-1")");
  Submit({e});
  auto call = plugins_.At(0);
  EXPECT_EQ(call.request.rule(), "r");
  EXPECT_EQ(call.request.attempt(), 1u);
  EXPECT_EQ(call.request.plugin(), "a");
  EXPECT_EQ(call.request.event().id(), e->id);
  EXPECT_EQ(call.request.event().type(), "prometheus.server.alert.X");
  EXPECT_EQ(call.request.event().spec_version(), "1.0");
  EXPECT_THAT(call.request.event().text_data(), HasSubstr(R"("instance_id":"i-1")"));
  EXPECT_EQ(call.timeout, absl::Seconds(30));  // the rule's, over the plugin's
  Answer(0, Outcome::OUTCOME_DONE);
  call = plugins_.At(1);
  const auto& params = call.request.params().fields();
  EXPECT_EQ(params.at("action").string_value(), "replace");
  EXPECT_EQ(params.at("grace").number_value(), 10);
  EXPECT_TRUE(params.at("dry_run").bool_value());
  EXPECT_EQ(params.at("note").string_value(), "10");  // quoted stays a string
  EXPECT_EQ(call.request.flow_id(), plugins_.At(0).request.flow_id());
  Answer(1, Outcome::OUTCOME_DONE);
  EXPECT_EQ(plugins_.At(2).timeout, absl::Seconds(5));  // the entry's, over the rule's
}

TEST_F(DispatcherTest, RetriesWithExponentialBackoffAndJitter) {
  Load(R"(
rules:
  - name: r
    event_type: prometheus.server.alert.X
    retries: 3
    action_plugins: [a, b]
)");
  EventPtr e = Alert(R"("alertname":"X")");
  Submit({e});
  absl::Time last = scheduler_.Now();
  // Retry n waits in [b/2, b] with b = 1s * 2^(n-1).
  for (int n = 1; n <= 3; ++n) {
    Answer(plugins_.size() - 1, Outcome::OUTCOME_RETRY, "busy");
    const absl::Duration b = absl::Seconds(1) * (1 << (n - 1));
    const absl::Time due = scheduler_.NextTimer();
    EXPECT_GE(due - last, b / 2) << n;
    EXPECT_LE(due - last, b) << n;
    scheduler_.Advance(due - scheduler_.Now() - absl::Milliseconds(1));
    EXPECT_EQ(plugins_.size(), static_cast<size_t>(n)) << "called before the backoff ran out";
    scheduler_.Advance(absl::Milliseconds(1));
    ASSERT_EQ(plugins_.size(), static_cast<size_t>(n + 1));
    EXPECT_EQ(plugins_.At(n).request.attempt(), static_cast<uint32_t>(n + 1));
    last = scheduler_.Now();
  }
  EXPECT_EQ(OnlyFlow().state, FlowState::kRunning);
  Answer(3, Outcome::OUTCOME_DONE);
  EXPECT_EQ(plugins_.At(4).plugin, "b");
  EXPECT_EQ(plugins_.At(4).request.attempt(), 1u);
}

TEST_F(DispatcherTest, ExhaustedRetriesFailTheFlowAndStopTheChain) {
  Load(R"(
rules:
  - name: r
    event_type: prometheus.server.alert.X
    retries: 1
    action_plugins: [a, b]
)");
  Submit({Alert(R"("alertname":"X")")});
  plugins_.AnswerTransportError(0, absl::UnavailableError("connection refused"));
  scheduler_.RunPending();
  scheduler_.Advance(absl::Seconds(1));
  ASSERT_EQ(plugins_.size(), 2u);
  plugins_.AnswerTransportError(1, absl::DeadlineExceededError("deadline exceeded"));
  scheduler_.RunPending();
  scheduler_.Advance(absl::Minutes(10));
  EXPECT_EQ(plugins_.size(), 2u) << "b must not be called after a stops the chain";
  FlowRecord f = OnlyFlow();
  EXPECT_EQ(f.state, FlowState::kFailed);
  EXPECT_THAT(f.error, HasSubstr("a: no answer: DEADLINE_EXCEEDED"));
  EXPECT_THAT(f.error, HasSubstr("after 2 attempts"));
  EXPECT_EQ(f.steps[1].state, StepState::kPending);
  EXPECT_EQ(Counter(metrics_.flows_completed, {"r", "failed"}), 1);
  EXPECT_EQ(Counter(metrics_.plugin_calls, {"a", "error"}), 2);
}

TEST_F(DispatcherTest, FailedOutcomeIsNotRetriedAndContinueGoesOn) {
  Load(R"(
rules:
  - name: r
    event_type: prometheus.server.alert.X
    on_failure: continue
    action_plugins: [a, b]
)");
  Submit({Alert(R"("alertname":"X")")});
  Answer(0, Outcome::OUTCOME_FAILED, "node not found");
  ASSERT_EQ(plugins_.size(), 2u);
  EXPECT_EQ(plugins_.At(1).plugin, "b");
  Answer(1, Outcome::OUTCOME_DONE);
  FlowRecord f = OnlyFlow();
  EXPECT_EQ(f.state, FlowState::kFailed) << "a failed step fails the flow even when it continues";
  EXPECT_EQ(f.steps[0].state, StepState::kFailed);
  EXPECT_EQ(f.steps[1].state, StepState::kDone);
  EXPECT_THAT(f.error, HasSubstr("a: node not found"));
}

TEST_F(DispatcherTest, UnimplementedIsNotRetried) {
  Load(R"(
rules:
  - name: r
    event_type: prometheus.server.alert.X
    retries: 5
    action_plugins: [a]
)");
  Submit({Alert(R"("alertname":"X")")});
  plugins_.AnswerTransportError(0, absl::UnimplementedError("unknown service"));
  scheduler_.RunPending();
  scheduler_.Advance(absl::Minutes(5));
  EXPECT_EQ(plugins_.size(), 1u);
  EXPECT_EQ(OnlyFlow().state, FlowState::kFailed);
}

TEST_F(DispatcherTest, RetryAfterIsHonoured) {
  Load(R"(
rules:
  - name: r
    event_type: prometheus.server.alert.X
    action_plugins: [a]
)");
  Submit({Alert(R"("alertname":"X")")});
  Answer(0, Outcome::OUTCOME_RETRY, "budget", absl::Seconds(10));
  scheduler_.Advance(absl::Milliseconds(9999));
  EXPECT_EQ(plugins_.size(), 1u);
  scheduler_.Advance(absl::Milliseconds(1));
  EXPECT_EQ(plugins_.size(), 2u);
}

TEST_F(DispatcherTest, SameEventTwiceIsOneFlow) {
  Load(kChain);
  EventPtr e = Alert(R"("alertname":"SpotTerminationNotice","cluster_name":"test-cluster")");
  Submit({e, e});
  Submit({e});
  EXPECT_EQ(plugins_.size(), 1u);
  EXPECT_EQ(store_.List({}).size(), 1u);
}

TEST_F(DispatcherTest, NonMatchingAndResolvedEventsStartNothing) {
  Load(kChain);
  Submit({Alert(R"("alertname":"SpotTerminationNotice","cluster_name":"other")"),
          Alert(R"("alertname":"Other","cluster_name":"test-cluster")"),
          Alert(R"("alertname":"SpotTerminationNotice","cluster_name":"test-cluster")",
                "2024-01-01T00:00:00Z", "2024-01-01T00:00:30Z")});  // resolved
  EXPECT_EQ(plugins_.size(), 0u);
  EXPECT_EQ(metrics_.events_unmatched.Value(), 3);
}

TEST_F(DispatcherTest, AlertStatusSelectsResolvedOrAny) {
  Load(R"(
rules:
  - name: uncordon
    event_type: prometheus.server.alert.X
    alert_status: resolved
    action_plugins: [a]
  - name: both
    event_type: prometheus.server.alert.X
    alert_status: any
    action_plugins: [b]
)");
  Submit({Alert(R"("alertname":"X")", "2024-01-01T00:00:00Z", "2024-01-01T00:00:30Z")});
  EXPECT_EQ(plugins_.size(), 2u);
  Submit({Alert(R"("alertname":"X","n":"2")")});  // firing
  ASSERT_EQ(plugins_.size(), 3u);
  EXPECT_EQ(plugins_.At(2).plugin, "b");
}

TEST_F(DispatcherTest, GroupByMakesOneFlowPerGroupWhileItRuns) {
  Load(R"(
rules:
  - name: r
    event_type: prometheus.server.alert.X
    group_by: [cluster_name]
    action_plugins: [a]
)");
  Submit({Alert(R"("alertname":"X","cluster_name":"c1","instance_id":"i-1")"),
          Alert(R"("alertname":"X","cluster_name":"c1","instance_id":"i-2")"),
          Alert(R"("alertname":"X","cluster_name":"c2","instance_id":"i-3")")});
  EXPECT_EQ(plugins_.size(), 2u) << "c1 absorbed its second alert; c2 runs concurrently";
  EXPECT_EQ(Counter(metrics_.flows_absorbed, {"r"}), 1);
  Answer(0, Outcome::OUTCOME_DONE);
  // Without cooldown the group is free again once its flow ended.
  Submit({Alert(R"("alertname":"X","cluster_name":"c1","instance_id":"i-4")")});
  EXPECT_EQ(plugins_.size(), 3u);
}

TEST_F(DispatcherTest, CooldownHoldsTheGroupAfterTheFlow) {
  Load(R"(
rules:
  - name: r
    event_type: prometheus.server.alert.X
    group_by: [cluster_name]
    cooldown: 5m
    action_plugins: [a]
)");
  Submit({Alert(R"("alertname":"X","cluster_name":"c1","instance_id":"i-1")")});
  Answer(0, Outcome::OUTCOME_DONE);
  scheduler_.Advance(absl::Minutes(4));
  Submit({Alert(R"("alertname":"X","cluster_name":"c1","instance_id":"i-2")")});
  EXPECT_EQ(plugins_.size(), 1u) << "absorbed during cooldown";
  scheduler_.Advance(absl::Minutes(1) + absl::Seconds(1));
  EXPECT_EQ(dispatcher_.groups(), 0u) << "the cooldown timer frees the group";
  Submit({Alert(R"("alertname":"X","cluster_name":"c1","instance_id":"i-3")")});
  EXPECT_EQ(plugins_.size(), 2u);
}

TEST_F(DispatcherTest, WithoutGroupByTheSameLabelSetIsOneFlow) {
  Load(R"(
rules:
  - name: r
    event_type: prometheus.server.alert.X
    action_plugins: [a]
)");
  // Same labels, a new startsAt (a new id) while the first flow runs.
  Submit({Alert(R"("alertname":"X","instance_id":"i-1")", "2024-01-01T00:00:00Z"),
          Alert(R"("alertname":"X","instance_id":"i-1")", "2024-01-01T00:00:20Z"),
          Alert(R"("alertname":"X","instance_id":"i-2")")});
  EXPECT_EQ(plugins_.size(), 2u);
}

TEST_F(DispatcherTest, ConcurrencyLimitQueuesTheRest) {
  Load(R"(
rules:
  - name: r
    event_type: prometheus.server.alert.X
    concurrency: 2
    action_plugins: [a]
)");
  Submit({Alert(R"("alertname":"X","i":"1")"), Alert(R"("alertname":"X","i":"2")"),
          Alert(R"("alertname":"X","i":"3")")});
  EXPECT_EQ(plugins_.size(), 2u);
  EXPECT_EQ(dispatcher_.queued_flows(), 1u);
  EXPECT_EQ(metrics_.flows_queued.Value(), 1);
  EXPECT_EQ(store_.List({.state = "queued"}).size(), 1u);
  Answer(1, Outcome::OUTCOME_DONE);
  EXPECT_EQ(plugins_.size(), 3u);
  EXPECT_EQ(dispatcher_.queued_flows(), 0u);
}

TEST_F(DispatcherTest, ASlowPluginDoesNotHoldUpOtherRules) {
  Load(R"(
rules:
  - name: slow
    event_type: prometheus.server.alert.X
    action_plugins: [a]
  - name: fast
    event_type: prometheus.server.alert.Y
    action_plugins: [b]
)");
  Submit({Alert(R"("alertname":"X")")});
  Submit({Alert(R"("alertname":"Y")")});
  EXPECT_THAT(plugins_.Outstanding(), ::testing::SizeIs(2));
  Answer(1, Outcome::OUTCOME_DONE);
  EXPECT_EQ(store_.List({.state = "succeeded"}).size(), 1u);
  EXPECT_EQ(store_.List({.state = "running"}).size(), 1u);
}

TEST_F(DispatcherTest, ReloadKeepsRunningFlowsOnTheirSnapshot) {
  Load(kChain);
  EventPtr e = Alert(R"("alertname":"SpotTerminationNotice","cluster_name":"test-cluster")");
  Submit({e});
  Load(R"(
rules:
  - name: drain
    event_type: prometheus.server.alert.SpotTerminationNotice
    action_plugins: [c]
)");
  Answer(0, Outcome::OUTCOME_DONE);
  EXPECT_EQ(plugins_.At(1).plugin, "b") << "the running flow keeps its chain a, b, c";
  Submit({Alert(R"("alertname":"SpotTerminationNotice","cluster_name":"x")")});
  EXPECT_EQ(plugins_.At(2).plugin, "c") << "new events use the new rules";
}

TEST_F(DispatcherTest, ResumeContinuesAtTheStepItWasOnAndRestoresCooldowns) {
  Load(R"(
rules:
  - name: r
    event_type: prometheus.server.alert.X
    group_by: [instance_id]
    cooldown: 10m
    action_plugins: [a, b]
)");
  EventPtr running = Alert(R"("alertname":"X","instance_id":"i-1")");
  EventPtr fresh = Alert(R"("alertname":"X","instance_id":"i-3")");
  Recovery rec;
  FlowRecord f;
  f.id = "f1";
  f.rule = "r";
  f.group_key = "instance_id=i-1";
  f.event = running;
  f.state = FlowState::kRunning;
  f.step = 1;
  f.steps = {{"a", StepState::kDone, 1, "ok"}, {"b", StepState::kRunning, 2, ""}};
  rec.unfinished.push_back(f);
  rec.cooldowns.emplace_back(std::string("r") + '\0' + "instance_id=i-2",
                             scheduler_.Now() + absl::Minutes(5));
  rec.undispatched.push_back(fresh);
  bool done = false;
  dispatcher_.Resume(std::move(rec), [&] { done = true; });
  scheduler_.RunPending();
  ASSERT_TRUE(done);
  // b again, with the attempt count going on; and the undispatched event.
  EXPECT_THAT(plugins_.Log(), ElementsAre("b/" + running->id + "/3", "a/" + fresh->id + "/1"));
  // The restored cooldown absorbs i-2 until it ends.
  Submit({Alert(R"("alertname":"X","instance_id":"i-2")")});
  EXPECT_EQ(plugins_.size(), 2u);
  scheduler_.Advance(absl::Minutes(5) + absl::Seconds(1));
  Submit({Alert(R"("alertname":"X","instance_id":"i-2")", "2024-01-01T00:01:00Z")});
  EXPECT_EQ(plugins_.size(), 3u);
  // The resumed flow's group is running: a re-fire of i-1 is absorbed.
  Submit({Alert(R"("alertname":"X","instance_id":"i-1")", "2024-01-01T00:02:00Z")});
  EXPECT_EQ(plugins_.size(), 3u);
  Answer(0, Outcome::OUTCOME_DONE);
  auto rec_f1 = store_.Get("f1");
  ASSERT_TRUE(rec_f1.has_value());
  EXPECT_EQ(rec_f1->state, FlowState::kSucceeded);
}

TEST_F(DispatcherTest, ResumeFailsFlowsWhoseRuleChanged) {
  Load(R"(
rules:
  - name: r
    event_type: prometheus.server.alert.X
    action_plugins: [a, c]
)");
  Recovery rec;
  FlowRecord f;
  f.id = "f1";
  f.rule = "r";
  f.group_key = "k";
  f.event = Alert(R"("alertname":"X")");
  f.state = FlowState::kRunning;
  f.steps = {{"a", StepState::kRunning, 1, ""}, {"b", StepState::kPending, 0, ""}};
  FlowRecord gone = f;
  gone.id = "f2";
  gone.rule = "removed";
  rec.unfinished = {f, gone};
  dispatcher_.Resume(std::move(rec));
  scheduler_.RunPending();
  EXPECT_EQ(plugins_.size(), 0u);
  EXPECT_THAT(store_.Get("f1")->error, HasSubstr("chain changed"));
  EXPECT_THAT(store_.Get("f2")->error, HasSubstr("rule was removed"));
  EXPECT_EQ(store_.Get("f2")->state, FlowState::kFailed);
}

TEST_F(DispatcherTest, ReplayRunsAFailedFlowFromItsFailedStep) {
  Load(R"(
rules:
  - name: r
    event_type: prometheus.server.alert.X
    retries: 0
    action_plugins: [a, b, c]
)");
  EventPtr e = Alert(R"("alertname":"X")");
  Submit({e});
  Answer(0, Outcome::OUTCOME_DONE);
  Answer(1, Outcome::OUTCOME_FAILED, "throttled");
  const std::string id = plugins_.At(0).request.flow_id();
  ASSERT_EQ(store_.Get(id)->state, FlowState::kFailed);

  absl::Status result = absl::UnknownError("not called");
  dispatcher_.Replay(id, [&](absl::Status s) { result = s; });
  scheduler_.RunPending();
  EXPECT_TRUE(result.ok()) << result;
  ASSERT_EQ(plugins_.size(), 3u);
  EXPECT_EQ(plugins_.At(2).plugin, "b") << "from the failed step, not the first";
  EXPECT_EQ(plugins_.At(2).request.attempt(), 1u);
  dispatcher_.Replay(id, [&](absl::Status s) { result = s; });
  scheduler_.RunPending();
  EXPECT_EQ(result.code(), absl::StatusCode::kFailedPrecondition) << "still running";
  Answer(2, Outcome::OUTCOME_DONE);
  Answer(3, Outcome::OUTCOME_DONE);
  EXPECT_EQ(store_.Get(id)->state, FlowState::kSucceeded);
  dispatcher_.Replay(id, [&](absl::Status s) { result = s; });
  scheduler_.RunPending();
  EXPECT_EQ(result.code(), absl::StatusCode::kFailedPrecondition) << "succeeded flows are not replayed";
  dispatcher_.Replay("0123", [&](absl::Status s) { result = s; });
  scheduler_.RunPending();
  EXPECT_EQ(result.code(), absl::StatusCode::kNotFound);
}

TEST_F(DispatcherTest, PluginIsCalledOnlyAfterTheStepIsDurable) {
  // A store whose commits the test releases.
  class SlowStore : public MemoryFlowStore {
   public:
    using MemoryFlowStore::Put;
    void Put(const FlowRecord& r, std::function<void()> on_durable) override {
      MemoryFlowStore::Put(r, nullptr);
      if (on_durable) held.push_back(std::move(on_durable));
    }
    std::vector<std::function<void()>> held;
  } slow;
  Dispatcher d(scheduler_, plugins_, slow, metrics_, logger_, {.seed = 1});
  auto config = ParseConfig(absl::StrCat(kPlugins, kChain), "rules.yaml");
  d.SetRuleset(Ruleset::Build(*std::move(config)));
  d.Submit({Alert(R"("alertname":"SpotTerminationNotice","cluster_name":"test-cluster")")});
  scheduler_.RunPending();
  EXPECT_EQ(plugins_.size(), 0u) << "not before the journal committed";
  ASSERT_EQ(slow.held.size(), 1u);
  slow.held[0]();
  scheduler_.RunPending();
  EXPECT_EQ(plugins_.size(), 1u);
}

}  // namespace
}  // namespace hollowtrees::engine
