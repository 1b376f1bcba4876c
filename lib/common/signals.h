#pragma once

#include <csignal>
#include <initializer_list>

namespace hollowtrees {

// Turns asynchronous signals into a synchronous wait. Construct it in main()
// before any thread starts: it blocks the given signals in the calling thread,
// and threads started afterwards inherit the mask, so only Wait() sees them.
// Not copyable. Wait() may be called from any one thread.
class SignalWaiter {
 public:
  explicit SignalWaiter(std::initializer_list<int> signals);
  SignalWaiter(const SignalWaiter&) = delete;
  SignalWaiter& operator=(const SignalWaiter&) = delete;

  // Blocks until one of the signals arrives and returns its number.
  int Wait();

  // Sends the first of the waited-for signals to this process (to end a
  // Wait() from inside the program, e.g. in tests).
  void Interrupt();

 private:
  sigset_t set_;
  int first_;
};

}  // namespace hollowtrees
