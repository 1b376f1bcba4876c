#pragma once

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

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
  // Read/write timeouts per request. Default 10 s.
  absl::Duration io_timeout = absl::Seconds(10);
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
  // thread and waits until it accepts connections. Unavailable when the
  // address is taken; DeadlineExceeded when it has not started within
  // `timeout`.
  static absl::StatusOr<std::unique_ptr<ServingThread>> Start(
      httplib::Server& server, const HostPort& address, absl::Duration timeout = absl::Seconds(10));
  ~ServingThread() { Stop(); }
  ServingThread(const ServingThread&) = delete;
  ServingThread& operator=(const ServingThread&) = delete;

  // Stops listening, ends open connections and waits for the thread.
  // Idempotent.
  void Stop();
  // The bound port (the chosen one when the address asked for port 0).
  int port() const { return port_; }

 private:
  ServingThread(httplib::Server& server, int port) : server_(server), port_(port) {}

  httplib::Server& server_;
  const int port_;
  std::thread thread_;
};

}  // namespace hollowtrees::http
