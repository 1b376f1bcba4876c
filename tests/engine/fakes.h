#pragma once

// Fakes for the engine's outside dependencies: a Scheduler on a manual clock
// and a PluginClient whose calls the test answers.

#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "engine/dispatch/plugin_client.h"
#include "engine/dispatch/scheduler.h"
#include "lib/common/clock.h"

namespace hollowtrees::engine::testing {

// Runs nothing until told: RunPending() runs posted closures; Advance(d)
// moves the clock and runs the timers that fall due, in time order.
class FakeScheduler : public Scheduler {
 public:
  FakeClock& clock() override { return clock_; }
  void Post(std::function<void()> fn) override {
    absl::MutexLock lock(&mu_);
    queue_.push_back(std::move(fn));
  }
  void PostAfter(absl::Duration delay, std::function<void()> fn) override {
    absl::MutexLock lock(&mu_);
    timers_.emplace(std::make_pair(clock_.Now() + delay, seq_++), std::move(fn));
  }
  size_t QueueDepth() override {
    absl::MutexLock lock(&mu_);
    return queue_.size();
  }

  // Runs posted closures (and what they post) until none is left.
  void RunPending() {
    while (true) {
      std::function<void()> fn;
      {
        absl::MutexLock lock(&mu_);
        if (queue_.empty()) return;
        fn = std::move(queue_.front());
        queue_.pop_front();
      }
      fn();
    }
  }

  // Moves time forward by `d`, firing due timers at their own times.
  void Advance(absl::Duration d) {
    const absl::Time end = Now() + d;
    while (true) {
      std::function<void()> fn;
      {
        absl::MutexLock lock(&mu_);
        if (timers_.empty() || timers_.begin()->first.first > end) {
          clock_.Set(end);
          break;
        }
        clock_.Set(timers_.begin()->first.first);
        fn = std::move(timers_.begin()->second);
        timers_.erase(timers_.begin());
      }
      fn();
      RunPending();
    }
    RunPending();
  }

  // When the next timer is due, or InfiniteFuture.
  absl::Time NextTimer() {
    absl::MutexLock lock(&mu_);
    return timers_.empty() ? absl::InfiniteFuture() : timers_.begin()->first.first;
  }

 private:
  absl::Mutex mu_;
  FakeClock clock_{absl::FromUnixSeconds(1700000000)};
  std::deque<std::function<void()>> queue_;
  std::map<std::pair<absl::Time, uint64_t>, std::function<void()>> timers_;
  uint64_t seq_ = 0;
};

// Records every call; the test answers them (Answer*), in any order.
class FakePluginClient : public PluginClient {
 public:
  struct Call {
    std::string plugin;
    hollowtrees::plugin::v1::HandleRequest request;
    absl::Duration timeout;
    std::function<void(PluginReply)> done;
    bool answered = false;
  };

  void Call(const PluginConfig& plugin, const hollowtrees::plugin::v1::HandleRequest& request,
            absl::Duration timeout, std::function<void(PluginReply)> done) override {
    absl::MutexLock lock(&mu_);
    calls_.push_back({plugin.name, request, timeout, std::move(done)});
  }

  size_t size() {
    absl::MutexLock lock(&mu_);
    return calls_.size();
  }
  // A copy of call i (without its callback).
  struct Call At(size_t i) {
    absl::MutexLock lock(&mu_);
    struct Call c = calls_.at(i);
    c.done = nullptr;
    return c;
  }
  // Calls not answered yet, in call order: "plugin/event_id/attempt".
  std::vector<std::string> Outstanding() {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> out;
    for (const auto& c : calls_) {
      if (!c.answered) out.push_back(Describe(c));
    }
    return out;
  }
  // Every call made, in order: "plugin/event_id/attempt".
  std::vector<std::string> Log() {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> out;
    for (const auto& c : calls_) out.push_back(Describe(c));
    return out;
  }

  void Answer(size_t i, hollowtrees::plugin::v1::HandleResponse::Outcome outcome,
              std::string message = "", absl::Duration retry_after = absl::ZeroDuration()) {
    PluginReply reply;
    reply.response.set_outcome(outcome);
    reply.response.set_message(std::move(message));
    reply.response.mutable_retry_after()->set_seconds(absl::ToInt64Seconds(retry_after));
    Finish(i, std::move(reply));
  }
  void AnswerTransportError(size_t i, absl::Status status) {
    PluginReply reply;
    reply.transport = std::move(status);
    Finish(i, std::move(reply));
  }
  // Answers the oldest unanswered call.
  void AnswerNext(hollowtrees::plugin::v1::HandleResponse::Outcome outcome) {
    size_t i = 0;
    {
      absl::MutexLock lock(&mu_);
      while (i < calls_.size() && calls_[i].answered) ++i;
    }
    Answer(i, outcome);
  }

 private:
  static std::string Describe(const struct Call& c) {
    return c.plugin + "/" + c.request.event().id() + "/" + std::to_string(c.request.attempt());
  }
  void Finish(size_t i, PluginReply reply) {
    std::function<void(PluginReply)> done;
    {
      absl::MutexLock lock(&mu_);
      auto& c = calls_.at(i);
      if (c.answered) std::abort();  // a test bug: answered twice
      c.answered = true;
      done = c.done;
    }
    done(std::move(reply));
  }

  absl::Mutex mu_;
  std::vector<struct Call> calls_;
};

}  // namespace hollowtrees::engine::testing
