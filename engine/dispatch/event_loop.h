#pragma once

#include <deque>
#include <queue>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "engine/dispatch/scheduler.h"

namespace hollowtrees::engine {

// The real Scheduler: one thread, a FIFO of posted closures and a heap of
// timers, on the wall clock. The destructor stops the thread; closures still
// queued then are dropped.
class EventLoop : public Scheduler {
 public:
  EventLoop();
  ~EventLoop() override;

  Clock& clock() override { return RealClock(); }
  void Post(std::function<void()> fn) override;
  void PostAfter(absl::Duration delay, std::function<void()> fn) override;
  size_t QueueDepth() override;

  // Blocks until everything posted before the call has run.
  void Flush();
  // Stops and joins the thread: nothing runs afterwards (Post still
  // accepts, and drops). Idempotent; the destructor calls it.
  void Stop();

 private:
  struct Timer {
    absl::Time when;
    uint64_t seq;
    std::function<void()> fn;
    bool operator>(const Timer& o) const { return when != o.when ? when > o.when : seq > o.seq; }
  };
  void Run();

  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers_ ABSL_GUARDED_BY(mu_);
  uint64_t seq_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool timer_added_ ABSL_GUARDED_BY(mu_) = false;  // wakes the wait for an earlier timer
  std::thread thread_;
};

}  // namespace hollowtrees::engine
