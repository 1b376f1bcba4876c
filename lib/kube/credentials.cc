#include "lib/common/file.h"
#include "lib/common/rfc3339.h"
#include "lib/kube/credentials.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "lib/common/status_macros.h"
#include "nlohmann/json.hpp"

extern char** environ;

namespace hollowtrees::kube {
namespace {

class NoCredentials : public Credentials {
 public:
  absl::StatusOr<std::string> Authorization() override { return std::string(); }
  bool Invalidate() override { return false; }
};

class StaticCredentials : public Credentials {
 public:
  explicit StaticCredentials(std::string header) : header_(std::move(header)) {}
  absl::StatusOr<std::string> Authorization() override { return header_; }
  bool Invalidate() override { return false; }

 private:
  const std::string header_;
};

// Re-reads the file when its modification time or size changes, so a rotated
// service account token is picked up without a restart.
class TokenFileCredentials : public Credentials {
 public:
  explicit TokenFileCredentials(std::string path) : path_(std::move(path)) {}

  absl::StatusOr<std::string> Authorization() override {
    struct stat st;
    if (stat(path_.c_str(), &st) != 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot read token file ", path_, ": ", std::strerror(errno)));
    }
    absl::MutexLock lock(&mu_);
    const bool changed = st.st_mtim.tv_sec != mtime_.tv_sec ||
                         st.st_mtim.tv_nsec != mtime_.tv_nsec || st.st_size != size_;
    if (changed || token_.empty()) {
      auto text = ReadFile(path_);
      if (!text.ok()) {
        return absl::UnavailableError(absl::StrCat("cannot read token file ", text.status().message()));
      }
      std::string token(absl::StripAsciiWhitespace(*text));
      if (token.empty()) return absl::UnavailableError(absl::StrCat("token file ", path_, " is empty"));
      token_ = std::move(token);
      mtime_ = st.st_mtim;
      size_ = st.st_size;
    }
    return absl::StrCat("Bearer ", token_);
  }

  bool Invalidate() override {
    absl::MutexLock lock(&mu_);
    token_.clear();
    return true;
  }

 private:
  const std::string path_;
  absl::Mutex mu_;
  std::string token_ ABSL_GUARDED_BY(mu_);
  timespec mtime_ ABSL_GUARDED_BY(mu_) = {0, 0};
  off_t size_ ABSL_GUARDED_BY(mu_) = -1;
};

class ExecCredentials : public Credentials {
 public:
  ExecCredentials(ExecConfig exec, std::string server, CredentialsOptions options)
      : exec_(std::move(exec)), server_(std::move(server)), options_(std::move(options)) {}

  absl::StatusOr<std::string> Authorization() override {
    // One plugin run at a time: concurrent requests wait for the same token
    // instead of starting the plugin many times.
    absl::MutexLock lock(&mu_);
    if (!token_.empty() && (options_.clock != nullptr ? *options_.clock : RealClock()).Now() + options_.expiry_margin < expiry_) {
      return absl::StrCat("Bearer ", token_);
    }
    HT_ASSIGN_OR_RETURN(ExecResult r, RunExecPlugin(exec_, server_, options_.exec_timeout));
    token_ = std::move(r.token);
    expiry_ = r.expiry;
    return absl::StrCat("Bearer ", token_);
  }

  bool Invalidate() override {
    absl::MutexLock lock(&mu_);
    token_.clear();
    return true;
  }

 private:
  const ExecConfig exec_;
  const std::string server_;
  const CredentialsOptions options_;
  absl::Mutex mu_;
  std::string token_ ABSL_GUARDED_BY(mu_);
  absl::Time expiry_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

// Reads both pipes until EOF or the deadline.
bool Drain(int out_fd, int err_fd, absl::Time deadline, std::string* out, std::string* err) {
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  int open_fds = 2;
  char buf[4096];
  while (open_fds > 0) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    const int r = poll(fds, 2, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return false;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        (i == 0 ? out : err)->append(buf, n);
        if (out->size() + err->size() > (4 << 20)) return false;
      } else if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  return true;
}

}  // namespace

namespace {

// A string member, or "" when absent or of another type (the plugin's output
// is outside input; nlohmann's value() throws for a wrong type).
std::string StringField(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

absl::StatusOr<ExecResult> ParseExecCredential(absl::string_view out, const ExecConfig& exec) {
  nlohmann::json cred = nlohmann::json::parse(out.begin(), out.end(), nullptr, false);
  const std::string what = absl::StrCat("exec credential plugin \"", exec.command, "\"");
  if (!cred.is_object() || StringField(cred, "kind") != "ExecCredential") {
    return absl::InvalidArgumentError(absl::StrCat(what, " printed no ExecCredential JSON"));
  }
  if (StringField(cred, "apiVersion") != exec.api_version) {
    return absl::InvalidArgumentError(absl::StrCat(what, " answered apiVersion \"",
                                                   StringField(cred, "apiVersion"), "\", want \"",
                                                   exec.api_version, "\""));
  }
  const auto status = cred.find("status");
  if (status == cred.end() || !status->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ExecCredential has no status"));
  }
  ExecResult result;
  result.token = StringField(*status, "token");
  if (result.token.empty()) {
    if (status->contains("clientCertificateData")) {
      return absl::UnimplementedError(
          absl::StrCat(what, " returned a client certificate; only token credentials are supported"));
    }
    return absl::InvalidArgumentError(absl::StrCat(what, ": ExecCredential status has no token"));
  }
  const std::string expiry = StringField(*status, "expirationTimestamp");
  if (!expiry.empty()) {
    auto parsed = ParseRfc3339(expiry);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": bad expirationTimestamp: ", parsed.status().message()));
    }
    result.expiry = *parsed;
  }
  return result;
}

absl::StatusOr<ExecResult> RunExecPlugin(const ExecConfig& exec, absl::string_view server,
                                         absl::Duration timeout) {
  nlohmann::json info = {{"apiVersion", exec.api_version},
                         {"kind", "ExecCredential"},
                         {"spec", {{"interactive", false}}}};
  if (exec.provide_cluster_info) info["spec"]["cluster"] = {{"server", std::string(server)}};
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  for (const auto& [k, v] : exec.env) env.push_back(absl::StrCat(k, "=", v));
  env.push_back(absl::StrCat("KUBERNETES_EXEC_INFO=", info.dump()));
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_s = {exec.command};
  argv_s.insert(argv_s.end(), exec.args.begin(), exec.args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);

  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    return absl::InternalError("pipe failed");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, exec.command.c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (rc != 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    std::string msg = absl::StrCat("exec credential plugin \"", exec.command,
                                   "\" cannot be started: ", std::strerror(rc));
    if (!exec.install_hint.empty()) absl::StrAppend(&msg, " (", exec.install_hint, ")");
    return absl::FailedPreconditionError(msg);
  }
  std::string out, err;
  const bool finished = Drain(out_pipe[0], err_pipe[0], absl::Now() + timeout, &out, &err);
  close(out_pipe[0]);
  close(err_pipe[0]);
  if (!finished) kill(pid, SIGKILL);
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (!finished) {
    return absl::DeadlineExceededError(absl::StrCat("exec credential plugin \"", exec.command,
                                                    "\" did not finish within ",
                                                    absl::FormatDuration(timeout)));
  }
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    const int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    return absl::UnavailableError(absl::StrCat("exec credential plugin \"", exec.command,
                                               "\" exited with ", code, ": ",
                                               absl::StripAsciiWhitespace(err.substr(0, 1024))));
  }
  return ParseExecCredential(out, exec);
}

absl::StatusOr<std::unique_ptr<Credentials>> NewCredentials(const KubeConfig& config,
                                                            const CredentialsOptions& options) {
  if (config.exec) {
    if (config.exec->command.empty()) return absl::InvalidArgumentError("exec has no command");
    return std::make_unique<ExecCredentials>(*config.exec, config.server, options);
  }
  if (!config.token.empty()) {
    return std::make_unique<StaticCredentials>(absl::StrCat("Bearer ", config.token));
  }
  if (!config.token_file.empty()) return std::make_unique<TokenFileCredentials>(config.token_file);
  if (!config.username.empty()) {
    return std::make_unique<StaticCredentials>(
        absl::StrCat("Basic ", absl::Base64Escape(absl::StrCat(config.username, ":", config.password))));
  }
  return std::make_unique<NoCredentials>();
}

}  // namespace hollowtrees::kube
