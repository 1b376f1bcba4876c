#pragma once

// One engine per data directory. Two engines on one data_dir (a copy-pasted
// systemd unit, a manual start beside the service) would open one journal,
// resume the same flows and call every plugin twice. The first engine holds
// an exclusive lock on `<data_dir>/lock` for its whole life (flock(2), as
// Prometheus locks its data directory); a second one is refused at start,
// told the holder's PID, and the first is not disturbed. The kernel drops
// the lock when the holder exits, however it exits (SIGKILL included), so
// a stale lock file never blocks a restart.

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace hollowtrees::engine {

class DataDirLock {
 public:
  // Takes the lock without waiting and writes this process's PID into the
  // file. FailedPrecondition when another process holds it (the message
  // names the directory and, when the file says, the holder's PID);
  // Unavailable when the file cannot be created or opened.
  static absl::StatusOr<std::unique_ptr<DataDirLock>> Acquire(const std::string& data_dir);
  ~DataDirLock();  // releases the lock (the file stays)

  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;

  const std::string& path() const { return path_; }

 private:
  DataDirLock(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  const std::string path_;
  const int fd_;
};

}  // namespace hollowtrees::engine
