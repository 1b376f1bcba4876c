// Tests of lib/aws: SigV4 against the published AWS test vectors and against
// botocore, the credentials chain against the fake STS and fake IMDS, region
// and endpoint resolution, and the Query client against the fake AWS.

#include <cstdio>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "lib/aws/autoscaling.h"
#include "lib/aws/credentials.h"
#include "lib/aws/ec2.h"
#include "lib/aws/endpoints.h"
#include "lib/aws/environment.h"
#include "lib/aws/imds.h"
#include "lib/aws/query_client.h"
#include "lib/aws/region.h"
#include "lib/aws/sigv4.h"
#include "lib/common/clock.h"
#include "lib/common/url.h"
#include "nlohmann/json.hpp"
#include "tests/fakes/aws/fake_aws.h"
#include "tests/fakes/imds/fake_imds.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/trickle_server.h"
#include "tests/testing/subprocess.h"
#include "tests/lib/aws/botocore_sign.h"

namespace hollowtrees::aws {
namespace {

using ::hollowtrees::testing::FakeAws;
using ::hollowtrees::testing::FakeImds;
using ::hollowtrees::testing::IsOk;
using ::hollowtrees::testing::StatusIs;
using ::testing::HasSubstr;

constexpr char kSuiteKey[] = "AKIDEXAMPLE";
constexpr char kSuiteSecret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr char kFakeKey[] = "AKIDFAKEEXAMPLE";
constexpr char kFakeSecret[] = "fakeSecretKeyForTestsOnly/EXAMPLEKEY";

absl::Time SuiteTime() { return *ParseAmzDate("20150830T123600Z"); }

std::string HeaderOf(const SignableRequest& r, absl::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (absl::EqualsIgnoreCase(k, name)) return v;
  }
  return "";
}

// ---------------------------------------------------------------------------
// SigV4.

struct SuiteCase {
  std::string name;
  SignableRequest request;
  std::string service;
  std::string token;
  std::string creq, sts, authz;
};

std::vector<SuiteCase> LoadSuite() {
  auto text = testing::ReadFileToString(testing::SourcePath("tests/lib/aws/testdata/sigv4_suite.txt"));
  EXPECT_THAT(text, IsOk());
  std::vector<SuiteCase> out;
  if (!text.ok()) return out;
  for (absl::string_view block : absl::StrSplit(*text, "\n\n", absl::SkipWhitespace())) {
    SuiteCase c;
    c.request.headers.clear();
    for (absl::string_view line : absl::StrSplit(block, '\n', absl::SkipEmpty())) {
      const size_t colon = line.find(": ");
      absl::string_view key = line.substr(0, colon);
      std::string value = colon == absl::string_view::npos ? "" : std::string(line.substr(colon + 2));
      if (key == "name") c.name = value;
      if (key == "method") c.request.method = value;
      if (key == "path") c.request.path = value;
      if (key == "query") c.request.query = value;
      if (key == "body") c.request.body = value;
      if (key == "service") c.service = value;
      if (key == "token") c.token = value;
      if (key == "authz") c.authz = value;
      if (key == "creq") c.creq = absl::StrReplaceAll(value, {{"\\n", "\n"}});
      if (key == "sts") c.sts = absl::StrReplaceAll(value, {{"\\n", "\n"}});
      if (key == "header") {
        const size_t hc = value.find(':');
        c.request.headers.emplace_back(value.substr(0, hc), value.substr(hc + 1));
      }
    }
    out.push_back(std::move(c));
  }
  return out;
}

TEST(SigV4Test, MatchesThePublishedTestSuite) {
  std::vector<SuiteCase> cases = LoadSuite();
  ASSERT_GE(cases.size(), 20u);
  for (SuiteCase& c : cases) {
    SCOPED_TRACE(c.name);
    const SigningParams params{.region = "us-east-1", .service = c.service, .time = SuiteTime()};
    if (!c.creq.empty()) {
      EXPECT_EQ(CanonicalRequest(c.request, HeadersToSign(c.request)), c.creq);
    }
    if (!c.sts.empty()) {
      EXPECT_EQ(StringToSign(SuiteTime(), CredentialScope(SuiteTime(), "us-east-1", c.service),
                             CanonicalRequest(c.request, HeadersToSign(c.request))),
                c.sts);
    }
    SignRequest(c.request, {.access_key_id = kSuiteKey, .secret_access_key = kSuiteSecret,
                            .session_token = c.token},
                params);
    EXPECT_EQ(HeaderOf(c.request, "Authorization"), c.authz);
    EXPECT_EQ(HeaderOf(c.request, "X-Amz-Date"), "20150830T123600Z");
    if (!c.token.empty()) {
      EXPECT_EQ(HeaderOf(c.request, "X-Amz-Security-Token"), c.token);
    }
  }
}

TEST(SigV4Test, CachedSigningKeysSignTheSame) {
  SigningKeyCache cache;
  std::vector<SuiteCase> cases = LoadSuite();
  ASSERT_FALSE(cases.empty());
  for (int round = 0; round < 2; ++round) {  // the second round hits the cache
    for (SuiteCase c : cases) {
      SignRequest(c.request, {.access_key_id = kSuiteKey, .secret_access_key = kSuiteSecret,
                              .session_token = c.token},
                  {.region = "us-east-1", .service = c.service, .time = SuiteTime()}, &cache);
      EXPECT_EQ(HeaderOf(c.request, "Authorization"), c.authz) << c.name;
    }
  }
  // Another day, region or secret is another key.
  EXPECT_NE(cache.Get("s", SuiteTime(), "us-east-1", "ec2"),
            cache.Get("s", SuiteTime() + absl::Hours(24), "us-east-1", "ec2"));
  EXPECT_NE(cache.Get("s", SuiteTime(), "us-east-1", "ec2"),
            cache.Get("s", SuiteTime(), "us-west-2", "ec2"));
  EXPECT_NE(cache.Get("s", SuiteTime(), "us-east-1", "ec2"),
            cache.Get("t", SuiteTime(), "us-east-1", "ec2"));
  EXPECT_EQ(cache.Get("s", SuiteTime(), "us-east-1", "ec2"),
            SigningKey("s", SuiteTime(), "us-east-1", "ec2"));
}

TEST(SigV4Test, SigningKeyOfTheDocumentationExample) {
  EXPECT_EQ(HexEncode(SigningKey(kSuiteSecret, SuiteTime(), "us-east-1", "iam")),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
}

TEST(SigV4Test, ChangingAnySignedPartChangesTheSignature) {
  SignableRequest base;
  base.body = "Action=DescribeAutoScalingGroups&Version=2011-01-01";
  base.headers = {{"Host", "autoscaling.us-east-1.amazonaws.com"},
                  {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
                  {"X-Amz-Date", "20260101T000000Z"}};
  const SigningParams p{.region = "us-east-1", .service = "autoscaling",
                        .time = *ParseAmzDate("20260101T000000Z")};
  const auto names = HeadersToSign(base);
  const std::string sig = ComputeSignature(base, names, "secret", p);
  SignableRequest body = base;
  body.body += "&X=1";
  EXPECT_NE(ComputeSignature(body, names, "secret", p), sig);
  EXPECT_NE(ComputeSignature(base, names, "secret2", p), sig);
  SigningParams region = p;
  region.region = "us-west-2";
  EXPECT_NE(ComputeSignature(base, names, "secret", region), sig);
  // Unsigned headers (User-Agent) do not matter.
  SignableRequest ua = base;
  ua.headers.emplace_back("User-Agent", "x");
  EXPECT_EQ(ComputeSignature(ua, HeadersToSign(ua), "secret", p), sig);
}

TEST(SigV4Test, ParsesAuthorizationHeaders) {
  ASSERT_OK_AND_ASSIGN(ParsedAuthorization a,
                       ParseAuthorization("AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-1/ec2/"
                                          "aws4_request, SignedHeaders=host;x-amz-date, Signature=ab12"));
  EXPECT_EQ(a.access_key_id, "AKID");
  EXPECT_EQ(a.date, "20260101");
  EXPECT_EQ(a.region, "eu-west-1");
  EXPECT_EQ(a.service, "ec2");
  EXPECT_EQ(a.signed_headers, (std::vector<std::string>{"host", "x-amz-date"}));
  EXPECT_EQ(a.signature, "ab12");
  EXPECT_THAT(ParseAuthorization("Basic abc"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("AWS4-HMAC-SHA256")));
  EXPECT_THAT(ParseAuthorization("AWS4-HMAC-SHA256 Credential=AKID/x, SignedHeaders=host, Signature=1"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Credential")));
  EXPECT_THAT(ParseAuthorization("AWS4-HMAC-SHA256 Credential=A/2/r/s/aws4_request, Signature=1"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("SignedHeaders")));
}

TEST(SigV4Test, AmzDates) {
  ASSERT_OK_AND_ASSIGN(absl::Time t, ParseAmzDate("20150830T123600Z"));
  EXPECT_EQ(FormatAmzDate(t), "20150830T123600Z");
  EXPECT_EQ(FormatAmzShortDate(t), "20150830");
  EXPECT_THAT(ParseAmzDate("2015-08-30T12:36:00Z"), StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_THAT(ParseAmzDate("20151330T123600Z"), StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
}

TEST(SigV4Test, UriEncoding) {
  EXPECT_EQ(PercentEncode("a b/c~*"), "a%20b%2Fc~%2A");
  EXPECT_EQ(PercentEncode("a b/c", Slash::kKeep), "a%20b/c");
  EXPECT_EQ(PercentDecode("a%20b%2fc%zz"), "a b/c%zz");
  EXPECT_EQ(PercentDecode("a+b", Plus::kSpace), "a b");
  EXPECT_EQ(FormEncode({{"InstanceIds.member.1", "i-1"}, {"X", "a b&c"}}),
            "InstanceIds.member.1=i-1&X=a%20b%26c");
  EXPECT_EQ(FormDecode("A=1&B=a+b%26c&C"),
            (QueryParams{{"A", "1"}, {"B", "a b&c"}, {"C", ""}}));
}

// The same requests signed by botocore (Debian python3-botocore) and by us.
TEST(SigV4Test, MatchesBotocore) {
  struct Case {
    std::string method, host, path, query, body, token, service, region, date;
    http::Headers headers;
  };
  const std::string form = "application/x-www-form-urlencoded; charset=utf-8";
  std::vector<Case> cases = {
      {"POST", "autoscaling.us-east-1.amazonaws.com", "/", "",
       "Action=DescribeAutoScalingInstances&Version=2011-01-01&InstanceIds.member.1=i-0123456789abcdef0",
       "", "autoscaling", "us-east-1", "20261121T063000Z", {{"Content-Type", form}}},
      {"POST", "127.0.0.1:4566", "/", "",
       "Action=DetachInstances&Version=2011-01-01&AutoScalingGroupName=spot%20asg&ShouldDecrementDesiredCapacity=false",
       "FwoGZXIvYXdzEXAMPLETOKEN//+=", "autoscaling", "eu-west-1", "20260101T235959Z",
       {{"Content-Type", form}}},
      {"POST", "ec2.ap-southeast-2.amazonaws.com", "/", "",
       "Action=TerminateInstances&Version=2016-11-15&InstanceId.1=i-0123456789abcdef0", "", "ec2",
       "ap-southeast-2", "20250228T120000Z", {{"Content-Type", form}}},
      {"GET", "sts.us-east-1.amazonaws.com", "/a%20b/../c", "Version=2011-06-15&Action=GetCallerIdentity&z=%E1%88%B4",
       "", "", "sts", "us-east-1", "20240229T000001Z", {{"X-Custom", "  spaced   value "}}},
  };
  nlohmann::json input = nlohmann::json::array();
  std::vector<std::string> ours;
  for (const Case& c : cases) {
    SignableRequest r;
    r.method = c.method;
    r.path = c.path;
    r.query = c.query;
    r.body = c.body;
    r.headers = c.headers;
    r.headers.emplace_back("Host", c.host);
    SignRequest(r, {.access_key_id = "AKIDBOTOCORE", .secret_access_key = "botocore/SECRET+key",
                    .session_token = c.token},
                {.region = c.region, .service = c.service, .time = *ParseAmzDate(c.date)});
    ours.push_back(HeaderOf(r, "Authorization"));
    nlohmann::json headers = nlohmann::json::array();
    for (const auto& [k, v] : c.headers) headers.push_back({k, v});
    input.push_back({{"method", c.method},
                     {"url", absl::StrCat("http://", c.host, c.path, c.query.empty() ? "" : "?", c.query)},
                     {"headers", headers},
                     {"body", c.body},
                     {"access_key", "AKIDBOTOCORE"},
                     {"secret_key", "botocore/SECRET+key"},
                     {"token", c.token},
                     {"region", c.region},
                     {"service", c.service},
                     {"amz_date", c.date}});
  }
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> theirs,
                       testing::BotocoreAuthorizations(input));
  for (size_t i = 0; i < ours.size(); ++i) {
    EXPECT_EQ(ours[i], theirs[i]) << "case " << i;
    EXPECT_TRUE(absl::StartsWith(ours[i], "AWS4-HMAC-SHA256 Credential=AKIDBOTOCORE/"));
  }
}

// ---------------------------------------------------------------------------
// Shared files, region, endpoints.

TEST(IniTest, ParsesSectionsCommentsAndNestedValues) {
  ASSERT_OK_AND_ASSIGN(IniFile ini, ParseIni("# comment\n[default]\nregion = eu-west-1 # inline\n"
                                             "; other\n[profile x]\ns3 =\n  max_concurrent_requests = 5\n"
                                             "output=json\n",
                                             "config"));
  EXPECT_EQ(ini["default"]["region"], "eu-west-1");
  EXPECT_EQ(ini["profile x"]["s3.max_concurrent_requests"], "5");
  EXPECT_EQ(ini["profile x"]["output"], "json");
  EXPECT_THAT(ParseIni("[default]\njunk\n", "f"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("f:2: expected key = value")));
  EXPECT_THAT(ParseIni("[default\n", "f"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("f:1:")));
  EXPECT_THAT(ParseIni("a = b\n", "f"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("before any [section]")));
}

struct SharedFiles {
  std::string dir, config, credentials;
};
SharedFiles WriteSharedFiles(const std::string& config, const std::string& credentials) {
  SharedFiles f;
  f.dir = testing::MakeTempDir("aws-shared");
  f.config = f.dir + "/config";
  f.credentials = f.dir + "/credentials";
  EXPECT_THAT(testing::WriteStringToFile(f.config, config), IsOk());
  EXPECT_THAT(testing::WriteStringToFile(f.credentials, credentials), IsOk());
  return f;
}

TEST(RegionTest, FlagThenEnvironmentThenConfigFile) {
  SharedFiles f = WriteSharedFiles("[default]\nregion = ca-central-1\n[profile p]\nregion = sa-east-1\n", "");
  Env env = {{"AWS_CONFIG_FILE", f.config}, {"AWS_SHARED_CREDENTIALS_FILE", f.credentials}};
  EXPECT_EQ(*ResolveRegion("", env), "ca-central-1");
  env["AWS_PROFILE"] = "p";
  EXPECT_EQ(*ResolveRegion("", env), "sa-east-1");
  env["AWS_DEFAULT_REGION"] = "eu-west-3";
  EXPECT_EQ(*ResolveRegion("", env), "eu-west-3");
  env["AWS_REGION"] = "eu-north-1";
  EXPECT_EQ(*ResolveRegion("", env), "eu-north-1");
  EXPECT_EQ(*ResolveRegion("us-west-2", env), "us-west-2");
  EXPECT_THAT(ResolveRegion("US East", env), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--region")));
  Env none = {{"AWS_CONFIG_FILE", f.dir + "/missing"}, {"AWS_SHARED_CREDENTIALS_FILE", f.dir + "/missing"}};
  EXPECT_THAT(ResolveRegion("", none), StatusIs(absl::StatusCode::kNotFound, HasSubstr("AWS_REGION")));
}

TEST(EndpointsTest, OverridesAsTheSdksReadThem) {
  Env env;
  EXPECT_EQ(ResolveEndpoint("EC2", "ec2", "eu-west-1", env), "https://ec2.eu-west-1.amazonaws.com");
  EXPECT_EQ(ResolveEndpoint("AUTO_SCALING", "autoscaling", "cn-north-1", env),
            "https://autoscaling.cn-north-1.amazonaws.com.cn");
  env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:1";
  EXPECT_EQ(ResolveEndpoint("EC2", "ec2", "eu-west-1", env), "http://127.0.0.1:1");
  env["AWS_ENDPOINT_URL_EC2"] = "http://127.0.0.1:2";
  EXPECT_EQ(ResolveEndpoint("EC2", "ec2", "eu-west-1", env), "http://127.0.0.1:2");
  EXPECT_EQ(ResolveEndpoint("AUTO_SCALING", "autoscaling", "eu-west-1", env), "http://127.0.0.1:1");
  env["AWS_ENDPOINT_URL_AUTO_SCALING"] = "http://127.0.0.1:3";
  env["AWS_ENDPOINT_URL_STS"] = "http://127.0.0.1:4";
  EXPECT_EQ(ResolveEndpoint("AUTO_SCALING", "autoscaling", "eu-west-1", env), "http://127.0.0.1:3");
  EXPECT_EQ(ResolveEndpoint("STS", "sts", "eu-west-1", env), "http://127.0.0.1:4");
  env["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = "true";
  EXPECT_EQ(ResolveEndpoint("STS", "sts", "eu-west-1", env), "https://sts.eu-west-1.amazonaws.com");
}

// ---------------------------------------------------------------------------
// Credentials.

TEST(CredentialsTest, Environment) {
  auto p = NewEnvironmentCredentials({{"AWS_ACCESS_KEY_ID", "AK"}, {"AWS_SECRET_ACCESS_KEY", "SK"},
                                      {"AWS_SESSION_TOKEN", "T"}});
  ASSERT_OK_AND_ASSIGN(Credentials c, p->Get());
  EXPECT_EQ(c.access_key_id, "AK");
  EXPECT_EQ(c.secret_access_key, "SK");
  EXPECT_EQ(c.session_token, "T");
  EXPECT_THAT(NewEnvironmentCredentials({})->Get(), StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  EXPECT_THAT(NewEnvironmentCredentials({{"AWS_ACCESS_KEY_ID", "AK"}})->Get(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("AWS_SECRET_ACCESS_KEY")));
}

TEST(CredentialsTest, ProfileFromBothFiles) {
  SharedFiles f = WriteSharedFiles(
      "[default]\nregion = us-east-1\n[profile ops]\nregion = eu-west-1\naws_access_key_id = CFGKEY\n"
      "aws_secret_access_key = CFGSECRET\n",
      "[default]\naws_access_key_id = DEFKEY\naws_secret_access_key = DEFSECRET\n"
      "[prod]\naws_access_key_id = PRODKEY\naws_secret_access_key = PRODSECRET\naws_session_token = PRODTOKEN\n");
  Env env = {{"AWS_CONFIG_FILE", f.config}, {"AWS_SHARED_CREDENTIALS_FILE", f.credentials}};
  ASSERT_OK_AND_ASSIGN(Credentials d, NewProfileCredentials(env)->Get());
  EXPECT_EQ(d.access_key_id, "DEFKEY");
  EXPECT_EQ(d.source, "profile default");
  env["AWS_PROFILE"] = "prod";
  ASSERT_OK_AND_ASSIGN(Credentials p, NewProfileCredentials(env)->Get());
  EXPECT_EQ(p.access_key_id, "PRODKEY");
  EXPECT_EQ(p.session_token, "PRODTOKEN");
  env["AWS_PROFILE"] = "ops";  // keys in the config file's [profile ops]
  ASSERT_OK_AND_ASSIGN(Credentials o, NewProfileCredentials(env)->Get());
  EXPECT_EQ(o.access_key_id, "CFGKEY");
  env["AWS_PROFILE"] = "nope";
  EXPECT_THAT(NewProfileCredentials(env)->Get(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"nope\"")));
  // A broken file is an error naming the line, not "no credentials".
  ASSERT_THAT(testing::WriteStringToFile(f.credentials, "[default]\ngarbage\n"), IsOk());
  env.erase("AWS_PROFILE");
  EXPECT_THAT(NewProfileCredentials(env)->Get(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("credentials:2:")));
}

TEST(QueryClientDeadlineTest, ATricklingEndpointIsCutOffAtTheCallsDeadline) {
  // An endpoint that answers one byte every 50 ms: each attempt would take
  // 10 s, every byte well within a per-read timeout.
  ASSERT_OK_AND_ASSIGN(auto slow, hollowtrees::testing::TrickleServer::Start(
                                      hollowtrees::testing::TrickleServer::SlowJsonAnswer(150),
                                      absl::Milliseconds(50)));
  auto creds = NewStaticCredentials({.access_key_id = "AKIDEXAMPLE", .secret_access_key = "s"});
  auto client = QueryClient::Create({.endpoint = slow->url(), .region = "us-east-1",
                                     .service = "autoscaling", .version = "2011-01-01",
                                     .timeout = absl::Seconds(5),
                                     .retry = {.max_attempts = 5}},
                                    creds.get(), RealClock(), nullptr);
  ASSERT_THAT(client, IsOk());
  const absl::Time started = absl::Now();
  auto r = (*client)->Call("DescribeAutoScalingGroups", {}, started + absl::Seconds(2));
  const absl::Duration took = absl::Now() - started;
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("deadline"));
  EXPECT_LT(took, absl::Seconds(4)) << "the call outlived its deadline: " << r.status();
}

TEST(ImdsDeadlineTest, ATricklingMetadataServiceIsCutOffAtTheRequestsTimeout) {
  // The token PUT and the GET both meet an answer that comes a byte every
  // 50 ms (7.5 s in all): each request ends at its 1 s timeout.
  ASSERT_OK_AND_ASSIGN(auto slow, hollowtrees::testing::TrickleServer::Start(
                                      hollowtrees::testing::TrickleServer::SlowJsonAnswer(150),
                                      absl::Milliseconds(50)));
  ASSERT_OK_AND_ASSIGN(auto imds, ImdsClient::Create({.endpoint = slow->url(),
                                                      .timeout = absl::Seconds(1),
                                                      .v1_when_token_unreachable = true},
                                                     RealClock()));
  const absl::Time started = absl::Now();
  auto r = imds->Get("meta-data/spot/instance-action");
  const absl::Duration took = absl::Now() - started;
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kUnavailable));
  // Two requests (the token, then the v1 GET), each cut at 1 s.
  EXPECT_LT(took, absl::Seconds(3)) << "the metadata call outlived its timeout: " << r.status();
  EXPECT_GE(slow->connections(), 1);
}

class FakeAwsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(fake_, FakeAws::Start());
    fake_->AddGroup({.name = "spot-asg", .min_size = 1, .max_size = 4, .desired = 2,
                     .mixed_instance_types = {"m5.large", "m5a.large"}});
    fake_->AddInstance({.id = "i-0000000000000a001", .group = "spot-asg"});
    fake_->AddInstance({.id = "i-0000000000000a002", .type = "m5a.large", .az = "us-east-1b",
                        .group = "spot-asg"});
    fake_->AddInstance({.id = "i-0000000000000b001", .group = ""});
  }

  std::unique_ptr<QueryClient> Client(const std::string& service, CredentialsProvider* creds,
                                      Clock& clock, int attempts = 4) {
    const std::string version = service == "ec2" ? kEc2Version
                                : service == "sts" ? "2011-06-15"
                                                   : kAutoScalingVersion;
    auto c = QueryClient::Create({.endpoint = fake_->endpoint(), .region = "us-east-1",
                                  .service = service, .version = version,
                                  .timeout = absl::Seconds(5),
                                  .retry = {.max_attempts = attempts,
                                            .base_delay = absl::Milliseconds(100),
                                            .max_delay = absl::Seconds(1)}},
                                 creds, clock, nullptr);
    EXPECT_THAT(c, IsOk());
    return std::move(c).value();
  }

  std::unique_ptr<CredentialsProvider> Static(const std::string& secret = kFakeSecret) {
    return NewStaticCredentials({.access_key_id = kFakeKey, .secret_access_key = secret});
  }

  std::unique_ptr<FakeAws> fake_;
};

TEST_F(FakeAwsTest, WebIdentityThroughTheFakeSts) {
  const std::string dir = testing::MakeTempDir("webid");
  ASSERT_THAT(testing::WriteStringToFile(dir + "/token", "fake-web-identity-token\n"), IsOk());
  WebIdentityOptions o{.sts_endpoint = fake_->endpoint(), .region = "us-east-1",
                       .role_arn = "arn:aws:iam::123456789012:role/hollowtrees",
                       .token_file = dir + "/token", .session_name = "test-session"};
  auto p = NewWebIdentityCredentials(o, RealClock(), nullptr);
  ASSERT_OK_AND_ASSIGN(Credentials c, p->Get());
  EXPECT_TRUE(absl::StartsWith(c.access_key_id, "ASIA")) << c.access_key_id;
  EXPECT_FALSE(c.session_token.empty());
  EXPECT_GT(c.expiration, absl::Now() + absl::Minutes(50));
  auto calls = fake_->Calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].service, "sts");
  EXPECT_EQ(calls[0].params["RoleSessionName"], "test-session");
  EXPECT_EQ(calls[0].params["WebIdentityToken"], "fake-web-identity-token");
  // The issued session credentials sign requests the fake accepts.
  auto asg = Client("autoscaling", p.get(), RealClock());
  AutoScalingClient api(*asg);
  ASSERT_OK_AND_ASSIGN(auto inst, api.DescribeAutoScalingInstance("i-0000000000000a001"));
  ASSERT_TRUE(inst.has_value());
  // Signed with session credentials the fake STS issued (an uncached
  // provider fetches anew for each request).
  EXPECT_TRUE(absl::StartsWith(fake_->Calls().back().access_key_id, "ASIA"));
  EXPECT_EQ(fake_->CountCalls("AssumeRoleWithWebIdentity"), 2);
  // A wrong token is refused by STS with a clear error.
  ASSERT_THAT(testing::WriteStringToFile(dir + "/token", "forged"), IsOk());
  EXPECT_THAT(p->Get(), StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("InvalidIdentityToken")));
  o.token_file = dir + "/missing";
  EXPECT_THAT(NewWebIdentityCredentials(o, RealClock(), nullptr)->Get(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cannot read token file")));
}

TEST_F(FakeAwsTest, ExpiredSessionCredentialsAreRefreshed) {
  const std::string dir = testing::MakeTempDir("webid");
  ASSERT_THAT(testing::WriteStringToFile(dir + "/token", "fake-web-identity-token"), IsOk());
  auto p = NewCachingCredentials(
      NewWebIdentityCredentials({.sts_endpoint = fake_->endpoint(), .region = "us-east-1",
                                 .role_arn = "arn:aws:iam::123456789012:role/hollowtrees",
                                 .token_file = dir + "/token"},
                                RealClock(), nullptr),
      RealClock());
  auto asg = Client("autoscaling", p.get(), RealClock());
  AutoScalingClient api(*asg);
  ASSERT_THAT(api.DescribeAutoScalingGroup("spot-asg"), IsOk());
  ASSERT_THAT(api.DescribeAutoScalingGroup("spot-asg"), IsOk());
  EXPECT_EQ(fake_->CountCalls("AssumeRoleWithWebIdentity"), 1);  // cached
  fake_->ExpireSessionTokens();
  ASSERT_OK_AND_ASSIGN(auto g, api.DescribeAutoScalingGroup("spot-asg"));
  EXPECT_TRUE(g.has_value());
  EXPECT_EQ(fake_->CountCalls("AssumeRoleWithWebIdentity"), 2);  // refreshed once
  EXPECT_EQ(fake_->CountCalls("DescribeAutoScalingGroups", /*successful_only=*/false), 4);
}

TEST(CredentialsTest, CachingRefreshesBeforeExpiry) {
  class Counting : public CredentialsProvider {
   public:
    explicit Counting(Clock& clock) : clock_(clock) {}
    absl::StatusOr<Credentials> Get() override {
      ++fetches;
      if (fail) return absl::UnavailableError("sts down");
      return Credentials{.access_key_id = absl::StrCat("K", fetches), .secret_access_key = "S",
                         .session_token = "T", .expiration = clock_.Now() + absl::Hours(1)};
    }
    std::string Name() const override { return "counting"; }
    Clock& clock_;
    int fetches = 0;
    bool fail = false;
  };
  FakeClock clock(absl::FromUnixSeconds(1700000000));
  auto owned = std::make_unique<Counting>(clock);
  Counting* base = owned.get();
  auto p = NewCachingCredentials(std::move(owned), clock, absl::Minutes(5));
  EXPECT_EQ(p->Get()->access_key_id, "K1");
  clock.Advance(absl::Minutes(54));
  EXPECT_EQ(p->Get()->access_key_id, "K1");  // 6 minutes left: still cached
  clock.Advance(absl::Minutes(2));
  EXPECT_EQ(p->Get()->access_key_id, "K2");  // 4 minutes left: refreshed
  EXPECT_EQ(base->fetches, 2);
  // A failed refresh keeps the still-valid credentials...
  clock.Advance(absl::Minutes(56));
  base->fail = true;
  EXPECT_EQ(p->Get()->access_key_id, "K2");
  // ...but not expired ones.
  clock.Advance(absl::Minutes(5));
  EXPECT_THAT(p->Get(), StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
  base->fail = false;
  EXPECT_EQ(p->Get()->access_key_id, "K5");
}

TEST(ImdsTest, InstanceProfileThroughImdsV2) {
  ASSERT_OK_AND_ASSIGN(auto imds, FakeImds::Start());
  imds->SetRole("node-role", {.access_key_id = "ASIAIMDS", .secret_access_key = "imds-secret",
                              .token = "imds-token", .expiration = absl::Now() + absl::Hours(6)});
  auto p = NewImdsCredentials({.endpoint = imds->endpoint()}, RealClock());
  ASSERT_OK_AND_ASSIGN(Credentials c, p->Get());
  EXPECT_EQ(c.access_key_id, "ASIAIMDS");
  EXPECT_EQ(c.secret_access_key, "imds-secret");
  EXPECT_EQ(c.session_token, "imds-token");
  EXPECT_EQ(c.source, "instance profile node-role");
  EXPECT_EQ(imds->token_requests(), 1);
  EXPECT_EQ(imds->unauthorized_answers(), 0);
  // Tokens revoked: one 401, a new token, success.
  imds->ExpireTokens();
  ASSERT_THAT(p->Get(), IsOk());
  EXPECT_EQ(imds->token_requests(), 2);
  EXPECT_EQ(imds->unauthorized_answers(), 1);
  // No role: not configured.
  imds->SetRole("", {});
  EXPECT_THAT(p->Get(), StatusIs(absl::StatusCode::kNotFound, ::testing::_));
}

TEST(ImdsTest, FallsBackToV1WhereTokensAreRefused) {
  ASSERT_OK_AND_ASSIGN(auto imds, FakeImds::Start({.mode = testing::ImdsMode::kV1Only}));
  ASSERT_OK_AND_ASSIGN(auto client, ImdsClient::Create({.endpoint = imds->endpoint()}, RealClock()));
  ASSERT_OK_AND_ASSIGN(std::string id, client->Get("meta-data/instance-id"));
  EXPECT_EQ(id, "i-0123456789abcdef0");
  EXPECT_THAT(client->Get("meta-data/spot/instance-action"), StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  imds->FailNext(503, 1);
  EXPECT_THAT(client->Get("meta-data/instance-id"), StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
  ASSERT_OK_AND_ASSIGN(auto strict, ImdsClient::Create({.endpoint = imds->endpoint(),
                                                        .allow_v1_fallback = false},
                                                       RealClock()));
  EXPECT_THAT(strict->Get("meta-data/instance-id"), StatusIs(absl::StatusCode::kPermissionDenied, ::testing::_));
}

TEST(CredentialsTest, DefaultChainOrderAndMetadataSwitch) {
  ASSERT_OK_AND_ASSIGN(auto imds, FakeImds::Start());
  imds->SetRole("node-role", {.access_key_id = "ASIAIMDS", .secret_access_key = "s",
                              .token = "t", .expiration = absl::Now() + absl::Hours(6)});
  SharedFiles f = WriteSharedFiles("", "[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = FILESECRET\n");
  Env env = {{"AWS_CONFIG_FILE", f.config},
             {"AWS_SHARED_CREDENTIALS_FILE", f.credentials},
             {"AWS_EC2_METADATA_SERVICE_ENDPOINT", imds->endpoint()},
             {"AWS_ACCESS_KEY_ID", "ENVKEY"},
             {"AWS_SECRET_ACCESS_KEY", "ENVSECRET"}};
  auto chain = [&] { return NewDefaultCredentialsChain({.env = env, .region = "us-east-1"}, RealClock(), nullptr); };
  EXPECT_EQ(chain()->Get()->access_key_id, "ENVKEY");
  env.erase("AWS_ACCESS_KEY_ID");
  env.erase("AWS_SECRET_ACCESS_KEY");
  EXPECT_EQ(chain()->Get()->access_key_id, "FILEKEY");
  ASSERT_THAT(testing::WriteStringToFile(f.credentials, ""), IsOk());
  EXPECT_EQ(chain()->Get()->access_key_id, "ASIAIMDS");
  const int before = imds->metadata_requests();
  env["AWS_EC2_METADATA_DISABLED"] = "true";
  auto none = chain()->Get();
  EXPECT_THAT(none, StatusIs(absl::StatusCode::kNotFound, HasSubstr("no AWS credentials found")));
  EXPECT_EQ(imds->metadata_requests(), before);  // not even asked
}

// ---------------------------------------------------------------------------
// The Query client against the fake AWS.

TEST(QueryClientTest, ParsesBothErrorShapes) {
  ASSERT_OK_AND_ASSIGN(AwsError a, ParseAwsErrorBody(
      "<ErrorResponse xmlns=\"http://autoscaling.amazonaws.com/doc/2011-01-01/\"><Error><Type>Sender"
      "</Type><Code>ValidationError</Code><Message>bad &amp; wrong</Message></Error><RequestId>r-1"
      "</RequestId></ErrorResponse>", 400));
  EXPECT_EQ(a.code, "ValidationError");
  EXPECT_EQ(a.message, "bad & wrong");
  EXPECT_EQ(a.request_id, "r-1");
  ASSERT_OK_AND_ASSIGN(AwsError e, ParseAwsErrorBody(
      "<?xml version=\"1.0\"?><Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>"
      "Request limit exceeded.</Message></Error></Errors><RequestID>r-2</RequestID></Response>", 503));
  EXPECT_EQ(e.code, "RequestLimitExceeded");
  EXPECT_EQ(e.request_id, "r-2");
  EXPECT_THAT(ParseAwsErrorBody("<html>gateway</html>", 502), StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_THAT(ParseAwsErrorBody("not xml", 500), StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));

  absl::Status s = MakeAwsStatus(e);
  EXPECT_TRUE(absl::IsUnavailable(s));
  EXPECT_THAT(std::string(s.message()), HasSubstr("RequestLimitExceeded"));
  ASSERT_TRUE(GetAwsError(s).has_value());
  EXPECT_EQ(GetAwsError(s)->request_id, "r-2");
  EXPECT_TRUE(IsAwsError(s, "RequestLimitExceeded"));
  EXPECT_FALSE(GetAwsError(absl::UnavailableError("x")).has_value());
  EXPECT_EQ(AwsErrorCode({.http_status = 400, .code = "InvalidInstanceID.NotFound"}), absl::StatusCode::kNotFound);
  EXPECT_EQ(AwsErrorCode({.http_status = 403, .code = "SignatureDoesNotMatch"}), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(AwsErrorCode({.http_status = 403, .code = "AccessDenied"}), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(AwsErrorCode({.http_status = 400, .code = "ValidationError"}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AwsErrorCode({.http_status = 400, .code = "Throttling"}), absl::StatusCode::kUnavailable);
}

TEST_F(FakeAwsTest, RetriesThrottlingWithCappedJitteredBackoff) {
  FakeClock clock(absl::Now());
  auto creds = Static();
  auto client = Client("autoscaling", creds.get(), clock, /*attempts=*/5);
  fake_->InjectError("DescribeAutoScalingGroups", "Throttling", 400, 3, "Rate exceeded");
  AutoScalingClient api(*client);
  ASSERT_OK_AND_ASSIGN(auto g, api.DescribeAutoScalingGroup("spot-asg"));
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(fake_->CountCalls("DescribeAutoScalingGroups", false), 4);
  const auto sleeps = clock.sleeps();
  ASSERT_EQ(sleeps.size(), 3u);
  // Full jitter: uniform in [0, min(cap, base * 2^(n-1))].
  EXPECT_LE(sleeps[0], absl::Milliseconds(100));
  EXPECT_LE(sleeps[1], absl::Milliseconds(200));
  EXPECT_LE(sleeps[2], absl::Milliseconds(400));
}

TEST_F(FakeAwsTest, GivesUpAfterMaxAttemptsAndOnDeadline) {
  FakeClock clock(absl::Now());
  auto creds = Static();
  auto ec2 = Client("ec2", creds.get(), clock, /*attempts=*/3);
  fake_->InjectError("DescribeInstances", "RequestLimitExceeded", 503, 100, "Request limit exceeded.");
  Ec2Client api(*ec2);
  auto r = api.DescribeInstance("i-0000000000000a001");
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("RequestLimitExceeded")));
  EXPECT_EQ(fake_->CountCalls("DescribeInstances", false), 3);
  EXPECT_EQ(clock.sleeps().size(), 2u);
  // A deadline that leaves no room for a backoff: one attempt only.
  fake_->ClearCalls();
  auto d = api.DescribeInstance("i-0000000000000a001", clock.Now());
  EXPECT_THAT(d, StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
  EXPECT_EQ(fake_->CountCalls("DescribeInstances", false), 1);
}

TEST_F(FakeAwsTest, ServerErrorsAreRetriedValidationErrorsAreNot) {
  FakeClock clock(absl::Now());
  auto creds = Static();
  auto client = Client("autoscaling", creds.get(), clock);
  AutoScalingClient api(*client);
  fake_->InjectError("UpdateAutoScalingGroup", "InternalFailure", 500, 1);
  EXPECT_THAT(api.UpdateAutoScalingGroup("spot-asg", std::nullopt, std::nullopt, 3), IsOk());
  EXPECT_EQ(fake_->Group("spot-asg")->desired, 3);
  fake_->ClearCalls();
  auto bad = api.UpdateAutoScalingGroup("spot-asg", std::nullopt, std::nullopt, 9);
  EXPECT_THAT(bad, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Desired capacity:9")));
  EXPECT_TRUE(IsAwsError(bad, "ValidationError"));
  EXPECT_EQ(fake_->CountCalls("UpdateAutoScalingGroup", false), 1);
}

TEST_F(FakeAwsTest, AWrongSecretIsSignatureDoesNotMatch) {
  auto creds = Static("not-the-secret");
  auto client = Client("autoscaling", creds.get(), RealClock());
  AutoScalingClient api(*client);
  auto r = api.DescribeAutoScalingGroup("spot-asg");
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("SignatureDoesNotMatch")));
  auto unknown = NewStaticCredentials({.access_key_id = "AKIDUNKNOWN", .secret_access_key = "x"});
  auto ec2 = Client("ec2", unknown.get(), RealClock());
  EXPECT_THAT(Ec2Client(*ec2).DescribeInstance("i-0000000000000a001"),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("AuthFailure")));
}

TEST_F(FakeAwsTest, TypedCallsSeeTheFakesState) {
  auto creds = Static();
  auto asg_client = Client("autoscaling", creds.get(), RealClock());
  auto ec2_client = Client("ec2", creds.get(), RealClock());
  AutoScalingClient asg(*asg_client);
  Ec2Client ec2(*ec2_client);

  ASSERT_OK_AND_ASSIGN(auto member, asg.DescribeAutoScalingInstance("i-0000000000000a002"));
  ASSERT_TRUE(member.has_value());
  EXPECT_EQ(member->auto_scaling_group_name, "spot-asg");
  EXPECT_EQ(member->instance_type, "m5a.large");
  EXPECT_EQ(member->availability_zone, "us-east-1b");
  EXPECT_EQ(member->lifecycle_state, "InService");
  ASSERT_OK_AND_ASSIGN(auto loner, asg.DescribeAutoScalingInstance("i-0000000000000b001"));
  EXPECT_FALSE(loner.has_value());

  ASSERT_OK_AND_ASSIGN(auto g, asg.DescribeAutoScalingGroup("spot-asg"));
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->min_size, 1);
  EXPECT_EQ(g->max_size, 4);
  EXPECT_EQ(g->desired_capacity, 2);
  EXPECT_TRUE(g->mixed_instances_policy);
  EXPECT_EQ(g->override_instance_types, (std::vector<std::string>{"m5.large", "m5a.large"}));
  EXPECT_EQ(g->instances.size(), 2u);
  ASSERT_OK_AND_ASSIGN(auto none, asg.DescribeAutoScalingGroup("nope"));
  EXPECT_FALSE(none.has_value());

  ASSERT_OK_AND_ASSIGN(auto acts, asg.DetachInstances("spot-asg", {"i-0000000000000a001"}, true));
  ASSERT_EQ(acts.size(), 1u);
  EXPECT_EQ(acts[0].status_code, "InProgress");
  EXPECT_THAT(acts[0].description, HasSubstr("i-0000000000000a001"));
  EXPECT_EQ(fake_->Group("spot-asg")->desired, 1);
  EXPECT_THAT(asg.DetachInstances("spot-asg", {"i-0000000000000a002"}, true),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("min size:1")));

  ASSERT_OK_AND_ASSIGN(auto inst, ec2.DescribeInstance("i-0000000000000a001"));
  ASSERT_TRUE(inst.has_value());
  EXPECT_EQ(inst->state, "running");
  EXPECT_EQ(inst->lifecycle, "spot");
  EXPECT_EQ(inst->tags["aws:autoscaling:groupName"], "spot-asg");
  ASSERT_OK_AND_ASSIGN(auto missing, ec2.DescribeInstance("i-00000000000009999"));
  EXPECT_FALSE(missing.has_value());
  EXPECT_THAT(ec2.DescribeInstance("bogus"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("InvalidInstanceID.Malformed")));
  ASSERT_OK_AND_ASSIGN(auto changes, ec2.TerminateInstances({"i-0000000000000a001"}));
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].previous_state, "running");
  EXPECT_EQ(changes[0].current_state, "shutting-down");
}

}  // namespace
}  // namespace hollowtrees::aws
