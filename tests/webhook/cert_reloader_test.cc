#include "webhook/cert_reloader.h"

#include <httplib.h>


#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/common/logging.h"
#include "lib/http/server_util.h"
#include "tests/fakes/kube/test_pki.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/webhook/tls_util.h"

namespace hollowtrees::webhook {
namespace {

using ::hollowtrees::testing::IsOk;
using ::hollowtrees::testing::MakeTempDir;
using ::hollowtrees::testing::StatusIs;
using ::testing::HasSubstr;

std::shared_ptr<spdlog::logger> Logger() {
  static auto* l = new std::shared_ptr<spdlog::logger>(*MakeLogger("cert-test", {.level = "off"}));
  return *l;
}

class CertReloaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string root = MakeTempDir("ht-webhook-cert");
    for (const char* d : {"/one", "/two", "/served"}) mkdir((root + d).c_str(), 0700);
    ASSERT_OK_AND_ASSIGN(one_, hollowtrees::testing::MakeTestPki(root + "/one"));
    ASSERT_OK_AND_ASSIGN(two_, hollowtrees::testing::MakeTestPki(root + "/two"));
    cert_ = root + "/served/tls.crt";
    key_ = root + "/served/tls.key";
    ASSERT_THAT(testing::ReplaceFile(one_.server_cert_file, cert_), IsOk());
    ASSERT_THAT(testing::ReplaceFile(one_.server_key_file, key_), IsOk());
  }

  void Serve(CertReloader& reloader) {
    CertReloader* r = &reloader;
    server_ = std::make_unique<httplib::SSLServer>([r](SSL_CTX& ctx) {
      r->Install(ctx);
      return true;
    });
    ASSERT_TRUE(server_->is_valid());
    server_->Get("/", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok", "text/plain"); });
    auto serving = http::ServingThread::Start(*server_, {"127.0.0.1", 0});
    ASSERT_TRUE(serving.ok()) << serving.status();
    serving_ = *std::move(serving);
    port_ = serving_->port();
  }

  void TearDown() override { serving_.reset(); }

  // GET / over verified TLS with `ca_file` as the only trust.
  bool TrustedBy(const std::string& ca_file) {
    httplib::SSLClient client("127.0.0.1", port_);
    client.set_ca_cert_path(ca_file.c_str());
    client.enable_server_certificate_verification(true);
    auto res = client.Get("/");
    return res && res->status == 200;
  }

  hollowtrees::testing::TestPki one_, two_;
  std::string cert_, key_;
  std::unique_ptr<httplib::SSLServer> server_;
  std::unique_ptr<http::ServingThread> serving_;  // after server_: stops first
  int port_ = 0;
};

TEST_F(CertReloaderTest, NextHandshakePresentsTheReplacedCertificate) {
  ASSERT_OK_AND_ASSIGN(auto reloader, CertReloader::Create({.cert_file = cert_, .key_file = key_}, Logger()));
  Serve(*reloader);
  ASSERT_OK_AND_ASSIGN(std::string first, testing::FirstCertificate(one_.server_cert_file));
  ASSERT_OK_AND_ASSIGN(std::string second, testing::FirstCertificate(two_.server_cert_file));
  ASSERT_NE(first, second);
  EXPECT_EQ(*testing::PresentedCertificate(port_), first);
  EXPECT_TRUE(TrustedBy(one_.ca_cert_file));
  EXPECT_FALSE(TrustedBy(two_.ca_cert_file));

  ASSERT_THAT(testing::ReplaceFile(two_.server_cert_file, cert_), IsOk());
  ASSERT_THAT(testing::ReplaceFile(two_.server_key_file, key_), IsOk());
  EXPECT_EQ(*testing::PresentedCertificate(port_), second);
  EXPECT_TRUE(TrustedBy(two_.ca_cert_file));
  EXPECT_FALSE(TrustedBy(one_.ca_cert_file));
  EXPECT_EQ(reloader->reloads(), 1);
  EXPECT_EQ(reloader->reload_failures(), 0);
}

TEST_F(CertReloaderTest, HalfRotatedPairKeepsTheOldCertificateUntilComplete) {
  ASSERT_OK_AND_ASSIGN(auto reloader, CertReloader::Create({.cert_file = cert_, .key_file = key_}, Logger()));
  Serve(*reloader);
  ASSERT_OK_AND_ASSIGN(std::string first, testing::FirstCertificate(one_.server_cert_file));
  ASSERT_OK_AND_ASSIGN(std::string second, testing::FirstCertificate(two_.server_cert_file));
  // New certificate, old key: unusable, the old pair keeps serving.
  ASSERT_THAT(testing::ReplaceFile(two_.server_cert_file, cert_), IsOk());
  EXPECT_EQ(*testing::PresentedCertificate(port_), first);
  EXPECT_EQ(reloader->reload_failures(), 1);
  EXPECT_TRUE(TrustedBy(one_.ca_cert_file));
  // The key arrives: the new pair is served.
  ASSERT_THAT(testing::ReplaceFile(two_.server_key_file, key_), IsOk());
  EXPECT_EQ(*testing::PresentedCertificate(port_), second);
  EXPECT_EQ(reloader->reloads(), 1);
}

TEST_F(CertReloaderTest, GarbageFileIsReportedAndOldPairKept) {
  ASSERT_OK_AND_ASSIGN(auto reloader, CertReloader::Create({.cert_file = cert_, .key_file = key_}, Logger()));
  ASSERT_THAT(hollowtrees::testing::WriteStringToFile(cert_, "not a certificate"), IsOk());
  EXPECT_THAT(reloader->MaybeReload(), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no PEM certificate")));
  EXPECT_THAT(reloader->MaybeReload(), IsOk());  // tried once per change
  EXPECT_EQ(reloader->current_subject(), "127.0.0.1");
}

TEST_F(CertReloaderTest, CheckIntervalLimitsLooks) {
  ASSERT_OK_AND_ASSIGN(auto reloader, CertReloader::Create(
      {.cert_file = cert_, .key_file = key_, .check_interval = absl::Hours(1)}, Logger()));
  ASSERT_THAT(testing::ReplaceFile(two_.server_cert_file, cert_), IsOk());
  ASSERT_THAT(testing::ReplaceFile(two_.server_key_file, key_), IsOk());
  EXPECT_THAT(reloader->MaybeReload(), IsOk());
  EXPECT_EQ(reloader->reloads(), 0);
}

TEST_F(CertReloaderTest, CreateNamesTheBadFile) {
  EXPECT_THAT(CertReloader::Create({.cert_file = "/nonexistent/tls.crt", .key_file = key_}, Logger()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("/nonexistent/tls.crt")));
  EXPECT_THAT(CertReloader::Create({.cert_file = cert_, .key_file = two_.server_key_file}, Logger()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("does not match")));
  EXPECT_THAT(CertReloader::Create({.cert_file = cert_, .key_file = cert_}, Logger()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no PEM private key")));
}

}  // namespace
}  // namespace hollowtrees::webhook
