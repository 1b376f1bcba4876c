#pragma once

// Where the dispatcher's work runs: a single logical thread with a clock and
// timers. The real implementation (EventLoop) is one thread on RealClock();
// tests use a fake on a FakeClock (lib/common/clock.h). Running all flow logic on one thread keeps the
// dispatcher free of locks.

#include <functional>

#include "absl/time/time.h"
#include "lib/common/clock.h"

namespace hollowtrees::engine {

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  // The clock the timers run on; lives as long as the scheduler.
  virtual Clock& clock() = 0;
  absl::Time Now() { return clock().Now(); }
  // Runs `fn` on the scheduler's thread, in posting order. Thread-safe.
  virtual void Post(std::function<void()> fn) = 0;
  // Runs `fn` on the scheduler's thread once `delay` has passed. Thread-safe.
  virtual void PostAfter(absl::Duration delay, std::function<void()> fn) = 0;
  // Closures posted and not yet run (the dispatch queue depth).
  virtual size_t QueueDepth() = 0;
};

}  // namespace hollowtrees::engine
