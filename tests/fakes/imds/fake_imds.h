#pragma once

// A fake EC2 instance metadata service (IMDS) on loopback, for the AWS
// credentials chain and the spot termination exporter.
//
// - PUT /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds (1..21600;
//   400 without or out of range; 403 with X-Forwarded-For, as AWS does)
//   returns a session token; tokens are checked as X-aws-ec2-metadata-token
//   (401 when missing in v2-only mode, or expired/unknown in any v2 mode).
// - Modes: v2-only (tokens required), v1-and-v2 (optional), v1-only (the token
//   PUT answers 404 or 403, as when IMDSv2 is unavailable).
// - GET /latest/meta-data/: instance-id, instance-type, ami-id, hostname,
//   local-ipv4, placement/availability-zone, placement/region,
//   spot/instance-action (404 until set), events/recommendations/rebalance
//   (404 until set), iam/security-credentials/ and .../<role>, and
//   /latest/dynamic/instance-identity/document.
// - Faults: a delay per request, the next N requests answered with a status
//   (500, 503, ...), every token expired at once.
//
// Thread-safe. The `fake-imds` binary adds a control API (see main.cc).

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lib/http/server_util.h"

namespace httplib {
class Server;
}

namespace hollowtrees::testing {

enum class ImdsMode { kV2Only, kV1AndV2, kV1Only };
absl::StatusOr<ImdsMode> ParseImdsMode(const std::string& text);  // "v2-only", ...

struct FakeImdsOptions {
  std::string host = "127.0.0.1";
  int port = 0;
  ImdsMode mode = ImdsMode::kV2Only;
  // In v1-only mode, the status of the token PUT: 404 or 403.
  int v1_only_token_status = 404;
  std::string instance_id = "i-0123456789abcdef0";
  std::string instance_type = "m5.large";
  std::string availability_zone = "us-east-1a";
  std::string ami_id = "ami-0abcdef1234567890";
  std::string local_ipv4 = "10.0.1.23";
};

struct FakeRoleCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string token;
  absl::Time expiration;
  std::string code = "Success";
};

class FakeImds {
 public:
  static absl::StatusOr<std::unique_ptr<FakeImds>> Start(const FakeImdsOptions& options = {});
  ~FakeImds();

  int port() const { return serving_->port(); }
  // "http://127.0.0.1:PORT" (no path).
  std::string endpoint() const;

  void SetMode(ImdsMode mode);
  // The spot notice: action terminate/stop/hibernate at `time`.
  void SetSpotAction(const std::string& action, absl::Time time);
  void ClearSpotAction();
  // Serves `body` as spot/instance-action verbatim (e.g. malformed JSON, to
  // test a client's handling); ClearSpotAction() removes it.
  void SetRawSpotAction(const std::string& body);
  void SetRebalance(absl::Time notice_time);
  void ClearRebalance();
  // The instance profile; an empty role name removes it.
  void SetRole(const std::string& role, const FakeRoleCredentials& credentials);
  // Faults.
  void SetDelay(absl::Duration delay);
  void FailNext(int status, int count);
  void ExpireTokens();

  // Counters for assertions.
  int token_requests();
  int metadata_requests();  // GET requests of any kind
  int unauthorized_answers();  // 401s

  // Serves the control API: POST /control/spot-action {"action","time"},
  // DELETE /control/spot-action, POST /control/rebalance {"noticeTime"},
  // DELETE /control/rebalance, POST /control/mode {"mode"}, POST /control/fault
  // {"status","count"} or {"delay_ms"}, POST /control/expire-tokens,
  // POST /control/role {"role","AccessKeyId","SecretAccessKey","Token","Expiration"}.
  void EnableControlApi();

  class Impl;

 private:
  FakeImds() = default;
  std::unique_ptr<httplib::Server> server_;
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<http::ServingThread> serving_;  // after server_ and impl_: stops first
  FakeImdsOptions options_;
};

}  // namespace hollowtrees::testing
