#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "lib/http/request_deadline.h"

namespace httplib {
class Server;
struct Response;
}

namespace hollowtrees::http {

struct HostPort {
  std::string host;  // "0.0.0.0" when the text had none (":9189")
  int port = 0;
};

// Parses "HOST:PORT", ":PORT" or "[V6]:PORT". Port 0 asks for any free port.
absl::StatusOr<HostPort> ParseHostPort(absl::string_view text);

struct ServerOptions {
  // Worker threads serving requests. Default 8.
  int threads = 8;
  // Largest accepted request body. Default 4 MiB.
  size_t max_body_bytes = 4 << 20;
  // Timeout of each read and write on a connection. Default 10 s. The whole
  // request's deadline is ServeOptions::request_timeout.
  absl::Duration io_timeout = absl::Seconds(10);
};

struct ServeOptions {
  // A request not answered this long after its first byte arrived (headers,
  // body and handler together) has its connection shut down (see
  // RequestDeadline). Default 10 s; absl::InfiniteDuration() for none (a
  // server that holds requests open on purpose, such as a watch).
  absl::Duration request_timeout = absl::Seconds(10);
  // Called on the deadline's thread for each connection it cut (to log it).
  std::function<void(const CutConnection&)> on_cut;
  // How long Start waits for the server to accept connections.
  absl::Duration start_timeout = absl::Seconds(10);
};

// Applies the house defaults to a cpp-httplib server: TCP_NODELAY (without it
// cpp-httplib serves ~150 req/s), thread pool, body limit and timeouts.
void ConfigureServer(httplib::Server& server, const ServerOptions& options);

// Answers `status` with the JSON body {"error": message}.
void JsonError(httplib::Response& res, int status, absl::string_view message);
// Gives the answers cpp-httplib makes itself (413 body too large, 404, 400
// bad request line) a JSON body naming the problem, like the handlers'.
// `max_body_bytes` is the limit the 413 names.
void AnswerServerErrorsInJson(httplib::Server& server, size_t max_body_bytes);

// Binds the server to `address` and returns the bound port (the chosen one
// for port 0). Unavailable when the address is taken.
absl::StatusOr<int> Bind(httplib::Server& server, const HostPort& address);

// A server serving on a thread of its own, from Start until Stop (or
// destruction, which stops it). The server must outlive it: declare it after
// the server it serves.
class ServingThread {
 public:
  // Binds `server` (configured and routed) to `address`, listens on a new
  // thread, waits until it accepts connections and puts its requests under
  // `options.request_timeout`. Unavailable when the address is taken;
  // DeadlineExceeded when it has not started within `options.start_timeout`.
  static absl::StatusOr<std::unique_ptr<ServingThread>> Start(httplib::Server& server,
                                                              const HostPort& address,
                                                              ServeOptions options = {});
  ~ServingThread() { Stop(); }
  ServingThread(const ServingThread&) = delete;
  ServingThread& operator=(const ServingThread&) = delete;

  // Stops listening, ends open connections and waits for the thread.
  // Idempotent.
  void Stop();
  // The bound port (the chosen one when the address asked for port 0).
  int port() const { return port_; }
  // Connections cut by the request deadline so far.
  uint64_t requests_cut() const { return deadline_ ? deadline_->cut() : 0; }

 private:
  ServingThread(httplib::Server& server, int port) : server_(server), port_(port) {}

  httplib::Server& server_;
  const int port_;
  std::thread thread_;
  std::unique_ptr<RequestDeadline> deadline_;
};

}  // namespace hollowtrees::http
