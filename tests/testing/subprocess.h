#pragma once

// Starts a program for a test, captures its output to a file, waits for a
// line of it with a deadline, and stops exactly that process by its PID.

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace hollowtrees::testing {

class Subprocess {
 public:
  // Starts `argv[0]` (a path) with the arguments; stdout and stderr go to a
  // file under `output_dir` (TempDir() when empty). Extra environment
  // variables are added to the current environment.
  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(
      std::vector<std::string> argv, std::vector<std::string> extra_env = {},
      std::string output_dir = "");

  ~Subprocess();  // Kills the process (SIGKILL) if it still runs.

  // Polls the output until a line matches `regex` (RE2, partial match) and
  // returns the first capture group (or the whole line without groups).
  // DeadlineExceeded after `timeout`; FailedPrecondition if the process exits.
  absl::StatusOr<std::string> WaitForOutput(const std::string& regex,
                                            absl::Duration timeout = absl::Seconds(20));

  // SIGTERM, then waits up to `timeout` for the exit, then SIGKILL. Returns
  // the exit code (128+signal when killed by a signal).
  int Stop(absl::Duration timeout = absl::Seconds(10));
  // Sends a signal without waiting.
  void Signal(int sig);
  // Waits for the exit; returns the exit code, or DeadlineExceeded.
  absl::StatusOr<int> Wait(absl::Duration timeout);
  bool Running();

  pid_t pid() const { return pid_; }
  std::string Output() const;
  const std::string& output_path() const { return output_path_; }

 private:
  Subprocess(pid_t pid, std::string output_path) : pid_(pid), output_path_(std::move(output_path)) {}
  pid_t pid_;
  std::string output_path_;
  bool exited_ = false;
  int exit_code_ = 0;
};

// A fresh directory under $TMPDIR (or /tmp), removed by nothing: tests are
// hermetic per run because each gets a new one.
std::string MakeTempDir(const std::string& prefix = "ht-test");

// Another process (python3's sqlite3, as an operator's shell would) holding
// a write transaction (BEGIN EXCLUSIVE) on the SQLite database `path` for up
// to `hold`; returns once the lock is held. The lock goes with the process:
// reset the pointer (SIGKILL) to release it.
absl::StatusOr<std::unique_ptr<Subprocess>> HoldSqliteWriteLock(
    const std::string& path, absl::Duration hold = absl::Seconds(60));

// $HT_BIN_DIR/name: where CMake puts our binaries (set by ht_test()).
std::string BinaryPath(const std::string& name);
// $HT_SOURCE_DIR/relative.
std::string SourcePath(const std::string& relative);

// Reads or writes a whole file; tests fail loudly through the status.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);
absl::Status WriteStringToFile(const std::string& path, const std::string& content);

}  // namespace hollowtrees::testing
