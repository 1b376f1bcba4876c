#pragma once

// TLS helpers for the webhook tests: the certificate a server presents.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "tests/testing/subprocess.h"

namespace hollowtrees::webhook::testing {

// Handshakes with 127.0.0.1:port (no verification) and returns the peer
// certificate as PEM.
inline absl::StatusOr<std::string> PresentedCertificate(int port) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  absl::Status status;
  SSL* ssl = nullptr;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    status = absl::UnavailableError(absl::StrCat("connect to port ", port, " failed"));
  } else {
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) {
      status = absl::UnavailableError("TLS handshake failed");
    } else {
      X509* peer = SSL_get1_peer_certificate(ssl);
      BIO* bio = BIO_new(BIO_s_mem());
      PEM_write_bio_X509(bio, peer);
      char* data = nullptr;
      const long n = BIO_get_mem_data(bio, &data);
      out.assign(data, n);
      BIO_free(bio);
      X509_free(peer);
      SSL_shutdown(ssl);
    }
  }
  if (ssl != nullptr) SSL_free(ssl);
  close(fd);
  SSL_CTX_free(ctx);
  if (!status.ok()) return status;
  return out;
}

// The first certificate of a PEM file, re-encoded the same way.
inline absl::StatusOr<std::string> FirstCertificate(const std::string& path) {
  auto text = hollowtrees::testing::ReadFileToString(path);
  if (!text.ok()) return text.status();
  BIO* in = BIO_new_mem_buf(text->data(), static_cast<int>(text->size()));
  X509* cert = PEM_read_bio_X509(in, nullptr, nullptr, nullptr);
  BIO_free(in);
  if (cert == nullptr) return absl::InvalidArgumentError(path + " holds no certificate");
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, n);
  BIO_free(bio);
  X509_free(cert);
  return out;
}

// Replaces `to` with a copy of `from` atomically (a new inode, as a Secret
// volume update does).
inline absl::Status ReplaceFile(const std::string& from, const std::string& to) {
  auto text = hollowtrees::testing::ReadFileToString(from);
  if (!text.ok()) return text.status();
  const std::string tmp = to + ".tmp";
  auto s = hollowtrees::testing::WriteStringToFile(tmp, *text);
  if (!s.ok()) return s;
  if (rename(tmp.c_str(), to.c_str()) != 0) return absl::InternalError("rename failed");
  return absl::OkStatus();
}

}  // namespace hollowtrees::webhook::testing
