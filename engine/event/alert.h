#pragma once

// An alert as the intake parsed it, before it becomes an event: the shape
// that the parsers (engine/intake/alerts.h) produce and that per-sender
// authorization (engine/http/auth.h) filters, without either depending on
// the other.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "engine/event/event.h"

namespace hollowtrees::engine {

struct ParsedAlert {
  Labels labels;       // sorted, empty values dropped
  Labels annotations;  // sorted
  absl::Time starts_at = absl::InfinitePast();  // InfinitePast: not given
  absl::Time ends_at = absl::InfinitePast();
  std::string generator_url;
  AlertStatus status = AlertStatus::kFiring;
  uint64_t fingerprint = 0;
  // Stable across re-sends: "<fingerprint>-<startsAt unix ms>" (just the
  // fingerprint without startsAt), with "-resolved" for a resolved alert.
  std::string id;
};

// One element of a batch that was refused, and why.
struct Rejection {
  int index = 0;
  std::string error;
};

struct AlertBatch {
  std::vector<ParsedAlert> alerts;
  std::vector<Rejection> rejected;
  // For webhooks: the sender's externalURL (a fallback CloudEvent source).
  std::string external_url;
};

}  // namespace hollowtrees::engine
