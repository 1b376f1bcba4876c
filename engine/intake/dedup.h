#pragma once

// The engine's memory of the events it has taken, to absorb re-sends:
// Prometheus re-sends every firing alert each minute or so, and an
// Alertmanager or CloudEvents sender retries what it is not sure arrived.

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace hollowtrees::engine {

// Remembers event keys (source and id) for `window` after they were last
// seen, at most about `max_entries` of them. Thread-safe: 64 shards, each
// with its own mutex, held for a few hash-map operations.
//
// A key is remembered by its 128-bit XXH3 digest, seeded at random per
// table, not by its text: 24 bytes an entry whatever the key's length, and
// no string compare on the request path. Two keys take each other for
// duplicates only if their digests collide: for a million remembered keys
// that is about 1 in 10^27.
//
// When a shard is over its bound, the least recently seen key goes first,
// approximately, and in constant time: the shard keeps its keys in the order
// they were queued (a FIFO); the oldest record is evicted unless its key was
// seen again since, in which case it goes to the back once more ("second
// chance", the CLOCK algorithm), for at most kSecondChances records per
// insertion.
class DedupTable {
 public:
  DedupTable(size_t max_entries, absl::Duration window);

  // True when `key` was seen within the window (and refreshes it); otherwise
  // remembers it and returns false.
  bool SeenOrInsert(absl::string_view key, absl::Time now);
  // Forgets a key (an event that was refused after all, so its re-send must
  // not be taken for a duplicate).
  void Forget(absl::string_view key);
  // Drops keys not seen within the window. Its cost is in proportion to the
  // keys it drops, not to the keys remembered.
  void Sweep(absl::Time now);
  size_t size() const { return size_.load(std::memory_order_relaxed); }

 private:
  static constexpr int kShards = 64;
  static constexpr int kSecondChances = 8;

  struct Digest {
    uint64_t low = 0;
    uint64_t high = 0;
    bool operator==(const Digest& o) const { return low == o.low && high == o.high; }
    template <typename H>
    friend H AbslHashValue(H h, const Digest& d) {
      return H::combine(std::move(h), d.low);
    }
  };
  struct Entry {
    int64_t seen_ns;      // last seen, Unix nanoseconds
    uint32_t generation;  // which queue record is this entry's own
  };
  struct Record {
    Digest digest;
    int64_t queued_ns;    // the entry's seen_ns when this record was queued
    uint32_t generation;  // a record of a forgotten entry matches no entry
  };
  struct Shard {
    absl::Mutex mu;
    absl::flat_hash_map<Digest, Entry> entries ABSL_GUARDED_BY(mu);
    // One live record per entry, oldest first; records of forgotten
    // entries are dropped when they reach the front.
    std::deque<Record> queue ABSL_GUARDED_BY(mu);
    uint32_t next_generation ABSL_GUARDED_BY(mu) = 0;
  };

  Digest DigestOf(absl::string_view key) const;
  Shard& ShardFor(const Digest& d) { return shards_[d.high % kShards]; }
  // The entry whose own record `r` is, or null (the record of a forgotten
  // or evicted entry).
  static Entry* Owner(Shard& shard, const Record& r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // Pops the shard's oldest record. Its entry goes to the back of the queue
  // with its last-seen time when `keep(entry)` holds, and is dropped
  // otherwise. Returns what happened.
  enum class Popped { kStale, kRequeued, kDropped };
  template <typename Keep>
  Popped PopOldest(Shard& shard, Keep keep) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // Removes one entry from an over-full shard (see the class comment).
  void EvictOne(Shard& shard) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  const size_t max_per_shard_;
  const int64_t window_ns_;
  const uint64_t seed_;
  std::array<Shard, kShards> shards_;
  std::atomic<size_t> size_{0};
};

}  // namespace hollowtrees::engine
