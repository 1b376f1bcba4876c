// The SQS source against an in-memory queue, EC2 directory and event sink:
// what is deleted, what comes back, what the engine takes, the labels.

#include "engine/sources/sqs_source.h"

#include <deque>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/common/clock.h"
#include "lib/common/logging.h"
#include "nlohmann/json.hpp"

namespace hollowtrees::engine {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
using nlohmann::json;

// A queue: messages to hand out, and what was done to them.
class MemoryQueue : public SqsQueue {
 public:
  void Put(const std::string& body, int receive_count = 1) {
    aws::SqsMessage m;
    m.message_id = absl::StrCat("m-", ++next_);
    m.receipt_handle = absl::StrCat("h-", next_);
    m.body = body;
    m.receive_count = receive_count;
    m.sent = absl::Now() - absl::Milliseconds(250);
    visible.push_back(m);
  }
  absl::StatusOr<std::vector<aws::SqsMessage>> Receive(const aws::SqsReceiveOptions& options,
                                                       absl::Time) override {
    last_options = options;
    if (fail_receives > 0) {
      --fail_receives;
      return absl::UnavailableError("AWS RequestThrottled: slow down");
    }
    std::vector<aws::SqsMessage> out;
    while (!visible.empty() && static_cast<int>(out.size()) < options.max_messages) {
      out.push_back(visible.front());
      visible.pop_front();
    }
    return out;
  }
  absl::StatusOr<std::vector<absl::Status>> DeleteBatch(const std::vector<std::string>& handles,
                                                        absl::Time) override {
    std::vector<absl::Status> out;
    for (const auto& h : handles) {
      deleted.push_back(h);
      out.push_back(absl::OkStatus());
    }
    return out;
  }
  absl::Status ChangeVisibility(const std::string& handle, absl::Duration timeout,
                                absl::Time) override {
    visibility[handle] = timeout;
    return absl::OkStatus();
  }
  void Cancel() override {}

  std::deque<aws::SqsMessage> visible;
  std::vector<std::string> deleted;
  std::map<std::string, absl::Duration> visibility;
  aws::SqsReceiveOptions last_options;
  int fail_receives = 0;
  int next_ = 0;
};

class MemoryDirectory : public InstanceDirectory {
 public:
  absl::StatusOr<std::map<std::string, aws::Ec2Instance>> Describe(
      const std::vector<std::string>& ids, absl::Time) override {
    ++calls;
    if (delay > absl::ZeroDuration()) absl::SleepFor(delay);
    if (!error.ok()) return error;
    std::map<std::string, aws::Ec2Instance> out;
    for (const auto& id : ids) {
      auto it = instances.find(id);
      if (it != instances.end()) out[id] = it->second;
    }
    return out;
  }
  std::map<std::string, aws::Ec2Instance> instances;
  absl::Status error;
  absl::Duration delay;  // EC2 answering slowly
  int calls = 0;
};

class CollectingSink : public EventSink {
 public:
  void Submit(std::vector<EventPtr> events, std::vector<int64_t>) override {
    for (auto& e : events) got.push_back(std::move(e));
  }
  size_t backlog() const override { return backlog_; }
  std::vector<EventPtr> got;
  size_t backlog_ = 0;
};

std::string SpotWarning(const std::string& id, const std::string& instance) {
  return json{{"version", "0"},
              {"id", id},
              {"detail-type", "EC2 Spot Instance Interruption Warning"},
              {"source", "aws.ec2"},
              {"account", "123456789012"},
              {"time", "2026-12-06T10:00:00Z"},
              {"region", "us-east-1"},
              {"resources", {"arn:aws:ec2:us-east-1a:instance/" + instance}},
              {"detail", {{"instance-id", instance}, {"instance-action", "terminate"}}}}
      .dump();
}

std::string DirectLifecycle(const std::string& request_id, const std::string& instance) {
  return json{{"Origin", "AutoScalingGroup"},
              {"LifecycleHookName", "drain-hook"},
              {"Destination", "EC2"},
              {"AccountId", "123456789012"},
              {"RequestId", request_id},
              {"LifecycleTransition", "autoscaling:EC2_INSTANCE_TERMINATING"},
              {"AutoScalingGroupName", "prod-workers"},
              {"Service", "AWS Auto Scaling"},
              {"Time", "2026-12-06T10:00:00.000Z"},
              {"EC2InstanceId", instance},
              {"LifecycleActionToken", "71514b9d-6a40-4b26-8523-05e7e0000000"}}
      .dump();
}

class SqsSourceTest : public ::testing::Test {
 protected:
  SqsSourceTest()
      : metrics_(registry_),
        sqs_metrics_(registry_),
        dedup_(1000, absl::Hours(1)),
        intake_(dedup_, sink_, nullptr, metrics_, IntakeConfig{}) {
    MakeSource({});
  }
  void MakeSource(absl::Duration visibility_timeout) {
    auto queue = std::make_unique<MemoryQueue>();
    queue_ = queue.get();
    SqsSourceOptions o;
    o.config = {.name = "interruptions",
                .queue_url = "https://sqs.us-east-1.amazonaws.com/123456789012/hollowtrees"};
    o.region = "us-east-1";
    if (visibility_timeout > absl::ZeroDuration()) o.visibility_timeout = visibility_timeout;
    source_ = std::make_unique<SqsSource>(o, std::move(queue), &directory_, intake_,
                                          sqs_metrics_, *Logger(), clock_);
  }
  static std::shared_ptr<spdlog::logger> Logger() {
    static auto logger = *MakeLogger("sqs-test", {.level = "off"});
    return logger;
  }
  double Metric(const std::string& series) {
    const std::string text = registry_.Expose();
    const size_t at = text.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + series.size() + 2));
  }

  metrics::Registry registry_;
  EngineMetrics metrics_;
  SqsSourceMetrics sqs_metrics_;
  DedupTable dedup_;
  CollectingSink sink_;
  Intake intake_;
  MemoryDirectory directory_;
  FakeClock clock_{absl::FromUnixSeconds(1796540400)};
  MemoryQueue* queue_ = nullptr;
  std::unique_ptr<SqsSource> source_;
};

TEST_F(SqsSourceTest, AnEventIsTakenWithTheInstancesLabelsThenItsMessageDeleted) {
  aws::Ec2Instance i;
  i.instance_id = "i-0abc";
  i.instance_type = "m5.large";
  i.availability_zone = "us-east-1a";
  i.tags = {{"eks:cluster-name", "prod"}, {"aws:autoscaling:groupName", "prod-workers"}};
  directory_.instances["i-0abc"] = i;
  queue_->Put(SpotWarning("ev-1", "i-0abc"));
  ASSERT_TRUE(source_->PollOnce().ok());

  EXPECT_EQ(queue_->last_options.max_messages, 10);
  EXPECT_EQ(queue_->last_options.wait, absl::Seconds(20));
  ASSERT_EQ(sink_.got.size(), 1u);
  const Event& e = *sink_.got[0];
  EXPECT_EQ(e.type, "aws.ec2.spot-interruption-warning");
  EXPECT_EQ(e.id, "ev-1");
  EXPECT_EQ(e.subject, "i-0abc");
  EXPECT_EQ(e.intake, IntakeSource::kSqs);
  auto label = [&](const char* n) {
    const std::string* v = FindLabel(e.labels, n);
    return v == nullptr ? std::string("<absent>") : *v;
  };
  EXPECT_EQ(label("instance_id"), "i-0abc");
  EXPECT_EQ(label("instance_action"), "terminate");
  EXPECT_EQ(label("cluster_name"), "prod");
  EXPECT_EQ(label("instance_type"), "m5.large");
  EXPECT_EQ(label("availability_zone"), "us-east-1a");
  EXPECT_EQ(label("autoscaling_group"), "prod-workers");
  EXPECT_EQ(label("region"), "us-east-1");
  EXPECT_THAT(queue_->deleted, UnorderedElementsAre("h-1"));
  EXPECT_EQ(Metric("hollowtrees_sqs_messages_deleted_total{source=\"interruptions\"}"), 1);
  EXPECT_EQ(Metric("hollowtrees_sqs_events_total{source=\"interruptions\",type=\"aws.ec2.spot-"
                   "interruption-warning\"}"),
            1);
  EXPECT_EQ(Metric("hollowtrees_events_received_total{source=\"sqs\"}"), 1);
}

TEST_F(SqsSourceTest, ARedeliveredMessageIsOneEventAndIsDeletedAgain) {
  queue_->Put(SpotWarning("ev-2", "i-0abc"));
  ASSERT_TRUE(source_->PollOnce().ok());
  queue_->Put(SpotWarning("ev-2", "i-0abc"), /*receive_count=*/2);
  ASSERT_TRUE(source_->PollOnce().ok());
  EXPECT_EQ(sink_.got.size(), 1u) << "the redelivery must be absorbed";
  EXPECT_EQ(queue_->deleted.size(), 2u) << "and its message deleted";
  EXPECT_EQ(Metric("hollowtrees_sqs_messages_redelivered_total{source=\"interruptions\"}"), 1);
  EXPECT_EQ(Metric("hollowtrees_events_duplicate_total{source=\"sqs\"}"), 1);
}

TEST_F(SqsSourceTest, JunkIsCountedUnknownKindsDeletedMalformedLeftAndNothingBlocks) {
  queue_->Put("not json at all");
  queue_->Put(json{{"version", "0"}, {"id", "x"}, {"detail-type", "EC2 AMI State Change"},
                   {"source", "aws.ec2"}, {"detail", json::object()}}
                  .dump());
  queue_->Put(json{{"AccountId", "123456789012"}, {"RequestId", "r-1"},
                   {"Event", "autoscaling:TEST_NOTIFICATION"}, {"Service", "AWS Auto Scaling"},
                   {"AutoScalingGroupName", "prod-workers"}, {"Time", "2026-12-06T10:00:00Z"}}
                  .dump());
  queue_->Put(SpotWarning("ev-3", "i-0def"));  // after the junk: still taken
  ASSERT_TRUE(source_->PollOnce().ok());
  ASSERT_EQ(sink_.got.size(), 1u);
  EXPECT_EQ(sink_.got[0]->id, "ev-3");
  // Deleted: the unknown kind, the test notification and the event; the
  // malformed one (h-1) is left for the redrive policy.
  EXPECT_THAT(queue_->deleted, UnorderedElementsAre("h-2", "h-3", "h-4"));
  EXPECT_EQ(Metric("hollowtrees_sqs_messages_ignored_total{source=\"interruptions\","
                   "reason=\"malformed\"}"),
            1);
  EXPECT_EQ(
      Metric("hollowtrees_sqs_messages_ignored_total{source=\"interruptions\",reason=\"unknown\"}"),
      1);
  EXPECT_EQ(Metric("hollowtrees_sqs_messages_ignored_total{source=\"interruptions\","
                   "reason=\"test_notification\"}"),
            1);
}

TEST_F(SqsSourceTest, WhenTheEngineCannotTakeEventsTheyComeBackSoonNotDeleted) {
  sink_.backlog_ = IntakeConfig{}.queue_capacity;  // the dispatcher's queue is full
  queue_->Put(SpotWarning("ev-4", "i-0abc"));
  ASSERT_TRUE(source_->PollOnce().ok());
  EXPECT_TRUE(sink_.got.empty());
  EXPECT_TRUE(queue_->deleted.empty());
  ASSERT_EQ(queue_->visibility.count("h-1"), 1u);
  EXPECT_EQ(queue_->visibility["h-1"], absl::Seconds(5));
  // Room again: the same event is taken on its return (not a duplicate).
  sink_.backlog_ = 0;
  queue_->Put(SpotWarning("ev-4", "i-0abc"), 2);
  ASSERT_TRUE(source_->PollOnce().ok());
  EXPECT_EQ(sink_.got.size(), 1u);
  EXPECT_THAT(queue_->deleted, UnorderedElementsAre("h-2"));
}

TEST_F(SqsSourceTest, WithoutEc2TheEventWaitsAFewReceivesThenGoesOnWithTheMessagesLabels) {
  directory_.error = absl::UnavailableError("AWS RequestLimitExceeded");
  queue_->Put(SpotWarning("ev-5", "i-0abc"), 1);
  ASSERT_TRUE(source_->PollOnce().ok());
  EXPECT_TRUE(sink_.got.empty());
  EXPECT_EQ(queue_->visibility["h-1"], absl::Seconds(5));
  queue_->Put(SpotWarning("ev-5", "i-0abc"), 3);
  ASSERT_TRUE(source_->PollOnce().ok());
  ASSERT_EQ(sink_.got.size(), 1u);
  EXPECT_EQ(FindLabel(sink_.got[0]->labels, "cluster_name"), nullptr);
  EXPECT_EQ(*FindLabel(sink_.got[0]->labels, "instance_id"), "i-0abc");
}

TEST_F(SqsSourceTest, AnInstanceThatIsGoneStillGetsItsEvent) {
  queue_->Put(DirectLifecycle("req-1", "i-0gone"));
  ASSERT_TRUE(source_->PollOnce().ok());
  ASSERT_EQ(sink_.got.size(), 1u);
  const Event& e = *sink_.got[0];
  EXPECT_EQ(e.type, "aws.autoscaling.terminate-lifecycle-action");
  EXPECT_EQ(e.id, "req-1");
  EXPECT_EQ(*FindLabel(e.labels, "lifecycle_hook"), "drain-hook");
  EXPECT_EQ(*FindLabel(e.labels, "autoscaling_group"), "prod-workers");
  EXPECT_EQ(*FindLabel(e.labels, "region"), "us-east-1") << "the queue's region";
  EXPECT_EQ(FindLabel(e.labels, "instance_type"), nullptr);
  json data = json::parse(e.Data());
  EXPECT_EQ(data["labels"]["lifecycle_action_token"], "71514b9d-6a40-4b26-8523-05e7e0000000");
  EXPECT_EQ(data["event"]["RequestId"], "req-1");
}

TEST_F(SqsSourceTest, HandlingThatRunsPastHalfTheVisibilityTimeoutExtendsIt) {
  MakeSource(absl::Milliseconds(200));
  directory_.delay = absl::Milliseconds(150);  // EC2 slow: past half of 200 ms
  queue_->Put(SpotWarning("ev-slow", "i-0abc"));
  ASSERT_TRUE(source_->PollOnce().ok());
  EXPECT_EQ(queue_->last_options.visibility_timeout, absl::Milliseconds(200));
  ASSERT_EQ(queue_->visibility.count("h-1"), 1u) << "the visibility was not extended";
  EXPECT_EQ(queue_->visibility["h-1"], absl::Milliseconds(200));
  EXPECT_THAT(queue_->deleted, UnorderedElementsAre("h-1"));
  // Quick handling extends nothing.
  directory_.delay = absl::ZeroDuration();
  queue_->Put(SpotWarning("ev-quick", "i-0abc"));
  ASSERT_TRUE(source_->PollOnce().ok());
  EXPECT_EQ(queue_->visibility.count("h-2"), 0u);
}

TEST_F(SqsSourceTest, AReceiveErrorIsCountedAndReturned) {
  queue_->fail_receives = 1;
  absl::Status s = source_->PollOnce();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("RequestThrottled"));
  EXPECT_EQ(Metric("hollowtrees_sqs_receive_errors_total{source=\"interruptions\","
                   "code=\"unavailable\"}"),
            1);
  EXPECT_TRUE(source_->PollOnce().ok());
}

TEST(CachedInstanceDirectoryTest, WithoutEc2EveryInstanceIsUnknown) {
  FakeClock clock(absl::FromUnixSeconds(1796540400));
  CachedInstanceDirectory d(nullptr, {}, clock);
  auto got = d.Describe({"i-1", "i-2"}, absl::InfiniteFuture());
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->empty());
  EXPECT_EQ(d.calls(), 0);
}

}  // namespace
}  // namespace hollowtrees::engine
