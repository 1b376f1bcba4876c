// Tests of the SQS client (lib/aws/sqs.h): the request's shape and SigV4
// signature (also against botocore), the API reference's documented
// answers, every error form, retries, deadlines, region and endpoint
// resolution. Against a scripted HTTP client and small local servers of the
// test's own (not the fake AWS, which others extend).

#include "lib/aws/sqs.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "lib/aws/credentials.h"
#include "lib/aws/sigv4.h"
#include "lib/common/clock.h"
#include "lib/http/server_util.h"
#include "nlohmann/json.hpp"
#include "tests/lib/aws/scripted_http.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/lib/aws/botocore_sign.h"

namespace hollowtrees::aws {
namespace {

using ::hollowtrees::aws_testing::HeaderOf;
using ::hollowtrees::aws_testing::ScriptedHttp;
using ::hollowtrees::testing::IsOk;
using ::hollowtrees::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using json = nlohmann::json;

constexpr char kQueueUrl[] = "https://sqs.us-east-1.amazonaws.com/123456789012/spot-events";
constexpr char kKey[] = "AKIDSQSEXAMPLE";
constexpr char kSecret[] = "sqsSecretKeyForTestsOnly/EXAMPLEKEY";
constexpr char kJson[] = "application/x-amz-json-1.0";

std::string TestData(const std::string& name) {
  auto text = testing::ReadFileToString(testing::SourcePath("tests/lib/aws/testdata/" + name));
  EXPECT_THAT(text, IsOk());
  return text.ok() ? *text : "";
}

json BodyOf(const http::HttpRequest& r) {
  return json::parse(r.body, nullptr, /*allow_exceptions=*/false);
}

// Verifies the request's SigV4 signature as AWS would: the canonical request
// rebuilt from what was sent (Content-Type is sent from content_type).
void ExpectSignedFor(const http::HttpRequest& r, const std::string& secret,
                     const std::string& region, const std::string& path = "/") {
  const std::string authz = HeaderOf(r.headers, "Authorization");
  ASSERT_FALSE(authz.empty()) << "unsigned request";
  ASSERT_OK_AND_ASSIGN(ParsedAuthorization a, ParseAuthorization(authz));
  EXPECT_EQ(a.service, "sqs");
  EXPECT_EQ(a.region, region);
  for (const char* h : {"content-type", "host", "x-amz-date", "x-amz-target"}) {
    EXPECT_NE(std::find(a.signed_headers.begin(), a.signed_headers.end(), h),
              a.signed_headers.end())
        << h << " not signed";
  }
  SignableRequest req;
  req.method = r.method;
  req.path = path;
  req.body = r.body;
  for (const auto& [k, v] : r.headers) {
    if (!absl::EqualsIgnoreCase(k, "Authorization")) req.headers.emplace_back(k, v);
  }
  req.headers.emplace_back("Content-Type", r.content_type);
  ASSERT_OK_AND_ASSIGN(absl::Time t, ParseAmzDate(HeaderOf(r.headers, "X-Amz-Date")));
  EXPECT_EQ(ComputeSignature(req, a.signed_headers, secret,
                             {.region = region, .service = "sqs", .time = t}),
            a.signature);
}

// ---------------------------------------------------------------------------
// Region and endpoint.

TEST(SqsRegionTest, FromTheQueueUrlsHost) {
  EXPECT_EQ(SqsRegionFromQueueUrl("https://sqs.us-east-1.amazonaws.com/123456789012/q"),
            "us-east-1");
  EXPECT_EQ(SqsRegionFromQueueUrl("https://sqs.eu-west-2.amazonaws.com/123456789012/q"),
            "eu-west-2");
  EXPECT_EQ(SqsRegionFromQueueUrl("https://eu-west-1.queue.amazonaws.com/123456789012/q"),
            "eu-west-1");
  EXPECT_EQ(SqsRegionFromQueueUrl("https://queue.amazonaws.com/123456789012/q"), "us-east-1");
  EXPECT_EQ(SqsRegionFromQueueUrl("https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q"),
            "cn-north-1");
  EXPECT_EQ(SqsRegionFromQueueUrl("https://sqs.us-gov-west-1.amazonaws.com/123456789012/q"),
            "us-gov-west-1");
  EXPECT_EQ(SqsRegionFromQueueUrl("https://SQS.AP-Southeast-2.amazonaws.com/123456789012/q"),
            "ap-southeast-2");
  EXPECT_EQ(
      SqsRegionFromQueueUrl(
          "https://vpce-0123456789abcdef-abcdefgh.sqs.us-west-2.vpce.amazonaws.com/123456789012/q"),
      "us-west-2");
  EXPECT_EQ(SqsRegionFromQueueUrl(
                "http://sqs.eu-central-1.localhost.localstack.cloud:4566/000000000000/q"),
            "eu-central-1");
  EXPECT_EQ(SqsRegionFromQueueUrl("http://127.0.0.1:4566/000000000000/q"), "");
  EXPECT_EQ(SqsRegionFromQueueUrl("https://sqs.amazonaws.com/123456789012/q"), "");
  EXPECT_EQ(SqsRegionFromQueueUrl("https://sqs.example.com/123456789012/q"), "");
  EXPECT_EQ(SqsRegionFromQueueUrl("not a url"), "");
}

std::unique_ptr<SqsClient> MustCreate(const SqsClientOptions& o, const Env& env) {
  auto c = SqsClient::Create(o, env, nullptr, RealClock(), nullptr);
  EXPECT_THAT(c, IsOk());
  return c.ok() ? std::move(c).value() : nullptr;
}

TEST(SqsCreateTest, RejectsBadQueueUrlsNamingThem) {
  const Env env = {{"AWS_REGION", "us-east-1"}};
  for (const char* bad :
       {"sqs.us-east-1.amazonaws.com/123456789012/q",  // no scheme
        "ftp://sqs.us-east-1.amazonaws.com/123456789012/q",
        "https://sqs.us-east-1.amazonaws.com",    // no queue
        "https://sqs.us-east-1.amazonaws.com/q",  // no account
        "https://sqs.us-east-1.amazonaws.com/1/q/extra", "https://sqs.us-east-1.amazonaws.com/1//q",
        "https://sqs.us-east-1.amazonaws.com/1/q?x=1",
        "https://sqs.us-east-1.amazonaws.com/1/my queue", "https://:443/1/q"}) {
    SCOPED_TRACE(bad);
    EXPECT_THAT(SqsClient::Create({.queue_url = bad}, env, nullptr, RealClock(), nullptr),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(bad)));
  }
  EXPECT_THAT(SqsClient::Create({}, env, nullptr, RealClock(), nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no queue URL")));
  EXPECT_THAT(SqsClient::Create({.queue_url = kQueueUrl, .region = "US East"}, env, nullptr,
                                RealClock(), nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("US East")));
  // The API reference's own URL has a trailing slash: it is a queue URL.
  EXPECT_THAT(
      SqsClient::Create({.queue_url = "https://sqs.us-east-1.amazonaws.com/177715257436/MyQueue/"},
                        env, nullptr, RealClock(), nullptr),
      IsOk());
}

TEST(SqsCreateTest, RegionFromOptionsThenTheUrlThenTheEnvironment) {
  const std::string dir = testing::MakeTempDir("sqs-region");
  Env env = {{"AWS_CONFIG_FILE", dir + "/none"},
             {"AWS_SHARED_CREDENTIALS_FILE", dir + "/none"},
             {"AWS_REGION", "ca-central-1"}};
  // The URL names the queue's region: it wins over the environment's.
  EXPECT_EQ(MustCreate({.queue_url = "https://sqs.eu-west-2.amazonaws.com/1/q"}, env)->region(),
            "eu-west-2");
  EXPECT_EQ(MustCreate({.queue_url = "https://eu-north-1.queue.amazonaws.com/1/q"}, env)->region(),
            "eu-north-1");
  EXPECT_EQ(
      MustCreate({.queue_url = "https://sqs.eu-west-2.amazonaws.com/1/q", .region = "sa-east-1"},
                 env)
          ->region(),
      "sa-east-1");
  // A URL without one (a local fake) takes the environment's.
  EXPECT_EQ(MustCreate({.queue_url = "http://127.0.0.1:9324/000000000000/q"}, env)->region(),
            "ca-central-1");
  env.erase("AWS_REGION");
  EXPECT_THAT(SqsClient::Create({.queue_url = "http://127.0.0.1:9324/000000000000/q"}, env, nullptr,
                                RealClock(), nullptr),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("\"http://127.0.0.1:9324/000000000000/q\" names no region")));
}

TEST(SqsCreateTest, EndpointFromTheEnvironmentAsTheSdksReadIt) {
  Env env;
  EXPECT_EQ(MustCreate({.queue_url = kQueueUrl}, env)->endpoint(),
            "https://sqs.us-east-1.amazonaws.com");
  EXPECT_EQ(
      MustCreate({.queue_url = "https://sqs.cn-northwest-1.amazonaws.com.cn/1/q"}, env)->endpoint(),
      "https://sqs.cn-northwest-1.amazonaws.com.cn");
  // The legacy host is not the endpoint: the region's sqs endpoint is.
  EXPECT_EQ(MustCreate({.queue_url = "https://eu-west-1.queue.amazonaws.com/1/q"}, env)->endpoint(),
            "https://sqs.eu-west-1.amazonaws.com");
  env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:1";
  EXPECT_EQ(MustCreate({.queue_url = kQueueUrl}, env)->endpoint(), "http://127.0.0.1:1");
  env["AWS_ENDPOINT_URL_EC2"] = "http://127.0.0.1:2";
  env["AWS_ENDPOINT_URL_SQS"] = "http://127.0.0.1:3";
  auto c = MustCreate({.queue_url = kQueueUrl}, env);
  EXPECT_EQ(c->endpoint(), "http://127.0.0.1:3");
  EXPECT_EQ(c->region(), "us-east-1");
  EXPECT_EQ(c->queue_url(), kQueueUrl);
  env["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = "true";
  EXPECT_EQ(MustCreate({.queue_url = kQueueUrl}, env)->endpoint(),
            "https://sqs.us-east-1.amazonaws.com");
  env.erase("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
  env["AWS_ENDPOINT_URL_SQS"] = "gopher://x";
  EXPECT_THAT(SqsClient::Create({.queue_url = kQueueUrl}, env, nullptr, RealClock(), nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("gopher://x")));
}

// ---------------------------------------------------------------------------
// Against a scripted HTTP client, on a fake clock.

class SqsScriptedTest : public ::testing::Test {
 protected:
  std::unique_ptr<SqsClient> Make(SqsClientOptions o = {}, Env env = {},
                                  CredentialsProvider* creds = nullptr) {
    if (o.queue_url.empty()) o.queue_url = kQueueUrl;
    if (o.retry.max_attempts == RetryOptions{}.max_attempts) {
      o.retry = {
          .max_attempts = 4, .base_delay = absl::Milliseconds(100), .max_delay = absl::Seconds(1)};
    }
    auto c = SqsClient::CreateWithHttp(o, env, std::make_unique<ScriptedHttp>(http_),
                                       creds != nullptr ? creds : creds_.get(), clock_, nullptr);
    EXPECT_THAT(c, IsOk());
    return c.ok() ? std::move(c).value() : nullptr;
  }

  std::shared_ptr<ScriptedHttp::State> http_ = std::make_shared<ScriptedHttp::State>();
  std::unique_ptr<CredentialsProvider> creds_ =
      NewStaticCredentials({.access_key_id = kKey, .secret_access_key = kSecret});
  FakeClock clock_{absl::FromUnixSeconds(1767225600)};  // 2026-01-01T00:00:00Z
};

TEST_F(SqsScriptedTest, ReceiveSendsTheDocumentedRequestSignedForSqs) {
  auto sqs = Make();
  http_->Answer(200, "{}");
  ASSERT_THAT(
      sqs->Receive(
          {.max_messages = 7, .wait = absl::Seconds(20), .visibility_timeout = absl::Seconds(45)}),
      IsOk());
  auto reqs = http_->Requests();
  ASSERT_EQ(reqs.size(), 1u);
  const http::HttpRequest& r = reqs[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.path, "/");
  EXPECT_EQ(r.content_type, kJson);
  EXPECT_EQ(HeaderOf(r.headers, "X-Amz-Target"), "AmazonSQS.ReceiveMessage");
  EXPECT_EQ(HeaderOf(r.headers, "Host"), "sqs.us-east-1.amazonaws.com");
  EXPECT_EQ(HeaderOf(r.headers, "X-Amz-Date"), "20260101T000000Z");
  // The long poll's wait plus the call's timeout.
  EXPECT_EQ(r.timeout, absl::Seconds(30));
  json body = BodyOf(r);
  ASSERT_TRUE(body.is_object()) << r.body;
  EXPECT_EQ(body["QueueUrl"], kQueueUrl);
  EXPECT_EQ(body["MaxNumberOfMessages"], 7);
  EXPECT_EQ(body["WaitTimeSeconds"], 20);
  EXPECT_EQ(body["VisibilityTimeout"], 45);
  const json names = {"ApproximateReceiveCount", "SentTimestamp",
                      "ApproximateFirstReceiveTimestamp", "SenderId"};
  EXPECT_EQ(body["MessageSystemAttributeNames"], names);
  EXPECT_EQ(body["AttributeNames"], names);
  ExpectSignedFor(r, kSecret, "us-east-1");
  // No visibility timeout: the queue's own, so none is sent.
  ASSERT_THAT(sqs->Receive({.max_messages = 1, .wait = absl::ZeroDuration()}), IsOk());
  json second = BodyOf(http_->Requests().back());
  EXPECT_FALSE(second.contains("VisibilityTimeout")) << second.dump();
  EXPECT_EQ(second["WaitTimeSeconds"], 0);
  EXPECT_EQ(http_->Requests().back().timeout, absl::Seconds(10));
  // A fraction of a second rounds up: half a second is not the queue's default.
  ASSERT_THAT(sqs->Receive({.visibility_timeout = absl::Milliseconds(500)}), IsOk());
  EXPECT_EQ(BodyOf(http_->Requests().back())["VisibilityTimeout"], 1);
}

TEST_F(SqsScriptedTest, ReceiveParsesTheDocumentedAnswer) {
  auto sqs = Make();
  http_->Answer(
      200, TestData("sqs_receive_message_response.json"),
      {{"x-amzn-RequestId", "b5293cb5-d306-4a17-9048-b263635abe42"}, {"Content-Type", kJson}});
  ASSERT_OK_AND_ASSIGN(std::vector<SqsMessage> got, sqs->Receive({}));
  ASSERT_EQ(got.size(), 1u);
  const SqsMessage& m = got[0];
  EXPECT_EQ(m.message_id, "219f8380-5770-4cc2-8c3e-5c715e145f5e");
  EXPECT_EQ(m.body, "This is a test message");
  EXPECT_TRUE(
      absl::StartsWith(m.receipt_handle, "AQEBaZ+j5qUoOAoxlmrCQPkBm9njMWXqemmIG6shMHCO6fV20"));
  EXPECT_TRUE(absl::EndsWith(m.receipt_handle, "NGjWJ45dqWpiW3d2Ws7q"));
  EXPECT_EQ(m.receipt_handle.size(), 388u);
  EXPECT_EQ(m.receive_count, 1);
  EXPECT_EQ(m.sent, absl::FromUnixMillis(1677112427387));
  EXPECT_EQ(m.first_received, absl::FromUnixMillis(1677112433437));
  EXPECT_EQ(m.sender_id, "AIDASSYFHUBOBT7F4XT75");
}

TEST_F(SqsScriptedTest, TheQueueUrlIsSentUnchanged) {
  // The API reference's example URL, trailing slash and all.
  const std::string url = "https://sqs.us-east-1.amazonaws.com/177715257436/MyQueue/";
  auto sqs = Make({.queue_url = url});
  http_->Answer(200, "");
  ASSERT_THAT(sqs->Delete("handle"), IsOk());
  EXPECT_EQ(BodyOf(http_->Requests()[0])["QueueUrl"], url);
}

TEST_F(SqsScriptedTest, AnEmptyLongPollIsNoMessages) {
  auto sqs = Make();
  for (const char* empty : {"{}", "{\"Messages\": []}", "{\"Messages\": null}"}) {
    http_->Answer(200, empty);
    ASSERT_OK_AND_ASSIGN(auto got, sqs->Receive({}));
    EXPECT_TRUE(got.empty()) << empty;
  }
  // Attributes are optional: without them, counts and times are unknown.
  http_->Answer(200, R"({"Messages":[{"MessageId":"m","ReceiptHandle":"h","Body":"b"}]})");
  ASSERT_OK_AND_ASSIGN(auto bare, sqs->Receive({}));
  ASSERT_EQ(bare.size(), 1u);
  EXPECT_EQ(bare[0].receive_count, 0);
  EXPECT_EQ(bare[0].sent, absl::InfinitePast());
  EXPECT_EQ(bare[0].first_received, absl::InfinitePast());
}

TEST_F(SqsScriptedTest, ACancellableReceiveReadsTheSameAnswer) {
  auto sqs = Make();
  http::StreamCancel cancel;
  http_->Answer(200, TestData("sqs_receive_message_response.json"));
  ASSERT_OK_AND_ASSIGN(auto got, sqs->Receive({}, absl::InfiniteFuture(), &cancel));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message_id, "219f8380-5770-4cc2-8c3e-5c715e145f5e");
  EXPECT_EQ(http_->Requests()[0].timeout, absl::Seconds(30));
  http_->Answer(400, R"({"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"gone"})");
  EXPECT_THAT(sqs->Receive({}, absl::InfiniteFuture(), &cancel),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("gone")));
  // Cancelled before: no request at all.
  cancel.Cancel();
  const size_t before = http_->Count();
  EXPECT_THAT(sqs->Receive({}, absl::InfiniteFuture(), &cancel),
              StatusIs(absl::StatusCode::kCancelled));
  EXPECT_EQ(http_->Count(), before);
}

TEST_F(SqsScriptedTest, MalformedAnswersAreErrorsNamingWhatIsWrong) {
  auto sqs = Make();
  struct Case {
    const char* body;
    const char* what;
  };
  for (const Case& c : std::vector<Case>{
           {"<ReceiveMessageResponse/>", "not JSON"},
           {"[]", "not a JSON object"},
           {R"({"Messages": {}})", "Messages is not an array"},
           {R"({"Messages": [7]})", "Messages[0] is not an object"},
           {R"({"Messages": [{"MessageId":"m","Body":"b"}]})", "Messages[0].ReceiptHandle"},
           {R"({"Messages": [{"MessageId":"m","ReceiptHandle":"","Body":"b"}]})",
            "Messages[0].ReceiptHandle is empty"},
           {R"({"Messages": [{"MessageId":"m","ReceiptHandle":"h","Body":3}]})",
            "Messages[0].Body"},
           {R"({"Messages": [{"MessageId":"m","ReceiptHandle":"h","Body":"b","Attributes":[]}]})",
            "Messages[0].Attributes is not an object"},
           {R"({"Messages": [{"MessageId":"m","ReceiptHandle":"h","Body":"b",
                "Attributes":{"SentTimestamp":"yesterday"}}]})",
            "Messages[0].Attributes.SentTimestamp \"yesterday\" is not epoch milliseconds"},
           {R"({"Messages": [{"MessageId":"m","ReceiptHandle":"h","Body":"b",
                "Attributes":{"ApproximateReceiveCount":"-1"}}]})",
            "Messages[0].Attributes.ApproximateReceiveCount"},
           {R"({"Messages": [{"MessageId":"m1","ReceiptHandle":"h","Body":"b","MD5OfBody":"00"}]})",
            "MD5OfBody 00 does not match"},
       }) {
    SCOPED_TRACE(c.body);
    http_->Answer(200, c.body);
    const size_t before = http_->Count();
    EXPECT_THAT(sqs->Receive({}), StatusIs(absl::StatusCode::kInternal, HasSubstr(c.what)));
    EXPECT_EQ(http_->Count(), before + 1) << "a malformed answer is not retried";
  }
}

TEST_F(SqsScriptedTest, ReceiveOptionsAreCheckedBeforeSending) {
  auto sqs = Make();
  EXPECT_THAT(sqs->Receive({.max_messages = 0}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1 to 10")));
  EXPECT_THAT(sqs->Receive({.max_messages = 11}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1 to 10")));
  EXPECT_THAT(sqs->Receive({.wait = absl::Seconds(21)}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("0 to 20s")));
  EXPECT_THAT(sqs->Receive({.wait = -absl::Seconds(1)}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("0 to 20s")));
  EXPECT_THAT(sqs->Receive({.visibility_timeout = absl::Hours(12) + absl::Seconds(1)}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("0 to 12h")));
  EXPECT_EQ(http_->Count(), 0u);
}

TEST_F(SqsScriptedTest, ALongPollIsShortenedToFitTheDeadline) {
  auto sqs = Make();
  http_->Answer(200, "{}");
  ASSERT_THAT(sqs->Receive({.wait = absl::Seconds(20)}, clock_.Now() + absl::Seconds(5)), IsOk());
  // Ends a second before the deadline; the request itself is cut there.
  EXPECT_EQ(BodyOf(http_->Requests().back())["WaitTimeSeconds"], 4);
  EXPECT_EQ(http_->Requests().back().timeout, absl::Seconds(5));
  ASSERT_THAT(sqs->Receive({.wait = absl::Seconds(20)}, clock_.Now() + absl::Milliseconds(500)),
              IsOk());
  EXPECT_EQ(BodyOf(http_->Requests().back())["WaitTimeSeconds"], 0);
  EXPECT_EQ(http_->Requests().back().timeout, absl::Seconds(1));  // a request gets its chance
  // Room enough: untouched.
  ASSERT_THAT(sqs->Receive({.wait = absl::Seconds(20)}, clock_.Now() + absl::Minutes(1)), IsOk());
  EXPECT_EQ(BodyOf(http_->Requests().back())["WaitTimeSeconds"], 20);
  EXPECT_EQ(http_->Requests().back().timeout, absl::Seconds(30));
}

TEST_F(SqsScriptedTest, DeleteAndChangeVisibility) {
  auto sqs = Make({.timeout = absl::Seconds(4)});
  http_->Answer(200, "");  // SQS answers these with no fields; an empty or "{}" body
  ASSERT_THAT(sqs->Delete("AQEBhandle+/="), IsOk());
  auto reqs = http_->Requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(HeaderOf(reqs[0].headers, "X-Amz-Target"), "AmazonSQS.DeleteMessage");
  EXPECT_EQ(reqs[0].content_type, kJson);
  EXPECT_EQ(reqs[0].timeout, absl::Seconds(4));
  EXPECT_EQ(BodyOf(reqs[0]), (json{{"QueueUrl", kQueueUrl}, {"ReceiptHandle", "AQEBhandle+/="}}));
  ExpectSignedFor(reqs[0], kSecret, "us-east-1");

  http_->Answer(200, "{}");
  ASSERT_THAT(sqs->ChangeVisibility("AQEBhandle", absl::Minutes(5)), IsOk());
  reqs = http_->Requests();
  EXPECT_EQ(HeaderOf(reqs[1].headers, "X-Amz-Target"), "AmazonSQS.ChangeMessageVisibility");
  EXPECT_EQ(
      BodyOf(reqs[1]),
      (json{{"QueueUrl", kQueueUrl}, {"ReceiptHandle", "AQEBhandle"}, {"VisibilityTimeout", 300}}));
  ExpectSignedFor(reqs[1], kSecret, "us-east-1");
  ASSERT_THAT(sqs->ChangeVisibility("AQEBhandle", absl::ZeroDuration()), IsOk());  // visible now
  EXPECT_EQ(BodyOf(http_->Requests().back())["VisibilityTimeout"], 0);
  EXPECT_THAT(sqs->ChangeVisibility("h", absl::Hours(13)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("0 to 12h")));
  EXPECT_THAT(sqs->ChangeVisibility("h", -absl::Seconds(1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("0 to 12h")));
  EXPECT_EQ(http_->Count(), 3u);
}

TEST_F(SqsScriptedTest, ReceiptHandlesAreCheckedBeforeSending) {
  auto sqs = Make();
  const std::string longest(kSqsMaxReceiptHandleLength, 'h');
  http_->Answer(200, "{}");
  EXPECT_THAT(sqs->Delete(longest), IsOk());
  EXPECT_THAT(sqs->Delete(longest + "h"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1025 characters")));
  EXPECT_THAT(sqs->Delete(""), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  EXPECT_THAT(sqs->ChangeVisibility("", absl::Seconds(1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  // Not UTF-8: refused by the JSON encoder, not thrown.
  EXPECT_THAT(sqs->Delete("\xff\xfe"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(http_->Count(), 1u);
}

TEST_F(SqsScriptedTest, DeleteBatchMatchesTheDocumentedExample) {
  const json doc_request = json::parse(TestData("sqs_delete_message_batch_request.json"));
  auto sqs = Make({.queue_url = doc_request["QueueUrl"].get<std::string>()});
  http_->Answer(200, TestData("sqs_delete_message_batch_response.json"));
  std::vector<std::string> handles;
  for (const json& e : doc_request["Entries"]) handles.push_back(e["ReceiptHandle"]);
  ASSERT_OK_AND_ASSIGN(std::vector<absl::Status> results, sqs->DeleteBatch(handles));
  EXPECT_THAT(results, ElementsAre(IsOk(), IsOk()));
  auto reqs = http_->Requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(HeaderOf(reqs[0].headers, "X-Amz-Target"), "AmazonSQS.DeleteMessageBatch");
  // The very request the API reference shows.
  EXPECT_EQ(BodyOf(reqs[0]), doc_request);
  ExpectSignedFor(reqs[0], kSecret, "us-east-1");
}

TEST_F(SqsScriptedTest, DeleteBatchReportsEachEntry) {
  auto sqs = Make();
  EXPECT_THAT(sqs->DeleteBatch({}), IsOk());
  EXPECT_EQ(http_->Count(), 0u);
  http_->Answer(200, R"({
    "Successful": [{"Id": "msg1"}],
    "Failed": [
      {"Id": "msg2", "SenderFault": true, "Code": "ReceiptHandleIsInvalid",
       "Message": "The input receipt handle \"h2\" is not a valid receipt handle."},
      {"Id": "msg3", "SenderFault": false, "Code": "InternalError", "Message": "try again"}
    ]})");
  // The empty handle is refused here and not sent; "h4" gets no result.
  ASSERT_OK_AND_ASSIGN(auto results, sqs->DeleteBatch({"h1", "h2", "", "h3", "h4"}));
  ASSERT_EQ(results.size(), 5u);
  EXPECT_THAT(results[0], IsOk());
  EXPECT_THAT(results[1], StatusIs(absl::StatusCode::kInvalidArgument,
                                   HasSubstr("not a valid receipt handle")));
  EXPECT_TRUE(IsAwsError(results[1], "ReceiptHandleIsInvalid"));
  EXPECT_THAT(results[2], StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  EXPECT_THAT(results[3], StatusIs(absl::StatusCode::kUnavailable, HasSubstr("try again")));
  EXPECT_THAT(results[4],
              StatusIs(absl::StatusCode::kInternal, HasSubstr("no result for entry msg4")));
  const json sent = BodyOf(http_->Requests()[0]);
  ASSERT_EQ(sent["Entries"].size(), 4u);
  EXPECT_EQ(sent["Entries"][2], (json{{"Id", "msg3"}, {"ReceiptHandle", "h3"}}));
  // An answer naming an id that was not sent is malformed.
  http_->Answer(200, R"({"Successful": [{"Id": "msg9"}], "Failed": []})");
  EXPECT_THAT(sqs->DeleteBatch({"h1"}),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("entry id that was not sent")));
}

TEST_F(SqsScriptedTest, DeleteBatchSplitsIntoTens) {
  auto sqs = Make();
  // Answers every entry it is sent as successful.
  http_->Handle([](const http::HttpRequest& r) -> absl::StatusOr<http::HttpResponse> {
    json out = {{"Successful", json::array()}, {"Failed", json::array()}};
    const json sent = json::parse(r.body);
    for (const json& e : sent["Entries"]) out["Successful"].push_back({{"Id", e["Id"]}});
    return http::HttpResponse{200, {}, out.dump()};
  });
  std::vector<std::string> handles;
  for (int i = 0; i < 23; ++i) handles.push_back(absl::StrCat("handle-", i));
  ASSERT_OK_AND_ASSIGN(auto results, sqs->DeleteBatch(handles));
  ASSERT_EQ(results.size(), 23u);
  for (const absl::Status& s : results) EXPECT_THAT(s, IsOk());
  auto reqs = http_->Requests();
  ASSERT_EQ(reqs.size(), 3u);
  std::vector<std::string> sent;
  for (size_t i = 0; i < reqs.size(); ++i) {
    const json entries = BodyOf(reqs[i])["Entries"];
    EXPECT_EQ(entries.size(), i < 2 ? 10u : 3u);
    EXPECT_EQ(entries[0]["Id"], "msg1");  // ids restart with each request
    for (const json& e : entries) sent.push_back(e["ReceiptHandle"]);
  }
  EXPECT_EQ(sent, handles);
}

TEST_F(SqsScriptedTest, DeleteBatchErrorsOfARequestAsAWhole) {
  auto sqs = Make();
  const http::Headers gone = {
      {"x-amzn-query-error", "AWS.SimpleQueueService.NonExistentQueue;Sender"}};
  const std::string gone_body =
      R"({"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": "The specified queue does not exist."})";
  // The first request fails: nothing was deleted, the call fails.
  http_->Answer(400, gone_body, gone);
  EXPECT_THAT(sqs->DeleteBatch({"h1", "h2"}),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("NonExistentQueue")));
  // A later one fails: its entries carry the error, the earlier ones are done.
  http_->Handle([&](const http::HttpRequest& r) -> absl::StatusOr<http::HttpResponse> {
    const json entries = json::parse(r.body)["Entries"];
    if (entries.size() < 10) return http::HttpResponse{400, gone, gone_body};
    json out = {{"Successful", json::array()}};
    for (const json& e : entries) out["Successful"].push_back({{"Id", e["Id"]}});
    return http::HttpResponse{200, {}, out.dump()};
  });
  std::vector<std::string> handles(12, "h");
  ASSERT_OK_AND_ASSIGN(auto results, sqs->DeleteBatch(handles));
  for (int i = 0; i < 10; ++i) EXPECT_THAT(results[i], IsOk()) << i;
  EXPECT_THAT(results[10], StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(results[11], StatusIs(absl::StatusCode::kNotFound));
  // A deadline passing after the first request: the rest are not sent.
  http_->Handle([&](const http::HttpRequest& r) -> absl::StatusOr<http::HttpResponse> {
    clock_.Advance(absl::Seconds(10));
    json out = {{"Successful", json::array()}};
    const json sent = json::parse(r.body);
    for (const json& e : sent["Entries"]) out["Successful"].push_back({{"Id", e["Id"]}});
    return http::HttpResponse{200, {}, out.dump()};
  });
  const size_t before = http_->Count();
  ASSERT_OK_AND_ASSIGN(auto late, sqs->DeleteBatch(handles, clock_.Now() + absl::Seconds(5)));
  EXPECT_EQ(http_->Count(), before + 1);
  EXPECT_THAT(late[0], IsOk());
  EXPECT_THAT(late[11], StatusIs(absl::StatusCode::kDeadlineExceeded));
}

// ---------------------------------------------------------------------------
// Errors.

http::HttpResponse ErrorAnswer(int status, std::string body, http::Headers headers = {}) {
  return http::HttpResponse{status, std::move(headers), std::move(body)};
}

TEST(SqsErrorTest, EveryErrorForm) {
  // The developer guide's example: the header's Query-era code is preferred.
  AwsError doc = ParseSqsError(ErrorAnswer(
      400,
      R"({"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": "The specified queue does not exist."})",
      {{"x-amzn-RequestId", "66916324-67ca-54bb-a410-3f567a7a0571"},
       {"x-amzn-query-error", "AWS.SimpleQueueService.NonExistentQueue;Sender"},
       {"Content-Type", "application/x-amz-json-1.0"}}));
  EXPECT_EQ(doc.http_status, 400);
  EXPECT_EQ(doc.code, "AWS.SimpleQueueService.NonExistentQueue");
  EXPECT_EQ(doc.message, "The specified queue does not exist.");
  EXPECT_EQ(doc.request_id, "66916324-67ca-54bb-a410-3f567a7a0571");
  EXPECT_EQ(SqsErrorCode(doc), absl::StatusCode::kNotFound);

  struct Case {
    int status;
    http::Headers headers;
    std::string body;
    std::string code;
    std::string message;
    absl::StatusCode canonical;
  };
  const std::vector<Case> cases = {
      // Without the header: the JSON type, after '#'.
      {400,
       {},
       R"({"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"gone"})",
       "QueueDoesNotExist",
       "gone",
       absl::StatusCode::kNotFound},
      // A type with a trailing ":<uri>", as the JSON protocol allows.
      {400,
       {},
       R"({"__type":"com.amazonaws.sqs#ReceiptHandleIsInvalid:http://internal.amazon.com/coral/com.amazon.coral.validate/","message":"bad"})",
       "ReceiptHandleIsInvalid",
       "bad",
       absl::StatusCode::kInvalidArgument},
      // The older form: "code" and "Message".
      {400,
       {},
       R"({"code":"AWS.SimpleQueueService.NonExistentQueue","Message":"older"})",
       "AWS.SimpleQueueService.NonExistentQueue",
       "older",
       absl::StatusCode::kNotFound},
      // The type only in the X-Amzn-ErrorType header.
      {400,
       {{"X-Amzn-ErrorType", "AccessDeniedException:http://internal.amazon.com/"}},
       R"({"message":"denied"})",
       "AccessDeniedException",
       "denied",
       absl::StatusCode::kPermissionDenied},
      {403,
       {{"x-amzn-query-error", "AccessDenied;Sender"}},
       R"({"__type":"com.amazon.coral.service#AccessDeniedException","Message":"not allowed"})",
       "AccessDenied",
       "not allowed",
       absl::StatusCode::kPermissionDenied},
      {400,
       {{"x-amzn-query-error", "AWS.SimpleQueueService.MessageNotInflight;Sender"}},
       R"({"__type":"com.amazonaws.sqs#MessageNotInflight","message":"not in flight"})",
       "AWS.SimpleQueueService.MessageNotInflight",
       "not in flight",
       absl::StatusCode::kFailedPrecondition},
      {400,
       {},
       R"({"__type":"com.amazonaws.sqs#MessageNotInflight"})",
       "MessageNotInflight",
       "",
       absl::StatusCode::kFailedPrecondition},
      {400,
       {{"x-amzn-query-error", "ReceiptHandleIsInvalid;Sender"}},
       R"({"__type":"com.amazonaws.sqs#ReceiptHandleIsInvalid","message":"x"})",
       "ReceiptHandleIsInvalid",
       "x",
       absl::StatusCode::kInvalidArgument},
      // Throttling in each spelling, and server errors: retryable.
      {400,
       {{"x-amzn-query-error", "AWS.SimpleQueueService.RequestThrottled;Sender"}},
       R"({"__type":"com.amazonaws.sqs#RequestThrottled","message":"slow down"})",
       "AWS.SimpleQueueService.RequestThrottled",
       "slow down",
       absl::StatusCode::kUnavailable},
      {400,
       {},
       R"({"__type":"com.amazonaws.sqs#RequestThrottled","message":"slow"})",
       "RequestThrottled",
       "slow",
       absl::StatusCode::kUnavailable},
      {400,
       {},
       R"({"__type":"com.amazon.coral.availability#ThrottlingException","message":"Rate exceeded"})",
       "ThrottlingException",
       "Rate exceeded",
       absl::StatusCode::kUnavailable},
      {500,
       {},
       R"({"__type":"com.amazon.coral.service#InternalFailure"})",
       "InternalFailure",
       "",
       absl::StatusCode::kUnavailable},
      {503,
       {{"x-amzn-query-error", "ServiceUnavailable;Receiver"}},
       R"({"message":"busy"})",
       "ServiceUnavailable",
       "busy",
       absl::StatusCode::kUnavailable},
      {403,
       {{"x-amzn-query-error", "OverLimit;Sender"}},
       R"({"__type":"com.amazonaws.sqs#OverLimit"})",
       "OverLimit",
       "",
       absl::StatusCode::kResourceExhausted},
      // Authentication problems as the Query client maps them.
      {400,
       {{"x-amzn-query-error", "ExpiredToken;Sender"}},
       R"({"__type":"com.amazon.coral.service#ExpiredTokenException","message":"expired"})",
       "ExpiredToken",
       "expired",
       absl::StatusCode::kUnauthenticated},
      {403,
       {},
       R"({"__type":"com.amazon.coral.service#InvalidClientTokenId","message":"who"})",
       "InvalidClientTokenId",
       "who",
       absl::StatusCode::kUnauthenticated},
      // Bodies that name no code.
      {502,
       {},
       "<html>Bad Gateway</html>",
       "InternalFailure",
       "HTTP 502 with an unknown error body: <html>Bad Gateway</html>",
       absl::StatusCode::kUnavailable},
      {400,
       {},
       "{}",
       "UnknownError",
       "HTTP 400 with an unknown error body: {}",
       absl::StatusCode::kInvalidArgument},
      // A code that would not survive the status payload is no code.
      {400,
       {},
       "{\"__type\":\"com.amazonaws.sqs#Bad\\nCode\",\"message\":\"m\"}",
       "UnknownError",
       "",
       absl::StatusCode::kInvalidArgument},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    AwsError e = ParseSqsError(ErrorAnswer(c.status, c.body, c.headers));
    EXPECT_EQ(e.code, c.code);
    if (!c.message.empty() || c.code != "UnknownError") {
      EXPECT_EQ(e.message, c.message);
    }
    EXPECT_EQ(SqsErrorCode(e), c.canonical);
    absl::Status s = MakeSqsStatus(e);
    EXPECT_EQ(s.code(), c.canonical);
    ASSERT_TRUE(GetAwsError(s).has_value());
    EXPECT_EQ(GetAwsError(s)->code, c.code);
  }
}

TEST_F(SqsScriptedTest, ErrorsComeBackTypedAndClientErrorsAreNotRetried) {
  auto sqs = Make();
  http_->Answer(
      400,
      R"({"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": "The specified queue does not exist."})",
      {{"x-amzn-RequestId", "66916324-67ca-54bb-a410-3f567a7a0571"},
       {"x-amzn-query-error", "AWS.SimpleQueueService.NonExistentQueue;Sender"}});
  auto r = sqs->Receive({});
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kNotFound,
                          HasSubstr("AWS AWS.SimpleQueueService.NonExistentQueue: The specified "
                                    "queue does not exist. (HTTP 400, request id "
                                    "66916324-67ca-54bb-a410-3f567a7a0571)")));
  EXPECT_TRUE(IsAwsError(r.status(), "AWS.SimpleQueueService.NonExistentQueue"));
  EXPECT_EQ(http_->Count(), 1u);
  EXPECT_TRUE(clock_.sleeps().empty());
}

TEST_F(SqsScriptedTest, ThrottlingIsRetriedWithFullJitterThenSucceeds) {
  auto sqs = Make();
  http_->Answer(
      400,
      R"({"__type":"com.amazon.coral.availability#ThrottlingException","message":"Rate exceeded"})",
      {{"x-amzn-query-error", "AWS.SimpleQueueService.RequestThrottled;Sender"}});
  http_->Answer(503, "Service Unavailable");
  http_->Answer(200, TestData("sqs_receive_message_response.json"));
  ASSERT_OK_AND_ASSIGN(auto got, sqs->Receive({}));
  EXPECT_EQ(got.size(), 1u);
  EXPECT_EQ(http_->Count(), 3u);
  const auto sleeps = clock_.sleeps();
  ASSERT_EQ(sleeps.size(), 2u);
  // Full jitter: uniform in [0, min(cap, base * 2^(n-1))].
  EXPECT_LE(sleeps[0], absl::Milliseconds(100));
  EXPECT_LE(sleeps[1], absl::Milliseconds(200));
  // Every attempt is signed anew (its own X-Amz-Date).
  for (const auto& req : http_->Requests()) ExpectSignedFor(req, kSecret, "us-east-1");
  // A transport failure is retried too.
  http_->Fail(absl::UnavailableError("connection refused"));
  http_->Answer(200, "{}");
  EXPECT_THAT(sqs->Delete("h"), IsOk());
}

TEST_F(SqsScriptedTest, GivesUpAfterMaxAttemptsAndAtTheDeadline) {
  auto sqs = Make({.retry = {.max_attempts = 3,
                             .base_delay = absl::Milliseconds(100),
                             .max_delay = absl::Seconds(1)}});
  http_->Answer(500, R"({"__type":"com.amazon.coral.service#InternalFailure","message":"oops"})");
  EXPECT_THAT(sqs->Delete("h"),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("InternalFailure")));
  EXPECT_EQ(http_->Count(), 3u);
  EXPECT_EQ(clock_.sleeps().size(), 2u);
  // No room for a backoff before the deadline: one attempt.
  EXPECT_THAT(sqs->Delete("h", clock_.Now()), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(http_->Count(), 4u);
}

TEST_F(SqsScriptedTest, ExpiredCredentialsAreRefreshedOnce) {
  class Counting : public CredentialsProvider {
   public:
    absl::StatusOr<Credentials> Get() override {
      absl::MutexLock lock(&mu_);
      ++gets_;
      return Credentials{.access_key_id = absl::StrCat("ASIA", gets_),
                         .secret_access_key = kSecret,
                         .session_token = absl::StrCat("token-", gets_)};
    }
    void Invalidate() override {
      absl::MutexLock lock(&mu_);
      ++invalidations_;
    }
    std::string Name() const override { return "counting"; }
    int invalidations() {
      absl::MutexLock lock(&mu_);
      return invalidations_;
    }

   private:
    absl::Mutex mu_;
    int gets_ = 0;
    int invalidations_ = 0;
  } creds;
  auto sqs = Make({}, {}, &creds);
  const http::Headers expired = {{"x-amzn-query-error", "ExpiredToken;Sender"}};
  http_->Answer(
      400, R"({"__type":"com.amazon.coral.service#ExpiredTokenException","message":"expired"})",
      expired);
  http_->Answer(200, "{}");
  EXPECT_THAT(sqs->Delete("h"), IsOk());
  EXPECT_EQ(creds.invalidations(), 1);
  auto reqs = http_->Requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(HeaderOf(reqs[0].headers, "X-Amz-Security-Token"), "token-1");
  EXPECT_EQ(HeaderOf(reqs[1].headers, "X-Amz-Security-Token"), "token-2");
  EXPECT_TRUE(clock_.sleeps().empty());
  // Expired again at once: refreshed only once per call.
  http_->Handle([&](const http::HttpRequest&) -> absl::StatusOr<http::HttpResponse> {
    return http::HttpResponse{400, expired, R"({"message":"expired"})"};
  });
  EXPECT_THAT(sqs->Delete("h"),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("ExpiredToken")));
  EXPECT_EQ(creds.invalidations(), 2);
  EXPECT_EQ(http_->Count(), 4u);
}

// The requests the client sends, signed by botocore (Debian's
// python3-botocore) from their method, URL, headers and body: the same
// Authorization header.
TEST_F(SqsScriptedTest, SignaturesMatchBotocore) {
  auto session = NewStaticCredentials({.access_key_id = "ASIABOTOCORE",
                                       .secret_access_key = "botocore/SECRET+key",
                                       .session_token = "FwoGZXIvYXdzEXAMPLE//token="});
  struct Sent {
    std::string url, region, key, secret, token;
    http::HttpRequest request;
  };
  std::vector<Sent> sent;
  {
    auto sqs = Make({}, {}, session.get());
    http_->Answer(200, "{}");
    ASSERT_THAT(sqs->Receive({.max_messages = 10,
                              .wait = absl::Seconds(20),
                              .visibility_timeout = absl::Minutes(2)}),
                IsOk());
    ASSERT_THAT(sqs->DeleteBatch({"AQEB+/=", "h\"2"}), IsOk());
    for (const auto& r : http_->Requests()) {
      sent.push_back({"https://sqs.us-east-1.amazonaws.com/", "us-east-1", "ASIABOTOCORE",
                      "botocore/SECRET+key", "FwoGZXIvYXdzEXAMPLE//token=", r});
    }
  }
  {
    // A local endpoint on a port, the region from the URL, long-term keys.
    http_ = std::make_shared<ScriptedHttp::State>();
    auto sqs = Make({.queue_url = "https://sqs.eu-west-1.amazonaws.com/123456789012/q"},
                    {{"AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:4566"}});
    http_->Answer(200, "");
    ASSERT_THAT(sqs->ChangeVisibility("AQEBx", absl::Seconds(30)), IsOk());
    sent.push_back(
        {"http://127.0.0.1:4566/", "eu-west-1", kKey, kSecret, "", http_->Requests()[0]});
  }
  json input = json::array();
  std::vector<std::string> ours;
  for (const Sent& s : sent) {
    json headers = json::array();
    headers.push_back({"Content-Type", s.request.content_type});
    headers.push_back({"X-Amz-Target", HeaderOf(s.request.headers, "X-Amz-Target")});
    input.push_back({{"method", "POST"},
                     {"url", s.url},
                     {"headers", headers},
                     {"body", s.request.body},
                     {"access_key", s.key},
                     {"secret_key", s.secret},
                     {"token", s.token},
                     {"region", s.region},
                     {"service", "sqs"},
                     {"amz_date", HeaderOf(s.request.headers, "X-Amz-Date")}});
    ours.push_back(HeaderOf(s.request.headers, "Authorization"));
  }
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> theirs,
                       testing::BotocoreAuthorizations(input));
  for (size_t i = 0; i < ours.size(); ++i) {
    EXPECT_EQ(ours[i], theirs[i]) << "request " << i << ": " << sent[i].request.body;
    EXPECT_THAT(ours[i],
                HasSubstr("/sqs/aws4_request, SignedHeaders=content-type;host;x-amz-date;"));
  }
}

// ---------------------------------------------------------------------------
// Against local servers, through the real HTTP client.

// A stand-in SQS endpoint: verifies each request's signature as AWS does,
// records it, and answers from `answer` (after holding a receive for its
// WaitTimeSeconds when `hold_long_polls`).
class LocalSqs {
 public:
  struct Seen {
    std::string target, body, region, error;
  };

  static std::unique_ptr<LocalSqs> Start(bool hold_long_polls = false) {
    auto s = std::unique_ptr<LocalSqs>(new LocalSqs);
    s->hold_ = hold_long_polls;
    http::ConfigureServer(s->server_, {});
    s->server_.Post("/", [p = s.get()](const httplib::Request& req, httplib::Response& res) {
      p->Serve(req, res);
    });
    auto serving = http::ServingThread::Start(s->server_, {"127.0.0.1", 0});
    EXPECT_THAT(serving, IsOk());
    if (!serving.ok()) return nullptr;
    s->serving_ = std::move(serving).value();
    return s;
  }

  // Ends the long polls it holds, then stops serving.
  ~LocalSqs() { stopping_.Notify(); }

  std::string url() const { return absl::StrCat("http://127.0.0.1:", serving_->port()); }
  std::vector<Seen> seen() {
    absl::MutexLock lock(&mu_);
    return seen_;
  }

 private:
  LocalSqs() = default;

  void Serve(const httplib::Request& req, httplib::Response& res) {
    Seen s{req.get_header_value("X-Amz-Target"), req.body, "", ""};
    auto authz = ParseAuthorization(req.get_header_value("Authorization"));
    if (!authz.ok()) {
      s.error = std::string(authz.status().message());
    } else {
      SignableRequest sr;
      sr.method = req.method;
      sr.path = req.path;
      sr.body = req.body;
      for (const auto& [k, v] : req.headers) sr.headers.emplace_back(k, v);
      auto t = ParseAmzDate(req.get_header_value("X-Amz-Date"));
      s.region = authz->region;
      if (!t.ok() || authz->service != "sqs" ||
          ComputeSignature(sr, authz->signed_headers, kSecret,
                           {.region = authz->region, .service = "sqs", .time = *t}) !=
              authz->signature) {
        s.error = "SignatureDoesNotMatch";
      }
    }
    {
      absl::MutexLock lock(&mu_);
      seen_.push_back(s);
    }
    if (!s.error.empty()) {
      res.status = 403;
      res.set_header("x-amzn-query-error", "SignatureDoesNotMatch;Sender");
      res.set_content(
          json{{"__type", "com.amazon.coral.service#SignatureDoesNotMatch"}, {"message", s.error}}
              .dump(),
          kJson);
      return;
    }
    if (s.target == "AmazonSQS.ReceiveMessage") {
      // As SQS does: an empty long poll answers after WaitTimeSeconds.
      const json body = json::parse(req.body, nullptr, false);
      if (hold_ && body.is_object() && body.contains("WaitTimeSeconds")) {
        stopping_.WaitForNotificationWithTimeout(absl::Seconds(body["WaitTimeSeconds"].get<int>()));
      }
      res.set_content("{}", kJson);
      return;
    }
    res.set_content("{}", kJson);
  }

  httplib::Server server_;
  bool hold_ = false;
  absl::Notification stopping_;
  absl::Mutex mu_;
  std::vector<Seen> seen_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<http::ServingThread> serving_;  // declared last: stops first
};

TEST(SqsServerTest, TheEndpointOverrideSendsToTheLocalServer) {
  auto local = LocalSqs::Start();
  ASSERT_NE(local, nullptr);
  auto creds = NewStaticCredentials({.access_key_id = kKey, .secret_access_key = kSecret});
  const std::string queue = "https://sqs.eu-west-2.amazonaws.com/123456789012/spot-events";
  ASSERT_OK_AND_ASSIGN(auto sqs, SqsClient::Create({.queue_url = queue},
                                                   {{"AWS_ENDPOINT_URL_SQS", local->url()},
                                                    {"AWS_REGION", "us-east-1"}},
                                                   creds.get(), RealClock(), nullptr));
  EXPECT_EQ(sqs->endpoint(), local->url());
  EXPECT_EQ(sqs->region(), "eu-west-2");
  ASSERT_THAT(sqs->Receive({.wait = absl::ZeroDuration()}), IsOk());
  ASSERT_THAT(sqs->Delete("AQEBhandle"), IsOk());
  auto seen = local->seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].target, "AmazonSQS.ReceiveMessage");
  EXPECT_EQ(seen[1].target, "AmazonSQS.DeleteMessage");
  for (const auto& s : seen) {
    EXPECT_EQ(s.error, "");
    EXPECT_EQ(s.region, "eu-west-2");
    EXPECT_EQ(json::parse(s.body)["QueueUrl"], queue);
  }
  // A wrong secret is the server's typed error.
  auto wrong = NewStaticCredentials({.access_key_id = kKey, .secret_access_key = "wrong"});
  ASSERT_OK_AND_ASSIGN(
      auto bad, SqsClient::Create({.queue_url = queue}, {{"AWS_ENDPOINT_URL_SQS", local->url()}},
                                  wrong.get(), RealClock(), nullptr));
  EXPECT_THAT(bad->Delete("h"),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("SignatureDoesNotMatch")));
  // A queue URL on the local server itself (no region in it: the environment's).
  const std::string local_queue = local->url() + "/000000000000/spot-events";
  ASSERT_OK_AND_ASSIGN(auto fake, SqsClient::Create({.queue_url = local_queue},
                                                    {{"AWS_ENDPOINT_URL", local->url()},
                                                     {"AWS_REGION", "ap-south-1"}},
                                                    creds.get(), RealClock(), nullptr));
  ASSERT_THAT(fake->ChangeVisibility("h", absl::Seconds(1)), IsOk());
  EXPECT_EQ(local->seen().back().region, "ap-south-1");
  EXPECT_EQ(json::parse(local->seen().back().body)["QueueUrl"], local_queue);
}

TEST(SqsServerTest, ALongPollIsNotAnError) {
  auto local = LocalSqs::Start(/*hold_long_polls=*/true);
  ASSERT_NE(local, nullptr);
  auto creds = NewStaticCredentials({.access_key_id = kKey, .secret_access_key = kSecret});
  // A call timeout shorter than the wait: the HTTP timeout is their sum.
  ASSERT_OK_AND_ASSIGN(
      auto sqs,
      SqsClient::Create(
          {.queue_url = kQueueUrl, .timeout = absl::Seconds(1), .retry = {.max_attempts = 1}},
          {{"AWS_ENDPOINT_URL_SQS", local->url()}}, creds.get(), RealClock(), nullptr));
  const absl::Time start = absl::Now();
  ASSERT_OK_AND_ASSIGN(auto got, sqs->Receive({.wait = absl::Seconds(2)}));
  EXPECT_TRUE(got.empty());
  EXPECT_GE(absl::Now() - start, absl::Seconds(2));
}

TEST(SqsServerTest, CancelEndsALongPollAtOnce) {
  auto local = LocalSqs::Start(/*hold_long_polls=*/true);
  ASSERT_NE(local, nullptr);
  auto creds = NewStaticCredentials({.access_key_id = kKey, .secret_access_key = kSecret});
  ASSERT_OK_AND_ASSIGN(auto sqs, SqsClient::Create({.queue_url = kQueueUrl},
                                                   {{"AWS_ENDPOINT_URL_SQS", local->url()}},
                                                   creds.get(), RealClock(), nullptr));
  http::StreamCancel cancel;
  absl::StatusOr<std::vector<SqsMessage>> result;
  absl::Time returned;
  std::thread poller([&] {
    result = sqs->Receive({.wait = absl::Seconds(20)}, absl::InfiniteFuture(), &cancel);
    returned = absl::Now();
  });
  // Cancels once the server holds the long poll (polled, bounded).
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (local->seen().empty() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(5));
  ASSERT_EQ(local->seen().size(), 1u);
  const absl::Time cancelled = absl::Now();
  cancel.Cancel();
  poller.join();
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kCancelled));
  EXPECT_LT(returned - cancelled, absl::Seconds(2)) << "the long poll outlived its cancel";
  EXPECT_EQ(local->seen().size(), 1u);  // not retried
}

// Accepts connections (the kernel does, through the backlog) and never
// answers: a request to it waits until its deadline.
class SilentServer {
 public:
  SilentServer() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(fd_, 16) != 0 || getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "cannot listen";
      return;
    }
    port_ = ntohs(addr.sin_port);
  }
  ~SilentServer() {
    if (fd_ >= 0) close(fd_);
  }
  std::string url() const { return absl::StrCat("http://127.0.0.1:", port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(SqsServerTest, TheDeadlineHoldsAgainstAServerThatNeverAnswers) {
  SilentServer silent;
  auto creds = NewStaticCredentials({.access_key_id = kKey, .secret_access_key = kSecret});
  ASSERT_OK_AND_ASSIGN(
      auto sqs,
      SqsClient::Create(
          {.queue_url = kQueueUrl, .timeout = absl::Seconds(30), .retry = {.max_attempts = 5}},
          {{"AWS_ENDPOINT_URL_SQS", silent.url()}}, creds.get(), RealClock(), nullptr));
  for (int call = 0; call < 3; ++call) {
    const absl::Time start = absl::Now();
    http::StreamCancel never;
    absl::Status s = call == 0 ? sqs->Receive({}, start + absl::Milliseconds(1500)).status()
                     : call == 1
                         ? sqs->Receive({}, start + absl::Milliseconds(1500), &never).status()
                         : sqs->Delete("h", start + absl::Milliseconds(1500));
    const absl::Duration took = absl::Now() - start;
    // Cut by lib/http's whole-request deadline or by its read timeout (set to
    // the same duration), whichever fires first: Unavailable either way.
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kUnavailable)) << call;
    EXPECT_GE(took, absl::Milliseconds(1400)) << call;
    EXPECT_LT(took, absl::Seconds(3)) << "call " << call << " outlived its deadline: " << s;
  }
}

}  // namespace
}  // namespace hollowtrees::aws
