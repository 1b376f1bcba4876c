#pragma once

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace hollowtrees::http {

// A connection the deadline cut.
struct CutConnection {
  std::string peer;      // "ADDRESS:PORT" of the client
  absl::Duration open;   // how long its request had been in progress
};

// A whole-request deadline for a cpp-httplib server, which has only per-read
// timeouts: a client that sends a byte now and then (a slow sender) would
// hold a worker thread for as long as it likes.
//
// The deadline watches the server's connections from the outside, as the
// kernel sees them: every `tick` it lists this process's TCP sockets whose
// local port is `port` (accepted connections, not the listener) and reads
// TCP_INFO's byte counts and times. A connection has a request in progress
// when it has received bytes since the server last sent any; the request
// began after that last send (and after the previous tick, when that one saw
// the connection idle). A request still in progress
// `limit` after it began (headers, body and the handler's answer together)
// has its socket shut down; the worker's next read then ends and
// cpp-httplib closes the connection. The socket is shut down through a
// duplicate checked against the inode first, so a descriptor number the
// server reused meanwhile is never touched.
//
// Linux only (/proc/self/fd, TCP_INFO). Not for servers that hold a request
// open on purpose without sending (long polls).
class RequestDeadline {
 public:
  // Starts the watching thread.
  RequestDeadline(int port, absl::Duration limit, std::function<void(const CutConnection&)> on_cut,
                  absl::Duration tick = absl::Milliseconds(200));
  ~RequestDeadline();
  RequestDeadline(const RequestDeadline&) = delete;
  RequestDeadline& operator=(const RequestDeadline&) = delete;

  // Connections cut so far.
  uint64_t cut() const { return cut_.load(std::memory_order_relaxed); }

  // One pass over the sockets (the thread calls it every tick). Exposed for
  // tests.
  void ScanOnce(absl::Time now);

 private:
  struct Tracked {
    uint64_t tx = 0;           // bytes sent, at the last look
    uint64_t answered_rx = 0;  // bytes received that the last send answered
    bool in_progress = false;  // received more than it answered
    absl::Time since;          // when the request in progress began
    uint64_t seen_scan = 0;    // the last scan that found the socket
  };

  void Run();

  const int port_;
  const absl::Duration limit_;
  const absl::Duration tick_;
  const std::function<void(const CutConnection&)> on_cut_;
  std::atomic<uint64_t> cut_{0};

  absl::Mutex mu_;
  std::map<ino_t, Tracked> tracked_ ABSL_GUARDED_BY(mu_);
  uint64_t scans_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_scan_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();

  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace hollowtrees::http
