#pragma once

// Leases (coordination.k8s.io/v1): what leader election reads and writes.
//
// A Lease's spec is a LeaseRecord; LeaseApi is the little the elector needs
// of the API server (get, create, update with optimistic concurrency), behind
// an interface so that unit tests use an in-memory one. NewKubeLeaseApi is
// the real one, over a KubeClient.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lib/kube/kube_client.h"
#include "nlohmann/json.hpp"

namespace hollowtrees::kube {

// The spec of a coordination.k8s.io/v1 Lease, and the version it was read at.
struct LeaseRecord {
  std::string holder_identity;         // "" = nobody holds it
  int32_t lease_duration_seconds = 0;  // 0 = unset
  // MicroTime on the wire: RFC 3339 in UTC with six fractional digits,
  // e.g. 2026-12-07T01:02:03.123456Z. InfinitePast = unset.
  absl::Time acquire_time = absl::InfinitePast();
  absl::Time renew_time = absl::InfinitePast();
  int32_t lease_transitions = 0;
  // metadata.resourceVersion as read or written ("" before the first read).
  std::string resource_version;

  // Same spec (resource_version aside): what client-go compares to decide
  // whether the holder has renewed since it last looked.
  bool SameSpec(const LeaseRecord& other) const;
};

// The Lease API for one Lease. Implementations are thread-safe. Every call
// honours the calling thread's ScopedDeadline (lib/common/deadline.h).
class LeaseApi {
 public:
  virtual ~LeaseApi() = default;
  // The current record; NotFound when the Lease does not exist.
  virtual absl::StatusOr<LeaseRecord> Get() = 0;
  // Creates the Lease with this spec (resource_version is ignored); the
  // stored record. AlreadyExists when another created it first.
  virtual absl::StatusOr<LeaseRecord> Create(const LeaseRecord& record) = 0;
  // Replaces the spec if the Lease is still at record.resource_version; the
  // stored record (with its new version). Aborted (409 Conflict) when the
  // version is stale, NotFound when the Lease is gone.
  virtual absl::StatusOr<LeaseRecord> Update(const LeaseRecord& record) = 0;
  // "namespace/name", for logs and errors.
  virtual std::string Describe() const = 0;
};

// The Lease `name` in namespace `ns` over `client` (which must outlive the
// result). Update PUTs the object last read or written with the new spec, so
// labels, annotations and other fields someone else set are kept. Errors are
// the client's (kube_error.h: Aborted for a Conflict, AlreadyExists, NotFound,
// Unavailable...), or InvalidArgument when the answer is not a Lease.
std::unique_ptr<LeaseApi> NewKubeLeaseApi(KubeClient& client, std::string ns, std::string name);

// JSON <-> LeaseRecord (exposed for tests and fuzzing).
//
// The record of a Lease object: its spec and metadata.resourceVersion. Absent
// and null fields are unset. InvalidArgument naming the field
// ("spec.renewTime: ...") when a field has the wrong JSON type, an integer is
// out of int32 range, or a time is not RFC 3339.
absl::StatusOr<LeaseRecord> LeaseRecordFromJson(const nlohmann::json& lease);
// The `spec` object for a record, as client-go writes it: holderIdentity and
// leaseTransitions always, leaseDurationSeconds when set (the API server
// refuses 0), times when set, as MicroTime (truncated to microseconds).
nlohmann::json LeaseSpecToJson(const LeaseRecord& record);
// A time as MicroTime text ("2026-12-07T01:02:03.123456Z").
std::string FormatMicroTime(absl::Time t);

}  // namespace hollowtrees::kube
