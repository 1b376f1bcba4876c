#include "engine/intake/dedup.h"

#include <algorithm>
#include <random>

// Inlined: the digest is on the request path (a few ns per key).
#define XXH_INLINE_ALL
#include <xxhash.h>

namespace hollowtrees::engine {

DedupTable::DedupTable(size_t max_entries, absl::Duration window)
    : max_per_shard_(std::max<size_t>(max_entries / kShards, 16)),
      window_ns_(absl::ToInt64Nanoseconds(window)),
      seed_((static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}()) {}

DedupTable::Digest DedupTable::DigestOf(absl::string_view key) const {
  const XXH128_hash_t h = XXH3_128bits_withSeed(key.data(), key.size(), seed_);
  return Digest{h.low64, h.high64};
}

bool DedupTable::SeenOrInsert(absl::string_view key, absl::Time now) {
  const Digest d = DigestOf(key);
  const int64_t now_ns = absl::ToUnixNanos(now);
  Shard& shard = ShardFor(d);
  absl::MutexLock lock(&shard.mu);
  auto [it, inserted] = shard.entries.try_emplace(d, Entry{now_ns, shard.next_generation});
  if (!inserted) {
    // Its record stays where it is; eviction and Sweep see the newer time.
    Entry& e = it->second;
    const bool fresh = now_ns - e.seen_ns <= window_ns_;
    e.seen_ns = std::max(e.seen_ns, now_ns);
    return fresh;
  }
  shard.queue.push_back(Record{d, now_ns, shard.next_generation++});
  size_.fetch_add(1, std::memory_order_relaxed);
  if (shard.entries.size() > max_per_shard_) EvictOne(shard);
  return false;
}

DedupTable::Entry* DedupTable::Owner(Shard& shard, const Record& r) {
  auto it = shard.entries.find(r.digest);
  return it != shard.entries.end() && it->second.generation == r.generation ? &it->second : nullptr;
}

template <typename Keep>
DedupTable::Popped DedupTable::PopOldest(Shard& shard, Keep keep) {
  const Record r = shard.queue.front();
  shard.queue.pop_front();
  Entry* e = Owner(shard, r);
  if (e == nullptr) return Popped::kStale;
  if (keep(*e, r)) {
    shard.queue.push_back(Record{r.digest, e->seen_ns, r.generation});
    return Popped::kRequeued;
  }
  shard.entries.erase(r.digest);
  size_.fetch_sub(1, std::memory_order_relaxed);
  return Popped::kDropped;
}

void DedupTable::EvictOne(Shard& shard) {
  int chances = 0;
  // Seen again since it was queued: to the back, once per sighting.
  auto seen_since = [&chances](const Entry& e, const Record& r) {
    return e.seen_ns > r.queued_ns && chances < kSecondChances;
  };
  while (!shard.queue.empty()) {
    switch (PopOldest(shard, seen_since)) {
      case Popped::kStale: break;
      case Popped::kRequeued: ++chances; break;
      case Popped::kDropped: return;
    }
  }
}

void DedupTable::Forget(absl::string_view key) {
  const Digest d = DigestOf(key);
  Shard& shard = ShardFor(d);
  absl::MutexLock lock(&shard.mu);
  if (shard.entries.erase(d) > 0) size_.fetch_sub(1, std::memory_order_relaxed);
}

void DedupTable::Sweep(absl::Time now) {
  const int64_t cutoff_ns = absl::ToUnixNanos(now) - window_ns_;
  for (Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    // Records are queued in (nearly) the order of their times: stop at the
    // first one within the window.
    while (!shard.queue.empty() && shard.queue.front().queued_ns < cutoff_ns) {
      PopOldest(shard, [cutoff_ns](const Entry& e, const Record&) { return e.seen_ns >= cutoff_ns; });
    }
    // Records of entries forgotten or evicted from the back stay until they
    // reach the front; keep the queue's memory in proportion to the entries.
    if (shard.queue.size() > 2 * shard.entries.size() + 64) {
      std::deque<Record> live;
      for (const Record& r : shard.queue) {
        if (Owner(shard, r) != nullptr) live.push_back(r);
      }
      shard.queue.swap(live);
    }
  }
}

}  // namespace hollowtrees::engine
