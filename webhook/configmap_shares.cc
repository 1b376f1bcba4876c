#include "webhook/configmap_shares.h"

#include "absl/strings/str_cat.h"
#include "lib/common/logging.h"
#include "lib/kube/kube_error.h"

namespace hollowtrees::webhook {

using nlohmann::json;

namespace {
kube::WatchCacheOptions WatchOptions(const ConfigMapSharesOptions& o) {
  kube::WatchCacheOptions w = o.watch;
  w.path = kube::ResourcePath("", "v1", "configmaps", o.ns);
  w.field_selector = absl::StrCat("metadata.name=", o.name);
  return w;
}
}  // namespace

ConfigMapShares::ConfigMapShares(kube::KubeClient& client, ConfigMapSharesOptions options,
                                 std::shared_ptr<spdlog::logger> logger)
    : client_(client), options_(std::move(options)), logger_(logger),
      cache_(client, WatchOptions(options_), logger) {}

ConfigMapShares::~ConfigMapShares() { Stop(); }

void ConfigMapShares::Start() {
  cache_.Start();
  remover_ = std::thread([this] { RemoveLoop(); });
}

void ConfigMapShares::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  cache_.Stop();
  if (remover_.joinable()) remover_.join();
}

absl::StatusOr<std::optional<std::string>> ConfigMapShares::Lookup(const std::string& key) {
  if (!cache_.synced()) {
    return absl::UnavailableError(absl::StrCat("ConfigMap ", options_.ns, "/", options_.name,
                                               " not read yet"));
  }
  auto cm = cache_.Get(absl::StrCat(options_.ns, "/", options_.name));
  if (!cm.has_value()) return std::optional<std::string>();
  if (!cm->contains("data") || !(*cm)["data"].is_object()) return std::optional<std::string>();
  const json& data = (*cm)["data"];
  auto it = data.find(key);
  if (it == data.end() || !it->is_string()) return std::optional<std::string>();
  return std::optional<std::string>(it->get<std::string>());
}

void ConfigMapShares::Consumed(const std::string& key, const std::string& value) {
  if (!options_.remove_consumed) return;
  absl::MutexLock lock(&mu_);
  if (queue_.size() >= options_.max_pending_removals) {
    ++stats_.removal_failed;
    logger_->warn("entry {}: removal queue full; left in the ConfigMap", key);
    return;
  }
  queue_.emplace_back(key, value);
}

ConfigMapShares::Stats ConfigMapShares::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

size_t ConfigMapShares::pending_removals() const {
  absl::MutexLock lock(&mu_);
  return queue_.size() + (busy_ ? 1 : 0);
}

void ConfigMapShares::RemoveLoop() {
  const std::string path = kube::ResourcePath("", "v1", "configmaps", options_.ns, options_.name);
  for (;;) {
    std::pair<std::string, std::string> item;
    {
      absl::MutexLock lock(&mu_);
      busy_ = false;
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !queue_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (stopping_) return;
      item = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    const std::string pointer = absl::StrCat("/data/", EscapeJsonPointer(item.first));
    json patch = json::array({{{"op", "test"}, {"path", pointer}, {"value", item.second}},
                              {{"op", "remove"}, {"path", pointer}}});
    auto r = client_.Patch(path, patch, kube::PatchType::kJson);
    // Transient failures (API unreachable, throttled, 5xx) are tried again a
    // few times with a growing pause; Stop() cuts the pauses short.
    for (int attempt = 1; attempt < options_.removal_attempts && !r.ok() &&
                          (absl::IsUnavailable(r.status()) || absl::IsResourceExhausted(r.status()) ||
                           absl::IsInternal(r.status()) || absl::IsDeadlineExceeded(r.status()));
         ++attempt) {
      {
        absl::MutexLock lock(&mu_);
        mu_.AwaitWithTimeout(absl::Condition(&stopping_),
                             options_.removal_backoff * (1 << (attempt - 1)));
        if (stopping_) return;
      }
      r = client_.Patch(path, patch, kube::PatchType::kJson);
    }
    absl::MutexLock lock(&mu_);
    if (r.ok()) {
      ++stats_.removed;
      logger_->info("entry {} removed from ConfigMap {}/{}", item.first, options_.ns,
                    options_.name);
    } else if (absl::IsInvalidArgument(r.status()) || absl::IsNotFound(r.status())) {
      // 422 (the test failed: the entry changed or is gone) or the ConfigMap is gone.
      ++stats_.removal_skipped;
      logger_->info("entry {}: not removed ({}): changed or gone meanwhile", item.first,
                    r.status());
    } else {
      ++stats_.removal_failed;
      logger_->warn("entry {}: removal from ConfigMap failed: {}", item.first, r.status());
    }
  }
}

}  // namespace hollowtrees::webhook
