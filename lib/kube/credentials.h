#pragma once

// Turns a KubeConfig's user into an Authorization header, per request:
// a fixed token, a token file re-read when it changes (service account token
// rotation), basic auth, or an exec credential plugin whose token is cached
// until its status.expirationTimestamp.

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lib/common/clock.h"
#include "lib/kube/kube_config.h"

namespace hollowtrees::kube {

// Thread-safe.
class Credentials {
 public:
  virtual ~Credentials() = default;
  // The Authorization header value ("Bearer ..." or "Basic ..."), or "" when
  // the user authenticates by client certificate only. Errors name the cause
  // (token file unreadable, exec plugin failed with its stderr).
  virtual absl::StatusOr<std::string> Authorization() = 0;
  // Called after a 401: drop cached material. True when asking again may give
  // a different answer (exec plugin, token file), so a retry is worth it.
  virtual bool Invalidate() = 0;
};

struct CredentialsOptions {
  // Clock for token expiry; not owned, outlives the credentials. Default
  // (null): RealClock().
  Clock* clock = nullptr;
  // Longest an exec plugin may run. Default 30 s.
  absl::Duration exec_timeout = absl::Seconds(30);
  // An exec token is renewed this long before its expiry. Default 10 s.
  absl::Duration expiry_margin = absl::Seconds(10);
};

// InvalidArgument for an unusable configuration (exec without a command).
absl::StatusOr<std::unique_ptr<Credentials>> NewCredentials(const KubeConfig& config,
                                                            const CredentialsOptions& options = {});

struct ExecResult {
  std::string token;
  // InfiniteFuture when the plugin gave no expirationTimestamp.
  absl::Time expiry = absl::InfiniteFuture();
};

// Runs an exec credential plugin once and parses its ExecCredential (exposed
// for tests). The child gets the current environment plus `exec.env` and
// KUBERNETES_EXEC_INFO; it is killed after `timeout`. Errors carry its exit
// code, stderr, and the install hint when the command is missing.
// Parses what an exec credential plugin printed (an ExecCredential of
// `exec.api_version`): its status.token and status.expirationTimestamp.
// InvalidArgument for anything else (errors name `exec.command`). Pure: the
// part of RunExecPlugin the fuzzer reaches (tests/fuzz/kubeconfig_fuzzer.cc).
absl::StatusOr<ExecResult> ParseExecCredential(absl::string_view out, const ExecConfig& exec);

absl::StatusOr<ExecResult> RunExecPlugin(const ExecConfig& exec, absl::string_view server,
                                         absl::Duration timeout);

}  // namespace hollowtrees::kube
