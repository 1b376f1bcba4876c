#pragma once

// Keeping a local copy of one Kubernetes collection in sync, the way
// client-go's reflector and informer do: LIST (remembering the list's
// resourceVersion), then WATCH from that resourceVersion (`?watch=1`, a
// chunked stream of {"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR",
// "object":...} lines), applying each event. A watch that ends normally is
// resumed from the last resourceVersion seen, and so is one whose connection
// dropped (after a backoff); an expired resourceVersion (HTTP 410, or an ERROR
// event whose Status has code 410) leads to a fresh LIST at once, any other
// error (other HTTP statuses, ERROR events, undecodable lines) to a LIST after
// a backoff. Failures back off exponentially with jitter.
//
// Readers get immutable snapshots (no request per read). Added by the
// spot-config-webhook work; usable by any component.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "lib/common/backoff.h"
#include "lib/http/http_client.h"
#include "lib/kube/kube_client.h"
#include "nlohmann/json.hpp"
#include "spdlog/logger.h"

namespace hollowtrees::kube {

struct WatchEvent {
  std::string type;  // ADDED, MODIFIED, DELETED, BOOKMARK, ERROR
  nlohmann::json object;
};

// Splits a watch response body into events. The API server writes one JSON
// object per line; pieces may end anywhere. Not thread-safe.
class WatchDecoder {
 public:
  // Calls `on_event` for every complete event in `data` (and what was held
  // back from earlier calls). InvalidArgument for a line that is not a JSON
  // object with a string "type".
  absl::Status Feed(absl::string_view data, const std::function<void(WatchEvent)>& on_event);

 private:
  std::string pending_;
};

struct WatchCacheOptions {
  // The collection, e.g. ResourcePath("", "v1", "configmaps", "ns").
  std::string path;
  std::string label_selector;
  std::string field_selector;
  // Asked of the server as `timeoutSeconds`: a watch ends after this long and
  // is resumed. Default 5 min.
  absl::Duration watch_timeout = absl::Minutes(5);
  // Longest silence on a watch before it is treated as broken. Default:
  // watch_timeout + 30 s.
  absl::Duration idle_timeout = absl::ZeroDuration();
  // Backoff after a failure: doubles from min to max, with up to 50% jitter.
  absl::Duration min_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(30);
};

// Objects by "namespace/name" (or "name" for cluster-scoped ones).
using ObjectMap = std::map<std::string, nlohmann::json>;

// Thread-safe. `client` must outlive the cache. Start() runs one background
// thread; Stop() (or the destructor) ends it promptly, interrupting a watch.
class WatchCache {
 public:
  WatchCache(KubeClient& client, WatchCacheOptions options,
             std::shared_ptr<spdlog::logger> logger);
  ~WatchCache();
  WatchCache(const WatchCache&) = delete;
  WatchCache& operator=(const WatchCache&) = delete;

  // Called (on the cache's thread) after every change of the contents.
  // Set before Start().
  void SetOnChange(std::function<void(const ObjectMap&)> on_change);

  void Start();
  void Stop();

  // True once a LIST has succeeded.
  bool synced() const;
  // Waits until synced() or the timeout; returns synced().
  bool WaitForSync(absl::Duration timeout) const;

  // The current contents (empty before the first LIST). Never null.
  std::shared_ptr<const ObjectMap> Snapshot() const;
  std::optional<nlohmann::json> Get(const std::string& key) const;
  std::string resource_version() const;

  struct Stats {
    int64_t lists = 0;        // successful LISTs
    int64_t watches = 0;      // watch requests started
    int64_t events = 0;       // events applied (bookmarks included)
    int64_t expired = 0;      // 410 answers: resourceVersion too old
    int64_t errors = 0;       // failed requests and broken streams
  };
  Stats stats() const;

 private:
  void Run();
  absl::Status List();
  // OK when the watch ended normally (resume); FailedPrecondition on 410.
  absl::Status Watch();
  void Apply(const WatchEvent& event, bool& changed) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sleeps for the backoff unless stopped; false when stopped.
  bool SleepBackoff(int failures);

  KubeClient& client_;
  const WatchCacheOptions options_;
  std::shared_ptr<spdlog::logger> logger_;
  std::function<void(const ObjectMap&)> on_change_;
  Backoff backoff_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool synced_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<const ObjectMap> objects_ ABSL_GUARDED_BY(mu_);
  std::string resource_version_ ABSL_GUARDED_BY(mu_);
  Stats stats_ ABSL_GUARDED_BY(mu_);
  http::StreamCancel* cancel_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::thread thread_;
};

// "ns/name" or "name" for an object's metadata.
std::string ObjectKey(const nlohmann::json& object);

}  // namespace hollowtrees::kube
