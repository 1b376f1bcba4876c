// The engine's security, end to end: authentication of senders over HTTP
// (bearer tokens, HS256 JWTs, the per-cluster check), HTTPS on the listener
// with certificate reload and client certificates, TLS and mutual TLS to
// plugins, and no secret in the daemon's log. Certificates are made at test
// time with the openssl command line.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "engine/engine.h"
#include "engine/http/jwt.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/http/http_client.h"
#include "nlohmann/json.hpp"
#include "plugins/sdk/server.h"
#include "spdlog/sinks/null_sink.h"
#include "spdlog/spdlog.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace hollowtrees::engine {
namespace {

using ::hollowtrees::testing::IsOk;
using ::hollowtrees::testing::MakeTempDir;
using ::hollowtrees::testing::Subprocess;
using ::hollowtrees::testing::WriteStringToFile;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kToken[] = "static-operator-token-5b7e";
constexpr char kJwtSecret[] = "jwt-signing-secret-9c1d";

// --- Certificates, made once for the whole binary ---

absl::Status RunOpenssl(const std::vector<std::string>& args, const std::string& dir) {
  std::vector<std::string> argv = {"/usr/bin/openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto p = Subprocess::Start(argv, {}, dir);
  if (!p.ok()) return p.status();
  auto rc = (*p)->Wait(absl::Seconds(30));
  if (!rc.ok()) return rc.status();
  if (*rc != 0) return absl::InternalError(absl::StrCat("openssl failed: ", (*p)->Output()));
  return absl::OkStatus();
}

struct Pki {
  std::string dir;
  std::string Path(const std::string& name) const { return absl::StrCat(dir, "/", name); }

  absl::Status MakeCa(const std::string& name) {
    return RunOpenssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                       "-nodes", "-keyout", Path(name + ".key"), "-out", Path(name + ".crt"),
                       "-days", "2", "-subj", "/CN=" + name},
                      dir);
  }
  // A certificate for `cn` with subjectAltName `san`, signed by `ca`.
  absl::Status MakeLeaf(const std::string& name, const std::string& cn, const std::string& san,
                        const std::string& ca) {
    absl::Status s = WriteStringToFile(
        Path(name + ".ext"),
        absl::StrCat("subjectAltName=", san, "\nextendedKeyUsage=serverAuth,clientAuth\n"));
    if (!s.ok()) return s;
    s = RunOpenssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", Path(name + ".key"), "-out", Path(name + ".csr"), "-subj", "/CN=" + cn},
                   dir);
    if (!s.ok()) return s;
    return RunOpenssl({"x509", "-req", "-in", Path(name + ".csr"), "-CA", Path(ca + ".crt"), "-CAkey",
                       Path(ca + ".key"), "-CAcreateserial", "-out", Path(name + ".crt"), "-days", "2",
                       "-extfile", Path(name + ".ext")},
                      dir);
  }
};

const Pki& Certificates() {
  static const Pki* pki = [] {
    auto* p = new Pki{MakeTempDir("ht-pki")};
    for (absl::Status s : {p->MakeCa("ca"), p->MakeCa("rogue-ca"),
                           p->MakeLeaf("server-one", "server-one", "IP:127.0.0.1", "ca"),
                           p->MakeLeaf("server-two", "server-two", "IP:127.0.0.1", "ca"),
                           p->MakeLeaf("client", "client", "DNS:client", "ca"),
                           p->MakeLeaf("rogue-client", "client", "DNS:client", "rogue-ca"),
                           p->MakeLeaf("plugin", "plugin.test", "DNS:plugin.test", "ca"),
                           p->MakeLeaf("other", "other.test", "DNS:other.test", "ca")}) {
      EXPECT_THAT(s, IsOk());
    }
    return p;
  }();
  return *pki;
}

// The common name of the certificate the server at 127.0.0.1:port presents
// (no verification: this reads what is served), or the handshake error.
std::string PresentedCommonName(int port) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out = "connect failed";
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) == 1) {
      X509* cert = SSL_get1_peer_certificate(ssl);
      char cn[256] = {0};
      X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
      out = cn;
      X509_free(cert);
      SSL_shutdown(ssl);
    } else {
      out = "handshake failed";
    }
    SSL_free(ssl);
  }
  ::close(fd);
  SSL_CTX_free(ctx);
  return out;
}

// --- A recording plugin and an engine around it ---

class RecordingPlugin : public plugin::ActionPlugin {
 public:
  plugin::Result Handle(const plugin::Request& req, const plugin::Context&) override {
    absl::MutexLock lock(&mu_);
    calls_.push_back(req.Label("instance_id"));
    return plugin::Result::Done("ok");
  }
  std::vector<std::string> Calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  // Polls (bounded) until `n` calls arrived.
  std::vector<std::string> WaitFor(size_t n, absl::Duration timeout = absl::Seconds(10)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (Calls().size() < n && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
    return Calls();
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
};

constexpr char kRule[] = R"(rules:
  - name: drain
    event_type: prometheus.server.alert.SpotTerminationNotice
    retries: 0
    action_plugins: [p1]
)";

class SecurityTest : public ::testing::Test {
 public:
  static std::string Alert(const std::string& instance, const std::string& org = "3",
                           const std::string& cluster = "7") {
    return absl::StrCat(
        R"({"labels":{"alertname":"SpotTerminationNotice","org_id":")", org, R"(","cluster_id":")", cluster,
        R"(","instance_id":")", instance,
        R"("},"startsAt":"2024-01-01T00:00:00Z","endsAt":"2099-01-01T00:00:00Z","generatorURL":"http://prom/g"})");
  }

 protected:
  SecurityTest() : logger_("test", std::make_shared<spdlog::sinks::null_sink_mt>()) {}

  void SetUp() override {
    dir_ = MakeTempDir("ht-security");
    ASSERT_THAT(WriteStringToFile(dir_ + "/tokens", absl::StrCat(kToken, "\n")), IsOk());
    ASSERT_THAT(WriteStringToFile(dir_ + "/jwt.key", kJwtSecret), IsOk());
  }

  void StartPlugin(plugin::PluginServerOptions options = {}) {
    options.listen = "127.0.0.1:0";
    auto server = plugin::PluginServer::Start(plugin_, options, logger_);
    ASSERT_THAT(server, IsOk());
    plugin_server_ = *std::move(server);
  }

  // Starts the engine with `sections` (tls, auth) and one plugin entry with
  // `plugin_tls` (a YAML flow mapping, or empty).
  void StartEngine(const std::string& sections, const std::string& plugin_tls = "",
                   http::TlsOptions client_tls = {}, bool https = false) {
    std::string config = absl::StrCat("action_plugins:\n  - {name: p1, address: \"127.0.0.1:",
                                      plugin_server_ ? plugin_server_->port() : 1, "\", timeout: 5s",
                                      plugin_tls.empty() ? "" : ", tls: " + plugin_tls, "}\n",
                                      sections, kRule);
    config_path_ = dir_ + "/rules.yaml";
    ASSERT_THAT(WriteStringToFile(config_path_, config), IsOk());
    auto engine = Engine::Start({.config_path = config_path_, .listen = "127.0.0.1:0"}, logger_);
    ASSERT_THAT(engine, IsOk());
    engine_ = *std::move(engine);
    auto client = http::NewHttpClient(
        {.base_url = absl::StrCat(https ? "https" : "http", "://127.0.0.1:", engine_->port()),
         .tls = client_tls});
    ASSERT_THAT(client, IsOk());
    http_ = *std::move(client);
  }

  std::string AuthSection(const std::string& extra = "") {
    return absl::StrCat("auth:\n  bearer_tokens_file: ", dir_, "/tokens\n  jwt:\n    hs256_secret_file: ",
                        dir_, "/jwt.key\n    require_cluster_match: true\n", extra);
  }

  absl::StatusOr<http::HttpResponse> Send(const std::string& method, const std::string& path,
                                          const std::string& body, http::Headers headers = {},
                                          const std::string& content_type = "application/json") {
    return http_->Send({.method = method, .path = path, .headers = std::move(headers), .body = body,
                        .content_type = content_type});
  }
  http::HttpResponse Post(const std::string& path, const std::string& body, const std::string& bearer,
                          const std::string& content_type = "application/json",
                          http::Headers headers = {}) {
    if (!bearer.empty()) headers.push_back({"Authorization", "Bearer " + bearer});
    auto r = Send("POST", path, body, headers, content_type);
    EXPECT_THAT(r, IsOk());
    return r.ok() ? *r : http::HttpResponse{};
  }
  http::HttpResponse Get(const std::string& path, const std::string& bearer = "") {
    http::Headers headers;
    if (!bearer.empty()) headers.push_back({"Authorization", "Bearer " + bearer});
    auto r = Send("GET", path, "", headers);
    EXPECT_THAT(r, IsOk());
    return r.ok() ? *r : http::HttpResponse{};
  }
  // The metric's value in /metrics, or 0 when absent.
  double Metric(const std::string& series, const std::string& bearer = "") {
    const std::string text = Get("/metrics", bearer).body;
    const size_t at = text.find("\n" + series + " ");
    if (at == std::string::npos) return 0;
    return std::stod(text.substr(at + series.size() + 2));
  }
  // Polls the flows API until a flow reached `state`; returns its JSON.
  nlohmann::json WaitForFlow(const std::string& state, const std::string& bearer = "") {
    const absl::Time deadline = absl::Now() + absl::Seconds(15);
    nlohmann::json flows;
    do {
      flows = nlohmann::json::parse(Get("/api/v1/flows?state=" + state, bearer).body, nullptr, false);
      if (flows.is_object() && !flows["flows"].empty()) return flows["flows"][0];
      absl::SleepFor(absl::Milliseconds(20));
    } while (absl::Now() < deadline);
    return nlohmann::json();
  }

  static std::string Jwt(const std::string& claims, const std::string& key = kJwtSecret) {
    return SignHs256JwtForTesting(claims, key);
  }
  static std::string ClusterJwt(const std::string& org = "3", const std::string& cluster = "7") {
    return Jwt(absl::StrCat(R"({"sub":"clusters/)", org, "/", cluster, R"(","exp":)",
                            absl::ToUnixSeconds(absl::Now()) + 600, "}"));
  }

  spdlog::logger logger_;
  RecordingPlugin plugin_;
  std::unique_ptr<plugin::PluginServer> plugin_server_;
  std::string dir_;
  std::string config_path_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<http::HttpClient> http_;
};

// --- Authentication of senders ---

TEST_F(SecurityTest, WithoutCredentialsIntakeIs401AndNothingIsQueued) {
  StartPlugin();
  StartEngine(AuthSection());
  const std::string webhook = absl::StrCat(
      R"({"version":"4","status":"firing","receiver":"ht","groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://am","groupKey":"k","truncatedAlerts":0,"alerts":[{"status":"firing","labels":{"alertname":"SpotTerminationNotice","instance_id":"am","org_id":"3","cluster_id":"7"},"annotations":{},"startsAt":"2024-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"x"}]})");
  const std::string event =
      R"({"specversion":"1.0","id":"1","source":"/x","type":"prometheus.server.alert.SpotTerminationNotice","data":{"labels":{"instance_id":"ce"}}})";
  struct Case {
    std::string path, body, content_type;
  } cases[] = {{"/api/v2/alerts", absl::StrCat("[", Alert("i-1"), "]"), "application/json"},
               {"/api/v1/alerts", absl::StrCat("[", Alert("i-1"), "]"), "application/json"},
               {"/api/v1/webhooks/alertmanager", webhook, "application/json"},
               {"/api/v1/events", event, "application/cloudevents+json"}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.path);
    http::HttpResponse r = Post(c.path, c.body, "", c.content_type);
    EXPECT_EQ(r.status, 401);
    EXPECT_THAT(r.Header("WWW-Authenticate"), HasSubstr("Bearer"));
    auto body = nlohmann::json::parse(r.body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << r.body;
    EXPECT_THAT(body["error"].get<std::string>(), HasSubstr("missing credentials"));
    // Another scheme and an unknown token are refused the same way.
    EXPECT_EQ(Post(c.path, c.body, "", c.content_type, {{"Authorization", "Basic dTpw"}}).status, 401);
    EXPECT_EQ(Post(c.path, c.body, "not-a-known-token", c.content_type).status, 401);
  }
  EXPECT_EQ(Metric("hollowtrees_auth_failures_total{reason=\"missing\"}"), 4);
  EXPECT_EQ(Metric("hollowtrees_auth_failures_total{reason=\"scheme\"}"), 4);
  EXPECT_EQ(Metric("hollowtrees_auth_failures_total{reason=\"unknown_token\"}"), 4);
  for (const char* source : {"prometheus", "alertmanager", "cloudevents"}) {
    EXPECT_EQ(Metric(absl::StrCat("hollowtrees_events_received_total{source=\"", source, "\"}")), 0)
        << source;
  }
  // A good request afterwards goes through: the refused ones left no trace
  // (not even in the de-duplication table).
  EXPECT_EQ(Post("/api/v2/alerts", absl::StrCat("[", Alert("i-1"), "]"), kToken).status, 200);
  EXPECT_EQ(plugin_.WaitFor(1).size(), 1u);
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(plugin_.Calls(), std::vector<std::string>{"i-1"});
}

TEST_F(SecurityTest, StaticTokenAndClusterJwtAreAccepted) {
  StartPlugin();
  StartEngine(AuthSection());
  EXPECT_EQ(Post("/api/v2/alerts", absl::StrCat("[", Alert("by-token", "5", "9"), "]"), kToken).status,
            200)
      << "an operator token is not tied to a cluster";
  http::HttpResponse r = Post("/api/v2/alerts", absl::StrCat("[", Alert("by-jwt"), "]"), ClusterJwt());
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Post("/api/v1/events",
                 R"({"specversion":"1.0","id":"e1","source":"/x","type":"prometheus.server.alert.SpotTerminationNotice","data":{"labels":{"instance_id":"by-event","org_id":"3","cluster_id":"7"}}})",
                 ClusterJwt(), "application/cloudevents+json")
                .status,
            200);
  auto calls = plugin_.WaitFor(3);
  std::sort(calls.begin(), calls.end());
  EXPECT_EQ(calls, (std::vector<std::string>{"by-event", "by-jwt", "by-token"}));
}

TEST_F(SecurityTest, ExpiredWronglySignedAndUnscopedJwtsAreRefused) {
  StartPlugin();
  StartEngine(AuthSection());
  const std::string batch = absl::StrCat("[", Alert("i-1"), "]");
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  struct Case {
    std::string name, token;
    int status;
    std::string reason, error;
  } cases[] = {
      {"expired", Jwt(absl::StrCat(R"({"sub":"clusters/3/7","exp":)", now - 3600, "}")), 401, "expired",
       "expired"},
      {"wrong key", Jwt(R"({"sub":"clusters/3/7"})", "some-other-secret"), 401, "signature",
       "signature"},
      {"alg none", absl::StrCat("eyJhbGciOiJub25lIn0.", "eyJzdWIiOiJjbHVzdGVycy8zLzcifQ.", "c2ln"), 401,
       "algorithm", "HS256"},
      {"not yet valid", Jwt(absl::StrCat(R"({"sub":"clusters/3/7","nbf":)", now + 3600, "}")), 401,
       "not_yet_valid", "not valid yet"},
      {"no cluster", Jwt(R"({"sub":"users/12"})"), 403, "not_cluster_scoped", "clusters/"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    http::HttpResponse r = Post("/api/v2/alerts", batch, c.token);
    EXPECT_EQ(r.status, c.status);
    EXPECT_THAT(r.body, HasSubstr(c.error));
    EXPECT_THAT(r.body, Not(HasSubstr(c.token)));
    EXPECT_EQ(Metric(absl::StrCat("hollowtrees_auth_failures_total{reason=\"", c.reason, "\"}")), 1);
  }
  EXPECT_EQ(Metric("hollowtrees_events_received_total{source=\"prometheus\"}"), 0);
  EXPECT_TRUE(plugin_.Calls().empty());
}

TEST_F(SecurityTest, WrongClusterIsForbiddenPerAlert) {
  StartPlugin();
  StartEngine(AuthSection());
  // Every alert for another cluster: 403, nothing queued.
  http::HttpResponse r =
      Post("/api/v2/alerts", absl::StrCat("[", Alert("other", "3", "8"), "]"), ClusterJwt("3", "7"));
  EXPECT_EQ(r.status, 403);
  EXPECT_THAT(r.body, HasSubstr("forbidden"));
  // Another org, same cluster id: 403 too.
  EXPECT_EQ(Post("/api/v2/alerts", absl::StrCat("[", Alert("org", "4", "7"), "]"), ClusterJwt()).status,
            403);
  // A batch: the allowed alert is taken, the other listed as refused.
  r = Post("/api/v2/alerts", absl::StrCat("[", Alert("mine"), ",", Alert("theirs", "3", "8"), "]"),
           ClusterJwt());
  EXPECT_EQ(r.status, 200);
  auto body = nlohmann::json::parse(r.body);
  EXPECT_EQ(body["accepted"], 1);
  ASSERT_EQ(body["rejected"].size(), 1u);
  EXPECT_EQ(body["rejected"][0]["index"], 1);
  EXPECT_THAT(body["rejected"][0]["error"].get<std::string>(), HasSubstr("cluster 8"));
  // CloudEvents: the same check on data.labels.
  EXPECT_EQ(Post("/api/v1/events",
                 R"({"specversion":"1.0","id":"e2","source":"/x","type":"prometheus.server.alert.SpotTerminationNotice","data":{"labels":{"instance_id":"ev","org_id":"3","cluster_id":"8"}}})",
                 ClusterJwt(), "application/cloudevents+json")
                .status,
            403);
  EXPECT_EQ(plugin_.WaitFor(1), std::vector<std::string>{"mine"});
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(plugin_.Calls(), std::vector<std::string>{"mine"});
  EXPECT_EQ(Metric("hollowtrees_auth_failures_total{reason=\"forbidden\"}"), 4);
}

TEST_F(SecurityTest, ProtectChoosesTheEndpointsAndProbesStayOpen) {
  StartPlugin();
  StartEngine(AuthSection("  protect: [api, metrics]\n"));
  EXPECT_EQ(Get("/healthz").status, 200);
  EXPECT_EQ(Get("/readyz").status, 200);
  EXPECT_EQ(Get("/api/v1/flows").status, 401);
  EXPECT_EQ(Get("/api/v1/rules").status, 401);
  EXPECT_EQ(Get("/metrics").status, 401);
  EXPECT_EQ(Get("/api/v1/flows", kToken).status, 200);
  EXPECT_EQ(Get("/api/v1/rules", ClusterJwt()).status, 200);
  EXPECT_EQ(Get("/metrics", kToken).status, 200);
  // Intake is not in the list this time.
  EXPECT_EQ(Post("/api/v2/alerts", absl::StrCat("[", Alert("open"), "]"), "").status, 200);
  EXPECT_EQ(Metric("hollowtrees_auth_failures_total{reason=\"missing\"}", kToken), 3);
}

TEST_F(SecurityTest, ReloadRereadsTheTokenFile) {
  StartPlugin();
  StartEngine(AuthSection());
  EXPECT_EQ(Post("/api/v2/alerts", "[]", "rotated-token").status, 401);
  ASSERT_THAT(WriteStringToFile(dir_ + "/tokens", "rotated-token\n"), IsOk());
  ASSERT_THAT(engine_->Reload(), IsOk());
  EXPECT_EQ(Post("/api/v2/alerts", "[]", "rotated-token").status, 200);
  EXPECT_EQ(Post("/api/v2/alerts", "[]", kToken).status, 401);
  // A token file that went missing keeps the tokens in force.
  ASSERT_EQ(std::remove((dir_ + "/tokens").c_str()), 0);
  EXPECT_THAT(engine_->Reload(), Not(IsOk()));
  EXPECT_EQ(Post("/api/v2/alerts", "[]", "rotated-token").status, 200);
}

TEST_F(SecurityTest, ReplayCommandSendsItsToken) {
  StartPlugin();
  StartEngine(AuthSection("  protect: [api]\n"));
  ASSERT_THAT(WriteStringToFile(dir_ + "/cli-token", absl::StrCat(kToken, "\n")), IsOk());
  auto run = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv = {testing::BinaryPath("hollowtrees"), "replay", "abc123",
                                     "--engine", absl::StrCat("http://127.0.0.1:", engine_->port())};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto p = Subprocess::Start(argv, {}, dir_);
    EXPECT_THAT(p, IsOk());
    if (!p.ok()) return std::string();
    EXPECT_THAT((*p)->Wait(absl::Seconds(20)), IsOk());
    return (*p)->Output();
  };
  EXPECT_THAT(run({}), HasSubstr("missing credentials"));
  const std::string with_token = run({"--token-file", dir_ + "/cli-token"});
  EXPECT_THAT(with_token, HasSubstr("no flow abc123"));
  EXPECT_THAT(with_token, Not(HasSubstr(kToken)));
  EXPECT_THAT(run({"--token-file", dir_ + "/absent"}), HasSubstr("cannot read a token"));
}

// --- HTTPS on the listener ---

TEST_F(SecurityTest, HttpsListenerServesAndReloadsItsCertificate) {
  const Pki& pki = Certificates();
  // The served pair lives in the test's own files, replaced below.
  ASSERT_OK_AND_ASSIGN(std::string one_crt, testing::ReadFileToString(pki.Path("server-one.crt")));
  ASSERT_OK_AND_ASSIGN(std::string one_key, testing::ReadFileToString(pki.Path("server-one.key")));
  ASSERT_OK_AND_ASSIGN(std::string two_crt, testing::ReadFileToString(pki.Path("server-two.crt")));
  ASSERT_OK_AND_ASSIGN(std::string two_key, testing::ReadFileToString(pki.Path("server-two.key")));
  ASSERT_THAT(WriteStringToFile(dir_ + "/tls.crt", one_crt), IsOk());
  ASSERT_THAT(WriteStringToFile(dir_ + "/tls.key", one_key), IsOk());
  StartPlugin();
  StartEngine(absl::StrCat("tls:\n  cert_file: ", dir_, "/tls.crt\n  key_file: ", dir_, "/tls.key\n"), "",
              {.ca_file = pki.Path("ca.crt")}, /*https=*/true);
  EXPECT_EQ(Get("/healthz").status, 200);
  EXPECT_EQ(Post("/api/v2/alerts", absl::StrCat("[", Alert("over-https"), "]"), "").status, 200);
  EXPECT_EQ(plugin_.WaitFor(1), std::vector<std::string>{"over-https"});
  EXPECT_EQ(PresentedCommonName(engine_->port()), "server-one");

  // Plain HTTP to the HTTPS port gets no answer.
  auto plain = http::NewHttpClient({.base_url = absl::StrCat("http://127.0.0.1:", engine_->port())});
  ASSERT_THAT(plain, IsOk());
  auto r = (*plain)->Send({.path = "/healthz"});
  EXPECT_TRUE(!r.ok() || r->status == 400) << "plain HTTP was served";

  // Renewal: new files in place (rename, as Kubernetes secret updates do).
  ASSERT_THAT(WriteStringToFile(dir_ + "/tls.crt.new", two_crt), IsOk());
  ASSERT_THAT(WriteStringToFile(dir_ + "/tls.key.new", two_key), IsOk());
  ASSERT_EQ(std::rename((dir_ + "/tls.key.new").c_str(), (dir_ + "/tls.key").c_str()), 0);
  ASSERT_EQ(std::rename((dir_ + "/tls.crt.new").c_str(), (dir_ + "/tls.crt").c_str()), 0);
  EXPECT_EQ(PresentedCommonName(engine_->port()), "server-two");
  auto fresh = http::NewHttpClient({.base_url = absl::StrCat("https://127.0.0.1:", engine_->port()),
                                    .tls = {.ca_file = pki.Path("ca.crt")}});
  ASSERT_THAT(fresh, IsOk());
  auto ok = (*fresh)->Send({.path = "/healthz"});
  ASSERT_THAT(ok, IsOk());
  EXPECT_EQ(ok->status, 200);

  // A broken renewal (a key that does not match) keeps the last good pair.
  ASSERT_THAT(WriteStringToFile(dir_ + "/tls.key", one_key), IsOk());
  EXPECT_EQ(PresentedCommonName(engine_->port()), "server-two");
  EXPECT_EQ(Metric("hollowtrees_tls_certificate_reload_failures_total"), 1);
  EXPECT_EQ(Metric("hollowtrees_tls_certificate_reloads_total"), 1);
}

TEST_F(SecurityTest, HttpsListenerWithClientCaRequiresAClientCertificate) {
  const Pki& pki = Certificates();
  StartPlugin();
  StartEngine(absl::StrCat("tls:\n  cert_file: ", pki.Path("server-one.crt"), "\n  key_file: ",
                           pki.Path("server-one.key"), "\n  client_ca_file: ", pki.Path("ca.crt"), "\n"),
              "",
              {.ca_file = pki.Path("ca.crt"), .cert_file = pki.Path("client.crt"),
               .key_file = pki.Path("client.key")},
              /*https=*/true);
  EXPECT_EQ(Get("/healthz").status, 200);
  struct Case {
    std::string name;
    http::TlsOptions tls;
  } refused[] = {
      {"no certificate", {.ca_file = pki.Path("ca.crt")}},
      {"certificate of another CA",
       {.ca_file = pki.Path("ca.crt"), .cert_file = pki.Path("rogue-client.crt"),
        .key_file = pki.Path("rogue-client.key")}},
  };
  for (const Case& c : refused) {
    SCOPED_TRACE(c.name);
    auto client = http::NewHttpClient(
        {.base_url = absl::StrCat("https://127.0.0.1:", engine_->port()), .tls = c.tls});
    ASSERT_THAT(client, IsOk());
    auto r = (*client)->Send({.method = "POST", .path = "/api/v2/alerts",
                              .body = absl::StrCat("[", Alert("refused"), "]"),
                              .content_type = "application/json"});
    EXPECT_FALSE(r.ok()) << "served with status " << r->status;
  }
  EXPECT_EQ(Metric("hollowtrees_events_received_total{source=\"prometheus\"}"), 0);
}

// --- TLS and mutual TLS to plugins ---

TEST_F(SecurityTest, EngineCallsATlsPluginThatMatchesServerName) {
  const Pki& pki = Certificates();
  StartPlugin({.tls_cert_file = pki.Path("plugin.crt"), .tls_key_file = pki.Path("plugin.key")});
  StartEngine("", absl::StrCat("{ca_file: ", pki.Path("ca.crt"), ", server_name: plugin.test}"));
  EXPECT_EQ(Post("/api/v2/alerts", absl::StrCat("[", Alert("tls"), "]"), "").status, 200);
  EXPECT_EQ(plugin_.WaitFor(1), std::vector<std::string>{"tls"});
  EXPECT_FALSE(WaitForFlow("succeeded").is_null());
}

TEST_F(SecurityTest, PluginCertificateForAnotherNameIsRefused) {
  const Pki& pki = Certificates();
  StartPlugin({.tls_cert_file = pki.Path("other.crt"), .tls_key_file = pki.Path("other.key")});
  StartEngine("", absl::StrCat("{ca_file: ", pki.Path("ca.crt"), ", server_name: plugin.test}"));
  EXPECT_EQ(Post("/api/v2/alerts", absl::StrCat("[", Alert("wrong-name"), "]"), "").status, 200);
  nlohmann::json flow = WaitForFlow("failed");
  ASSERT_FALSE(flow.is_null());
  EXPECT_THAT(flow["error"].get<std::string>(),
              HasSubstr("Peer name plugin.test is not in peer certificate"));
  EXPECT_TRUE(plugin_.Calls().empty());
}

TEST_F(SecurityTest, PluginCertificateIsAcceptedWhenServerNameMatchesIt) {
  const Pki& pki = Certificates();
  StartPlugin({.tls_cert_file = pki.Path("other.crt"), .tls_key_file = pki.Path("other.key")});
  StartEngine("", absl::StrCat("{ca_file: ", pki.Path("ca.crt"), ", server_name: other.test}"));
  EXPECT_EQ(Post("/api/v2/alerts", absl::StrCat("[", Alert("right-name"), "]"), "").status, 200);
  EXPECT_EQ(plugin_.WaitFor(1), std::vector<std::string>{"right-name"});
}

TEST_F(SecurityTest, UnreadablePluginCaFileFailsTheCallInsteadOfTrustingSystemRoots) {
  const Pki& pki = Certificates();
  StartPlugin({.tls_cert_file = pki.Path("plugin.crt"), .tls_key_file = pki.Path("plugin.key")});
  StartEngine("", absl::StrCat("{ca_file: ", dir_, "/no-such-ca.crt, server_name: plugin.test}"));
  EXPECT_EQ(Post("/api/v2/alerts", absl::StrCat("[", Alert("no-ca"), "]"), "").status, 200);
  nlohmann::json flow = WaitForFlow("failed");
  ASSERT_FALSE(flow.is_null());
  EXPECT_THAT(flow["error"].get<std::string>(), HasSubstr("tls.ca_file " + dir_ + "/no-such-ca.crt"));
  EXPECT_TRUE(plugin_.Calls().empty());
}

TEST_F(SecurityTest, PluginServerRefusesIncompleteTlsOptions) {
  const Pki& pki = Certificates();
  EXPECT_THAT(plugin::PluginServer::Start(plugin_, {.listen = "127.0.0.1:0", .tls_cert_file = pki.Path("plugin.crt")},
                                          logger_),
              testing::StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("go together")));
  EXPECT_THAT(plugin::PluginServer::Start(plugin_, {.listen = "127.0.0.1:0", .tls_client_ca_file = pki.Path("ca.crt")},
                                          logger_),
              testing::StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--tls-cert-file")));
  EXPECT_THAT(plugin::PluginServer::Start(plugin_,
                                          {.listen = "127.0.0.1:0", .tls_cert_file = dir_ + "/absent.crt",
                                           .tls_key_file = pki.Path("plugin.key")},
                                          logger_),
              testing::StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("absent.crt")));
}

class MutualTlsPluginTest : public SecurityTest,
                            public ::testing::WithParamInterface<std::pair<std::string, std::string>> {
};

TEST_P(MutualTlsPluginTest, RefusesAClientWithoutTheRightCertificate) {
  const Pki& pki = Certificates();
  StartPlugin({.tls_cert_file = pki.Path("plugin.crt"),
               .tls_key_file = pki.Path("plugin.key"),
               .tls_client_ca_file = pki.Path("ca.crt")});
  const auto& [name, client_cert] = GetParam();
  std::string tls = absl::StrCat("{ca_file: ", pki.Path("ca.crt"), ", server_name: plugin.test");
  if (!client_cert.empty()) {
    absl::StrAppend(&tls, ", cert_file: ", pki.Path(client_cert + ".crt"), ", key_file: ",
                    pki.Path(client_cert + ".key"));
  }
  StartEngine("", tls + "}");
  EXPECT_EQ(Post("/api/v2/alerts", absl::StrCat("[", Alert(name), "]"), "").status, 200);
  if (client_cert == "client") {
    EXPECT_EQ(plugin_.WaitFor(1), std::vector<std::string>{name});
    return;
  }
  nlohmann::json flow = WaitForFlow("failed");
  ASSERT_FALSE(flow.is_null());
  const std::string error = flow["error"].get<std::string>();
  EXPECT_THAT(error, HasSubstr("p1: no answer: UNAVAILABLE"));
  // The error says it is about TLS (gRPC itself only says "Socket closed").
  EXPECT_THAT(error, HasSubstr("TLS: the plugin closed the connection after the handshake"));
  EXPECT_TRUE(plugin_.Calls().empty());
}

INSTANTIATE_TEST_SUITE_P(
    Clients, MutualTlsPluginTest,
    ::testing::Values(std::pair<std::string, std::string>{"no-cert", ""},
                      std::pair<std::string, std::string>{"rogue-cert", "rogue-client"},
                      std::pair<std::string, std::string>{"good-cert", "client"}),
    [](const auto& info) {
      std::string n = info.param.first;
      std::replace(n.begin(), n.end(), '-', '_');
      return n;
    });

// --- Secrets in logs ---

TEST(SecretsTest, TheDaemonNeverLogsTokensOrSecrets) {
  const std::string dir = MakeTempDir("ht-secrets");
  ASSERT_THAT(WriteStringToFile(dir + "/tokens", absl::StrCat(kToken, "\n")), IsOk());
  ASSERT_THAT(WriteStringToFile(dir + "/jwt.key", absl::StrCat(kJwtSecret, "\n")), IsOk());
  ASSERT_THAT(WriteStringToFile(dir + "/rules.yaml",
                                absl::StrCat("auth:\n  bearer_tokens_file: ", dir, "/tokens\n  jwt:\n    ",
                                             "hs256_secret_file: ", dir, "/jwt.key\n  protect: [intake, api, metrics]\n",
                                             "action_plugins:\n  - {name: p1, address: \"127.0.0.1:1\", timeout: 1s}\n",
                                             kRule)),
              IsOk());
  ASSERT_OK_AND_ASSIGN(auto engine,
                       Subprocess::Start({testing::BinaryPath("hollowtrees"), "--config", dir + "/rules.yaml",
                                          "--listen", "127.0.0.1:0", "--log-level", "trace",
                                          "--shutdown-grace", "1s"},
                                         {}, dir));
  ASSERT_OK_AND_ASSIGN(std::string port, engine->WaitForOutput(R"(listening on [0-9.]+:(\d+))"));
  ASSERT_OK_AND_ASSIGN(auto client, http::NewHttpClient({.base_url = "http://127.0.0.1:" + port}));
  const std::string good_jwt = SignHs256JwtForTesting(R"({"sub":"clusters/3/7"})", kJwtSecret);
  const std::string bad_jwt = SignHs256JwtForTesting(R"({"sub":"clusters/3/7"})", "guess");
  const std::string expired_jwt = SignHs256JwtForTesting(R"({"exp":1000})", kJwtSecret);
  const std::string near_miss = std::string(kToken) + "x";
  for (const std::string& token : {std::string(kToken), good_jwt, bad_jwt, expired_jwt, near_miss}) {
    for (const char* path : {"/api/v2/alerts", "/api/v1/flows", "/metrics"}) {
      auto r = client->Send({.method = absl::EndsWith(path, "alerts") ? std::string("POST") : "GET",
                             .path = path,
                             .headers = {{"Authorization", "Bearer " + token}},
                             .body = absl::StrCat("[", SecurityTest::Alert("log-check"), "]"),
                             .content_type = "application/json"});
      ASSERT_THAT(r, IsOk());
      EXPECT_NE(r->status, 500);
    }
  }
  // SIGHUP re-reads the files: the reload is logged, the secrets not.
  engine->Signal(SIGHUP);
  ASSERT_THAT(engine->WaitForOutput("reloaded"), IsOk());
  EXPECT_EQ(engine->Stop(absl::Seconds(30)), 0);
  const std::string log = engine->Output();
  EXPECT_THAT(log, HasSubstr("authentication on (1 bearer tokens, HS256 JWT)"));
  EXPECT_THAT(log, HasSubstr("refused"));  // the refusals are logged (at debug)...
  for (const std::string& secret : {std::string(kToken), std::string(kJwtSecret), good_jwt, bad_jwt,
                                    expired_jwt, near_miss, Base32Encode(kJwtSecret)}) {
    EXPECT_THAT(log, Not(HasSubstr(secret)));  // ...without a token or a secret in them
  }
}

}  // namespace
}  // namespace hollowtrees::engine
