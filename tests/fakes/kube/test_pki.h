#pragma once

// A throw-away PKI for TLS tests: a CA, a server certificate for 127.0.0.1 and
// localhost (subjectAltName IP:127.0.0.1, DNS:localhost), and a client
// certificate (CN "hollowtrees-test", O "system:masters") signed by the CA.
// EC P-256 keys, valid for a day. Made with the OpenSSL API, no CLI.

#include <string>

#include "absl/status/statusor.h"

namespace hollowtrees::testing {

struct TestPki {
  std::string dir;
  // PEM files under `dir`.
  std::string ca_cert_file;
  std::string server_cert_file;
  std::string server_key_file;
  std::string client_cert_file;
  std::string client_key_file;
  // The same PEM text.
  std::string ca_cert_pem;
  std::string client_cert_pem;
  std::string client_key_pem;
};

// Writes the files into `dir` (which must exist).
absl::StatusOr<TestPki> MakeTestPki(const std::string& dir);

}  // namespace hollowtrees::testing
