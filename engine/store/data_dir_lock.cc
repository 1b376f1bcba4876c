#include "engine/store/data_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace hollowtrees::engine {
namespace {

// The PID the holder wrote, or "" when the file does not say.
std::string HolderPid(int fd) {
  char buf[32] = {};
  const ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return "";
  int pid = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(absl::string_view(buf, n)), &pid) || pid <= 0) {
    return "";
  }
  return absl::StrCat(pid);
}

}  // namespace

absl::StatusOr<std::unique_ptr<DataDirLock>> DataDirLock::Acquire(const std::string& data_dir) {
  const std::string path = data_dir + "/lock";
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("data_dir ", data_dir, ": cannot open ", path, ": ", std::strerror(errno)));
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    const std::string pid = HolderPid(fd);
    close(fd);
    if (err == EWOULDBLOCK) {
      return absl::FailedPreconditionError(absl::StrCat(
          "data_dir ", data_dir, " is in use by another hollowtrees engine",
          pid.empty() ? "" : absl::StrCat(" (pid ", pid, ")"),
          ": one engine per data_dir; stop that one, or give this one its own --data-dir"));
    }
    return absl::UnavailableError(
        absl::StrCat("data_dir ", data_dir, ": cannot lock ", path, ": ", std::strerror(err)));
  }
  // Ours now: record who holds it, for the next one to name.
  const std::string mine = absl::StrCat(getpid(), "\n");
  if (ftruncate(fd, 0) != 0 || pwrite(fd, mine.data(), mine.size(), 0) < 0) {
    const int err = errno;
    close(fd);
    return absl::UnavailableError(
        absl::StrCat("data_dir ", data_dir, ": cannot write ", path, ": ", std::strerror(err)));
  }
  return std::unique_ptr<DataDirLock>(new DataDirLock(path, fd));
}

DataDirLock::~DataDirLock() { close(fd_); }

}  // namespace hollowtrees::engine
