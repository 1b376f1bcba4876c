#pragma once

#include <functional>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include <deque>

namespace hollowtrees {

// A fixed set of threads running scheduled closures in FIFO order. The
// destructor runs what is already queued, then joins. Thread-safe.
class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  void Schedule(std::function<void()> fn);
  // Closures queued and not yet started.
  size_t Pending();

 private:
  void Work();
  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace hollowtrees
