#pragma once

// Where accepted events are made durable before their sender is answered:
// what the intake needs of the journal (engine/store/journal.h), and nothing
// else of it.

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "engine/event/event.h"

namespace hollowtrees::engine {

class EventLog {
 public:
  virtual ~EventLog() = default;

  // Commits the events; returns when they are durable. Unavailable on a
  // write error (the caller must not acknowledge them). `seqs`, when given,
  // receives each event's sequence number, which the dispatcher reports back
  // (FlowStore::EventsDispatched) once the event is dispatched.
  virtual absl::Status AppendEvents(const std::vector<EventPtr>& events,
                                    std::vector<int64_t>* seqs = nullptr) = 0;
};

}  // namespace hollowtrees::engine
