#include "engine/sources/sqs_source.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "lib/common/logging.h"
#include "spdlog/logger.h"

namespace hollowtrees::engine {
namespace {

class ClientQueue : public SqsQueue {
 public:
  explicit ClientQueue(std::unique_ptr<aws::SqsClient> client) : client_(std::move(client)) {}

  absl::StatusOr<std::vector<aws::SqsMessage>> Receive(const aws::SqsReceiveOptions& options,
                                                       absl::Time deadline) override {
    return client_->Receive(options, deadline, &cancel_);
  }
  absl::StatusOr<std::vector<absl::Status>> DeleteBatch(const std::vector<std::string>& handles,
                                                        absl::Time deadline) override {
    return client_->DeleteBatch(handles, deadline);
  }
  absl::Status ChangeVisibility(const std::string& handle, absl::Duration timeout,
                                absl::Time deadline) override {
    return client_->ChangeVisibility(handle, timeout, deadline);
  }
  void Cancel() override { cancel_.Cancel(); }

 private:
  std::unique_ptr<aws::SqsClient> client_;
  http::StreamCancel cancel_;
};

// Appends `handle` unless it is there: a message that gave several events
// (an AWS Health event naming several instances) is acted on once.
void AddHandleOnce(std::vector<std::string>* handles, const std::string& handle) {
  if (std::find(handles->begin(), handles->end(), handle) == handles->end()) {
    handles->push_back(handle);
  }
}

// The metric label of a status code: "unavailable", "permission_denied", ...
std::string CodeLabel(absl::StatusCode code) {
  return absl::AsciiStrToLower(absl::StatusCodeToString(code));
}

}  // namespace

std::unique_ptr<SqsQueue> NewSqsQueue(std::unique_ptr<aws::SqsClient> client) {
  return std::make_unique<ClientQueue>(std::move(client));
}

// --- The instance directory ---

CachedInstanceDirectory::CachedInstanceDirectory(aws::Ec2Client* backend, Options options,
                                                 Clock& clock)
    : backend_(backend), options_(options), clock_(clock) {}

absl::StatusOr<std::map<std::string, aws::Ec2Instance>> CachedInstanceDirectory::Describe(
    const std::vector<std::string>& ids, absl::Time deadline) {
  std::map<std::string, aws::Ec2Instance> found;
  std::vector<std::string> missing;
  const absl::Time now = clock_.Now();
  {
    absl::MutexLock lock(&mu_);
    for (const std::string& id : ids) {
      auto it = cache_.find(id);
      const bool fresh =
          it != cache_.end() &&
          now - it->second.at < (it->second.instance ? options_.ttl : options_.negative_ttl);
      if (!fresh) {
        if (std::find(missing.begin(), missing.end(), id) == missing.end()) missing.push_back(id);
      } else if (it->second.instance) {
        found[id] = *it->second.instance;
      }
    }
  }
  if (missing.empty() || backend_ == nullptr) return found;
  calls_.fetch_add(1);
  auto described = backend_->DescribeInstances(missing, deadline);
  if (!described.ok()) return described.status();
  absl::MutexLock lock(&mu_);
  for (const std::string& id : missing) cache_[id] = {std::nullopt, now};
  for (aws::Ec2Instance& instance : *described) {
    const std::string id = instance.instance_id;
    cache_[id] = {instance, now};
    found[id] = std::move(instance);
  }
  // Bounded: the oldest entries go first.
  while (cache_.size() > options_.max_entries) {
    auto oldest = std::min_element(cache_.begin(), cache_.end(), [](const auto& a, const auto& b) {
      return a.second.at < b.second.at;
    });
    cache_.erase(oldest);
  }
  return found;
}

// --- Metrics ---

SqsSourceMetrics::SqsSourceMetrics(metrics::Registry& r)
    : received(r.AddCounter("hollowtrees_sqs_messages_received_total",
                            "SQS messages received, redeliveries included.", {"source"})),
      redelivered(r.AddCounter("hollowtrees_sqs_messages_redelivered_total",
                               "SQS messages received more than once (ApproximateReceiveCount > 1).",
                               {"source"})),
      deleted(r.AddCounter("hollowtrees_sqs_messages_deleted_total",
                           "SQS messages deleted: their event was taken (or was a duplicate), or "
                           "they were test notifications or events of a kind Hollowtrees does not "
                           "handle.",
                           {"source"})),
      events(r.AddCounter("hollowtrees_sqs_events_total",
                          "Events read from SQS messages, by CloudEvent type.", {"source", "type"})),
      ignored(r.AddCounter("hollowtrees_sqs_messages_ignored_total",
                           "SQS messages that are not events: unknown (deleted), malformed (left "
                           "for the queue's redrive policy), test_notification (deleted).",
                           {"source", "reason"})),
      left(r.AddCounter("hollowtrees_sqs_messages_returned_total",
                        "SQS messages left on the queue to come back later: engine_unavailable "
                        "(queue full or journal not writable), describe_failed (EC2 could not "
                        "describe the instance), delete_failed.",
                        {"source", "reason"})),
      receive_errors(r.AddCounter("hollowtrees_sqs_receive_errors_total",
                                  "ReceiveMessage calls that failed, by status code.",
                                  {"source", "code"})),
      delay(r.AddHistogram("hollowtrees_sqs_message_delay_seconds",
                           "From a message's SentTimestamp to its receipt by the engine.",
                           {"source"}, metrics::LatencyBuckets())),
      receive_duration(r.AddHistogram("hollowtrees_sqs_receive_duration_seconds",
                                      "ReceiveMessage calls, long poll included.", {"source"},
                                      metrics::LatencyBuckets())),
      oldest_age(r.AddGauge("hollowtrees_sqs_oldest_message_age_seconds",
                            "Age (since SentTimestamp) of the oldest message in the last batch "
                            "received; 0 after an empty poll.",
                            {"source"})),
      last_receive(r.AddGauge("hollowtrees_sqs_last_receive_timestamp_seconds",
                              "When a ReceiveMessage call last succeeded (Unix time).",
                              {"source"})) {}

// --- The source ---

SqsSource::SqsSource(SqsSourceOptions options, std::unique_ptr<SqsQueue> queue,
                     InstanceDirectory* instances, Intake& intake, SqsSourceMetrics& metrics,
                     spdlog::logger& logger, Clock& clock)
    : options_(std::move(options)),
      queue_(std::move(queue)),
      instances_(instances),
      intake_(intake),
      metrics_(metrics),
      logger_(logger),
      clock_(clock),
      backoff_(options_.error_backoff) {
  const std::string& n = options_.config.name;
  for (const char* reason : {"unknown", "malformed", "test_notification"}) {
    metrics_.ignored.WithLabels({n, reason});
  }
  for (const char* reason : {"engine_unavailable", "describe_failed", "delete_failed"}) {
    metrics_.left.WithLabels({n, reason});
  }
  metrics_.received.WithLabels({n});
  metrics_.redelivered.WithLabels({n});
  metrics_.deleted.WithLabels({n});
}

SqsSource::~SqsSource() { Stop(); }

void SqsSource::Start() {
  logger_.info("sqs source {}: polling {}", name(), options_.config.queue_url);
  thread_ = std::thread([this] { Run(); });
}

void SqsSource::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  queue_->Cancel();
  if (thread_.joinable()) thread_.join();
}

void SqsSource::Run() {
  int failures = 0;
  while (!stop_.HasBeenNotified()) {
    absl::Status s = PollOnce();
    if (stop_.HasBeenNotified()) break;
    if (s.ok()) {
      failures = 0;
      continue;
    }
    ++failures;
    const absl::Duration delay = backoff_.Delay(failures);
    // The first failure of a run of them is a warning; the rest debug, with
    // the count in the metric.
    if (failures == 1) {
      logger_.warn("sqs source {}: receiving from {} failed: {}; retrying in {}", name(),
                   options_.config.queue_url, s, absl::FormatDuration(delay));
    } else {
      logger_.debug("sqs source {}: receive failed ({} in a row): {}", name(), failures, s);
    }
    stop_.WaitForNotificationWithTimeout(delay);
  }
}

absl::Status SqsSource::PollOnce() {
  const std::string& n = name();
  aws::SqsReceiveOptions ro;
  ro.max_messages = options_.max_messages;
  ro.wait = options_.wait;
  ro.visibility_timeout = options_.visibility_timeout;
  const absl::Time started = absl::Now();
  auto messages = queue_->Receive(ro, started + options_.wait + options_.call_timeout);
  metrics_.receive_duration.WithLabels({n}).Observe(absl::ToDoubleSeconds(absl::Now() - started));
  if (!messages.ok()) {
    if (!absl::IsCancelled(messages.status())) {
      metrics_.receive_errors.WithLabels({n, CodeLabel(messages.status().code())}).Inc();
    }
    return messages.status();
  }
  const absl::Time received = clock_.Now();
  metrics_.last_receive.WithLabels({n}).Set(absl::ToDoubleSeconds(received - absl::UnixEpoch()));
  double oldest = 0;
  for (const aws::SqsMessage& m : *messages) {
    if (m.sent != absl::InfinitePast()) {
      const double age = std::max(0.0, absl::ToDoubleSeconds(received - m.sent));
      oldest = std::max(oldest, age);
      metrics_.delay.WithLabels({n}).Observe(age);
    }
  }
  metrics_.oldest_age.WithLabels({n}).Set(oldest);
  if (!messages->empty()) Handle(std::move(*messages), received, absl::Now());
  return absl::OkStatus();
}

void SqsSource::LogOnce(const std::string& key, const std::string& text) {
  {
    absl::MutexLock lock(&log_mu_);
    if (logged_.size() >= 1000 || !logged_.insert(key).second) return;
  }
  logger_.warn("sqs source {}: {}", name(), text);
}

struct SqsSource::Pending {
  aws::SqsMessage message;
  AwsEvent event;
};

void SqsSource::Handle(std::vector<aws::SqsMessage> messages, absl::Time received,
                       absl::Time started) {
  const std::string& n = name();
  std::vector<std::string> to_delete;
  std::vector<Pending> pending;
  for (aws::SqsMessage& m : messages) {
    metrics_.received.WithLabels({n}).Inc();
    if (m.receive_count > 1) metrics_.redelivered.WithLabels({n}).Inc();
    AwsMessage parsed = ParseAwsMessage(m.body);
    const std::string kind(AwsMessageKindName(parsed.kind));
    switch (parsed.kind) {
      case AwsMessageKind::kEvent:
        // One message may name several instances (an AWS Health event): an
        // event each, and the message goes when all are taken.
        for (AwsEvent& event : parsed.events) pending.push_back({m, std::move(event)});
        break;
      case AwsMessageKind::kTestNotification:
        metrics_.ignored.WithLabels({n, kind}).Inc();
        logger_.info("sqs source {}: message {}: {}; deleted", n, m.message_id, parsed.reason);
        to_delete.push_back(m.receipt_handle);
        break;
      case AwsMessageKind::kUnknown:
        // Not ours (a shared queue, a broader EventBridge rule): it would
        // come back forever, so it goes.
        metrics_.ignored.WithLabels({n, kind}).Inc();
        LogOnce(absl::StrCat("unknown:", parsed.reason),
                absl::StrCat("message ", m.message_id, ": ", parsed.reason,
                             "; deleted (logged once per kind)"));
        to_delete.push_back(m.receipt_handle);
        break;
      case AwsMessageKind::kMalformed:
        // Kept for the queue's redrive policy (its dead-letter queue), where
        // someone can look at it; it never holds up the messages after it.
        metrics_.ignored.WithLabels({n, kind}).Inc();
        LogOnce(absl::StrCat("malformed:", m.message_id),
                absl::StrCat("message ", m.message_id, " is malformed: ", parsed.reason,
                             "; left for the queue's redrive policy"));
        break;
    }
  }

  // The instances' labels, in one DescribeInstances for the batch.
  std::map<std::string, aws::Ec2Instance> instances;
  if (instances_ != nullptr && !pending.empty()) {
    std::vector<std::string> ids;
    for (const Pending& p : pending) {
      if (!p.event.subject.empty()) ids.push_back(p.event.subject);
    }
    if (!ids.empty()) {
      auto described = instances_->Describe(ids, absl::Now() + options_.call_timeout);
      if (described.ok()) {
        instances = std::move(*described);
      } else {
        // Without the labels a rule on cluster_name would not match: hold
        // the events back a few times, then go on without them.
        std::vector<Pending> go_on;
        std::vector<std::string> later;
        for (Pending& p : pending) {
          if (p.message.receive_count < options_.describe_attempts) {
            AddHandleOnce(&later, p.message.receipt_handle);
          } else {
            go_on.push_back(std::move(p));
          }
        }
        logger_.warn("sqs source {}: cannot describe instances: {}; {} event(s) come back in {}, "
                     "{} go on without the instance's labels",
                     n, described.status(), later.size(),
                     absl::FormatDuration(options_.retry_visibility), go_on.size());
        MakeVisibleAfter(later, options_.retry_visibility, "describe_failed");
        pending = std::move(go_on);
      }
    }
  }

  if (!pending.empty()) {
    std::vector<EventPtr> events;
    events.reserve(pending.size());
    for (Pending& p : pending) {
      if (p.event.labels.find("region") == p.event.labels.end() && !options_.region.empty()) {
        p.event.labels["region"] = options_.region;
      }
      auto it = instances.find(p.event.subject);
      const std::map<std::string, std::string> instance_labels =
          it == instances.end() ? std::map<std::string, std::string>() : InstanceLabels(it->second);
      events.push_back(ToEngineEvent(p.event, instance_labels, received));
      metrics_.events.WithLabels({n, p.event.type}).Inc();
    }
    std::vector<std::string> handles;
    for (const Pending& p : pending) AddHandleOnce(&handles, p.message.receipt_handle);
    // Visibility: handling ran long (EC2 slow); keep the messages hidden.
    if (absl::Now() - started > options_.visibility_timeout / 2) {
      for (const std::string& h : handles) {
        (void)queue_->ChangeVisibility(h, options_.visibility_timeout,
                                       absl::Now() + options_.call_timeout);
      }
    }
    IntakeResult result =
        intake_.AcceptEvents(std::move(events), {}, clock_.Now(), IntakeSource::kSqs);
    if (!result.unavailable.ok()) {
      logger_.warn("sqs source {}: the engine cannot take {} event(s) now: {}; they come back "
                    "in {}",
                    n, pending.size(), result.unavailable,
                    absl::FormatDuration(options_.retry_visibility));
      MakeVisibleAfter(handles, options_.retry_visibility, "engine_unavailable");
    } else {
      for (const Rejection& r : result.rejected) {
        logger_.warn("sqs source {}: event {} refused by the intake: {}", n, r.index, r.error);
      }
      to_delete.insert(to_delete.end(), handles.begin(), handles.end());
    }
  }
  Delete(to_delete);
}

void SqsSource::Delete(const std::vector<std::string>& handles) {
  if (handles.empty()) return;
  const std::string& n = name();
  auto results = queue_->DeleteBatch(handles, absl::Now() + options_.call_timeout);
  if (!results.ok()) {
    // The events are taken; the messages come back after their visibility
    // timeout and are absorbed as duplicates then.
    metrics_.left.WithLabels({n, "delete_failed"}).Inc(static_cast<double>(handles.size()));
    logger_.warn("sqs source {}: deleting {} message(s) failed: {}; they come back and are "
                 "absorbed as duplicates",
                 n, handles.size(), results.status());
    return;
  }
  for (const absl::Status& s : *results) {
    if (s.ok()) {
      metrics_.deleted.WithLabels({n}).Inc();
    } else {
      metrics_.left.WithLabels({n, "delete_failed"}).Inc();
      logger_.warn("sqs source {}: deleting a message failed: {}", n, s);
    }
  }
}

void SqsSource::MakeVisibleAfter(const std::vector<std::string>& handles, absl::Duration after,
                                 const char* reason) {
  for (const std::string& h : handles) {
    metrics_.left.WithLabels({name(), reason}).Inc();
    absl::Status s = queue_->ChangeVisibility(h, after, absl::Now() + options_.call_timeout);
    if (!s.ok()) {
      logger_.debug("sqs source {}: cannot shorten a message's visibility: {}", name(), s);
    }
  }
}

}  // namespace hollowtrees::engine
