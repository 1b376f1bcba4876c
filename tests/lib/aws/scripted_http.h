#pragma once

// An HTTP client for lib/aws tests that records every request and answers
// from a script: canned answers in order (when they run out, the last one
// given repeats), or a function of the request. Thread-safe.

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "lib/http/http_client.h"

namespace hollowtrees::aws_testing {

class ScriptedHttp : public http::HttpClient {
 public:
  using Handler = std::function<absl::StatusOr<http::HttpResponse>(const http::HttpRequest&)>;

  // The state is shared so that a test keeps a handle on it after the
  // client is moved into (and owned by) the code under test.
  struct State {
    absl::Mutex mu;
    std::deque<absl::StatusOr<http::HttpResponse>> answers ABSL_GUARDED_BY(mu);
    std::optional<absl::StatusOr<http::HttpResponse>> last ABSL_GUARDED_BY(mu);
    Handler handler ABSL_GUARDED_BY(mu);
    std::vector<http::HttpRequest> requests ABSL_GUARDED_BY(mu);

    void Answer(int status, std::string body, http::Headers headers = {}) {
      absl::MutexLock lock(&mu);
      answers.push_back(http::HttpResponse{status, std::move(headers), std::move(body)});
    }
    void Fail(absl::Status status) {
      absl::MutexLock lock(&mu);
      answers.push_back(std::move(status));
    }
    void Handle(Handler h) {
      absl::MutexLock lock(&mu);
      handler = std::move(h);
    }
    std::vector<http::HttpRequest> Requests() {
      absl::MutexLock lock(&mu);
      return requests;
    }
    size_t Count() {
      absl::MutexLock lock(&mu);
      return requests.size();
    }
  };

  explicit ScriptedHttp(std::shared_ptr<State> state) : state_(std::move(state)) {}

  // As Send, handing a 2xx body to `on_data` in one piece; Cancelled when
  // `cancel` is cancelled before the answer.
  absl::StatusOr<http::HttpResponse> SendStreaming(
      const http::HttpRequest& request, const std::function<bool(absl::string_view)>& on_data,
      http::StreamCancel* cancel) override {
    if (cancel != nullptr && cancel->cancelled()) return absl::CancelledError("cancelled");
    auto res = Send(request);
    if (!res.ok() || res->status < 200 || res->status >= 300) return res;
    if (cancel != nullptr && cancel->cancelled()) return absl::CancelledError("cancelled");
    on_data(res->body);
    res->body.clear();
    return res;
  }

  absl::StatusOr<http::HttpResponse> Send(const http::HttpRequest& request) override {
    absl::MutexLock lock(&state_->mu);
    state_->requests.push_back(request);
    if (state_->handler) return state_->handler(request);
    if (!state_->answers.empty()) {
      state_->last = std::move(state_->answers.front());
      state_->answers.pop_front();
    }
    if (!state_->last.has_value()) return absl::InternalError("ScriptedHttp: no answer scripted");
    return *state_->last;
  }

 private:
  std::shared_ptr<State> state_;
};

// The first header of that name (case-insensitive), or "".
inline std::string HeaderOf(const http::Headers& headers, absl::string_view name) {
  for (const auto& [k, v] : headers) {
    if (absl::EqualsIgnoreCase(k, name)) return v;
  }
  return "";
}

}  // namespace hollowtrees::aws_testing
