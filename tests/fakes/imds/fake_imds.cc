#include "tests/fakes/imds/fake_imds.h"

#include <httplib.h>

#include <map>

#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "lib/http/server_util.h"
#include "nlohmann/json.hpp"

namespace hollowtrees::testing {
namespace {

std::string Iso(absl::Time t) { return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone()); }

}  // namespace

absl::StatusOr<ImdsMode> ParseImdsMode(const std::string& text) {
  if (text == "v2-only") return ImdsMode::kV2Only;
  if (text == "v1-and-v2") return ImdsMode::kV1AndV2;
  if (text == "v1-only") return ImdsMode::kV1Only;
  return absl::InvalidArgumentError(
      absl::StrCat("mode \"", text, "\": want v2-only, v1-and-v2 or v1-only"));
}

class FakeImds::Impl {
 public:
  explicit Impl(const FakeImdsOptions& o) : options(o), mode(o.mode) {}

  void Handle(const httplib::Request& req, httplib::Response& res);
  bool Authorized(const httplib::Request& req, httplib::Response& res)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  std::optional<std::string> MetaData(const std::string& path) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  const FakeImdsOptions options;
  absl::Mutex mu;
  ImdsMode mode ABSL_GUARDED_BY(mu);
  std::map<std::string, absl::Time> tokens ABSL_GUARDED_BY(mu);
  std::optional<std::pair<std::string, absl::Time>> spot ABSL_GUARDED_BY(mu);
  std::optional<std::string> raw_spot ABSL_GUARDED_BY(mu);
  std::optional<absl::Time> rebalance ABSL_GUARDED_BY(mu);
  std::string role ABSL_GUARDED_BY(mu);
  FakeRoleCredentials role_credentials ABSL_GUARDED_BY(mu);
  absl::Duration delay ABSL_GUARDED_BY(mu) = absl::ZeroDuration();
  int fail_status ABSL_GUARDED_BY(mu) = 0;
  int fail_count ABSL_GUARDED_BY(mu) = 0;
  int token_requests ABSL_GUARDED_BY(mu) = 0;
  int metadata_requests ABSL_GUARDED_BY(mu) = 0;
  int unauthorized ABSL_GUARDED_BY(mu) = 0;
  absl::BitGen rng ABSL_GUARDED_BY(mu);
};

bool FakeImds::Impl::Authorized(const httplib::Request& req, httplib::Response& res) {
  const std::string token = req.get_header_value("X-aws-ec2-metadata-token");
  if (mode == ImdsMode::kV1Only) return true;
  if (token.empty() && mode == ImdsMode::kV1AndV2) return true;
  auto it = tokens.find(token);
  if (token.empty() || it == tokens.end() || absl::Now() >= it->second) {
    ++unauthorized;
    res.status = 401;
    res.set_content("", "text/plain");
    return false;
  }
  return true;
}

std::optional<std::string> FakeImds::Impl::MetaData(const std::string& path) {
  const std::string region =
      options.availability_zone.substr(0, options.availability_zone.size() - 1);
  if (path == "" || path == "/") {
    std::string listing =
        "ami-id\nevents/\nhostname\niam/\ninstance-id\ninstance-type\nlocal-ipv4\nplacement/\n";
    if (spot || raw_spot) listing += "spot/\n";
    return listing;
  }
  if (path == "instance-id") return options.instance_id;
  if (path == "instance-type") return options.instance_type;
  if (path == "ami-id") return options.ami_id;
  if (path == "local-ipv4") return options.local_ipv4;
  if (path == "hostname" || path == "local-hostname") {
    std::string ip = options.local_ipv4;
    for (char& c : ip) {
      if (c == '.') c = '-';
    }
    return absl::StrCat("ip-", ip, ".ec2.internal");
  }
  if (path == "placement/availability-zone") return options.availability_zone;
  if (path == "placement/region") return region;
  if (path == "placement/" || path == "placement") return "availability-zone\nregion\n";
  if (path == "spot/instance-action") {
    if (raw_spot) return *raw_spot;
    if (!spot) return std::nullopt;
    return nlohmann::json({{"action", spot->first}, {"time", Iso(spot->second)}}).dump();
  }
  if (path == "spot/termination-time") {
    if (!spot) return std::nullopt;
    return Iso(spot->second);
  }
  if (path == "events/recommendations/rebalance") {
    if (!rebalance) return std::nullopt;
    return nlohmann::json({{"noticeTime", Iso(*rebalance)}}).dump();
  }
  if (path == "iam/security-credentials/" || path == "iam/security-credentials") {
    if (role.empty()) return std::nullopt;
    return role;
  }
  if (!role.empty() && path == "iam/security-credentials/" + role) {
    const FakeRoleCredentials& c = role_credentials;
    return nlohmann::json({{"Code", c.code},
                           {"LastUpdated", Iso(absl::Now())},
                           {"Type", "AWS-HMAC"},
                           {"AccessKeyId", c.access_key_id},
                           {"SecretAccessKey", c.secret_access_key},
                           {"Token", c.token},
                           {"Expiration", Iso(c.expiration)}})
        .dump(2);
  }
  if (path == "iam/info" && !role.empty()) {
    return nlohmann::json({{"Code", "Success"},
                           {"LastUpdated", Iso(absl::Now())},
                           {"InstanceProfileArn", "arn:aws:iam::123456789012:instance-profile/" + role},
                           {"InstanceProfileId", "AIPAFAKEPROFILEID"}})
        .dump(2);
  }
  return std::nullopt;
}

void FakeImds::Impl::Handle(const httplib::Request& req, httplib::Response& res) {
  absl::Duration wait;
  {
    absl::MutexLock lock(&mu);
    wait = delay;
  }
  if (wait > absl::ZeroDuration()) absl::SleepFor(wait);
  absl::MutexLock lock(&mu);
  if (fail_count > 0) {
    --fail_count;
    res.status = fail_status;
    res.set_content("", "text/plain");
    return;
  }
  const std::string& path = req.path;
  if (path == "/latest/api/token") {
    if (req.method != "PUT") {
      res.status = 405;
      return;
    }
    ++token_requests;
    if (mode == ImdsMode::kV1Only) {
      res.status = options.v1_only_token_status;
      return;
    }
    if (req.has_header("X-Forwarded-For")) {
      res.status = 403;
      return;
    }
    int ttl = 0;
    if (!absl::SimpleAtoi(req.get_header_value("X-aws-ec2-metadata-token-ttl-seconds"), &ttl) ||
        ttl < 1 || ttl > 21600) {
      res.status = 400;
      return;
    }
    std::string token = "AQAEA";
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (int i = 0; i < 51; ++i) token.push_back(kAlphabet[absl::Uniform<int>(rng, 0, 64)]);
    token += "==";
    tokens[token] = absl::Now() + absl::Seconds(ttl);
    res.set_header("X-aws-ec2-metadata-token-ttl-seconds", absl::StrCat(ttl));
    res.set_content(token, "text/plain");
    return;
  }
  if (req.method != "GET") {
    res.status = 405;
    return;
  }
  ++metadata_requests;
  if (!Authorized(req, res)) return;
  if (path == "/latest/dynamic/instance-identity/document") {
    res.set_content(nlohmann::json({{"instanceId", options.instance_id},
                                    {"instanceType", options.instance_type},
                                    {"availabilityZone", options.availability_zone},
                                    {"region", options.availability_zone.substr(
                                                   0, options.availability_zone.size() - 1)},
                                    {"imageId", options.ami_id},
                                    {"privateIp", options.local_ipv4},
                                    {"accountId", "123456789012"}})
                        .dump(2),
                    "application/json");
    return;
  }
  constexpr absl::string_view kPrefix = "/latest/meta-data/";
  if (path == "/latest/meta-data") {
    res.status = 301;
    res.set_header("Location", "/latest/meta-data/");
    return;
  }
  if (!absl::StartsWith(path, kPrefix)) {
    res.status = 404;
    res.set_content("", "text/html");
    return;
  }
  auto body = MetaData(path.substr(kPrefix.size()));
  if (!body) {
    res.status = 404;
    res.set_content(
        "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n<html><head><title>404 - Not "
        "Found</title></head><body><h1>404 - Not Found</h1></body></html>\n",
        "text/html");
    return;
  }
  res.set_content(*body, "text/plain");
}

absl::StatusOr<std::unique_ptr<FakeImds>> FakeImds::Start(const FakeImdsOptions& options) {
  std::unique_ptr<FakeImds> fake(new FakeImds());
  fake->options_ = options;
  fake->impl_ = std::make_unique<Impl>(options);
  fake->server_ = std::make_unique<httplib::Server>();
  http::ConfigureServer(*fake->server_, {.threads = 4});
  // Idle keep-alive connections must not hold up the fake's shutdown.
  fake->server_->set_keep_alive_timeout(1);
  Impl* impl = fake->impl_.get();
  auto handler = [impl](const httplib::Request& req, httplib::Response& res) {
    impl->Handle(req, res);
  };
  fake->server_->Get("/latest/.*", handler);
  fake->server_->Put("/latest/.*", handler);
  fake->server_->Post("/latest/.*", handler);
  fake->server_->Delete("/latest/.*", handler);
  auto serving = http::ServingThread::Start(*fake->server_, {options.host, options.port});
  if (!serving.ok()) return serving.status();
  fake->serving_ = *std::move(serving);
  return fake;
}

FakeImds::~FakeImds() = default;

std::string FakeImds::endpoint() const { return absl::StrCat("http://", options_.host, ":", port()); }

void FakeImds::SetMode(ImdsMode mode) {
  absl::MutexLock lock(&impl_->mu);
  impl_->mode = mode;
}
void FakeImds::SetSpotAction(const std::string& action, absl::Time time) {
  absl::MutexLock lock(&impl_->mu);
  impl_->spot = std::make_pair(action, time);
}
void FakeImds::ClearSpotAction() {
  absl::MutexLock lock(&impl_->mu);
  impl_->spot.reset();
  impl_->raw_spot.reset();
}
void FakeImds::SetRawSpotAction(const std::string& body) {
  absl::MutexLock lock(&impl_->mu);
  impl_->raw_spot = body;
}
void FakeImds::SetRebalance(absl::Time notice_time) {
  absl::MutexLock lock(&impl_->mu);
  impl_->rebalance = notice_time;
}
void FakeImds::ClearRebalance() {
  absl::MutexLock lock(&impl_->mu);
  impl_->rebalance.reset();
}
void FakeImds::SetRole(const std::string& role, const FakeRoleCredentials& credentials) {
  absl::MutexLock lock(&impl_->mu);
  impl_->role = role;
  impl_->role_credentials = credentials;
}
void FakeImds::SetDelay(absl::Duration delay) {
  absl::MutexLock lock(&impl_->mu);
  impl_->delay = delay;
}
void FakeImds::FailNext(int status, int count) {
  absl::MutexLock lock(&impl_->mu);
  impl_->fail_status = status;
  impl_->fail_count = count;
}
void FakeImds::ExpireTokens() {
  absl::MutexLock lock(&impl_->mu);
  for (auto& [k, v] : impl_->tokens) v = absl::InfinitePast();
}
int FakeImds::token_requests() {
  absl::MutexLock lock(&impl_->mu);
  return impl_->token_requests;
}
int FakeImds::metadata_requests() {
  absl::MutexLock lock(&impl_->mu);
  return impl_->metadata_requests;
}
int FakeImds::unauthorized_answers() {
  absl::MutexLock lock(&impl_->mu);
  return impl_->unauthorized;
}

void FakeImds::EnableControlApi() {
  FakeImds* self = this;
  auto json_body = [](const httplib::Request& req, httplib::Response& res) -> nlohmann::json {
    auto j = nlohmann::json::parse(req.body.empty() ? "{}" : req.body, nullptr, false);
    if (!j.is_object()) {
      res.status = 400;
      res.set_content(R"({"error":"body is not a JSON object"})", "application/json");
      return nlohmann::json();
    }
    return j;
  };
  auto ok = [](httplib::Response& res) { res.set_content("{}", "application/json"); };
  auto bad = [](httplib::Response& res, const std::string& msg) {
    res.status = 400;
    res.set_content(nlohmann::json({{"error", msg}}).dump(), "application/json");
  };
  auto parse_time = [](const nlohmann::json& j, const char* key) -> std::optional<absl::Time> {
    if (!j.contains(key)) return absl::Now() + absl::Minutes(2);
    if (!j[key].is_string()) return std::nullopt;
    absl::Time t;
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, j[key].get<std::string>(), &t, &err)) return std::nullopt;
    return t;
  };
  server_->Post("/control/spot-action", [=](const httplib::Request& req, httplib::Response& res) {
    nlohmann::json j = json_body(req, res);
    if (j.is_null()) return;
    const std::string action = j.value("action", "terminate");
    if (action != "terminate" && action != "stop" && action != "hibernate") {
      return bad(res, "action must be terminate, stop or hibernate");
    }
    auto t = parse_time(j, "time");
    if (!t) return bad(res, "time must be RFC 3339");
    self->SetSpotAction(action, *t);
    ok(res);
  });
  server_->Delete("/control/spot-action", [=](const httplib::Request&, httplib::Response& res) {
    self->ClearSpotAction();
    ok(res);
  });
  server_->Post("/control/rebalance", [=](const httplib::Request& req, httplib::Response& res) {
    nlohmann::json j = json_body(req, res);
    if (j.is_null()) return;
    auto t = parse_time(j, "noticeTime");
    if (!t) return bad(res, "noticeTime must be RFC 3339");
    self->SetRebalance(*t);
    ok(res);
  });
  server_->Delete("/control/rebalance", [=](const httplib::Request&, httplib::Response& res) {
    self->ClearRebalance();
    ok(res);
  });
  server_->Post("/control/mode", [=](const httplib::Request& req, httplib::Response& res) {
    nlohmann::json j = json_body(req, res);
    if (j.is_null()) return;
    auto mode = ParseImdsMode(j.value("mode", ""));
    if (!mode.ok()) return bad(res, std::string(mode.status().message()));
    self->SetMode(*mode);
    ok(res);
  });
  server_->Post("/control/fault", [=](const httplib::Request& req, httplib::Response& res) {
    nlohmann::json j = json_body(req, res);
    if (j.is_null()) return;
    if (j.contains("delay_ms")) self->SetDelay(absl::Milliseconds(j.value("delay_ms", 0)));
    if (j.contains("status")) self->FailNext(j.value("status", 500), j.value("count", 1));
    ok(res);
  });
  server_->Post("/control/expire-tokens", [=](const httplib::Request&, httplib::Response& res) {
    self->ExpireTokens();
    ok(res);
  });
  server_->Post("/control/role", [=](const httplib::Request& req, httplib::Response& res) {
    nlohmann::json j = json_body(req, res);
    if (j.is_null()) return;
    FakeRoleCredentials c;
    c.access_key_id = j.value("AccessKeyId", "ASIAFAKEIMDSEXAMPLE1");
    c.secret_access_key = j.value("SecretAccessKey", "fakeImdsSecret");
    c.token = j.value("Token", "fakeImdsToken");
    auto t = parse_time(j, "Expiration");
    if (!t) return bad(res, "Expiration must be RFC 3339");
    c.expiration = j.contains("Expiration") ? *t : absl::Now() + absl::Hours(6);
    self->SetRole(j.value("role", ""), c);
    ok(res);
  });
}

}  // namespace hollowtrees::testing
