#pragma once

// One namespaced resource of the fake Kubernetes API server (ConfigMaps,
// Leases), with the real server's semantics and watch. fake_apiserver.cc
// hands it every request under its paths:
//   /api/v1/<plural>, /api/v1/namespaces/<ns>/<plural>[/<name>] (core), or
//   /apis/<group>/<version>/[namespaces/<ns>/]<plural>[/<name>].
//
// Like the real API server:
// - GET/POST on the collection (namespaced or across namespaces), GET, PUT,
//   PATCH (merge, strategic-merge treated as merge, JSON patch), DELETE on an
//   object; labelSelector and fieldSelector (metadata.name,
//   metadata.namespace) on lists.
// - Errors with `Status` bodies and the real messages and details:
//   404 NotFound, 409 AlreadyExists on a second create, 409 Conflict on a
//   stale metadata.resourceVersion in PUT or PATCH ("Operation cannot be
//   fulfilled on leases.coordination.k8s.io \"x\": the object has been
//   modified; ..."), 400 for bodies the type cannot decode (the resource's
//   `decode` check), 415 for other content types, 422 Invalid with one cause
//   per field error (metadata.name required, the resource's `validate`).
//   The order is the real one: decode, then (PUT, PATCH) conflict, then
//   validation; on create, validation before AlreadyExists.
// - PUT without a resourceVersion and PUT to a missing object as the
//   resource's strategy says (ResourceType below).
// - `?watch=1` (or true) streams chunked JSON lines
//   {"type":"ADDED|MODIFIED|DELETED","object":...}. resourceVersion "" or "0"
//   starts with synthetic ADDED events for what exists; a specific version
//   replays the changes after it. A version older than the retained history
//   (see Compact) gets an ERROR event whose object is a Status with code 410,
//   reason Expired ("too old resource version"), and the stream ends, as the
//   API server's watch cache answers. `timeoutSeconds` ends the stream.
//   Bookmarks are not sent.
// Deviations: the namespace need not exist; names are not checked against
// DNS rules; no generateName, no dry run, no Table output (kubectl prints
// its own columns).
//
// Thread-safe.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace hollowtrees::testing {

// An answer: HTTP status and JSON body.
struct FakeReply {
  int code = 200;
  nlohmann::json body;
};

// One error of a 422 Invalid answer, as the API server's field.Error.
struct FieldError {
  std::string type;    // the cause's reason: "FieldValueInvalid", "FieldValueTooLong", ...
  std::string field;   // "spec.leaseDurationSeconds"; "[]" for the whole object
  std::string detail;  // "Invalid value: 0: must be greater than 0"
};

// What a store serves.
struct ResourceType {
  std::string group;     // "" for the core group
  std::string version;   // "v1"
  std::string kind;      // "Lease"
  std::string plural;    // "leases"
  std::string singular;  // "lease"
  std::vector<std::string> short_names;
  // The registry strategy's AllowCreateOnUpdate: a PUT to a missing object
  // creates it (201) instead of 404. Leases: true; ConfigMaps: false.
  bool allow_create_on_update = false;
  // AllowUnconditionalUpdate: a PUT without metadata.resourceVersion
  // replaces whatever is there; otherwise it is 422 ("metadata.resourceVersion:
  // Invalid value: 0: must be specified for an update"). ConfigMaps: true;
  // Leases: false.
  bool allow_unconditional_update = true;
  // Optional checks of an object about to be stored (created, replaced or
  // patched): nullopt to accept, else the answer. `decode` stands for the
  // real server's decoding (wrong JSON types: 400, see DecodeError),
  // `validate` for its validation (422, see Invalid).
  std::function<std::optional<FakeReply>(const nlohmann::json& obj)> decode;
  std::function<std::optional<FakeReply>(const nlohmann::json& obj)> validate;

  std::string ApiVersion() const;         // "v1", "coordination.k8s.io/v1"
  std::string QualifiedResource() const;  // "configmaps", "leases.coordination.k8s.io"
  std::string QualifiedKind() const;      // "ConfigMap", "Lease.coordination.k8s.io"
};

// A Kubernetes `Status` failure body.
nlohmann::json StatusBody(int code, absl::string_view reason, absl::string_view message,
                          nlohmann::json details = nullptr);
// 400: `<Kind> in version "<v>" cannot be handled as a <Kind>: <detail>`,
// what the API server answers for a body it cannot decode.
FakeReply DecodeError(const ResourceType& type, absl::string_view detail);
// 415 for a PATCH whose content type is none of the patch types.
FakeReply UnsupportedPatchType(absl::string_view content_type);
// How Go's encoding/json names a JSON value's kind: "string", "number",
// "bool", "array", "object", "null".
const char* GoJsonKind(const nlohmann::json& value);
// Go's encoding/json error for a value of the wrong type, the detail of a
// DecodeError: "json: cannot unmarshal string into Go struct field
// LeaseSpec.spec.leaseDurationSeconds of type int32". `field` is Go's
// "<Struct>.<json path>"; a number that does not fit an integer type is
// quoted ("number 1.5").
std::string GoUnmarshalTypeError(const nlohmann::json& value, absl::string_view field,
                                 absl::string_view go_type);
// 422 Invalid: `<qualified kind> "<name>" is invalid: <errors>` (one error
// as is, several as "[a, b]"), with a cause per error.
FakeReply Invalid(const ResourceType& type, absl::string_view name,
                  const std::vector<FieldError>& errors);

class FakeObjectStore {
 public:
  explicit FakeObjectStore(ResourceType type);
  virtual ~FakeObjectStore() = default;

  const ResourceType& type() const { return type_; }
  // True for the collection and object paths of this resource.
  bool Handles(const std::string& path) const;
  // Serves an (already authenticated) request.
  void Serve(const httplib::Request& req, httplib::Response& res);
  // The APIResource entry for discovery (/api/v1, /apis/<group>/<version>).
  nlohmann::json DiscoveryEntry() const;

  // State for tests, unchecked. Modify creates the object ({"metadata":
  // {"name", "namespace"}}) when missing, lets `change` edit it, and stores
  // it as a write would (new resourceVersion, uid and creationTimestamp
  // kept or filled in, a watch event); returns what is stored.
  nlohmann::json Modify(const std::string& ns, const std::string& name,
                        const std::function<void(nlohmann::json&)>& change);
  std::optional<nlohmann::json> Get(const std::string& ns, const std::string& name);
  void Delete(const std::string& ns, const std::string& name);
  // Forgets the change history: watches from any version before now get 410.
  void Compact();
  // Ends every open watch stream (as a dropped connection would).
  void EndWatches();
  // The next `n` writes (POST, PUT, PATCH, DELETE) answer `code` (500, 503,
  // 429...) with a Status body and change nothing.
  void FailNextWrites(int n, int code);
  // Watch streams open right now, and watch requests served in total.
  int open_watches();
  int64_t watch_requests();
  // Ends every stream promptly; called when the server stops.
  void Shutdown();

 private:
  struct Event {
    int64_t rv;
    std::string type;
    nlohmann::json object;
  };

  FakeReply Route(const httplib::Request& req, const std::string& ns, const std::string& name);
  FakeReply Create(const httplib::Request& req, const std::string& ns)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  FakeReply Replace(const httplib::Request& req, const std::string& ns, const std::string& name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Stores a new object (server-set metadata dropped): 201.
  FakeReply Insert(nlohmann::json obj) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::optional<FakeReply> Check(
      const nlohmann::json& obj,
      const std::function<std::optional<FakeReply>(const nlohmann::json&)>& check);
  void ServeWatch(const httplib::Request& req, httplib::Response& res, const std::string& ns);
  // Stores `obj` under a new resourceVersion and records the event.
  nlohmann::json Commit(const std::string& type, nlohmann::json obj)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  FakeReply NotFound(const std::string& name) const;
  FakeReply Conflict(const std::string& name) const;
  // Where a path's namespace and name are: index of "namespaces" in it.
  size_t prefix_size() const { return type_.group.empty() ? 2 : 3; }

  const ResourceType type_;
  absl::Mutex mu_;
  std::map<std::string, nlohmann::json> objects_ ABSL_GUARDED_BY(mu_);  // "ns/name"
  std::vector<Event> history_ ABSL_GUARDED_BY(mu_);
  int64_t rv_ ABSL_GUARDED_BY(mu_) = 5000;
  int64_t compacted_rv_ ABSL_GUARDED_BY(mu_) = 0;  // versions below this are gone
  int64_t uid_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t end_generation_ ABSL_GUARDED_BY(mu_) = 0;  // bumped by EndWatches
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  int open_watches_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t watch_requests_ ABSL_GUARDED_BY(mu_) = 0;
  int fail_writes_ ABSL_GUARDED_BY(mu_) = 0;
  int fail_code_ ABSL_GUARDED_BY(mu_) = 500;
};

}  // namespace hollowtrees::testing
