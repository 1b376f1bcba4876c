#pragma once

// The certificate and key of the engine's HTTPS listener, re-read when their
// files change, so that a renewed certificate (cert-manager, a rotated
// Kubernetes secret) is served without a restart.
//
// Every TLS handshake asks Current() for the pair to present (an OpenSSL
// certificate callback installed by ConfigureContext). Current() compares
// the files' modification time, size and inode with the last load, and when
// one changed loads both again. A pair that does not load (half-written
// files, a key that does not match the certificate) is refused: the old pair
// stays in service, the failure is logged once per change of the files and
// counted. Thread-safe.

#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace spdlog {
class logger;
}

namespace hollowtrees::engine {

struct TlsKeyPair;  // an X509 chain and its private key

class TlsCertificateReloader {
 public:
  // Loads the pair. InvalidArgument naming the file when it cannot be read,
  // is not PEM, or the key does not match the certificate. The logger must
  // outlive the reloader.
  static absl::StatusOr<std::unique_ptr<TlsCertificateReloader>> Create(std::string cert_file,
                                                                        std::string key_file,
                                                                        spdlog::logger& logger);
  ~TlsCertificateReloader();

  // Sets up a server context: TLS 1.2 at least, the current pair, the
  // per-handshake callback and, with a non-empty `client_ca_file`, required
  // and verified client certificates. False (and logged) when the CA file
  // cannot be loaded. The context must not outlive the reloader.
  bool ConfigureContext(SSL_CTX& ctx, const std::string& client_ca_file);

  // The pair to present now, reloading first when the files changed.
  std::shared_ptr<const TlsKeyPair> Current();

  int reloads() const;   // successful reloads after the first load
  int failures() const;  // reloads refused

 private:
  TlsCertificateReloader(std::string cert_file, std::string key_file, spdlog::logger& logger);
  struct FileStamp {
    long long mtime_ns = 0;
    long long size = -1;
    unsigned long long inode = 0;
    bool operator==(const FileStamp&) const = default;
  };
  static FileStamp Stamp(const std::string& path);
  static absl::StatusOr<std::shared_ptr<const TlsKeyPair>> Load(const std::string& cert_file,
                                                                const std::string& key_file);
  static int CertCallback(SSL* ssl, void* arg);

  const std::string cert_file_;
  const std::string key_file_;
  spdlog::logger& logger_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const TlsKeyPair> current_ ABSL_GUARDED_BY(mu_);
  FileStamp cert_stamp_ ABSL_GUARDED_BY(mu_);
  FileStamp key_stamp_ ABSL_GUARDED_BY(mu_);
  int reloads_ ABSL_GUARDED_BY(mu_) = 0;
  int failures_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace hollowtrees::engine
