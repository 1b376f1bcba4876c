#pragma once

// Where AWS credentials come from, in the order every AWS SDK looks:
// environment variables, web identity (EKS pods: AWS_ROLE_ARN +
// AWS_WEB_IDENTITY_TOKEN_FILE through STS AssumeRoleWithWebIdentity), the
// shared credentials/config files with AWS_PROFILE, and the instance profile
// through IMDSv2. Temporary credentials are cached and refreshed before they
// expire.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "lib/aws/environment.h"
#include "lib/common/clock.h"
#include "lib/aws/sigv4.h"

namespace spdlog {
class logger;
}

namespace hollowtrees::aws {

// A source of credentials. Implementations are thread-safe.
class CredentialsProvider {
 public:
  virtual ~CredentialsProvider() = default;
  // NotFound when this source is not configured (a chain moves on to the
  // next); other errors are failures of a configured source (a chain stops
  // there, as the SDKs do, and reports it).
  virtual absl::StatusOr<Credentials> Get() = 0;
  // Drops anything cached, so that the next Get() fetches anew (after the
  // service said ExpiredToken).
  virtual void Invalidate() {}
  virtual std::string Name() const = 0;
};

std::unique_ptr<CredentialsProvider> NewStaticCredentials(Credentials credentials);

// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN (and the
// older AWS_ACCESS_KEY / AWS_SECRET_KEY). InvalidArgument when only one of
// the pair is set.
std::unique_ptr<CredentialsProvider> NewEnvironmentCredentials(const Env& env);

// aws_access_key_id / aws_secret_access_key / aws_session_token of the
// AWS_PROFILE profile in the shared files. NotFound when the profile has no
// keys (or does not exist and AWS_PROFILE was not set); InvalidArgument when
// AWS_PROFILE names a profile that does not exist.
std::unique_ptr<CredentialsProvider> NewProfileCredentials(const Env& env);

struct WebIdentityOptions {
  // STS endpoint, e.g. "https://sts.us-east-1.amazonaws.com".
  std::string sts_endpoint;
  std::string region;
  std::string role_arn;
  std::string token_file;
  // Default "hollowtrees-<unix time>".
  std::string session_name;
  absl::Duration timeout = absl::Seconds(5);
};
// AssumeRoleWithWebIdentity with the token read from the file at each fetch
// (the kubelet rotates it). Unsigned, as the API requires.
std::unique_ptr<CredentialsProvider> NewWebIdentityCredentials(const WebIdentityOptions& options,
                                                               Clock& clock, spdlog::logger* logger);

struct ImdsCredentialsOptions {
  // "http://169.254.169.254" (AWS_EC2_METADATA_SERVICE_ENDPOINT overrides).
  std::string endpoint = "http://169.254.169.254";
  absl::Duration timeout = absl::Seconds(1);
};
// The instance profile's role credentials from
// /latest/meta-data/iam/security-credentials/<role>, through IMDSv2
// (falling back to v1 where the token PUT is refused).
std::unique_ptr<CredentialsProvider> NewImdsCredentials(const ImdsCredentialsOptions& options,
                                                        Clock& clock);

// Caches what `base` returns; fetches again when the credentials expire
// within `refresh_before` (default 5 minutes, as the SDKs do), or after
// Invalidate(). If a refresh fails while the cached ones are still valid,
// the cached ones are returned.
std::unique_ptr<CredentialsProvider> NewCachingCredentials(
    std::unique_ptr<CredentialsProvider> base, Clock& clock,
    absl::Duration refresh_before = absl::Minutes(5));

// Tries each provider in order; the first that is configured wins. NotFound
// listing every source tried when none is.
std::unique_ptr<CredentialsProvider> NewChainCredentials(
    std::vector<std::unique_ptr<CredentialsProvider>> providers);

struct DefaultCredentialsOptions {
  Env env;
  // The region resolved for the client (for the STS endpoint).
  std::string region;
  absl::Duration imds_timeout = absl::Seconds(1);
};
// The SDK chain: environment, web identity (AWS_ROLE_ARN +
// AWS_WEB_IDENTITY_TOKEN_FILE, or role_arn + web_identity_token_file in the
// profile), profile, instance profile (unless AWS_EC2_METADATA_DISABLED=true),
// each temporary source cached. The clock and logger must outlive it.
std::unique_ptr<CredentialsProvider> NewDefaultCredentialsChain(
    const DefaultCredentialsOptions& options, Clock& clock, spdlog::logger* logger);

}  // namespace hollowtrees::aws
