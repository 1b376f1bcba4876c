#pragma once

// A fake AWS endpoint for tests: one HTTP server on loopback answering the
// Query protocol of Auto Scaling (2011-01-01), EC2 (2016-11-15) and STS
// (2011-06-15), told apart by the service in the SigV4 credential scope (or,
// for unsigned STS calls, by the action). It keeps state (groups with
// bounds and desired capacity, instances with lifecycle states, mixed
// instances policies), verifies every request's signature against the
// credentials it knows and answers like AWS: the same XML shapes and
// namespaces, the same error codes and HTTP statuses.
//
// Thread-safe. Tests drive it through this API; the `fake-aws` binary
// serves it with a small JSON control API.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "lib/http/server_util.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace hollowtrees::testing {

struct FakeAwsOptions {
  std::string host = "127.0.0.1";
  int port = 0;
  // Requests must be signed for this region.
  std::string region = "us-east-1";
  // Long-term credentials it accepts (access key id -> secret).
  std::map<std::string, std::string> credentials = {
      {"AKIDFAKEEXAMPLE", "fakeSecretKeyForTestsOnly/EXAMPLEKEY"}};
  // AssumeRoleWithWebIdentity: accepted tokens and the lifetime of what it issues.
  std::vector<std::string> web_identity_tokens = {"fake-web-identity-token"};
  absl::Duration issued_credentials_lifetime = absl::Hours(1);
  // How far X-Amz-Date may be from the server's clock (AWS: 15 minutes).
  absl::Duration max_clock_skew = absl::Minutes(15);
};

struct FakeInstance {
  std::string id;
  std::string type = "m5.large";
  std::string az = "us-east-1a";
  std::string group;  // "" when in no group
  std::string lifecycle_state = "InService";  // Auto Scaling lifecycle
  std::string health = "Healthy";
  std::string state = "running";  // EC2 state
  bool spot = true;
  bool protected_from_scale_in = false;
  std::map<std::string, std::string> tags;
};

struct FakeGroup {
  std::string name;
  int min_size = 0;
  int max_size = 0;
  int desired = 0;
  std::vector<std::string> azs = {"us-east-1a"};
  // Instance types of a mixed instances policy; empty: a launch template only.
  std::vector<std::string> mixed_instance_types;
  std::string launch_template = "lt-0123456789abcdef0";
};

// One request the fake answered, for assertions.
struct FakeCall {
  std::string service;  // autoscaling, ec2, sts
  std::string action;
  std::map<std::string, std::string> params;
  std::string access_key_id;
  std::string error_code;  // "" when it succeeded
};

class FakeAws {
 public:
  static absl::StatusOr<std::unique_ptr<FakeAws>> Start(const FakeAwsOptions& options = {});
  ~FakeAws();

  int port() const { return serving_->port(); }
  std::string endpoint() const;  // "http://127.0.0.1:PORT"
  const FakeAwsOptions& options() const { return options_; }

  // State. A group's instances are those whose `group` names it; AddGroup
  // launches nothing by itself, AddInstance joins the named group.
  void AddGroup(const FakeGroup& group);
  void AddInstance(const FakeInstance& instance);
  std::optional<FakeGroup> Group(const std::string& name);
  std::optional<FakeInstance> Instance(const std::string& id);
  // Instance ids in the group (launch order), lifecycle states of any kind.
  std::vector<std::string> GroupInstances(const std::string& name);
  // Instances the fake launched as replacements, in order.
  std::vector<std::string> Launched();

  // Faults: the next `count` calls of `action` (any service) fail with this
  // AWS error code and HTTP status.
  void InjectError(const std::string& action, const std::string& code, int http_status,
                   int count = 1, const std::string& message = "injected fault");
  // The same, after `skip` calls of the action have gone through.
  void InjectErrorAfter(const std::string& action, int skip, const std::string& code,
                        int http_status, int count = 1);
  // Every session token issued so far is now expired (ExpiredToken).
  void ExpireSessionTokens();
  // Adds accepted long-term credentials.
  void AddCredentials(const std::string& access_key_id, const std::string& secret);

  std::vector<FakeCall> Calls();
  // Calls of that action that succeeded.
  int CountCalls(const std::string& action, bool successful_only = true);
  void ClearCalls();

  // The whole state as JSON ({"groups": [...], "instances": [...]}) and back.
  nlohmann::json StateJson();
  absl::Status LoadStateJson(const nlohmann::json& state);

  // Serves the control API on the same server: GET/POST /control/state,
  // POST /control/fault {"action","code","status","count"}, GET /control/calls.
  void EnableControlApi();

  class Impl;

 private:
  FakeAws() = default;
  FakeAwsOptions options_;
  std::unique_ptr<httplib::Server> server_;
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<http::ServingThread> serving_;  // after server_ and impl_: stops first
};

}  // namespace hollowtrees::testing
