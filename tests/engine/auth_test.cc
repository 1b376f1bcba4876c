// Unit tests of the engine's security pieces: the HS256 JWT verifier, the
// Authenticator (bearer tokens, JWT, per-cluster authorization), the batch
// filters, and the tls/auth configuration keys.

#include "engine/http/auth.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "engine/rules/config.h"
#include "engine/http/jwt.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace hollowtrees::engine {
namespace {

using ::hollowtrees::testing::IsOk;
using ::hollowtrees::testing::MakeTempDir;
using ::hollowtrees::testing::StatusIs;
using ::hollowtrees::testing::WriteStringToFile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kKey[] = "s3cret-key-for-tests";
const absl::Time kNow = absl::FromUnixSeconds(1700000000);

JwtVerifyOptions Options() { return {.now = kNow, .leeway = absl::Seconds(60)}; }

JwtFailure FailureOf(absl::string_view token, absl::string_view key = kKey,
                     JwtVerifyOptions options = Options()) {
  JwtFailure f = JwtFailure::kNone;
  auto claims = VerifyHs256Jwt(token, key, options, &f);
  EXPECT_EQ(claims.ok(), f == JwtFailure::kNone);
  if (!claims.ok()) {
    EXPECT_EQ(claims.status().code(), absl::StatusCode::kUnauthenticated);
    // Messages never repeat the token or the key.
    EXPECT_THAT(std::string(claims.status().message()), Not(HasSubstr(std::string(key))));
    if (token.size() > 8) {
      EXPECT_THAT(std::string(claims.status().message()), Not(HasSubstr(std::string(token))));
    }
  }
  return f;
}

std::string B64(absl::string_view s) {
  std::string out;
  absl::WebSafeBase64Escape(s, &out);
  return out;
}

TEST(JwtTest, ValidTokenYieldsItsClaims) {
  const std::string token = SignHs256JwtForTesting(
      R"({"sub":"clusters/3/7","iss":"https://banzaicloud.com/","aud":"https://pipeline.banzaicloud.com","exp":1700000300,"nbf":1699999000,"scope":"api:invoke","jti":"t1"})",
      kKey);
  ASSERT_OK_AND_ASSIGN(JwtClaims c, VerifyHs256Jwt(token, kKey, Options()));
  EXPECT_EQ(c.subject, "clusters/3/7");
  EXPECT_EQ(c.issuer, "https://banzaicloud.com/");
  EXPECT_THAT(c.audience, ElementsAre("https://pipeline.banzaicloud.com"));
  EXPECT_EQ(c.scope, "api:invoke");
  EXPECT_EQ(c.id, "t1");
  EXPECT_EQ(c.expires_at, absl::FromUnixSeconds(1700000300));
}

TEST(JwtTest, TokenWithoutExpiryIsAccepted) {
  EXPECT_EQ(FailureOf(SignHs256JwtForTesting(R"({"sub":"x"})", kKey)), JwtFailure::kNone);
}

TEST(JwtTest, ExpiryAndNotBeforeHonourTheLeeway) {
  // exp 30 s ago: inside the 60 s leeway; 61 s ago: expired.
  EXPECT_EQ(FailureOf(SignHs256JwtForTesting(R"({"exp":1699999970})", kKey)), JwtFailure::kNone);
  EXPECT_EQ(FailureOf(SignHs256JwtForTesting(R"({"exp":1699999939})", kKey)), JwtFailure::kExpired);
  EXPECT_EQ(FailureOf(SignHs256JwtForTesting(R"({"exp":1699999970})", kKey), kKey,
                      {.now = kNow, .leeway = absl::ZeroDuration()}),
            JwtFailure::kExpired);
  EXPECT_EQ(FailureOf(SignHs256JwtForTesting(R"({"nbf":1700000030})", kKey)), JwtFailure::kNone);
  EXPECT_EQ(FailureOf(SignHs256JwtForTesting(R"({"nbf":1700000100})", kKey)),
            JwtFailure::kNotYetValid);
}

TEST(JwtTest, WrongKeyOrAlteredTokenFailsTheSignature) {
  const std::string token = SignHs256JwtForTesting(R"({"sub":"clusters/3/7"})", kKey);
  EXPECT_EQ(FailureOf(token, "another-key"), JwtFailure::kSignature);
  // Same header and signature, other claims.
  const size_t dot1 = token.find('.'), dot2 = token.rfind('.');
  const std::string forged = absl::StrCat(token.substr(0, dot1), ".", B64(R"({"sub":"clusters/3/8"})"),
                                          token.substr(dot2));
  EXPECT_EQ(FailureOf(forged), JwtFailure::kSignature);
  // A flipped signature character.
  std::string flipped = token;
  flipped.back() = flipped.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(FailureOf(flipped), JwtFailure::kSignature);
}

TEST(JwtTest, OnlyHs256IsAccepted) {
  // alg none with an empty signature: the classic bypass.
  EXPECT_EQ(FailureOf(absl::StrCat(B64(R"({"alg":"none"})"), ".", B64(R"({"sub":"x"})"), ".")),
            JwtFailure::kMalformed);
  EXPECT_EQ(FailureOf(absl::StrCat(B64(R"({"alg":"none"})"), ".", B64(R"({"sub":"x"})"), ".",
                                   B64("sig"))),
            JwtFailure::kAlgorithm);
  // Correctly signed with our key, but claiming another algorithm.
  for (const char* alg : {"HS512", "HS384", "RS256", "hs256", "NONE"}) {
    SCOPED_TRACE(alg);
    EXPECT_EQ(FailureOf(SignHs256JwtForTesting("{}", kKey, absl::StrCat(R"({"alg":")", alg, R"("})"))),
              JwtFailure::kAlgorithm);
  }
  EXPECT_EQ(FailureOf(SignHs256JwtForTesting("{}", kKey, R"({"typ":"JWT"})")), JwtFailure::kAlgorithm);
  EXPECT_EQ(FailureOf(SignHs256JwtForTesting("{}", kKey, R"({"alg":"HS256","crit":["b64"]})")),
            JwtFailure::kAlgorithm);
}

TEST(JwtTest, MalformedTokensAreRefused) {
  const std::string good = SignHs256JwtForTesting(R"({"sub":"x"})", kKey);
  for (const std::string& bad :
       {std::string(""), std::string("abc"), std::string("a.b"), absl::StrCat(good, ".x"),
        absl::StrCat(good, "="), absl::StrCat(" ", good), absl::StrCat(good.substr(0, 5), "+",
                                                                          good.substr(6)),
        absl::StrCat(B64("not json"), ".", B64("{}"), ".", B64("s")),
        absl::StrCat(B64("[1]"), ".", B64("{}"), ".", B64("s")), std::string(kMaxJwtBytes + 1, 'a')}) {
    SCOPED_TRACE(bad.substr(0, 40));
    EXPECT_EQ(FailureOf(bad), JwtFailure::kMalformed);
  }
  EXPECT_EQ(FailureOf(SignHs256JwtForTesting("[]", kKey)), JwtFailure::kMalformed);
  EXPECT_EQ(FailureOf(SignHs256JwtForTesting("{", kKey)), JwtFailure::kMalformed);
}

TEST(JwtTest, ClaimsOfTheWrongTypeOrValueAreRefused) {
  for (const char* claims : {R"({"exp":"tomorrow"})", R"({"nbf":true})", R"({"sub":7})",
                             R"({"aud":{"a":1}})", R"({"aud":["ok",1]})", R"({"exp":1e300})"}) {
    SCOPED_TRACE(claims);
    EXPECT_EQ(FailureOf(SignHs256JwtForTesting(claims, kKey)), JwtFailure::kClaims);
  }
  JwtVerifyOptions o = Options();
  o.issuer = "https://banzaicloud.com/";
  o.audience = "hollowtrees";
  EXPECT_EQ(FailureOf(SignHs256JwtForTesting(R"({"iss":"https://banzaicloud.com/","aud":["x","hollowtrees"]})", kKey), kKey, o),
            JwtFailure::kNone);
  EXPECT_EQ(FailureOf(SignHs256JwtForTesting(R"({"iss":"https://evil/","aud":"hollowtrees"})", kKey), kKey, o),
            JwtFailure::kClaims);
  EXPECT_EQ(FailureOf(SignHs256JwtForTesting(R"({"iss":"https://banzaicloud.com/","aud":"x"})", kKey), kKey, o),
            JwtFailure::kClaims);
  EXPECT_EQ(FailureOf(SignHs256JwtForTesting(R"({"iss":"https://banzaicloud.com/"})", kKey), kKey, o),
            JwtFailure::kClaims);
}

TEST(JwtTest, Base32MatchesRfc4648) {
  EXPECT_EQ(Base32Encode(""), "");
  EXPECT_EQ(Base32Encode("f"), "MY======");
  EXPECT_EQ(Base32Encode("fo"), "MZXQ====");
  EXPECT_EQ(Base32Encode("foo"), "MZXW6===");
  EXPECT_EQ(Base32Encode("foob"), "MZXW6YQ=");
  EXPECT_EQ(Base32Encode("fooba"), "MZXW6YTB");
  EXPECT_EQ(Base32Encode("foobar"), "MZXW6YTBOI======");
}

// --- Authenticator ---

class AuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("ht-auth");
    ASSERT_THAT(WriteStringToFile(dir_ + "/tokens", "# operators\nstatic-token-1\n\n  static-token-2  \n"),
                IsOk());
    ASSERT_THAT(WriteStringToFile(dir_ + "/jwt.key", std::string(kKey) + "\n"), IsOk());
  }
  std::shared_ptr<const Authenticator> Make(AuthConfig config) {
    auto a = Authenticator::Create(config);
    EXPECT_THAT(a, IsOk());
    return a.ok() ? *a : nullptr;
  }
  AuthConfig Config(bool cluster_match = false) {
    AuthConfig c;
    c.bearer_tokens_file = dir_ + "/tokens";
    c.jwt_enabled = true;
    c.jwt.hs256_secret_file = dir_ + "/jwt.key";
    c.jwt.require_cluster_match = cluster_match;
    return c;
  }
  std::string dir_;
};

TEST_F(AuthenticatorTest, MissingOrForeignCredentialsAre401) {
  auto a = Make(Config());
  AuthOutcome o = a->Authenticate("", kNow);
  EXPECT_EQ(o.http_status, 401);
  EXPECT_EQ(o.reason, "missing");
  EXPECT_EQ(a->Authenticate("Bearer   ", kNow).reason, "missing");
  EXPECT_EQ(a->Authenticate("Basic dXNlcjpwYXNz", kNow).reason, "scheme");
  EXPECT_EQ(a->Authenticate("static-token-1", kNow).reason, "scheme");
  o = a->Authenticate("Bearer static-token-3", kNow);
  EXPECT_EQ(o.http_status, 401);
  EXPECT_EQ(o.reason, "unknown_token");
  EXPECT_EQ(a->Authenticate("Bearer static-token", kNow).reason, "unknown_token");
}

TEST_F(AuthenticatorTest, StaticTokensAreAccepted) {
  auto a = Make(Config());
  EXPECT_EQ(a->bearer_token_count(), 2u);
  for (const char* h : {"Bearer static-token-1", "bearer static-token-2", "Bearer  static-token-2 "}) {
    SCOPED_TRACE(h);
    AuthOutcome o = a->Authenticate(h, kNow);
    EXPECT_TRUE(o.ok());
    EXPECT_EQ(o.principal.kind, Principal::Kind::kBearerToken);
    EXPECT_FALSE(o.principal.cluster_scoped);
  }
}

TEST_F(AuthenticatorTest, JwtsAreVerified) {
  auto a = Make(Config());
  AuthOutcome o = a->Authenticate(
      absl::StrCat("Bearer ", SignHs256JwtForTesting(R"({"sub":"clusters/3/7","exp":1700000100})", kKey)),
      kNow);
  ASSERT_TRUE(o.ok()) << o.message;
  EXPECT_EQ(o.principal.kind, Principal::Kind::kJwt);
  EXPECT_EQ(o.principal.subject, "clusters/3/7");
  EXPECT_FALSE(o.principal.cluster_scoped) << "cluster matching is off";
  o = a->Authenticate(absl::StrCat("Bearer ", SignHs256JwtForTesting(R"({"exp":1600000000})", kKey)), kNow);
  EXPECT_EQ(o.http_status, 401);
  EXPECT_EQ(o.reason, "expired");
  o = a->Authenticate(absl::StrCat("Bearer ", SignHs256JwtForTesting(R"({})", "wrong")), kNow);
  EXPECT_EQ(o.reason, "signature");
}

TEST_F(AuthenticatorTest, PipelineBase32KeysVerifyPipelineTokens) {
  AuthConfig c = Config();
  c.jwt.key_encoding = JwtKeyEncoding::kBase32;
  auto a = Make(c);
  // Pipeline signs with the Base32 text of its signing key.
  EXPECT_TRUE(a->Authenticate(absl::StrCat("Bearer ", SignHs256JwtForTesting("{}", Base32Encode(kKey))), kNow)
                  .ok());
  EXPECT_EQ(a->Authenticate(absl::StrCat("Bearer ", SignHs256JwtForTesting("{}", kKey)), kNow).reason,
            "signature");
}

TEST_F(AuthenticatorTest, ClusterMatchingNeedsAClusterSubject) {
  auto a = Make(Config(/*cluster_match=*/true));
  AuthOutcome o = a->Authenticate(
      absl::StrCat("Bearer ", SignHs256JwtForTesting(R"({"sub":"clusters/3/7"})", kKey)), kNow);
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o.principal.cluster_scoped);
  EXPECT_EQ(o.principal.org_id, "3");
  EXPECT_EQ(o.principal.cluster_id, "7");
  for (const char* sub : {R"({"sub":"users/3"})", R"({"sub":"clusters/3"})", R"({"sub":"clusters//7"})",
                          R"({"sub":"clusters/3/7/8"})", R"({})"}) {
    SCOPED_TRACE(sub);
    o = a->Authenticate(absl::StrCat("Bearer ", SignHs256JwtForTesting(sub, kKey)), kNow);
    EXPECT_EQ(o.http_status, 403);
    EXPECT_EQ(o.reason, "not_cluster_scoped");
  }
  // A static token is an operator's: not restricted to a cluster.
  o = a->Authenticate("Bearer static-token-1", kNow);
  ASSERT_TRUE(o.ok());
  EXPECT_FALSE(o.principal.cluster_scoped);
}

TEST_F(AuthenticatorTest, AuthorizeComparesOrgAndCluster) {
  Principal p;
  p.cluster_scoped = true;
  p.org_id = "3";
  p.cluster_id = "7";
  EXPECT_THAT(Authenticator::Authorize(p, {{"cluster_id", "7"}, {"org_id", "3"}}), IsOk());
  EXPECT_THAT(Authenticator::Authorize(p, {{"cluster_id", "8"}, {"org_id", "3"}}),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("cluster 8")));
  EXPECT_THAT(Authenticator::Authorize(p, {{"cluster_id", "7"}, {"org_id", "4"}}),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("org 4")));
  EXPECT_THAT(Authenticator::Authorize(p, {{"cluster_id", "7"}}),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("no cluster_id and org_id")));
  EXPECT_THAT(Authenticator::Authorize(Principal{}, {}), IsOk());
}

TEST_F(AuthenticatorTest, FileProblemsNameTheFileNotTheSecret) {
  AuthConfig c = Config();
  c.bearer_tokens_file = dir_ + "/absent";
  EXPECT_THAT(Authenticator::Create(c),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("auth.bearer_tokens_file " + dir_ + "/absent")));
  ASSERT_THAT(WriteStringToFile(dir_ + "/empty", "# nothing\n\n"), IsOk());
  c.bearer_tokens_file = dir_ + "/empty";
  EXPECT_THAT(Authenticator::Create(c), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("holds no token")));
  c = Config();
  ASSERT_THAT(WriteStringToFile(dir_ + "/blank.key", "\n"), IsOk());
  c.jwt.hs256_secret_file = dir_ + "/blank.key";
  EXPECT_THAT(Authenticator::Create(c), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is empty")));
}

TEST_F(AuthenticatorTest, ProtectsOnlyTheNamedClasses) {
  AuthConfig c = Config();
  auto a = Make(c);
  EXPECT_TRUE(a->Protects(EndpointClass::kIntake));
  EXPECT_FALSE(a->Protects(EndpointClass::kApi));
  EXPECT_FALSE(a->Protects(EndpointClass::kMetrics));
  c.protect = {EndpointClass::kApi, EndpointClass::kMetrics};
  a = Make(c);
  EXPECT_FALSE(a->Protects(EndpointClass::kIntake));
  EXPECT_TRUE(a->Protects(EndpointClass::kApi));
  EXPECT_TRUE(a->Protects(EndpointClass::kMetrics));
  EXPECT_FALSE(a->Protects(EndpointClass::kOpen));
}

TEST(ClassifyPathTest, Classes) {
  EXPECT_EQ(ClassifyPath("/api/v1/alerts"), EndpointClass::kIntake);
  EXPECT_EQ(ClassifyPath("/api/v2/alerts"), EndpointClass::kIntake);
  EXPECT_EQ(ClassifyPath("/api/v1/webhooks/alertmanager"), EndpointClass::kIntake);
  EXPECT_EQ(ClassifyPath("/api/v1/events"), EndpointClass::kIntake);
  EXPECT_EQ(ClassifyPath("/api/v1/flows"), EndpointClass::kApi);
  EXPECT_EQ(ClassifyPath("/api/v1/flows/abc/replay"), EndpointClass::kApi);
  EXPECT_EQ(ClassifyPath("/api/v1/rules"), EndpointClass::kApi);
  EXPECT_EQ(ClassifyPath("/metrics"), EndpointClass::kMetrics);
  EXPECT_EQ(ClassifyPath("/healthz"), EndpointClass::kOpen);
  EXPECT_EQ(ClassifyPath("/readyz"), EndpointClass::kOpen);
}

TEST(FilterTest, RefusedAlertsKeepTheirIndexInTheRequest) {
  Principal p;
  p.cluster_scoped = true;
  p.org_id = "1";
  p.cluster_id = "2";
  AlertBatch batch;
  auto alert = [](const char* cluster) {
    ParsedAlert a;
    a.labels = {{"alertname", "A"}, {"cluster_id", cluster}, {"org_id", "1"}};
    return a;
  };
  // Request: [ok(0), malformed(1), wrong(2), ok(3), wrong(4)]
  batch.alerts.push_back(alert("2"));
  batch.alerts.push_back(alert("9"));
  batch.alerts.push_back(alert("2"));
  batch.alerts.push_back(alert("8"));
  batch.rejected.push_back({1, "malformed"});
  EXPECT_EQ(FilterAlertsForPrincipal(p, &batch), 2);
  ASSERT_EQ(batch.alerts.size(), 2u);
  ASSERT_EQ(batch.rejected.size(), 3u);
  EXPECT_EQ(batch.rejected[0].index, 1);
  EXPECT_EQ(batch.rejected[1].index, 2);
  EXPECT_THAT(batch.rejected[1].error, HasSubstr("forbidden"));
  EXPECT_EQ(batch.rejected[2].index, 4);
  EXPECT_EQ(FilterAlertsForPrincipal(Principal{}, &batch), 0) << "unscoped principals pass";
}

// --- Configuration keys ---

TEST(SecurityConfigTest, KeysDecode) {
  ASSERT_OK_AND_ASSIGN(Config c, ParseConfig(R"(tls:
  cert_file: /c.pem
  key_file: /k.pem
  client_ca_file: /ca.pem
auth:
  bearer_tokens_file: /tokens
  jwt:
    hs256_secret_file: /jwt.key
    key_encoding: base32
    require_cluster_match: true
    issuer: iss
    audience: aud
    leeway: 5s
  protect: [intake, metrics]
)",
                                             "rules.yaml"));
  ASSERT_TRUE(c.tls.has_value());
  EXPECT_EQ(c.tls->cert_file, "/c.pem");
  EXPECT_EQ(c.tls->key_file, "/k.pem");
  EXPECT_EQ(c.tls->client_ca_file, "/ca.pem");
  ASSERT_TRUE(c.auth.has_value());
  EXPECT_EQ(c.auth->bearer_tokens_file, "/tokens");
  EXPECT_TRUE(c.auth->jwt_enabled);
  EXPECT_EQ(c.auth->jwt.hs256_secret_file, "/jwt.key");
  EXPECT_EQ(c.auth->jwt.key_encoding, JwtKeyEncoding::kBase32);
  EXPECT_TRUE(c.auth->jwt.require_cluster_match);
  EXPECT_EQ(c.auth->jwt.issuer, "iss");
  EXPECT_EQ(c.auth->jwt.audience, "aud");
  EXPECT_EQ(c.auth->jwt.leeway, absl::Seconds(5));
  EXPECT_THAT(c.auth->protect, ElementsAre(EndpointClass::kIntake, EndpointClass::kMetrics));

  ASSERT_OK_AND_ASSIGN(Config d, ParseConfig("auth: {bearer_tokens_file: /t}\n", "r.yaml"));
  EXPECT_FALSE(d.tls.has_value());
  EXPECT_FALSE(d.auth->jwt_enabled);
  EXPECT_THAT(d.auth->protect, ElementsAre(EndpointClass::kIntake));
  ASSERT_OK_AND_ASSIGN(Config e, ParseConfig("rules: []\n", "r.yaml"));
  EXPECT_FALSE(e.auth.has_value());
}

}  // namespace
}  // namespace hollowtrees::engine
