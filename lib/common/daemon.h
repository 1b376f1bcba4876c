#pragma once

namespace hollowtrees {

// Process-wide settings every daemon makes first thing in main.
//
// Debian's Abseil is compiled without NDEBUG, so absl::Mutex checks every
// Lock() for lock-order cycles in one global graph behind one global lock:
// every mutex in the process then contends on it (GraphCycles::GetId shows in
// `perf` of the engine's request path). Daemons turn the check off; tests
// keep it, since there it finds lock-order bugs.
void InitDaemon();

}  // namespace hollowtrees
