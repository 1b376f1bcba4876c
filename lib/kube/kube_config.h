#pragma once

// Where a Kubernetes API server is and how to authenticate to it: from a
// kubeconfig file (what kubectl reads) or from inside a pod (the service
// account). The result is plain data; credentials.h turns its user part into
// request headers, kube_client.h into a client.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "lib/http/http_client.h"

namespace hollowtrees::kube {

// A `users[].user.exec` credential plugin (client.authentication.k8s.io/v1 or
// v1beta1), e.g. `aws eks get-token --cluster-name X`.
struct ExecConfig {
  std::string api_version;
  // As written; a relative path containing '/' is resolved against the
  // kubeconfig's folder (as client-go does), a bare name is looked up in PATH.
  std::string command;
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;
  std::string install_hint;
  bool provide_cluster_info = false;
};

struct KubeConfig {
  // "https://host:port[/prefix]".
  std::string server;
  // Trust (certificate-authority[-data]), client certificate and key
  // (client-certificate[-data], client-key[-data]), insecure-skip-tls-verify.
  http::TlsOptions tls;
  // users[].user.token: a fixed bearer token.
  std::string token;
  // users[].user.tokenFile, or the service account token in-cluster: read on
  // first use and read again whenever the file changes (rotation).
  std::string token_file;
  // users[].user.username/password: HTTP basic auth.
  std::string username;
  std::string password;
  std::optional<ExecConfig> exec;
  // The context's namespace (or the service account's), "default" if none.
  std::string default_namespace = "default";
  // Names, for messages: "kubeconfig /x/config context prod" or "in-cluster".
  std::string description;
  std::string context;
  std::string cluster;
  std::string user;
};

// Parses kubeconfig YAML. `context` empty means `current-context`. Relative
// file paths are resolved against `base_dir` (the kubeconfig's folder).
// InvalidArgument naming the problem (missing context, cluster or user, no
// server, YAML syntax with line:col, unreadable *-data base64).
absl::StatusOr<KubeConfig> ParseKubeconfig(absl::string_view yaml, absl::string_view base_dir,
                                           absl::string_view context = "",
                                           absl::string_view source_name = "kubeconfig");

// Reads and parses a kubeconfig file. NotFound when it cannot be read.
absl::StatusOr<KubeConfig> LoadKubeconfig(const std::string& path, absl::string_view context = "");

struct InClusterOptions {
  // The mounted service account: token, ca.crt, namespace.
  std::string root = "/var/run/secrets/kubernetes.io/serviceaccount";
  // KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT.
  std::string host;
  std::string port;
  // Fills host and port from the process environment (main.cc only).
  static InClusterOptions FromEnvironment();
};

// In-cluster configuration: https://host:port, the service account token file
// (re-read on rotation) and its CA. FailedPrecondition when not in a cluster
// (host/port unset, or the token file missing).
absl::StatusOr<KubeConfig> LoadInClusterConfig(const InClusterOptions& options);

}  // namespace hollowtrees::kube
