#include "lib/http/request_deadline.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <linux/tcp.h>  // tcp_info with byte counts (glibc's lacks them)
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace hollowtrees::http {
namespace {

// tcp_info.tcpi_state of an established connection (the kernel's
// TCP_ESTABLISHED, which no user header beside glibc's tcp_info defines).
constexpr uint8_t kTcpEstablished = 1;

// The inode of the socket behind descriptor `fd`, or 0 when it is not a
// socket (read from /proc/self/fd, which costs no system call on the fd).
ino_t SocketInode(int dir_fd, const char* name) {
  char target[64];
  const ssize_t n = readlinkat(dir_fd, name, target, sizeof(target) - 1);
  if (n <= 0) return 0;
  absl::string_view text(target, static_cast<size_t>(n));
  if (!absl::ConsumePrefix(&text, "socket:[") || !absl::ConsumeSuffix(&text, "]")) return 0;
  uint64_t inode = 0;
  if (!absl::SimpleAtoi(text, &inode)) return 0;
  return static_cast<ino_t>(inode);
}

// The local port of a TCP socket, or -1.
int LocalPort(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return -1;
  if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  return -1;
}

std::string Peer(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "unknown peer";
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &a->sin_addr, text, sizeof(text));
    return absl::StrCat(text, ":", ntohs(a->sin_port));
  }
  const auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
  inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof(text));
  return absl::StrCat("[", text, "]:", ntohs(a->sin6_port));
}

// A duplicate of descriptor `fd` if it still refers to socket `inode`, else
// -1. Acting on the duplicate, a number the server closed and reused in
// between is left alone.
int DuplicateIfSame(int fd, ino_t inode) {
  const int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return -1;
  struct stat st {};
  if (fstat(dup, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == inode) return dup;
  close(dup);
  return -1;
}

}  // namespace

RequestDeadline::RequestDeadline(int port, absl::Duration limit,
                                 std::function<void(const CutConnection&)> on_cut,
                                 absl::Duration tick)
    : port_(port), limit_(limit), tick_(tick), on_cut_(std::move(on_cut)) {
  thread_ = std::thread([this] { Run(); });
}

RequestDeadline::~RequestDeadline() {
  stop_.Notify();
  thread_.join();
}

void RequestDeadline::Run() {
  while (!stop_.WaitForNotificationWithTimeout(tick_)) ScanOnce(absl::Now());
}

void RequestDeadline::ScanOnce(absl::Time now) {
  const int dir_fd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return;
  DIR* dir = fdopendir(dir_fd);
  if (dir == nullptr) {
    close(dir_fd);
    return;
  }
  absl::MutexLock lock(&mu_);
  const uint64_t scan = ++scans_;
  const absl::Time previous_scan = last_scan_;
  last_scan_ = now;
  while (const dirent* entry = readdir(dir)) {
    int fd = -1;
    if (!absl::SimpleAtoi(entry->d_name, &fd) || fd == dir_fd) continue;
    const ino_t inode = SocketInode(dir_fd, entry->d_name);
    if (inode == 0 || LocalPort(fd) != port_) continue;
    int listening = 0;
    socklen_t len = sizeof(listening);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || listening) continue;
    tcp_info info{};
    len = sizeof(info);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) continue;
    if (info.tcpi_state != kTcpEstablished) continue;

    const uint64_t rx = info.tcpi_bytes_received;
    const uint64_t tx = info.tcpi_bytes_sent;
    // The kernel's times are in ms: "received strictly after the last send".
    const bool received_after_send = info.tcpi_last_data_recv < info.tcpi_last_data_sent;
    // The last send, or the connection's start when it never sent.
    const absl::Time after_last_send = now - absl::Milliseconds(info.tcpi_last_data_sent);

    auto [it, fresh] = tracked_.try_emplace(inode);
    Tracked& t = it->second;
    const bool seen_last_scan = !fresh && t.seen_scan + 1 == scan;
    const bool was_in_progress = seen_last_scan && t.in_progress;
    t.seen_scan = scan;
    if (fresh || tx != t.tx) {
      // The server sent since the last look (or this is the first look):
      // what it had received until then is answered. A byte received after
      // that send is a new request (its count is unknown: at least one).
      t.tx = tx;
      t.answered_rx = tx == 0 ? 0 : (received_after_send && rx > 0 ? rx - 1 : rx);
      t.in_progress = rx > t.answered_rx;
      t.since = after_last_send;
    } else {
      t.in_progress = rx > t.answered_rx;
      if (t.in_progress && !was_in_progress) {
        // Began after the last send, and after the previous look, which saw
        // the connection idle.
        t.since = seen_last_scan ? std::max(previous_scan, after_last_send) : after_last_send;
      }
    }
    if (!t.in_progress) continue;
    const absl::Duration open = now - t.since;
    if (open <= limit_) continue;
    const int dup = DuplicateIfSame(fd, inode);
    if (dup < 0) continue;
    const std::string peer = Peer(dup);
    tracked_.erase(it);
    // Counted before the client can see the connection end.
    cut_.fetch_add(1, std::memory_order_relaxed);
    shutdown(dup, SHUT_RDWR);
    close(dup);
    if (on_cut_) on_cut_({peer, open});
  }
  closedir(dir);
  for (auto it = tracked_.begin(); it != tracked_.end();) {
    it = it->second.seen_scan == scan ? std::next(it) : tracked_.erase(it);
  }
}

}  // namespace hollowtrees::http
