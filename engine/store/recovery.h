#pragma once

// What a restarted engine picks up from a durable store: read once at start
// (Journal::Recover) and handed to the dispatcher (Dispatcher::Resume) and
// the dedup table.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "engine/event/event.h"
#include "engine/store/flow_store.h"

namespace hollowtrees::engine {

// What a restart must pick up again.
struct Recovery {
  std::vector<EventPtr> undispatched;       // accepted, not yet matched
  std::vector<int64_t> undispatched_seqs;   // their journal sequence numbers
  std::vector<FlowRecord> unfinished;       // queued, running or retrying
  std::vector<std::pair<std::string, absl::Time>> cooldowns;  // group -> until
  std::vector<std::string> seen_keys;       // event keys to keep absorbing
  int skipped_rows = 0;                     // rows that did not decode
  bool moved_aside = false;                 // the old file failed its check
};

}  // namespace hollowtrees::engine
