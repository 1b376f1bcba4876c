#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"

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

// A raw client connection to 127.0.0.1:`port`.
int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Sends `text` a byte every `interval` until the server closes the
// connection or `limit` passes; returns how long until the close (or
// InfiniteDuration when it never came).
absl::Duration TrickleUntilClosed(int fd, const std::string& text, absl::Duration interval,
                                  absl::Duration limit) {
  const absl::Time started = absl::Now();
  for (size_t i = 0; absl::Now() - started < limit; ++i) {
    if (i < text.size() && send(fd, &text[i], 1, MSG_NOSIGNAL) != 1) return absl::Now() - started;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(interval))) > 0) {
      char buf[512];
      const ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) return absl::Now() - started;
      ADD_FAILURE() << "the server answered a request it never fully got: "
                    << std::string(buf, static_cast<size_t>(n));
      return absl::Now() - started;
    }
  }
  return absl::InfiniteDuration();
}

const char kSlowRequest[] =
    "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: "
    "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp\r\n"
    "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi";

TEST(RequestDeadlineTest, ASlowSenderIsCutOffAtTheWholeRequestsDeadline) {
  httplib::Server server;
  // Each read waits up to 5 s: a byte every 100 ms never trips it.
  ConfigureServer(server, {.threads = 2, .io_timeout = absl::Seconds(5)});
  server.Post("/echo", [](const httplib::Request& req, httplib::Response& res) {
    res.set_content(req.body, "text/plain");
  });
  absl::Mutex mu;
  std::vector<CutConnection> cuts;
  ASSERT_OK_AND_ASSIGN(auto serving,
                       ServingThread::Start(server, {"127.0.0.1", 0},
                                            {.request_timeout = absl::Seconds(1),
                                             .on_cut = [&](const CutConnection& c) {
                                               absl::MutexLock lock(&mu);
                                               cuts.push_back(c);
                                             }}));
  const int slow = Connect(serving->port());
  ASSERT_GE(slow, 0);
  // Meanwhile a normal client is served at once, again and again.
  ASSERT_OK_AND_ASSIGN(auto client, NewHttpClient({.base_url = "http://127.0.0.1:" +
                                                               std::to_string(serving->port())}));
  std::thread others([&] {
    for (int i = 0; i < 10; ++i) {
      auto r = client->Send({.method = "POST", .path = "/echo", .body = "ok",
                             .content_type = "text/plain"});
      EXPECT_TRUE(r.ok() && r->status == 200 && r->body == "ok") << i;
      absl::SleepFor(absl::Milliseconds(100));
    }
  });
  const absl::Duration cut_after =
      TrickleUntilClosed(slow, kSlowRequest, absl::Milliseconds(100), absl::Seconds(8));
  others.join();
  close(slow);
  EXPECT_GE(cut_after, absl::Milliseconds(900));
  EXPECT_LT(cut_after, absl::Seconds(2)) << "not cut off at the 1 s deadline";
  EXPECT_EQ(serving->requests_cut(), 1u) << "only the slow sender is cut";
  absl::MutexLock lock(&mu);
  ASSERT_EQ(cuts.size(), 1u);
  EXPECT_THAT(cuts[0].peer, HasSubstr("127.0.0.1:"));
  EXPECT_GT(cuts[0].open, absl::Seconds(1));
}

TEST(RequestDeadlineTest, AKeptAliveConnectionIsTimedPerRequestNotForItsLife) {
  httplib::Server server;
  ConfigureServer(server, {.threads = 2});
  server.Post("/echo", [](const httplib::Request& req, httplib::Response& res) {
    res.set_content(req.body, "text/plain");
  });
  ASSERT_OK_AND_ASSIGN(auto serving, ServingThread::Start(server, {"127.0.0.1", 0},
                                                          {.request_timeout = absl::Seconds(1)}));
  ASSERT_OK_AND_ASSIGN(auto client, NewHttpClient({.base_url = "http://127.0.0.1:" +
                                                               std::to_string(serving->port())}));
  // 2.5 s on one pooled connection, each request quick: none is cut.
  for (int i = 0; i < 10; ++i) {
    ASSERT_OK_AND_ASSIGN(HttpResponse r, client->Send({.method = "POST", .path = "/echo",
                                                       .body = "x", .content_type = "text/plain"}));
    EXPECT_EQ(r.status, 200);
    absl::SleepFor(absl::Milliseconds(250));
  }
  EXPECT_EQ(serving->requests_cut(), 0u);
}

TEST(RequestDeadlineTest, ASlowHandlerCountsTowardsTheDeadline) {
  // The deadline is the whole request's, the answer included: a handler
  // stuck past it loses its connection (the client sees no answer, not a
  // late one).
  httplib::Server server;
  ConfigureServer(server, {.threads = 2});
  absl::Notification release;
  server.Get("/stuck", [&](const httplib::Request&, httplib::Response& res) {
    release.WaitForNotificationWithTimeout(absl::Seconds(5));
    res.set_content("late", "text/plain");
  });
  ASSERT_OK_AND_ASSIGN(auto serving, ServingThread::Start(server, {"127.0.0.1", 0},
                                                          {.request_timeout = absl::Seconds(1)}));
  ASSERT_OK_AND_ASSIGN(auto client,
                       NewHttpClient({.base_url = "http://127.0.0.1:" +
                                                  std::to_string(serving->port()),
                                      .timeout = absl::Seconds(4)}));
  const absl::Time started = absl::Now();
  auto r = client->Send({.path = "/stuck"});
  EXPECT_FALSE(r.ok()) << r->body;
  EXPECT_LT(absl::Now() - started, absl::Seconds(3));
  release.Notify();
  EXPECT_EQ(serving->requests_cut(), 1u);
}

TEST(RequestDeadlineTest, AnInfiniteDeadlineWatchesNothing) {
  httplib::Server server;
  ConfigureServer(server, {.threads = 2, .io_timeout = absl::Seconds(5)});
  server.Post("/echo", [](const httplib::Request& req, httplib::Response& res) {
    res.set_content(req.body, "text/plain");
  });
  ASSERT_OK_AND_ASSIGN(auto serving,
                       ServingThread::Start(server, {"127.0.0.1", 0},
                                            {.request_timeout = absl::InfiniteDuration()}));
  const int slow = Connect(serving->port());
  ASSERT_GE(slow, 0);
  // 1.5 s of trickling (a byte every 100 ms), not cut.
  EXPECT_EQ(TrickleUntilClosed(slow, kSlowRequest, absl::Milliseconds(100),
                               absl::Milliseconds(1500)),
            absl::InfiniteDuration());
  close(slow);
  EXPECT_EQ(serving->requests_cut(), 0u);
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
