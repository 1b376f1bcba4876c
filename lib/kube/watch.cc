#include "lib/kube/watch.h"

#include "absl/strings/str_cat.h"
#include "lib/common/logging.h"
#include "lib/common/status_macros.h"
#include "lib/common/url.h"

namespace hollowtrees::kube {

using nlohmann::json;

namespace {

// A member of the expected type, or the fallback: objects come from the API
// server, and nlohmann's value() throws for a member of another type.
std::string StringField(const json& j, const char* key) {
  if (!j.is_object()) return "";
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int IntField(const json& j, const char* key) {
  if (!j.is_object()) return 0;
  const auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer()) return 0;
  const int64_t v = it->get<int64_t>();
  return v < INT32_MIN || v > INT32_MAX ? 0 : static_cast<int>(v);
}

}  // namespace

std::string ObjectKey(const json& object) {
  if (!object.is_object() || !object.contains("metadata") || !object["metadata"].is_object()) {
    return "";
  }
  const json& md = object["metadata"];
  const std::string name = StringField(md, "name");
  const std::string ns = StringField(md, "namespace");
  return ns.empty() ? name : absl::StrCat(ns, "/", name);
}

absl::Status WatchDecoder::Feed(absl::string_view data,
                                const std::function<void(WatchEvent)>& on_event) {
  pending_.append(data.data(), data.size());
  size_t start = 0;
  absl::Status status;
  while (status.ok()) {
    const size_t nl = pending_.find('\n', start);
    if (nl == std::string::npos) break;
    absl::string_view line(pending_.data() + start, nl - start);
    start = nl + 1;
    if (line.empty() || line == "\r") continue;
    json j = json::parse(line.begin(), line.end(), nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("type") || !j["type"].is_string()) {
      status = absl::InvalidArgumentError(
          absl::StrCat("watch stream: not an event: ", line.substr(0, 200)));
      break;
    }
    WatchEvent ev;
    ev.type = j["type"].get<std::string>();
    if (j.contains("object")) ev.object = std::move(j["object"]);
    on_event(std::move(ev));
  }
  pending_.erase(0, start);
  return status;
}

WatchCache::WatchCache(KubeClient& client, WatchCacheOptions options,
                       std::shared_ptr<spdlog::logger> logger)
    : client_(client), options_(std::move(options)), logger_(std::move(logger)),
      // Added jitter: uniform in [b, 1.5 b].
      backoff_({.initial = options_.min_backoff,
                .max = options_.max_backoff,
                .jitter_min = 1.0,
                .jitter_max = 1.5}),
      objects_(std::make_shared<const ObjectMap>()) {}

WatchCache::~WatchCache() { Stop(); }

void WatchCache::SetOnChange(std::function<void(const ObjectMap&)> on_change) {
  on_change_ = std::move(on_change);
}

void WatchCache::Start() {
  thread_ = std::thread([this] { Run(); });
}

void WatchCache::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (cancel_ != nullptr) cancel_->Cancel();
  }
  if (thread_.joinable()) thread_.join();
}

bool WatchCache::synced() const {
  absl::MutexLock lock(&mu_);
  return synced_;
}

bool WatchCache::WaitForSync(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(
                           +[](const bool* s) { return *s; }, &synced_),
                       timeout);
  return synced_;
}

std::shared_ptr<const ObjectMap> WatchCache::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return objects_;
}

std::optional<json> WatchCache::Get(const std::string& key) const {
  auto snap = Snapshot();
  auto it = snap->find(key);
  if (it == snap->end()) return std::nullopt;
  return it->second;
}

std::string WatchCache::resource_version() const {
  absl::MutexLock lock(&mu_);
  return resource_version_;
}

WatchCache::Stats WatchCache::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

bool WatchCache::SleepBackoff(int failures) {
  const absl::Duration d = backoff_.Delay(failures);
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stopping_), d);
  return !stopping_;
}

absl::Status WatchCache::List() {
  ListOptions lo;
  lo.label_selector = options_.label_selector;
  lo.field_selector = options_.field_selector;
  HT_ASSIGN_OR_RETURN(json list, client_.List(options_.path, lo));
  auto fresh = std::make_shared<ObjectMap>();
  if (list.contains("items") && list["items"].is_array()) {
    for (auto& item : list["items"]) {
      const std::string key = ObjectKey(item);
      if (!key.empty()) (*fresh)[key] = std::move(item);
    }
  }
  std::string rv;
  if (list.contains("metadata") && list["metadata"].is_object()) {
    rv = StringField(list["metadata"], "resourceVersion");
  }
  std::shared_ptr<const ObjectMap> snap;
  {
    absl::MutexLock lock(&mu_);
    objects_ = fresh;
    snap = fresh;
    resource_version_ = rv;
    synced_ = true;
    ++stats_.lists;
  }
  if (on_change_) on_change_(*snap);
  return absl::OkStatus();
}

void WatchCache::Apply(const WatchEvent& event, bool& changed) {
  const json& obj = event.object;
  std::string rv;
  if (obj.is_object() && obj.contains("metadata") && obj["metadata"].is_object()) {
    rv = StringField(obj["metadata"], "resourceVersion");
  }
  ++stats_.events;
  if (event.type == "BOOKMARK") {
    if (!rv.empty()) resource_version_ = rv;
    return;
  }
  const std::string key = ObjectKey(obj);
  if (key.empty()) return;
  auto next = std::make_shared<ObjectMap>(*objects_);
  if (event.type == "DELETED") {
    next->erase(key);
  } else {
    (*next)[key] = obj;
  }
  objects_ = std::move(next);
  if (!rv.empty()) resource_version_ = rv;
  changed = true;
}

absl::Status WatchCache::Watch() {
  std::string query = absl::StrCat("?watch=1&allowWatchBookmarks=true&timeoutSeconds=",
                                   absl::ToInt64Seconds(options_.watch_timeout));
  if (!options_.label_selector.empty()) {
    absl::StrAppend(&query, "&labelSelector=", PercentEncode(options_.label_selector));
  }
  if (!options_.field_selector.empty()) {
    absl::StrAppend(&query, "&fieldSelector=", PercentEncode(options_.field_selector));
  }
  http::StreamCancel cancel;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::CancelledError("stopping");
    absl::StrAppend(&query, "&resourceVersion=", PercentEncode(resource_version_));
    cancel_ = &cancel;
    ++stats_.watches;
  }
  WatchDecoder decoder;
  absl::Status stream_error;
  const absl::Duration idle = options_.idle_timeout > absl::ZeroDuration()
                                  ? options_.idle_timeout
                                  : options_.watch_timeout + absl::Seconds(30);
  absl::Status s = client_.Stream(
      absl::StrCat(options_.path, query), idle, [&](absl::string_view data) {
        absl::Status fed = decoder.Feed(data, [&](WatchEvent ev) {
          if (!stream_error.ok()) return;
          if (ev.type == "ERROR") {
            const int code = IntField(ev.object, "code");
            const std::string msg = StringField(ev.object, "message");
            stream_error = code == 410
                               ? absl::FailedPreconditionError(absl::StrCat("watch expired: ", msg))
                               : absl::UnavailableError(absl::StrCat("watch error ", code, ": ", msg));
            return;
          }
          std::shared_ptr<const ObjectMap> snap;
          {
            absl::MutexLock lock(&mu_);
            bool changed = false;
            Apply(ev, changed);
            if (changed) snap = objects_;
          }
          if (snap && on_change_) on_change_(*snap);
        });
        if (!fed.ok() && stream_error.ok()) stream_error = fed;
        return stream_error.ok();
      },
      &cancel);
  {
    absl::MutexLock lock(&mu_);
    cancel_ = nullptr;
  }
  if (!stream_error.ok()) return stream_error;
  return s;
}

void WatchCache::Run() {
  int failures = 0;
  bool need_list = true;
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    if (need_list) {
      absl::Status s = List();
      if (!s.ok()) {
        {
          absl::MutexLock lock(&mu_);
          ++stats_.errors;
        }
        ++failures;
        logger_->warn("list {}: {}; retrying", options_.path, s);
        if (!SleepBackoff(failures)) return;
        continue;
      }
      need_list = false;
      failures = 0;
    }
    absl::Status s = Watch();
    if (s.ok()) {
      failures = 0;  // ended by the server's timeout: resume from the last version
      continue;
    }
    if (absl::IsCancelled(s)) return;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      if (absl::IsFailedPrecondition(s)) {
        ++stats_.expired;
      } else {
        ++stats_.errors;
      }
    }
    if (absl::IsFailedPrecondition(s)) {
      // 410: our resourceVersion is older than the server keeps. List again
      // at once (no backoff: this is the normal way back).
      logger_->info("watch {}: {}; listing again", options_.path, s);
      need_list = true;
      continue;
    }
    ++failures;
    if (absl::IsUnavailable(s)) {
      // A dropped connection or unreachable server: watch again from the
      // last version after a backoff (a 410 then will lead to a LIST).
      logger_->warn("watch {}: {}; watching again after backoff", options_.path, s);
    } else {
      logger_->warn("watch {}: {}; listing again after backoff", options_.path, s);
      need_list = true;
    }
    if (!SleepBackoff(failures)) return;
  }
}

}  // namespace hollowtrees::kube
