#include "engine/dispatch/event_loop.h"

namespace hollowtrees::engine {

EventLoop::EventLoop() : thread_([this] { Run(); }) {}

EventLoop::~EventLoop() { Stop(); }

void EventLoop::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void EventLoop::Post(std::function<void()> fn) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(fn));
}

void EventLoop::PostAfter(absl::Duration delay, std::function<void()> fn) {
  absl::MutexLock lock(&mu_);
  timers_.push(Timer{absl::Now() + delay, seq_++, std::move(fn)});
  timer_added_ = true;
}

size_t EventLoop::QueueDepth() {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

void EventLoop::Flush() {
  absl::Notification done;
  Post([&done] { done.Notify(); });
  done.WaitForNotification();
}

void EventLoop::Run() {
  std::vector<std::function<void()>> batch;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      while (!stop_ && queue_.empty()) {
        const absl::Time next = timers_.empty() ? absl::InfiniteFuture() : timers_.top().when;
        if (next <= absl::Now()) break;
        // Woken by Post (the condition) or by the next timer's time.
        mu_.AwaitWithDeadline(
            absl::Condition(
                +[](EventLoop* l) ABSL_EXCLUSIVE_LOCKS_REQUIRED(l->mu_) {
                  return l->stop_ || !l->queue_.empty() || l->timer_added_;
                },
                this),
            next);
        timer_added_ = false;
        if (!timers_.empty() && timers_.top().when <= absl::Now()) break;
      }
      if (stop_) return;
      const absl::Time now = absl::Now();
      while (!timers_.empty() && timers_.top().when <= now) {
        batch.push_back(std::move(const_cast<Timer&>(timers_.top()).fn));
        timers_.pop();
      }
      while (!queue_.empty()) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    for (auto& fn : batch) fn();
    batch.clear();
  }
}

}  // namespace hollowtrees::engine
