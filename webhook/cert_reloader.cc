#include "webhook/cert_reloader.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "lib/common/file.h"
#include "lib/common/logging.h"
#include "lib/common/status_macros.h"

namespace hollowtrees::webhook {

struct CertReloader::Pair {
  X509* cert = nullptr;
  std::vector<X509*> chain;
  EVP_PKEY* key = nullptr;
  std::string subject;
  ~Pair() {
    if (cert != nullptr) X509_free(cert);
    for (X509* c : chain) X509_free(c);
    if (key != nullptr) EVP_PKEY_free(key);
  }
};

namespace {

absl::StatusOr<std::string> ReadCertFile(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return absl::InvalidArgumentError(absl::StrCat("cannot read ", text.status().message()));
  return text;
}

std::string OpenSslError() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

std::string Stamp(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return "missing";
  return absl::StrCat(st.st_mtim.tv_sec, ".", st.st_mtim.tv_nsec, "/", st.st_size, "/", st.st_ino);
}

absl::StatusOr<std::shared_ptr<const CertReloader::Pair>> Load(const std::string& cert_file,
                                                               const std::string& key_file) {
  HT_ASSIGN_OR_RETURN(std::string cert_pem, ReadCertFile(cert_file));
  HT_ASSIGN_OR_RETURN(std::string key_pem, ReadCertFile(key_file));
  auto pair = std::make_shared<CertReloader::Pair>();
  BIO* bio = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  pair->cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  if (pair->cert != nullptr) {
    while (X509* extra = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
      pair->chain.push_back(extra);
    }
  }
  BIO_free(bio);
  ERR_clear_error();  // the end of the PEM sequence leaves an error behind
  if (pair->cert == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(cert_file, " holds no PEM certificate"));
  }
  bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  pair->key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (pair->key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(key_file, " holds no PEM private key: ", OpenSslError()));
  }
  if (X509_check_private_key(pair->cert, pair->key) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat("the key in ", key_file, " does not match the certificate in ", cert_file));
  }
  char cn[256] = {0};
  X509_NAME_get_text_by_NID(X509_get_subject_name(pair->cert), NID_commonName, cn, sizeof(cn));
  pair->subject = cn;
  return std::shared_ptr<const CertReloader::Pair>(std::move(pair));
}

}  // namespace

CertReloader::CertReloader(CertReloaderOptions options, std::shared_ptr<spdlog::logger> logger)
    : options_(std::move(options)), logger_(std::move(logger)) {}

CertReloader::~CertReloader() = default;

absl::StatusOr<std::unique_ptr<CertReloader>> CertReloader::Create(
    CertReloaderOptions options, std::shared_ptr<spdlog::logger> logger) {
  auto r = std::unique_ptr<CertReloader>(new CertReloader(std::move(options), std::move(logger)));
  const std::string stamp =
      absl::StrCat(Stamp(r->options_.cert_file), "|", Stamp(r->options_.key_file));
  HT_ASSIGN_OR_RETURN(auto pair, Load(r->options_.cert_file, r->options_.key_file));
  absl::MutexLock lock(&r->mu_);
  r->pair_ = std::move(pair);
  r->stamp_ = stamp;
  r->last_check_ = absl::Now();
  return r;
}

absl::Status CertReloader::MaybeReload() {
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = absl::Now();
    if (options_.check_interval > absl::ZeroDuration() &&
        now - last_check_ < options_.check_interval) {
      return absl::OkStatus();
    }
    last_check_ = now;
    const std::string stamp =
        absl::StrCat(Stamp(options_.cert_file), "|", Stamp(options_.key_file));
    if (stamp == stamp_) return absl::OkStatus();
    // Loading under the lock keeps concurrent handshakes from loading twice;
    // it happens once per change.
    auto pair = Load(options_.cert_file, options_.key_file);
    if (!pair.ok()) {
      ++failures_;
      stamp_ = stamp;  // try again when the files change again
      logger_->error("TLS certificate reload failed, still serving \"{}\": {}",
                     pair_->subject, pair.status());
      return pair.status();
    }
    pair_ = std::move(*pair);
    stamp_ = stamp;
    ++reloads_;
    logger_->info("TLS certificate reloaded from {}: now serving \"{}\"", options_.cert_file,
                  pair_->subject);
  }
  return absl::OkStatus();
}

int CertReloader::CertCallback(SSL* ssl, void* arg) {
  auto* self = static_cast<CertReloader*>(arg);
  (void)self->MaybeReload();
  std::shared_ptr<const Pair> pair;
  {
    absl::MutexLock lock(&self->mu_);
    pair = self->pair_;
  }
  if (SSL_use_certificate(ssl, pair->cert) != 1 || SSL_use_PrivateKey(ssl, pair->key) != 1) {
    return 0;
  }
  SSL_clear_chain_certs(ssl);
  for (X509* c : pair->chain) SSL_add1_chain_cert(ssl, c);
  return 1;
}

void CertReloader::Install(SSL_CTX& ctx) {
  SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
  SSL_CTX_set_cert_cb(&ctx, &CertReloader::CertCallback, this);
}

int64_t CertReloader::reloads() const {
  absl::MutexLock lock(&mu_);
  return reloads_;
}

int64_t CertReloader::reload_failures() const {
  absl::MutexLock lock(&mu_);
  return failures_;
}

std::string CertReloader::current_subject() const {
  absl::MutexLock lock(&mu_);
  return pair_->subject;
}

}  // namespace hollowtrees::webhook
