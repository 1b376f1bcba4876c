// SharedState (engine/ha/shared_state.h) against the fake Kubernetes API
// server: inboxes, terms, the fence, and the state's size for a mass
// interruption.

#include "engine/ha/shared_state.h"

#include <atomic>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "engine/intake/alerts.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spdlog/sinks/null_sink.h"
#include "spdlog/spdlog.h"
#include "tests/fakes/kube/kube_fixture.h"
#include "tests/testing/status_matchers.h"

namespace hollowtrees::engine {
namespace {

using ::hollowtrees::testing::IsOk;

const absl::Time kNow = absl::FromUnixSeconds(1796637600);

// An alert as the exporter's rules raise it, with the labels a cluster adds.
EventPtr MakeEvent(const std::string& instance) {
  auto batch = ParsePrometheusAlerts(
      absl::StrCat(
          R"([{"labels":{"alertname":"SpotTerminationNotice","instance_id":")", instance,
          R"(","node":"ip-10-0-12-34.ec2.internal","cluster_name":"prod","availability_zone":"us-east-1a",)",
          R"("instance_type":"m5.xlarge","job":"spot-termination-exporter","namespace":"hollowtrees",)",
          R"("pod":"spot-termination-exporter-x7k2p","severity":"critical"},)",
          R"("annotations":{"summary":"spot instance will be terminated in two minutes"},)",
          R"("startsAt":"2026-12-07T10:00:00Z","generatorURL":"http://prometheus:9090/graph?g0.expr=aws_instance_termination_imminent"}])"),
      kNow);
  return AlertToEvent(std::move(batch->alerts[0]), IntakeSource::kPrometheus, "s", kNow);
}

FlowRecord MakeFlow(const EventPtr& e, int attempts) {
  FlowRecord r;
  r.id = absl::StrCat("flow-", e->id);
  r.rule = "drain_k8s_spot_instance";
  r.group_key = *FindLabel(e->labels, "instance_id");
  r.event = e;
  r.state = FlowState::kRunning;
  r.step = 0;
  r.steps = {{"ht-k8s-action-plugin", StepState::kRunning, attempts, ""},
             {"ht-aws-asg-action-plugin", StepState::kPending, 0, ""}};
  r.created = kNow;
  r.updated = kNow;
  return r;
}

class SharedStateTest : public hollowtrees::testing::FakeKubeFixture {
 protected:
  std::unique_ptr<SharedState> Replica(const std::string& identity,
                                       kube::KubeClient* client = nullptr) {
    return std::make_unique<SharedState>(
        client != nullptr ? *client : *client_,
        SharedStateOptions{.ns = "hollowtrees", .lease_name = "ht", .identity = identity},
        logger_);
  }
  nlohmann::json Inbox(const std::string& identity) {
    auto cm = client_->Get(kube::ResourcePath("", "v1", "configmaps", "hollowtrees",
                                              InboxConfigMapName("ht", identity)));
    EXPECT_THAT(cm.status(), IsOk());
    return cm.ok() ? cm->value("data", nlohmann::json::object()) : nlohmann::json();
  }
  // A Put whose on_durable sets the flag.
  void PutAndWait(SharedState& s, const FlowRecord& r, std::atomic<bool>* durable) {
    s.Put(r, [durable] { durable->store(true); });
    ASSERT_THAT(s.Flush(absl::Seconds(10)), IsOk());
  }

  spdlog::logger logger_{"test", std::make_shared<spdlog::sinks::null_sink_mt>()};
};

TEST_F(SharedStateTest, NamesFollowTheLease) {
  EXPECT_EQ(StateConfigMapName("ht"), "ht-state");
  EXPECT_EQ(InboxConfigMapName("ht", "engine-0"), "ht-inbox-engine-0");
  // Not a valid name part: hashed, still stable.
  const std::string odd = InboxConfigMapName("ht", "Engine_0 on host");
  EXPECT_EQ(odd, InboxConfigMapName("ht", "Engine_0 on host"));
  EXPECT_EQ(odd.rfind("ht-inbox-", 0), 0u);
  EXPECT_EQ(odd.size(), std::string("ht-inbox-").size() + 16);
}

TEST(DecodeStateConfigMapTest, RefusesWhatALeaderDidNotWrite) {
  using nlohmann::json;
  // No state yet: nothing to resume.
  ASSERT_OK_AND_ASSIGN(SharedStateContent empty, DecodeStateConfigMap(json{{"data", {}}}));
  EXPECT_TRUE(empty.flows.empty());
  auto refused = [](const json& cm) {
    return std::string(DecodeStateConfigMap(cm).status().message());
  };
  EXPECT_THAT(refused(json::array()), ::testing::HasSubstr("not an object"));
  EXPECT_THAT(refused({{"binaryData", {{"state.json.gz", "not base64!"}}}}),
              ::testing::HasSubstr("not base64"));
  EXPECT_THAT(refused({{"binaryData", {{"state.json.gz", "aGVsbG8="}}}}),  // "hello"
              ::testing::HasSubstr("not complete gzip"));
  EXPECT_THAT(refused({{"binaryData", {{"state.json.gz", 7}}}}), ::testing::HasSubstr("not a string"));
}

TEST_F(SharedStateTest, ANewerFormatIsNeverActedOn) {
  auto a = Replica("engine-0");
  ASSERT_THAT(a->BeginTerm(nullptr).status(), IsOk());
  a->EndTerm();
  // A state written by a newer engine: this one must not resume from it.
  const std::string path =
      kube::ResourcePath("", "v1", "configmaps", "hollowtrees", StateConfigMapName("ht"));
  ASSERT_OK_AND_ASSIGN(nlohmann::json cm, client_->Get(path));
  cm["binaryData"]["state.json.gz"] = "H4sIANYnFmsC/6tWKkstKs7Mz1OyMqoFAPDJHVoNAAAA";
  ASSERT_THAT(client_->Request("PUT", path, cm.dump(), "application/json").status(), IsOk());
  auto b = Replica("engine-1");
  absl::StatusOr<Recovery> r = b->BeginTerm(nullptr);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), ::testing::HasSubstr("version 2"));
  EXPECT_FALSE(b->leading());
}

TEST_F(SharedStateTest, FollowerInboxEventsGoToTheLeaderAndAreRemovedOnceRecorded) {
  auto follower = Replica("engine-1");
  auto leader = Replica("engine-0");
  std::vector<int64_t> seqs;
  ASSERT_THAT(follower->AppendEvents({MakeEvent("i-1"), MakeEvent("i-2")}, &seqs), IsOk());
  EXPECT_EQ(seqs.size(), 2u);
  EXPECT_EQ(Inbox("engine-1").size(), 2u);
  // Not leading: nothing is claimed, the events wait in the inbox.
  std::vector<int64_t> claimed;
  EXPECT_TRUE(follower->Claim({MakeEvent("i-1")}, {seqs[0]}, &claimed).empty());

  absl::StatusOr<Recovery> r = leader->BeginTerm(nullptr);
  ASSERT_THAT(r.status(), IsOk());
  ASSERT_EQ(r->undispatched.size(), 2u);
  EXPECT_EQ(r->undispatched_seqs.size(), 2u);
  // Claimed: a second poll does not hand them out again.
  std::vector<EventPtr> again;
  std::vector<int64_t> again_seqs;
  ASSERT_THAT(leader->PollInboxes(&again, &again_seqs), IsOk());
  EXPECT_TRUE(again.empty());

  leader->EventsDispatched(r->undispatched_seqs);
  ASSERT_THAT(leader->Flush(absl::Seconds(10)), IsOk());
  // Removed after the state recording them was written (the removal follows
  // the write on the writer thread).
  for (int i = 0; i < 100 && !Inbox("engine-1").empty(); ++i) absl::SleepFor(absl::Milliseconds(20));
  EXPECT_TRUE(Inbox("engine-1").empty()) << Inbox("engine-1").dump();
  EXPECT_EQ(leader->stats().seen_keys, 2u);

  // The same event accepted again (a re-send to a restarted replica) is
  // absorbed by the leader and removed.
  ASSERT_THAT(follower->AppendEvents({MakeEvent("i-1")}, &seqs), IsOk());
  ASSERT_THAT(leader->PollInboxes(&again, &again_seqs), IsOk());
  EXPECT_TRUE(again.empty());
  EXPECT_TRUE(Inbox("engine-1").empty()) << Inbox("engine-1").dump();
}

TEST_F(SharedStateTest, NothingIsRecordedOrCalledWithoutATerm) {
  auto s = Replica("engine-0");
  std::atomic<bool> durable{false};
  s->Put(MakeFlow(MakeEvent("i-1"), 1), [&] { durable = true; });
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_FALSE(durable.load());
  EXPECT_FALSE(s->leading());
}

TEST_F(SharedStateTest, ANewLeaderResumesTheFlowAndFencesTheOldOne) {
  kube::KubeClient* c = client_.get();
  auto a = Replica("engine-0", c);
  auto b = Replica("engine-1", c);
  std::atomic<int> fenced{0};
  std::string why;
  ASSERT_THAT(a->BeginTerm([&](const std::string& w) {
                why = w;
                ++fenced;
              }).status(),
              IsOk());
  const EventPtr e = MakeEvent("i-1");
  std::atomic<bool> durable{false};
  PutAndWait(*a, MakeFlow(e, 2), &durable);
  EXPECT_TRUE(durable.load());
  a->GroupCooldown(std::string("rule\0i-0", 8), absl::Now() + absl::Minutes(5));
  ASSERT_THAT(a->Flush(absl::Seconds(10)), IsOk());

  // B takes over (A is paused, say): the flow resumes at the step and
  // attempt recorded; the cooldown goes on.
  absl::StatusOr<Recovery> r = b->BeginTerm(nullptr);
  ASSERT_THAT(r.status(), IsOk());
  ASSERT_EQ(r->unfinished.size(), 1u);
  EXPECT_EQ(r->unfinished[0].id, MakeFlow(e, 2).id);
  EXPECT_EQ(r->unfinished[0].step, 0u);
  EXPECT_EQ(r->unfinished[0].steps[0].attempts, 2);
  EXPECT_EQ(r->unfinished[0].event->id, e->id);
  ASSERT_EQ(r->cooldowns.size(), 1u);
  EXPECT_EQ(r->cooldowns[0].first, std::string("rule\0i-0", 8));

  // A, back, records its next attempt: refused, never durable; A learns it
  // was fenced and by whom, and stops leading.
  std::atomic<bool> late{false};
  a->Put(MakeFlow(e, 3), [&] { late = true; });
  for (int i = 0; i < 200 && fenced.load() == 0; ++i) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_EQ(fenced.load(), 1);
  EXPECT_THAT(why, ::testing::HasSubstr("engine-1"));
  EXPECT_FALSE(late.load());
  EXPECT_FALSE(a->leading());
  EXPECT_TRUE(b->leading());

  // B's own writes go on.
  std::atomic<bool> b_durable{false};
  PutAndWait(*b, MakeFlow(e, 3), &b_durable);
  EXPECT_TRUE(b_durable.load());
}

TEST_F(SharedStateTest, AMassInterruptionOf500NodesFitsWithRoomToSpare) {
  auto leader = Replica("engine-0");
  ASSERT_THAT(leader->BeginTerm(nullptr).status(), IsOk());
  std::vector<int64_t> seqs;
  std::vector<EventPtr> events;
  for (int i = 0; i < 500; ++i) events.push_back(MakeEvent(absl::StrCat("i-0abc", 100000 + i)));
  // Every replica's inbox holds them first (Prometheus sends to all).
  ASSERT_THAT(leader->AppendEvents(events, &seqs), IsOk());
  std::vector<int64_t> claimed;
  ASSERT_EQ(leader->Claim(events, seqs, &claimed).size(), 500u);
  for (const EventPtr& e : events) leader->Put(MakeFlow(e, 1));
  leader->EventsDispatched(claimed);
  ASSERT_THAT(leader->Flush(absl::Seconds(30)), IsOk());
  const SharedStateStats stats = leader->stats();
  EXPECT_EQ(stats.running_flows, 500u);
  EXPECT_EQ(stats.seen_keys, 500u);
  // The API server refuses a ConfigMap over 1 MiB (1,048,576 bytes).
  EXPECT_LT(stats.state_bytes, 1048576u);
  std::printf("shared state for 500 running flows: %zu bytes (%zu per flow with its event); "
              "limit 1048576 bytes\n",
              stats.state_bytes, stats.state_bytes / 500);

  // A successor reads all of them back.
  auto next = Replica("engine-1");
  absl::StatusOr<Recovery> r = next->BeginTerm(nullptr);
  ASSERT_THAT(r.status(), IsOk());
  EXPECT_EQ(r->unfinished.size(), 500u);
  EXPECT_EQ(r->skipped_rows, 0);
}

}  // namespace
}  // namespace hollowtrees::engine
