#pragma once

// Where the intake hands accepted events over: what the intake needs of the
// dispatcher (engine/dispatch/dispatcher.h), and nothing else of it.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/event/event.h"

namespace hollowtrees::engine {

class EventSink {
 public:
  virtual ~EventSink() = default;

  // Takes the events for dispatch, in order. `journal_seqs` are their
  // sequence numbers in the event log (empty without one). Never blocks on
  // plugin calls. Thread-safe.
  virtual void Submit(std::vector<EventPtr> events, std::vector<int64_t> journal_seqs = {}) = 0;

  // Events submitted and not yet dispatched: the intake's backpressure
  // signal. Thread-safe, approximate.
  virtual size_t backlog() const = 0;
};

}  // namespace hollowtrees::engine
