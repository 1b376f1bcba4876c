#include "lib/common/file.h"
#include "lib/kube/kube_config.h"

#include <cstdlib>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "lib/common/status_macros.h"
#include "yaml-cpp/yaml.h"

namespace hollowtrees::kube {
namespace {

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return absl::NotFoundError(absl::StrCat("cannot read ", text.status().message()));
  return text;
}

std::string Resolve(absl::string_view base_dir, const std::string& path) {
  if (path.empty() || path.front() == '/' || base_dir.empty()) return path;
  return absl::StrCat(base_dir, "/", path);
}

std::string Where(const YAML::Node& node) {
  const YAML::Mark m = node.Mark();
  if (m.line < 0) return "";
  return absl::StrCat(":", m.line + 1, ":", m.column + 1);
}

std::string Str(const YAML::Node& map, const char* key) {
  const YAML::Node v = map[key];
  if (!v || !v.IsScalar()) return "";
  return v.as<std::string>();
}

bool Bool(const YAML::Node& map, const char* key) {
  const YAML::Node v = map[key];
  if (!v || !v.IsScalar()) return false;
  const std::string s = v.as<std::string>();
  return s == "true" || s == "True" || s == "TRUE";
}

// Finds `name` in a list of {name: X, <field>: {...}} entries.
absl::StatusOr<YAML::Node> FindNamed(const YAML::Node& root, const char* list, const char* field,
                                     const std::string& name, absl::string_view source) {
  const YAML::Node entries = root[list];
  if (entries && entries.IsSequence()) {
    for (const YAML::Node& e : entries) {
      if (e.IsMap() && Str(e, "name") == name) {
        const YAML::Node body = e[field];
        if (!body || !body.IsMap()) {
          // An empty user ({}) is valid: no credentials.
          return YAML::Node(YAML::NodeType::Map);
        }
        return body;
      }
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat(source, ": no ", field, " named \"", name, "\" in ", list));
}

absl::StatusOr<std::string> DecodeData(const std::string& b64, absl::string_view what,
                                       absl::string_view source) {
  std::string out;
  if (!absl::Base64Unescape(b64, &out)) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", what, " is not valid base64"));
  }
  return out;
}

absl::StatusOr<KubeConfig> Decode(const YAML::Node& root, absl::string_view base_dir,
                                  absl::string_view context_arg, absl::string_view source) {
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not a kubeconfig (not a YAML map)"));
  }
  KubeConfig cfg;
  cfg.context = context_arg.empty() ? Str(root, "current-context") : std::string(context_arg);
  if (cfg.context.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": no context given and no current-context set"));
  }
  HT_ASSIGN_OR_RETURN(YAML::Node ctx, FindNamed(root, "contexts", "context", cfg.context, source));
  cfg.cluster = Str(ctx, "cluster");
  cfg.user = Str(ctx, "user");
  if (!Str(ctx, "namespace").empty()) cfg.default_namespace = Str(ctx, "namespace");
  if (cfg.cluster.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, Where(ctx), ": context \"", cfg.context, "\" names no cluster"));
  }
  HT_ASSIGN_OR_RETURN(YAML::Node cluster,
                      FindNamed(root, "clusters", "cluster", cfg.cluster, source));
  cfg.server = Str(cluster, "server");
  if (cfg.server.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, Where(cluster), ": cluster \"", cfg.cluster, "\" has no server"));
  }
  if (!Str(cluster, "certificate-authority-data").empty()) {
    HT_ASSIGN_OR_RETURN(cfg.tls.ca_pem, DecodeData(Str(cluster, "certificate-authority-data"),
                                                   "certificate-authority-data", source));
  } else if (!Str(cluster, "certificate-authority").empty()) {
    cfg.tls.ca_file = Resolve(base_dir, Str(cluster, "certificate-authority"));
  }
  cfg.tls.insecure_skip_verify = Bool(cluster, "insecure-skip-tls-verify");

  if (!cfg.user.empty()) {
    HT_ASSIGN_OR_RETURN(YAML::Node user, FindNamed(root, "users", "user", cfg.user, source));
    if (!Str(user, "client-certificate-data").empty()) {
      HT_ASSIGN_OR_RETURN(cfg.tls.cert_pem, DecodeData(Str(user, "client-certificate-data"),
                                                       "client-certificate-data", source));
    } else if (!Str(user, "client-certificate").empty()) {
      cfg.tls.cert_file = Resolve(base_dir, Str(user, "client-certificate"));
    }
    if (!Str(user, "client-key-data").empty()) {
      HT_ASSIGN_OR_RETURN(cfg.tls.key_pem,
                          DecodeData(Str(user, "client-key-data"), "client-key-data", source));
    } else if (!Str(user, "client-key").empty()) {
      cfg.tls.key_file = Resolve(base_dir, Str(user, "client-key"));
    }
    cfg.token = Str(user, "token");
    if (!Str(user, "tokenFile").empty()) cfg.token_file = Resolve(base_dir, Str(user, "tokenFile"));
    cfg.username = Str(user, "username");
    cfg.password = Str(user, "password");
    const YAML::Node exec = user["exec"];
    if (exec && exec.IsMap()) {
      ExecConfig e;
      e.api_version = Str(exec, "apiVersion");
      e.command = Str(exec, "command");
      if (e.command.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(source, Where(exec), ": user \"", cfg.user, "\": exec has no command"));
      }
      if (e.api_version != "client.authentication.k8s.io/v1" &&
          e.api_version != "client.authentication.k8s.io/v1beta1") {
        return absl::InvalidArgumentError(absl::StrCat(
            source, Where(exec), ": user \"", cfg.user, "\": exec apiVersion \"", e.api_version,
            "\" is not client.authentication.k8s.io/v1 or v1beta1"));
      }
      if (absl::StrContains(e.command, "/")) e.command = Resolve(base_dir, e.command);
      if (exec["args"] && exec["args"].IsSequence()) {
        for (const YAML::Node& a : exec["args"]) e.args.push_back(a.as<std::string>());
      }
      if (exec["env"] && exec["env"].IsSequence()) {
        for (const YAML::Node& v : exec["env"]) {
          if (v.IsMap()) e.env.emplace_back(Str(v, "name"), Str(v, "value"));
        }
      }
      e.install_hint = Str(exec, "installHint");
      e.provide_cluster_info = Bool(exec, "provideClusterInfo");
      cfg.exec = std::move(e);
    }
    const YAML::Node auth_provider = user["auth-provider"];
    if (auth_provider && auth_provider.IsMap()) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, Where(auth_provider), ": user \"", cfg.user,
          "\": auth-provider is not supported (removed from kubectl); use an exec plugin"));
    }
  }
  cfg.description = absl::StrCat(source, " context ", cfg.context);
  return cfg;
}

}  // namespace

absl::StatusOr<KubeConfig> ParseKubeconfig(absl::string_view yaml, absl::string_view base_dir,
                                           absl::string_view context,
                                           absl::string_view source_name) {
  try {
    const YAML::Node root = YAML::Load(std::string(yaml));
    return Decode(root, base_dir, context, source_name);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source_name, ":", e.mark.line + 1, ":",
                                                   e.mark.column + 1, ": ", e.msg));
  }
}

absl::StatusOr<KubeConfig> LoadKubeconfig(const std::string& path, absl::string_view context) {
  HT_ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path));
  std::string dir = ".";
  const size_t slash = path.rfind('/');
  if (slash != std::string::npos) dir = path.substr(0, slash == 0 ? 1 : slash);
  return ParseKubeconfig(text, dir, context, path);
}

InClusterOptions InClusterOptions::FromEnvironment() {
  InClusterOptions o;
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host != nullptr) o.host = host;
  if (port != nullptr) o.port = port;
  return o;
}

absl::StatusOr<KubeConfig> LoadInClusterConfig(const InClusterOptions& options) {
  if (options.host.empty() || options.port.empty()) {
    return absl::FailedPreconditionError(
        "not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be "
        "set (or give --kubeconfig)");
  }
  KubeConfig cfg;
  const bool v6 = absl::StrContains(options.host, ":");
  cfg.server = absl::StrCat("https://", v6 ? "[" : "", options.host, v6 ? "]" : "", ":",
                            options.port);
  cfg.token_file = absl::StrCat(options.root, "/token");
  if (!ReadWholeFile(cfg.token_file).ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("in-cluster configuration: cannot read the service account token ",
                     cfg.token_file));
  }
  cfg.tls.ca_file = absl::StrCat(options.root, "/ca.crt");
  auto ns = ReadWholeFile(absl::StrCat(options.root, "/namespace"));
  if (ns.ok()) {
    std::string trimmed(absl::StripAsciiWhitespace(*ns));
    if (!trimmed.empty()) cfg.default_namespace = trimmed;
  }
  cfg.description = "in-cluster";
  return cfg;
}

}  // namespace hollowtrees::kube
