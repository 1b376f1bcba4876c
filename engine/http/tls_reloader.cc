#include "engine/http/tls_reloader.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "lib/common/logging.h"
#include "spdlog/spdlog.h"

namespace hollowtrees::engine {

struct TlsKeyPair {
  X509* cert = nullptr;
  STACK_OF(X509)* chain = nullptr;
  EVP_PKEY* key = nullptr;
  ~TlsKeyPair() {
    X509_free(cert);
    sk_X509_pop_free(chain, X509_free);
    EVP_PKEY_free(key);
  }
};

namespace {

std::string OpenSslError() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};

}  // namespace

TlsCertificateReloader::TlsCertificateReloader(std::string cert_file, std::string key_file,
                                               spdlog::logger& logger)
    : cert_file_(std::move(cert_file)), key_file_(std::move(key_file)), logger_(logger) {}

TlsCertificateReloader::~TlsCertificateReloader() = default;

TlsCertificateReloader::FileStamp TlsCertificateReloader::Stamp(const std::string& path) {
  struct stat st;
  FileStamp s;
  if (::stat(path.c_str(), &st) != 0) return s;
  s.mtime_ns = static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
  s.size = static_cast<long long>(st.st_size);
  s.inode = static_cast<unsigned long long>(st.st_ino);
  return s;
}

absl::StatusOr<std::shared_ptr<const TlsKeyPair>> TlsCertificateReloader::Load(
    const std::string& cert_file, const std::string& key_file) {
  ERR_clear_error();
  auto pair = std::make_shared<TlsKeyPair>();
  std::unique_ptr<BIO, BioDeleter> cert_bio(BIO_new_file(cert_file.c_str(), "r"));
  if (cert_bio == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("tls.cert_file ", cert_file, ": cannot read the file"));
  }
  pair->cert = PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr);
  if (pair->cert == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("tls.cert_file ", cert_file, ": no PEM certificate (", OpenSslError(), ")"));
  }
  pair->chain = sk_X509_new_null();
  while (X509* extra = PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr)) {
    sk_X509_push(pair->chain, extra);
  }
  ERR_clear_error();  // the end of the file reads as an error
  std::unique_ptr<BIO, BioDeleter> key_bio(BIO_new_file(key_file.c_str(), "r"));
  if (key_bio == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("tls.key_file ", key_file, ": cannot read the file"));
  }
  pair->key = PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr);
  if (pair->key == nullptr) {
    // The message names the file, never its content.
    return absl::InvalidArgumentError(absl::StrCat("tls.key_file ", key_file, ": no PEM private key"));
  }
  if (X509_check_private_key(pair->cert, pair->key) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat("tls.key_file ", key_file,
                                                   ": the key does not match the certificate in ",
                                                   cert_file));
  }
  return std::shared_ptr<const TlsKeyPair>(std::move(pair));
}

absl::StatusOr<std::unique_ptr<TlsCertificateReloader>> TlsCertificateReloader::Create(
    std::string cert_file, std::string key_file, spdlog::logger& logger) {
  std::unique_ptr<TlsCertificateReloader> r(
      new TlsCertificateReloader(std::move(cert_file), std::move(key_file), logger));
  const FileStamp cert_stamp = Stamp(r->cert_file_);
  const FileStamp key_stamp = Stamp(r->key_file_);
  auto pair = Load(r->cert_file_, r->key_file_);
  if (!pair.ok()) return pair.status();
  absl::MutexLock lock(&r->mu_);
  r->current_ = *std::move(pair);
  r->cert_stamp_ = cert_stamp;
  r->key_stamp_ = key_stamp;
  return r;
}

std::shared_ptr<const TlsKeyPair> TlsCertificateReloader::Current() {
  const FileStamp cert_stamp = Stamp(cert_file_);
  const FileStamp key_stamp = Stamp(key_file_);
  absl::MutexLock lock(&mu_);
  if (cert_stamp == cert_stamp_ && key_stamp == key_stamp_) return current_;
  // Remember the stamps either way: a bad pair is reported once, and tried
  // again when the files change again.
  cert_stamp_ = cert_stamp;
  key_stamp_ = key_stamp;
  auto pair = Load(cert_file_, key_file_);
  if (!pair.ok()) {
    ++failures_;
    logger_.error("TLS certificate reload failed, still serving the previous certificate: {}",
                  pair.status().message());
    return current_;
  }
  current_ = *std::move(pair);
  ++reloads_;
  logger_.info("TLS certificate reloaded from {} and {}", cert_file_, key_file_);
  return current_;
}

int TlsCertificateReloader::reloads() const {
  absl::MutexLock lock(&mu_);
  return reloads_;
}

int TlsCertificateReloader::failures() const {
  absl::MutexLock lock(&mu_);
  return failures_;
}

int TlsCertificateReloader::CertCallback(SSL* ssl, void* arg) {
  auto* self = static_cast<TlsCertificateReloader*>(arg);
  std::shared_ptr<const TlsKeyPair> pair = self->Current();
  // override=1: replace what the context installed. The SSL takes its own
  // references, so the pair may be dropped by a later reload.
  return SSL_use_cert_and_key(ssl, pair->cert, pair->key, pair->chain, 1) == 1 ? 1 : 0;
}

bool TlsCertificateReloader::ConfigureContext(SSL_CTX& ctx, const std::string& client_ca_file) {
  SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION);
  std::shared_ptr<const TlsKeyPair> pair = Current();
  if (SSL_CTX_use_cert_and_key(&ctx, pair->cert, pair->key, pair->chain, 1) != 1) {
    logger_.error("TLS: cannot use the certificate: {}", OpenSslError());
    return false;
  }
  SSL_CTX_set_cert_cb(&ctx, &TlsCertificateReloader::CertCallback, this);
  if (!client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(&ctx, client_ca_file.c_str(), nullptr) != 1) {
      logger_.error("tls.client_ca_file {}: cannot load the CA certificates: {}", client_ca_file,
                    OpenSslError());
      return false;
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(client_ca_file.c_str());
    if (names != nullptr) SSL_CTX_set_client_CA_list(&ctx, names);
    SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return true;
}

}  // namespace hollowtrees::engine
