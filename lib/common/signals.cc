#include "lib/common/signals.h"

#include <pthread.h>
#include <unistd.h>

namespace hollowtrees {

SignalWaiter::SignalWaiter(std::initializer_list<int> signals) : first_(*signals.begin()) {
  sigemptyset(&set_);
  for (int s : signals) sigaddset(&set_, s);
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);
}

int SignalWaiter::Wait() {
  int sig = 0;
  while (sigwait(&set_, &sig) != 0) {
  }
  return sig;
}

void SignalWaiter::Interrupt() { kill(getpid(), first_); }

}  // namespace hollowtrees
