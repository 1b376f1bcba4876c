#include "tests/testing/trickle_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace hollowtrees::testing {

std::string TrickleServer::SlowJsonAnswer(int body_bytes) {
  std::string body = "{\"pad\":\"" + std::string(std::max(0, body_bytes - 10), 'x') + "\"}";
  return absl::StrCat("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ",
                      body.size(), "\r\n\r\n", body);
}

absl::StatusOr<std::unique_ptr<TrickleServer>> TrickleServer::Start(std::string answer,
                                                                   absl::Duration interval) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 16) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string err = std::strerror(errno);
    close(fd);
    return absl::InternalError(absl::StrCat("bind/listen: ", err));
  }
  std::unique_ptr<TrickleServer> s(
      new TrickleServer(std::move(answer), interval, fd, ntohs(addr.sin_port)));
  s->acceptor_ = std::thread([p = s.get()] { p->AcceptLoop(); });
  return s;
}

TrickleServer::~TrickleServer() { Stop(); }

std::string TrickleServer::url() const { return absl::StrCat("http://127.0.0.1:", port_); }

void TrickleServer::AcceptLoop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ++connections_;
    absl::MutexLock lock(&mu_);
    fds_.push_back(fd);
    workers_.emplace_back([this, fd] { Serve(fd); });
  }
}

void TrickleServer::Serve(int fd) {
  // The request's head (up to a blank line, bounded), then the trickle.
  std::string head;
  char buf[4096];
  while (!stopping_ && head.find("\r\n\r\n") == std::string::npos && head.size() < (1 << 20)) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) return;
    head.append(buf, n);
  }
  for (size_t i = 0; i < answer_.size() && !stopping_; ++i) {
    if (send(fd, &answer_[i], 1, MSG_NOSIGNAL) != 1) return;  // the client gave up
    const absl::Time until = absl::Now() + interval_;
    while (!stopping_ && absl::Now() < until) absl::SleepFor(absl::Milliseconds(5));
  }
}

void TrickleServer::Stop() {
  if (stopping_.exchange(true)) return;
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> workers;
  {
    absl::MutexLock lock(&mu_);
    for (int fd : fds_) shutdown(fd, SHUT_RDWR);
    workers.swap(workers_);
  }
  for (auto& t : workers) t.join();
  absl::MutexLock lock(&mu_);
  for (int fd : fds_) close(fd);
  fds_.clear();
  close(listen_fd_);
}

}  // namespace hollowtrees::testing
