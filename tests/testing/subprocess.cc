#include "tests/testing/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "re2/re2.h"

extern char** environ;

namespace hollowtrees::testing {

absl::StatusOr<std::unique_ptr<Subprocess>> HoldSqliteWriteLock(const std::string& path,
                                                               absl::Duration hold) {
  auto p = Subprocess::Start(
      {"/usr/bin/python3", "-c",
       absl::StrCat("import sqlite3, time; c = sqlite3.connect('", path,
                    "', isolation_level=None); c.execute('BEGIN EXCLUSIVE'); "
                    "print('locked', flush=True); time.sleep(",
                    absl::ToInt64Seconds(hold), ")")});
  if (!p.ok()) return p.status();
  if (auto locked = (*p)->WaitForOutput("locked"); !locked.ok()) return locked.status();
  return p;
}

std::string MakeTempDir(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = absl::StrCat(tmp != nullptr && *tmp ? tmp : "/tmp", "/", prefix, "-XXXXXX");
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) std::abort();
  return std::string(buf.data());
}

std::string BinaryPath(const std::string& name) {
  const char* dir = std::getenv("HT_BIN_DIR");
  return absl::StrCat(dir != nullptr ? dir : ".", "/", name);
}

std::string SourcePath(const std::string& relative) {
  const char* dir = std::getenv("HT_SOURCE_DIR");
  return absl::StrCat(dir != nullptr ? dir : ".", "/", relative);
}

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::Status WriteStringToFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Subprocess>> Subprocess::Start(std::vector<std::string> argv,
                                                              std::vector<std::string> extra_env,
                                                              std::string output_dir) {
  if (output_dir.empty()) output_dir = MakeTempDir("ht-proc");
  static int counter = 0;
  const std::string base = argv[0].substr(argv[0].rfind('/') + 1);
  const std::string out_path = absl::StrCat(output_dir, "/", base, ".", getpid(), ".", ++counter, ".log");
  if (access(argv[0].c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat("not executable: ", argv[0]));
  }
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  for (auto& e : extra_env) env.push_back(e);

  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    const int fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    const int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    std::vector<char*> cenv;
    for (auto& e : env) cenv.push_back(e.data());
    cenv.push_back(nullptr);
    execve(cargv[0], cargv.data(), cenv.data());
    _exit(127);
  }
  return std::unique_ptr<Subprocess>(new Subprocess(pid, out_path));
}

Subprocess::~Subprocess() {
  if (!exited_) {
    kill(pid_, SIGKILL);
    int st;
    waitpid(pid_, &st, 0);
  }
}

std::string Subprocess::Output() const {
  auto s = ReadFileToString(output_path_);
  return s.ok() ? *s : "";
}

bool Subprocess::Running() {
  if (exited_) return false;
  int st;
  const pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    exited_ = true;
    exit_code_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return false;
  }
  return true;
}

absl::StatusOr<std::string> Subprocess::WaitForOutput(const std::string& regex,
                                                      absl::Duration timeout) {
  RE2 re(regex);
  if (!re.ok()) return absl::InvalidArgumentError(absl::StrCat("bad regex: ", regex));
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    const std::string out = Output();
    for (absl::string_view sv : absl::StrSplit(out, '\n')) {
      const re2::StringPiece line(sv.data(), sv.size());
      std::string group;
      if (re.NumberOfCapturingGroups() > 0) {
        if (RE2::PartialMatch(line, re, &group)) return group;
      } else if (RE2::PartialMatch(line, re)) {
        return std::string(sv);
      }
    }
    if (!Running()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "process exited (code ", exit_code_, ") before printing /", regex, "/; output:\n", out));
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("no line matching /", regex, "/ within ", absl::FormatDuration(timeout),
                       "; output:\n", out));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void Subprocess::Signal(int sig) {
  if (!exited_) kill(pid_, sig);
}

absl::StatusOr<int> Subprocess::Wait(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (Running()) {
    if (absl::Now() > deadline) return absl::DeadlineExceededError("process still running");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return exit_code_;
}

int Subprocess::Stop(absl::Duration timeout) {
  Signal(SIGTERM);
  auto code = Wait(timeout);
  if (code.ok()) return *code;
  Signal(SIGKILL);
  return *Wait(absl::Seconds(10));
}

}  // namespace hollowtrees::testing
