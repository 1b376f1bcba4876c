#include "lib/common/daemon.h"

#include "absl/synchronization/mutex.h"

namespace hollowtrees {

void InitDaemon() { absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore); }

}  // namespace hollowtrees
