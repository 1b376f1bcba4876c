#pragma once

// Leases (coordination.k8s.io/v1) for the fake Kubernetes API server: what
// leader election reads and writes. A FakeObjectStore (object_store.h:
// verbs, resourceVersion conflicts, watch) with the Lease's checks, as the
// real API server makes them:
// - decoding (400, `Lease in version "v1" cannot be handled as a Lease:
//   ...`): spec an object; holderIdentity, strategy, preferredHolder
//   strings; leaseDurationSeconds and leaseTransitions int32 integers;
//   acquireTime and renewTime MicroTime strings, exactly
//   2006-01-02T15:04:05.000000Z07:00 (six fractional digits, as Go's
//   time.Parse with metav1.RFC3339Micro demands). The wording of a bad
//   time's message is shorter than Go's.
// - validation (422, ValidateLeaseSpec): leaseDurationSeconds > 0 when set,
//   leaseTransitions >= 0, strategy a known one or qualified, preferredHolder
//   only with strategy. E.g. `Lease.coordination.k8s.io "x" is invalid:
//   spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0`.
// - the lease strategy: a PUT to a missing Lease creates it; a PUT needs a
//   resourceVersion (422 `leases.coordination.k8s.io "x" is invalid:
//   metadata.resourceVersion: Invalid value: 0: must be specified for an
//   update`).
//
// Thread-safe.

#include "tests/fakes/kube/object_store.h"

namespace hollowtrees::testing {

class FakeLeases : public FakeObjectStore {
 public:
  FakeLeases();
};

}  // namespace hollowtrees::testing
