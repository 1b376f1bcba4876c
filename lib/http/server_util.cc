#include "lib/http/server_util.h"

#include <httplib.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"

namespace hollowtrees::http {

absl::StatusOr<HostPort> ParseHostPort(absl::string_view text) {
  HostPort out;
  absl::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == absl::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return absl::InvalidArgumentError(absl::StrCat("bad address \"", text, "\": want [V6]:PORT"));
    }
    out.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("bad address \"", text, "\": want HOST:PORT"));
    }
    out.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  }
  if (out.host.empty()) out.host = "0.0.0.0";
  if (!absl::SimpleAtoi(port_text, &out.port) || out.port < 0 || out.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad address \"", text, "\": port must be a number from 0 to 65535"));
  }
  return out;
}

void JsonError(httplib::Response& res, int status, absl::string_view message) {
  res.status = status;
  res.set_content(nlohmann::json{{"error", std::string(message)}}.dump(), "application/json");
}

void AnswerServerErrorsInJson(httplib::Server& server, size_t max_body_bytes) {
  server.set_error_handler([max_body_bytes](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 413) {
      JsonError(res, 413, absl::StrCat("request body larger than ", max_body_bytes, " bytes"));
    } else if (res.status == 404) {
      JsonError(res, 404, absl::StrCat("no such endpoint: ", req.method, " ", req.path));
    } else {
      JsonError(res, res.status, absl::StrCat("HTTP ", res.status));
    }
  });
}

void ConfigureServer(httplib::Server& server, const ServerOptions& options) {
  server.set_tcp_nodelay(true);
  // cpp-httplib's default sets SO_REUSEPORT, with which a second server on a
  // taken port binds without error and shares the traffic. Only
  // SO_REUSEADDR (restart while old connections linger in TIME_WAIT).
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  const int threads = options.threads;
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server.set_payload_max_length(options.max_body_bytes);
  const auto io = absl::ToChronoMicroseconds(options.io_timeout);
  server.set_read_timeout(io);
  server.set_write_timeout(io);
  server.set_keep_alive_max_count(100000);
  // An idle keep-alive connection holds a worker (and stop()) this long.
  server.set_keep_alive_timeout(2);
}

absl::StatusOr<int> Bind(httplib::Server& server, const HostPort& address) {
  if (address.port == 0) {
    const int port = server.bind_to_any_port(address.host);
    if (port <= 0) {
      return absl::UnavailableError(absl::StrCat("cannot bind ", address.host, ":0"));
    }
    return port;
  }
  if (!server.bind_to_port(address.host, address.port)) {
    return absl::UnavailableError(absl::StrCat("cannot bind ", address.host, ":", address.port,
                                               " (address in use or not permitted)"));
  }
  return address.port;
}

absl::StatusOr<std::unique_ptr<ServingThread>> ServingThread::Start(httplib::Server& server,
                                                                     const HostPort& address,
                                                                     ServeOptions options) {
  auto port = Bind(server, address);
  if (!port.ok()) return port.status();
  std::unique_ptr<ServingThread> serving(new ServingThread(server, *port));
  serving->thread_ = std::thread([&server] { server.listen_after_bind(); });
  const absl::Time deadline = absl::Now() + options.start_timeout;
  while (!server.is_running()) {
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat("the HTTP server on ", address.host, ":",
                                                      *port, " did not start within ",
                                                      absl::FormatDuration(options.start_timeout)));
    }
    absl::SleepFor(absl::Milliseconds(1));
  }
  if (options.request_timeout != absl::InfiniteDuration()) {
    serving->deadline_ = std::make_unique<RequestDeadline>(*port, options.request_timeout,
                                                           std::move(options.on_cut));
  }
  return serving;
}

void ServingThread::Stop() {
  if (!thread_.joinable()) return;
  deadline_.reset();
  server_.stop();
  thread_.join();
}

}  // namespace hollowtrees::http
