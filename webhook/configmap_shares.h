#pragma once

// The ShareSource of production: the spot deploy ConfigMap
// (`<namespace>/<name>`, keys `<release>.<kind>.<name>`, values percentages),
// watched and cached with kube::WatchCache (list + watch, resumed from the
// last resourceVersion, listed again after 410 or errors, with backoff), so
// no request is made per admission.
//
// Consumed entries are removed from the ConfigMap, as the original webhook
// did, unless `remove_consumed` is off. Removal runs on a background thread,
// off the admission path, as a JSON patch that first tests the value is still
// the one applied (so an entry rewritten meanwhile is left alone) and then
// removes the key. The cache then learns of the removal from the watch.

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "lib/kube/kube_client.h"
#include "lib/kube/watch.h"
#include "spdlog/logger.h"
#include "webhook/admission.h"

namespace hollowtrees::webhook {

struct ConfigMapSharesOptions {
  std::string ns = "pipeline-system";
  std::string name = "spot-deploy-config";
  // Remove an entry once it has been applied (the original's behaviour).
  bool remove_consumed = true;
  // Watch tuning (timeouts, backoff); path and selector are set from ns/name.
  kube::WatchCacheOptions watch;
  // Removals waiting beyond this are dropped (logged). Default 1000.
  size_t max_pending_removals = 1000;
  // Tries per removal when the API fails transiently, and the first pause
  // (doubling). Default 4 tries from 250 ms.
  int removal_attempts = 4;
  absl::Duration removal_backoff = absl::Milliseconds(250);
};

// Thread-safe. `client` must outlive it.
class ConfigMapShares : public ShareSource {
 public:
  ConfigMapShares(kube::KubeClient& client, ConfigMapSharesOptions options,
                  std::shared_ptr<spdlog::logger> logger);
  ~ConfigMapShares() override;

  // Starts the watch and the removal thread.
  void Start();
  void Stop();
  bool WaitForSync(absl::Duration timeout) const { return cache_.WaitForSync(timeout); }
  bool synced() const { return cache_.synced(); }

  absl::StatusOr<std::optional<std::string>> Lookup(const std::string& key) override;
  void Consumed(const std::string& key, const std::string& value) override;

  struct Stats {
    int64_t removed = 0;
    int64_t removal_skipped = 0;  // entry gone or changed meanwhile
    int64_t removal_failed = 0;
  };
  Stats stats() const;
  // Removals queued and not yet done.
  size_t pending_removals() const;
  const kube::WatchCache& cache() const { return cache_; }

 private:
  void RemoveLoop();

  kube::KubeClient& client_;
  const ConfigMapSharesOptions options_;
  std::shared_ptr<spdlog::logger> logger_;
  kube::WatchCache cache_;
  mutable absl::Mutex mu_;
  std::deque<std::pair<std::string, std::string>> queue_ ABSL_GUARDED_BY(mu_);
  bool busy_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  Stats stats_ ABSL_GUARDED_BY(mu_);
  std::thread remover_;
};

}  // namespace hollowtrees::webhook
