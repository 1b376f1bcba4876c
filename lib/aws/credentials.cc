#include "lib/aws/credentials.h"


#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "lib/aws/endpoints.h"
#include "lib/aws/imds.h"
#include "lib/aws/query_client.h"
#include "lib/common/file.h"
#include "lib/common/rfc3339.h"
#include "lib/common/status_macros.h"
#include "nlohmann/json.hpp"

namespace hollowtrees::aws {
namespace {

class StaticProvider : public CredentialsProvider {
 public:
  explicit StaticProvider(Credentials c) : c_(std::move(c)) {}
  absl::StatusOr<Credentials> Get() override { return c_; }
  std::string Name() const override { return "static"; }

 private:
  const Credentials c_;
};

class EnvironmentProvider : public CredentialsProvider {
 public:
  explicit EnvironmentProvider(const Env& env) {
    c_.access_key_id = EnvGet(env, "AWS_ACCESS_KEY_ID");
    if (c_.access_key_id.empty()) c_.access_key_id = EnvGet(env, "AWS_ACCESS_KEY");
    c_.secret_access_key = EnvGet(env, "AWS_SECRET_ACCESS_KEY");
    if (c_.secret_access_key.empty()) c_.secret_access_key = EnvGet(env, "AWS_SECRET_KEY");
    c_.session_token = EnvGet(env, "AWS_SESSION_TOKEN");
    c_.source = "environment";
    const std::string exp = EnvGet(env, "AWS_CREDENTIAL_EXPIRATION");
    if (!exp.empty()) {
      auto t = ParseRfc3339(exp);
      if (t.ok()) c_.expiration = *t;
    }
  }
  absl::StatusOr<Credentials> Get() override {
    if (c_.access_key_id.empty() && c_.secret_access_key.empty()) {
      return absl::NotFoundError("environment: AWS_ACCESS_KEY_ID not set");
    }
    if (c_.access_key_id.empty() || c_.secret_access_key.empty()) {
      return absl::InvalidArgumentError(
          "environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must both be set");
    }
    return c_;
  }
  std::string Name() const override { return "environment"; }

 private:
  Credentials c_;
};

class ProfileProvider : public CredentialsProvider {
 public:
  explicit ProfileProvider(const Env& env) : env_(env) {}
  absl::StatusOr<Credentials> Get() override {
    HT_ASSIGN_OR_RETURN(SharedProfile p, LoadSharedProfile(env_));
    const bool named = !EnvGet(env_, "AWS_PROFILE").empty();
    if (!p.found) {
      if (named) {
        return absl::InvalidArgumentError(
            absl::StrCat("profile \"", p.name, "\" (AWS_PROFILE) is in neither shared file"));
      }
      return absl::NotFoundError("profile: no default profile");
    }
    Credentials c;
    c.access_key_id = p.Get("aws_access_key_id");
    c.secret_access_key = p.Get("aws_secret_access_key");
    c.session_token = p.Get("aws_session_token");
    c.source = absl::StrCat("profile ", p.name);
    if (c.access_key_id.empty() && c.secret_access_key.empty()) {
      return absl::NotFoundError(absl::StrCat("profile ", p.name, ": no aws_access_key_id"));
    }
    if (c.access_key_id.empty() || c.secret_access_key.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "profile ", p.name, ": aws_access_key_id and aws_secret_access_key must both be set"));
    }
    return c;
  }
  std::string Name() const override { return "shared profile"; }

 private:
  const Env env_;
};

class WebIdentityProvider : public CredentialsProvider {
 public:
  WebIdentityProvider(WebIdentityOptions o, Clock& clock, spdlog::logger* logger)
      : options_(std::move(o)), clock_(clock), logger_(logger) {}

  absl::StatusOr<Credentials> Get() override {
    if (options_.role_arn.empty() || options_.token_file.empty()) {
      return absl::NotFoundError("web identity: AWS_ROLE_ARN / AWS_WEB_IDENTITY_TOKEN_FILE not set");
    }
    auto text = ReadFile(options_.token_file);
    if (!text.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("web identity: cannot read token file ", text.status().message()));
    }
    const std::string token(absl::StripAsciiWhitespace(*text));
    if (token.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("web identity: token file ", options_.token_file, " is empty"));
    }
    absl::MutexLock lock(&mu_);
    if (client_ == nullptr) {
      QueryClientOptions qo{.endpoint = options_.sts_endpoint, .region = options_.region,
                            .service = "sts", .version = "2011-06-15",
                            .timeout = options_.timeout};
      HT_ASSIGN_OR_RETURN(client_, QueryClient::Create(qo, nullptr, clock_, logger_));
    }
    std::string session = options_.session_name;
    if (session.empty()) session = absl::StrCat("hollowtrees-", absl::ToUnixSeconds(clock_.Now()));
    HT_ASSIGN_OR_RETURN(auto doc, client_->Call("AssumeRoleWithWebIdentity",
                                                {{"RoleArn", options_.role_arn},
                                                 {"RoleSessionName", session},
                                                 {"WebIdentityToken", token}}));
    pugi::xml_node creds = XmlChild(doc->document_element(),
                                    "AssumeRoleWithWebIdentityResult/Credentials");
    Credentials c;
    c.access_key_id = XmlText(creds, "AccessKeyId");
    c.secret_access_key = XmlText(creds, "SecretAccessKey");
    c.session_token = XmlText(creds, "SessionToken");
    c.source = absl::StrCat("web identity ", options_.role_arn);
    if (c.access_key_id.empty() || c.secret_access_key.empty()) {
      return absl::InternalError("web identity: STS answer lacks Credentials");
    }
    HT_ASSIGN_OR_RETURN(c.expiration, ParseRfc3339(XmlText(creds, "Expiration")));
    return c;
  }
  std::string Name() const override { return "web identity"; }

 private:
  const WebIdentityOptions options_;
  Clock& clock_;
  spdlog::logger* logger_;
  absl::Mutex mu_;
  std::unique_ptr<QueryClient> client_ ABSL_GUARDED_BY(mu_);
};

// A string member of an IMDS answer, or "" (value() throws for another type).
std::string JsonString(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

class ImdsProvider : public CredentialsProvider {
 public:
  ImdsProvider(ImdsCredentialsOptions o, Clock& clock) : options_(std::move(o)), clock_(clock) {}

  absl::StatusOr<Credentials> Get() override {
    absl::MutexLock lock(&mu_);
    if (client_ == nullptr) {
      HT_ASSIGN_OR_RETURN(client_, ImdsClient::Create({.endpoint = options_.endpoint,
                                                       .timeout = options_.timeout},
                                                      clock_));
    }
    auto roles = client_->Get("meta-data/iam/security-credentials/");
    if (!roles.ok()) {
      // No metadata service (not on EC2) or no instance profile: not configured.
      return absl::NotFoundError(absl::StrCat("instance profile: ", roles.status().message()));
    }
    const std::string role(absl::StripAsciiWhitespace(
        absl::string_view(*roles).substr(0, roles->find('\n'))));
    if (role.empty()) return absl::NotFoundError("instance profile: no role attached");
    HT_ASSIGN_OR_RETURN(std::string body,
                        client_->Get(absl::StrCat("meta-data/iam/security-credentials/", role)));
    nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) {
      return absl::InternalError(absl::StrCat("instance profile ", role, ": answer is not JSON"));
    }
    if (JsonString(j, "Code") != "Success") {
      return absl::UnavailableError(
          absl::StrCat("instance profile ", role, ": Code ", JsonString(j, "Code")));
    }
    Credentials c;
    c.access_key_id = JsonString(j, "AccessKeyId");
    c.secret_access_key = JsonString(j, "SecretAccessKey");
    c.session_token = JsonString(j, "Token");
    c.source = absl::StrCat("instance profile ", role);
    if (c.access_key_id.empty() || c.secret_access_key.empty()) {
      return absl::InternalError(absl::StrCat("instance profile ", role, ": no AccessKeyId"));
    }
    const std::string exp = JsonString(j, "Expiration");
    if (!exp.empty()) {
      HT_ASSIGN_OR_RETURN(c.expiration, ParseRfc3339(exp));
    }
    return c;
  }
  std::string Name() const override { return "instance profile"; }

 private:
  const ImdsCredentialsOptions options_;
  Clock& clock_;
  absl::Mutex mu_;
  std::unique_ptr<ImdsClient> client_ ABSL_GUARDED_BY(mu_);
};

class CachingProvider : public CredentialsProvider {
 public:
  CachingProvider(std::unique_ptr<CredentialsProvider> base, Clock& clock, absl::Duration before)
      : base_(std::move(base)), clock_(clock), before_(before) {}

  absl::StatusOr<Credentials> Get() override {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_.Now();
    if (cached_ && now + before_ < cached_->expiration) return *cached_;
    auto fresh = base_->Get();
    if (!fresh.ok()) {
      if (cached_ && now < cached_->expiration && !absl::IsNotFound(fresh.status())) {
        return *cached_;  // refresh failed early; the old ones still work
      }
      cached_.reset();
      return fresh.status();
    }
    cached_ = *fresh;
    return *cached_;
  }
  void Invalidate() override {
    absl::MutexLock lock(&mu_);
    cached_.reset();
    base_->Invalidate();
  }
  std::string Name() const override { return base_->Name(); }

 private:
  std::unique_ptr<CredentialsProvider> base_;
  Clock& clock_;
  const absl::Duration before_;
  absl::Mutex mu_;
  std::optional<Credentials> cached_ ABSL_GUARDED_BY(mu_);
};

class ChainProvider : public CredentialsProvider {
 public:
  explicit ChainProvider(std::vector<std::unique_ptr<CredentialsProvider>> p)
      : providers_(std::move(p)) {}

  absl::StatusOr<Credentials> Get() override {
    std::vector<std::string> tried;
    for (auto& p : providers_) {
      auto c = p->Get();
      if (c.ok()) return c;
      if (!absl::IsNotFound(c.status())) {
        return absl::Status(c.status().code(),
                            absl::StrCat("AWS credentials (", p->Name(), "): ", c.status().message()));
      }
      tried.push_back(std::string(c.status().message()));
    }
    return absl::NotFoundError(
        absl::StrCat("no AWS credentials found; tried: ", absl::StrJoin(tried, "; ")));
  }
  void Invalidate() override {
    for (auto& p : providers_) p->Invalidate();
  }
  std::string Name() const override { return "chain"; }

 private:
  std::vector<std::unique_ptr<CredentialsProvider>> providers_;
};

}  // namespace

std::unique_ptr<CredentialsProvider> NewStaticCredentials(Credentials credentials) {
  return std::make_unique<StaticProvider>(std::move(credentials));
}
std::unique_ptr<CredentialsProvider> NewEnvironmentCredentials(const Env& env) {
  return std::make_unique<EnvironmentProvider>(env);
}
std::unique_ptr<CredentialsProvider> NewProfileCredentials(const Env& env) {
  return std::make_unique<ProfileProvider>(env);
}
std::unique_ptr<CredentialsProvider> NewWebIdentityCredentials(const WebIdentityOptions& options,
                                                               Clock& clock, spdlog::logger* logger) {
  return std::make_unique<WebIdentityProvider>(options, clock, logger);
}
std::unique_ptr<CredentialsProvider> NewImdsCredentials(const ImdsCredentialsOptions& options,
                                                        Clock& clock) {
  return std::make_unique<ImdsProvider>(options, clock);
}
std::unique_ptr<CredentialsProvider> NewCachingCredentials(std::unique_ptr<CredentialsProvider> base,
                                                           Clock& clock,
                                                           absl::Duration refresh_before) {
  return std::make_unique<CachingProvider>(std::move(base), clock, refresh_before);
}
std::unique_ptr<CredentialsProvider> NewChainCredentials(
    std::vector<std::unique_ptr<CredentialsProvider>> providers) {
  return std::make_unique<ChainProvider>(std::move(providers));
}

std::unique_ptr<CredentialsProvider> NewDefaultCredentialsChain(
    const DefaultCredentialsOptions& options, Clock& clock, spdlog::logger* logger) {
  const Env& env = options.env;
  std::vector<std::unique_ptr<CredentialsProvider>> chain;
  chain.push_back(NewEnvironmentCredentials(env));

  WebIdentityOptions wi;
  wi.role_arn = EnvGet(env, "AWS_ROLE_ARN");
  wi.token_file = EnvGet(env, "AWS_WEB_IDENTITY_TOKEN_FILE");
  wi.session_name = EnvGet(env, "AWS_ROLE_SESSION_NAME");
  if (wi.role_arn.empty() || wi.token_file.empty()) {
    auto profile = LoadSharedProfile(env);
    if (profile.ok() && !profile->Get("web_identity_token_file").empty()) {
      wi.role_arn = profile->Get("role_arn");
      wi.token_file = profile->Get("web_identity_token_file");
      wi.session_name = profile->Get("role_session_name");
    }
  }
  wi.region = options.region.empty() ? "us-east-1" : options.region;
  wi.sts_endpoint = ResolveEndpoint("STS", "sts", wi.region, env);
  chain.push_back(NewCachingCredentials(NewWebIdentityCredentials(wi, clock, logger), clock));

  chain.push_back(NewProfileCredentials(env));

  if (absl::AsciiStrToLower(EnvGet(env, "AWS_EC2_METADATA_DISABLED")) != "true") {
    ImdsCredentialsOptions io;
    const std::string endpoint = EnvGet(env, "AWS_EC2_METADATA_SERVICE_ENDPOINT");
    if (!endpoint.empty()) io.endpoint = endpoint;
    io.timeout = options.imds_timeout;
    chain.push_back(NewCachingCredentials(NewImdsCredentials(io, clock), clock));
  }
  return NewChainCredentials(std::move(chain));
}

}  // namespace hollowtrees::aws
