#pragma once

// A scripted HTTP transport for the fuzz targets that reach a parser through
// a client (Kubernetes API, AWS Query): every request is answered with a
// status and a body taken from the fuzz input, so the client's own decoding
// of the answer is what gets fuzzed, with no network. A silent logger, too.

#include <fuzzer/FuzzedDataProvider.h>

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "lib/http/http_client.h"
#include "spdlog/logger.h"
#include "spdlog/sinks/null_sink.h"

namespace hollowtrees::fuzz {

class ScriptedHttp : public http::HttpClient {
 public:
  // `statuses` are the answers' statuses to pick from (the input picks).
  ScriptedHttp(FuzzedDataProvider& input, std::vector<int> statuses)
      : input_(input), statuses_(std::move(statuses)) {}

  absl::StatusOr<http::HttpResponse> Send(const http::HttpRequest&) override {
    if (input_.remaining_bytes() == 0 || ++requests_ > 64) {
      return absl::UnavailableError("fuzz: no more answers");
    }
    http::HttpResponse r;
    r.status = statuses_[input_.ConsumeIntegralInRange<size_t>(0, statuses_.size() - 1)];
    r.body = input_.ConsumeRandomLengthString(64 * 1024);
    return r;
  }

  absl::StatusOr<http::HttpResponse> SendStreaming(
      const http::HttpRequest& request, const std::function<bool(absl::string_view)>& on_data,
      http::StreamCancel*) override {
    auto r = Send(request);
    if (!r.ok() || r->status < 200 || r->status >= 300) return r;
    // The body in pieces of sizes the input chooses.
    std::string body = std::move(r->body);
    absl::string_view rest(body);
    while (!rest.empty()) {
      const size_t n = input_.ConsumeIntegralInRange<size_t>(1, rest.size());
      if (!on_data(rest.substr(0, n))) break;
      rest.remove_prefix(n);
    }
    r->body.clear();
    return r;
  }

 private:
  FuzzedDataProvider& input_;
  std::vector<int> statuses_;
  int requests_ = 0;
};

inline std::shared_ptr<spdlog::logger> SilentLogger() {
  static auto logger =
      std::make_shared<spdlog::logger>("fuzz", std::make_shared<spdlog::sinks::null_sink_mt>());
  return logger;
}

}  // namespace hollowtrees::fuzz
