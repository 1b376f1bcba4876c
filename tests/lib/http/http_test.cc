#include <httplib.h>

#include <thread>

#include "gtest/gtest.h"
#include "lib/http/http_client.h"
#include "lib/http/server_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/trickle_server.h"

namespace hollowtrees::http {
namespace {

using ::hollowtrees::testing::IsOk;
using ::hollowtrees::testing::StatusIs;
using ::testing::HasSubstr;

TEST(HostPortTest, ParsesForms) {
  auto a = ParseHostPort("127.0.0.1:9092");
  ASSERT_THAT(a, IsOk());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 9092);
  auto b = ParseHostPort(":9189");
  ASSERT_THAT(b, IsOk());
  EXPECT_EQ(b->host, "0.0.0.0");
  auto c = ParseHostPort("[::1]:0");
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->host, "::1");
  EXPECT_EQ(c->port, 0);
  EXPECT_THAT(ParseHostPort("localhost"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("HOST:PORT")));
  EXPECT_THAT(ParseHostPort("h:70000"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("port")));
}

TEST(UrlTest, ParsesForms) {
  auto u = ParseUrl("https://example.com:6443/prefix/");
  ASSERT_THAT(u, IsOk());
  EXPECT_EQ(u->scheme, "https");
  EXPECT_EQ(u->host, "example.com");
  EXPECT_EQ(u->port, 6443);
  EXPECT_EQ(u->path, "/prefix");
  auto d = ParseUrl("http://169.254.169.254");
  ASSERT_THAT(d, IsOk());
  EXPECT_EQ(d->port, 80);
  EXPECT_THAT(ParseUrl("ftp://x"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("scheme")));
  EXPECT_THAT(ParseUrl("nohost"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no scheme")));
}

TEST(HttpClientTest, TalksToALocalServerAndReportsRefusal) {
  httplib::Server server;
  ConfigureServer(server, {});
  server.Post("/echo", [](const httplib::Request& req, httplib::Response& res) {
    res.set_content(req.body + "|" + req.get_header_value("X-Test"), "text/plain");
  });
  ASSERT_OK_AND_ASSIGN(auto serving, ServingThread::Start(server, {"127.0.0.1", 0}));
  const int port = serving->port();
  EXPECT_GT(port, 0);

  ASSERT_OK_AND_ASSIGN(auto client, NewHttpClient({.base_url = "http://127.0.0.1:" + std::to_string(port)}));
  for (int i = 0; i < 3; ++i) {  // reuses the pooled connection
    ASSERT_OK_AND_ASSIGN(HttpResponse r, client->Send({.method = "POST", .path = "/echo",
                                                       .headers = {{"X-Test", "yes"}},
                                                       .body = "hi",
                                                       .content_type = "text/plain"}));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "hi|yes");
    EXPECT_EQ(r.Header("content-type"), "text/plain");
  }
  ASSERT_OK_AND_ASSIGN(HttpResponse nf, client->Send({.path = "/nope"}));
  EXPECT_EQ(nf.status, 404);
  serving->Stop();
  serving->Stop();  // idempotent
  EXPECT_FALSE(server.is_running());

  EXPECT_THAT(client->Send({.path = "/echo"}),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("127.0.0.1")));
}

TEST(HttpClientTest, ATricklingServerIsCutOffAtTheRequestsDeadline) {
  // 200 bytes, one every 50 ms: 10 s in all, each byte well inside a
  // per-read timeout of 1 s.
  ASSERT_OK_AND_ASSIGN(auto slow, hollowtrees::testing::TrickleServer::Start(
                                      hollowtrees::testing::TrickleServer::SlowJsonAnswer(150),
                                      absl::Milliseconds(50)));
  ASSERT_OK_AND_ASSIGN(auto client, NewHttpClient({.base_url = slow->url(),
                                                   .timeout = absl::Seconds(1)}));
  const absl::Time started = absl::Now();
  auto r = client->Send({.path = "/slow"});
  const absl::Duration took = absl::Now() - started;
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("deadline")));
  EXPECT_GE(took, absl::Milliseconds(900));
  EXPECT_LT(took, absl::Seconds(3)) << "the trickle held the request past its deadline";

  // A per-request timeout is the deadline too; and the client still works.
  const absl::Time again = absl::Now();
  EXPECT_THAT(client->Send({.path = "/slow", .timeout = absl::Milliseconds(300)}),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("deadline")));
  EXPECT_LT(absl::Now() - again, absl::Seconds(2));
  EXPECT_EQ(slow->connections(), 2) << "an interrupted connection is not reused";
}

TEST(ServerTest, ATakenPortIsAnErrorNotAShare) {
  httplib::Server first, second;
  ConfigureServer(first, {});
  ConfigureServer(second, {});
  ASSERT_OK_AND_ASSIGN(int port, Bind(first, {"127.0.0.1", 0}));
  EXPECT_THAT(Bind(second, {"127.0.0.1", port}),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("address in use")));
  httplib::Server third;
  ConfigureServer(third, {});
  EXPECT_THAT(ServingThread::Start(third, {"127.0.0.1", port}),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("address in use")));
}

TEST(HttpClientTest, RejectsUnreadableTlsMaterial) {
  EXPECT_THAT(NewHttpClient({.base_url = "https://127.0.0.1:1", .tls = {.ca_file = "/nonexistent"}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("/nonexistent")));
  EXPECT_THAT(NewHttpClient({.base_url = "https://127.0.0.1:1", .tls = {.ca_pem = "garbage"}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no PEM certificate")));
  EXPECT_THAT(NewHttpClient({.base_url = "https://127.0.0.1:1", .tls = {.cert_pem = "x"}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("needs its key")));
}

}  // namespace
}  // namespace hollowtrees::http
