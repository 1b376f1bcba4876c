#pragma once

// A serving certificate that follows its files: the TLS server asks for the
// certificate at every handshake (OpenSSL's certificate callback), and the
// reloader answers with the pair last loaded, loading the files again first
// when their modification time, size or inode changed (checked at most every
// `check_interval`). So a renewed certificate (cert-manager, a rotated Secret
// volume) is presented from the next handshake on, with no restart. A pair
// that cannot be used (unreadable, not PEM, key not matching the
// certificate, e.g. halfway through a rotation) is reported and the previous
// pair stays in service; it is tried again at the next check.

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "spdlog/logger.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef struct x509_st X509;
typedef struct evp_pkey_st EVP_PKEY;

namespace hollowtrees::webhook {

struct CertReloaderOptions {
  std::string cert_file;  // PEM: the certificate, then any intermediates
  std::string key_file;   // PEM private key
  // Files are looked at no more often than this. Default: at every handshake.
  absl::Duration check_interval = absl::ZeroDuration();
};

// Thread-safe.
class CertReloader {
 public:
  // Loads the pair once; InvalidArgument naming the file and the problem.
  static absl::StatusOr<std::unique_ptr<CertReloader>> Create(
      CertReloaderOptions options, std::shared_ptr<spdlog::logger> logger);
  ~CertReloader();

  // Makes `ctx` ask this reloader for the certificate at each handshake, and
  // sets TLS 1.2 as the minimum. The reloader must outlive `ctx`.
  void Install(SSL_CTX& ctx);

  // Looks at the files now (subject to check_interval) and loads them when
  // they changed. Returns the error of a failed load (the old pair stays).
  absl::Status MaybeReload();

  int64_t reloads() const;
  int64_t reload_failures() const;
  // The subject CN of the certificate in service (for logs and tests).
  std::string current_subject() const;

  struct Pair;

 private:
  CertReloader(CertReloaderOptions options, std::shared_ptr<spdlog::logger> logger);
  static int CertCallback(SSL* ssl, void* arg);

  const CertReloaderOptions options_;
  std::shared_ptr<spdlog::logger> logger_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const Pair> pair_ ABSL_GUARDED_BY(mu_);
  std::string stamp_ ABSL_GUARDED_BY(mu_);  // mtime/size/inode of both files
  absl::Time last_check_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int64_t reloads_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t failures_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace hollowtrees::webhook
