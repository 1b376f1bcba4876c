#pragma once

#include "absl/time/time.h"

namespace hollowtrees {

// A deadline for the outside calls this thread makes while the scope lives.
// Clients that honor it (kube::KubeClient) cut each request's timeout to
// what is left and fail a request made after it passed with
// DeadlineExceeded, without sending it. Scopes nest; the earliest deadline
// wins.
//
// For callers with an overall deadline (a drain, a plugin call) whose calls
// go through interfaces that take none. Work handed to another thread takes
// Current() along and opens its own scope there.
class ScopedDeadline {
 public:
  explicit ScopedDeadline(absl::Time deadline);
  ~ScopedDeadline();
  ScopedDeadline(const ScopedDeadline&) = delete;
  ScopedDeadline& operator=(const ScopedDeadline&) = delete;

  // This thread's deadline; absl::InfiniteFuture() when there is none.
  static absl::Time Current();

 private:
  const absl::Time previous_;
};

}  // namespace hollowtrees
