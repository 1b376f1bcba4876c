#pragma once

// The SQS event source: polls one queue that EventBridge rules (and Auto
// Scaling lifecycle hooks) send AWS events to, turns each message into an
// engine event (aws_events.h), adds the instance's labels, and hands the
// events to the intake like the HTTP endpoints do.
//
// At least once: a message is deleted only after the intake took its event
// (committed to the journal when there is one) or absorbed it as a
// duplicate. Anything else leaves it on the queue, to come back after its
// visibility timeout (shortened when the engine is only briefly unable).

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "engine/intake/intake.h"
#include "engine/rules/config.h"
#include "engine/sources/aws_events.h"
#include "lib/aws/ec2.h"
#include "lib/aws/sqs.h"
#include "lib/common/backoff.h"
#include "lib/common/clock.h"
#include "lib/metrics/metrics.h"

namespace spdlog {
class logger;
}

namespace hollowtrees::engine {

// The queue as the source uses it: aws::SqsClient in the daemon
// (NewSqsQueue), an in-memory queue in tests.
class SqsQueue {
 public:
  virtual ~SqsQueue() = default;
  virtual absl::StatusOr<std::vector<aws::SqsMessage>> Receive(
      const aws::SqsReceiveOptions& options, absl::Time deadline) = 0;
  // Per handle: OK or why it was not deleted.
  virtual absl::StatusOr<std::vector<absl::Status>> DeleteBatch(
      const std::vector<std::string>& receipt_handles, absl::Time deadline) = 0;
  virtual absl::Status ChangeVisibility(const std::string& receipt_handle,
                                        absl::Duration timeout, absl::Time deadline) = 0;
  // Ends a Receive in progress from another thread (shutdown): it returns
  // Cancelled, as does every call after.
  virtual void Cancel() = 0;
};

std::unique_ptr<SqsQueue> NewSqsQueue(std::unique_ptr<aws::SqsClient> client);

// What EC2 says of instances, for their labels.
class InstanceDirectory {
 public:
  virtual ~InstanceDirectory() = default;
  // The instances found among `ids`, by id; an id that is not there (gone,
  // or in another account) is absent. An error when EC2 cannot be asked.
  virtual absl::StatusOr<std::map<std::string, aws::Ec2Instance>> Describe(
      const std::vector<std::string>& ids, absl::Time deadline) = 0;
};

// DescribeInstances through aws::Ec2Client, with a cache: an instance found
// is kept `ttl`, one not found `negative_ttl`; at most `max_entries` (the
// oldest go first). Thread-safe.
class CachedInstanceDirectory : public InstanceDirectory {
 public:
  struct Options {
    absl::Duration ttl = absl::Minutes(10);
    absl::Duration negative_ttl = absl::Minutes(1);
    size_t max_entries = 10000;
  };
  // `backend` nullptr: every instance is unknown (no EC2 access configured).
  CachedInstanceDirectory(aws::Ec2Client* backend, Options options, Clock& clock);
  absl::StatusOr<std::map<std::string, aws::Ec2Instance>> Describe(
      const std::vector<std::string>& ids, absl::Time deadline) override;
  // DescribeInstances calls made (for tests and the benchmark).
  int64_t calls() const { return calls_.load(); }

 private:
  struct Entry {
    std::optional<aws::Ec2Instance> instance;  // nullopt: not found
    absl::Time at;
  };
  aws::Ec2Client* const backend_;
  const Options options_;
  Clock& clock_;
  std::atomic<int64_t> calls_{0};
  absl::Mutex mu_;
  std::map<std::string, Entry> cache_ ABSL_GUARDED_BY(mu_);
};

// The metric families of every SQS source (registered once; each source
// takes its `source` label).
struct SqsSourceMetrics {
  explicit SqsSourceMetrics(metrics::Registry& r);

  metrics::Family<metrics::Counter>& received;     // {source}
  metrics::Family<metrics::Counter>& redelivered;  // {source}
  metrics::Family<metrics::Counter>& deleted;      // {source}
  metrics::Family<metrics::Counter>& events;       // {source, type}
  metrics::Family<metrics::Counter>& ignored;      // {source, reason}
  metrics::Family<metrics::Counter>& left;         // {source, reason}: not deleted, will return
  metrics::Family<metrics::Counter>& receive_errors;  // {source, code}
  metrics::Family<metrics::Histogram>& delay;         // {source}: sent to received
  metrics::Family<metrics::Histogram>& receive_duration;  // {source}: one ReceiveMessage call
  metrics::Family<metrics::Gauge>& oldest_age;            // {source}
  metrics::Family<metrics::Gauge>& last_receive;          // {source}
};

struct SqsSourceOptions {
  SqsSourceConfig config;
  // The queue's region: the `region` label of events that carry none (the
  // message Auto Scaling sends directly names no region).
  std::string region;
  // Long poll (SQS allows up to 20 s); a message is returned as soon as it
  // is visible.
  absl::Duration wait = absl::Seconds(20);
  int max_messages = 10;
  // Asked for on each receive: how long a message stays hidden while the
  // engine handles it. Extended when handling runs past half of it. Also how
  // long a message stays hidden when the poll that received it was
  // abandoned (the engine stopped while SQS was answering): short, as a spot
  // warning is worth two minutes.
  absl::Duration visibility_timeout = absl::Seconds(30);
  // Each call's deadline beyond the long poll's wait.
  absl::Duration call_timeout = absl::Seconds(10);
  // After the engine could not take an event (queue full, journal
  // unavailable): the message comes back this soon.
  absl::Duration retry_visibility = absl::Seconds(5);
  // An event whose instance EC2 cannot describe is held back (made visible
  // again after retry_visibility) until it has been received this many
  // times; then it goes on without the instance's labels.
  int describe_attempts = 3;
  BackoffOptions error_backoff = {.initial = absl::Seconds(1), .max = absl::Seconds(30)};
};

class SqsSource {
 public:
  // The references must outlive the source. `instances` may be null (no
  // labels from EC2).
  SqsSource(SqsSourceOptions options, std::unique_ptr<SqsQueue> queue,
            InstanceDirectory* instances, Intake& intake, SqsSourceMetrics& metrics,
            spdlog::logger& logger, Clock& clock);
  ~SqsSource();  // Stop()

  // Polls on a thread of its own until Stop.
  void Start();
  // Ends the poll in progress and joins the thread. Messages received and
  // not yet handled stay on the queue (they return after their visibility
  // timeout). Idempotent.
  void Stop();

  // One receive and the handling of what it returned (the thread's loop
  // body). The receive's error, if any. For tests.
  absl::Status PollOnce();

  const std::string& name() const { return options_.config.name; }

 private:
  struct Pending;
  void Run();
  // `received`: the clock's time (events' `received`); `started`: the real
  // time handling began (for the visibility timeout, which runs in real time).
  void Handle(std::vector<aws::SqsMessage> messages, absl::Time received, absl::Time started);
  // Logs `text` the first time `key` is seen (bounded), else nothing.
  void LogOnce(const std::string& key, const std::string& text);
  void Delete(const std::vector<std::string>& handles);
  void MakeVisibleAfter(const std::vector<std::string>& handles, absl::Duration after,
                        const char* reason);

  const SqsSourceOptions options_;
  std::unique_ptr<SqsQueue> queue_;
  InstanceDirectory* const instances_;
  Intake& intake_;
  SqsSourceMetrics& metrics_;
  spdlog::logger& logger_;
  Clock& clock_;
  Backoff backoff_;

  absl::Mutex log_mu_;
  std::set<std::string> logged_ ABSL_GUARDED_BY(log_mu_);

  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace hollowtrees::engine
