#pragma once

// A server that answers slowly: for each connection on 127.0.0.1 (port 0),
// it reads the request's head, then writes `answer` one byte every
// `interval`. Each byte restarts a per-read timeout, so only a deadline on
// the whole request ends a call to it in time. Bounded: at most `answer`'s
// length in bytes per connection, and it stops writing when stopped.
// For the "deadlines that hold" tests of every client (lib/http, lib/kube,
// lib/aws, the plugins).

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace hollowtrees::testing {

class TrickleServer {
 public:
  // A complete HTTP/1.1 answer that a trickle of would take long: 200, a
  // JSON body of `body_bytes`, with Content-Length.
  static std::string SlowJsonAnswer(int body_bytes);

  static absl::StatusOr<std::unique_ptr<TrickleServer>> Start(std::string answer,
                                                             absl::Duration interval);
  ~TrickleServer();  // Stop()

  int port() const { return port_; }
  std::string url() const;
  // Connections accepted so far.
  int connections() const { return connections_.load(); }
  // Stops accepting and writing, closes every socket, joins the threads.
  void Stop();

 private:
  TrickleServer(std::string answer, absl::Duration interval, int fd, int port)
      : answer_(std::move(answer)), interval_(interval), listen_fd_(fd), port_(port) {}
  void AcceptLoop();
  void Serve(int fd);

  const std::string answer_;
  const absl::Duration interval_;
  const int listen_fd_;
  const int port_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::thread acceptor_;
  absl::Mutex mu_;
  std::vector<std::thread> workers_ ABSL_GUARDED_BY(mu_);
  std::vector<int> fds_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hollowtrees::testing
