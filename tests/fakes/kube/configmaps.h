#pragma once

// ConfigMaps for the fake Kubernetes API server, with watch: the part of the
// API the spot-config-webhook reads (list + watch into a cache, then a patch
// that removes a consumed entry). Kept apart from fake_apiserver.cc, which
// hands it every request under /api/v1/**/configmaps.
//
// Like the real API server:
// - GET/POST on the collection (namespaced or across namespaces), GET, PUT,
//   PATCH (merge, strategic-merge treated as merge, JSON patch), DELETE on an
//   object; 404 / 409 AlreadyExists / 409 Conflict (stale resourceVersion) /
//   415 / 422 with `Status` bodies; labelSelector and fieldSelector
//   (metadata.name, metadata.namespace).
// - `?watch=1` (or true) streams chunked JSON lines
//   {"type":"ADDED|MODIFIED|DELETED","object":...}. resourceVersion "" or "0"
//   starts with synthetic ADDED events for what exists; a specific version
//   replays the changes after it. A version older than the retained history
//   (see Compact) gets an ERROR event whose object is a Status with code 410,
//   reason Expired ("too old resource version"), and the stream ends, as the
//   API server's watch cache answers. `timeoutSeconds` ends the stream.
//   Bookmarks are not sent.
//
// Thread-safe.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace hollowtrees::testing {

class FakeConfigMaps {
 public:
  FakeConfigMaps() = default;

  // True for /api/v1/configmaps and /api/v1/namespaces/<ns>/configmaps[/<name>].
  static bool Handles(const std::string& path);
  // Serves an (already authenticated) request.
  void Serve(const httplib::Request& req, httplib::Response& res);

  // State for tests. Set creates or replaces `data` (a string->string object).
  void Set(const std::string& ns, const std::string& name, const nlohmann::json& data);
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
  struct Reply {
    int code = 200;
    nlohmann::json body;
  };

  Reply Route(const httplib::Request& req, const std::string& ns, const std::string& name);
  void ServeWatch(const httplib::Request& req, httplib::Response& res, const std::string& ns);
  // Stores `obj` under a new resourceVersion and records the event.
  nlohmann::json Commit(const std::string& type, nlohmann::json obj)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

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
