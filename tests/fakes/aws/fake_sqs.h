#pragma once

// The SQS part of the fake AWS endpoint (fake_aws.h), behind FakeAws: queues
// and messages, and the two wire protocols SQS serves, over one
// implementation (a Query request is read into the JSON request's shape; the
// JSON answer is written as the Query protocol's XML).
//
// Requests reach it authenticated (SigV4 is checked by FakeAws). Thread-safe;
// a long poll waits on a condition variable without holding anything else,
// so FakeAws may call in while holding its own lock (never the reverse).

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "lib/common/clock.h"
#include "nlohmann/json.hpp"
#include "tests/fakes/aws/fake_aws.h"

namespace hollowtrees::testing {

inline constexpr char kFakeAccountId[] = "123456789012";

// An SQS request after authentication.
struct SqsRequest {
  bool json = false;   // AWS JSON 1.0; else the Query protocol
  std::string action;  // "ReceiveMessage", ...
  // JSON: the body. Query: the parameters read into the same shape.
  nlohmann::json input = nlohmann::json::object();
  std::string path;  // the HTTP path ("/" or "/123456789012/NAME")
  std::string request_id;
  std::string access_key_id;
};

// An HTTP answer in the request's protocol.
struct SqsAnswer {
  int status = 200;
  std::string content_type;
  std::string body;
  std::map<std::string, std::string> headers;
  std::string error_code;  // Query code; "" on success
};

class FakeSqs {
 public:
  FakeSqs(std::string region, Clock& clock);
  ~FakeSqs();

  // Where queue URLs point ("http://127.0.0.1:PORT"); set once the server runs.
  void SetEndpoint(const std::string& endpoint);
  std::string QueueUrl(const std::string& name) const;
  std::string QueueArn(const std::string& name) const;

  SqsAnswer Handle(const SqsRequest& request);
  // An error answer in the protocol: `code` is the Query code
  // ("AWS.SimpleQueueService.NonExistentQueue", "RequestThrottled", ...).
  static SqsAnswer ErrorAnswer(bool json, const std::string& code, const std::string& message,
                               int status, const std::string& request_id);
  // Reads a Query request's parameters into the JSON request's shape.
  static nlohmann::json QueryToJson(const std::string& action,
                                    const std::map<std::string, std::string>& params);

  // Wakes every long poll and makes new ones return at once.
  void Shutdown();

  // Test hooks (FakeAws forwards to these).
  absl::StatusOr<std::string> CreateQueue(const std::string& name,
                                          const std::map<std::string, std::string>& attributes);
  absl::StatusOr<std::string> Enqueue(const std::string& queue, const std::string& body,
                                      const std::map<std::string, std::string>& string_attributes,
                                      absl::Duration delay);
  // The queue named by an ARN of this fake: NotFound otherwise.
  absl::StatusOr<std::string> EnqueueByArn(const std::string& arn, const std::string& body);
  bool HasQueueArn(const std::string& arn);
  absl::StatusOr<FakeSqsCounts> Counts(const std::string& queue);
  std::vector<FakeSqsMessage> Messages(const std::string& queue);
  std::vector<FakeSqsDeleted> Deleted(const std::string& queue);

  class State;

 private:
  std::unique_ptr<State> state_;
};

}  // namespace hollowtrees::testing
