#pragma once

// The engine's durable state: an embedded SQLite database in WAL mode under
// data_dir. Every accepted event is committed before the sender gets its
// acknowledgement, and every flow state change before the dispatcher acts on
// it. On start the engine replays it (Recover): events accepted but not yet
// dispatched, flows that were running (they resume at the plugin they were
// on), cooldowns, and the ids to keep absorbing re-sends.
//
// Why SQLite: WAL frames are checksummed, so a torn tail is discarded by
// SQLite itself; commits are atomic, so a batch is one transaction; failed
// flows (dead letters) can be queried; compaction is a DELETE plus an
// incremental vacuum. Only damage moves a database aside: one that is not a
// database or fails its integrity check at open is renamed
// (<file>.corrupt-<unix time>) and a fresh one started, with an error
// logged: never a crash. Any other failure to open (a lock held elsewhere,
// after a 5 s busy wait; read-only, full or missing file system) is an error
// naming the file and the cause, and the file is left as it is. Rows that do
// not decode are skipped and logged.
//
// Writes go through one writer thread that commits everything pending in
// one transaction (group commit), so concurrent requests share an fsync.
// WAL checkpoints (copying the WAL into the database file, with its own
// fsyncs) run on another thread with its own connection, so they never hold
// up a commit: SQLite's automatic checkpoint would run inside the commit that
// crosses the threshold and stall every acknowledgement waiting on it.
// Thread-safe.

#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/event/event.h"
#include "engine/store/event_log.h"
#include "engine/store/flow_store.h"
#include "engine/store/recovery.h"

struct sqlite3;
namespace spdlog {
class logger;
}

namespace hollowtrees::engine {

struct JournalOptions {
  // The database file (data_dir/journal.db).
  std::string path;
  // Finished flows and dispatched events older than this are compacted
  // away. Default 6h (the dedup window).
  absl::Duration retention = absl::Hours(6);
  // Failed flows (dead letters) are kept this long. Default 7 days.
  absl::Duration dead_letter_retention = absl::Hours(24 * 7);
};

class Journal : public FlowStore, public EventLog {
 public:
  // Opens (creating) the database; a damaged one is moved aside. Errors:
  // Unavailable (locked by another process), FailedPrecondition (cannot be
  // written or created), ResourceExhausted (file system full).
  static absl::StatusOr<std::unique_ptr<Journal>> Open(const JournalOptions& options,
                                                       spdlog::logger& logger);
  ~Journal() override;  // commits what is pending, then closes

  // Reads what a restart must resume. Call once, before other use.
  absl::StatusOr<Recovery> Recover();

  // Commits the events; returns when they are durable. Unavailable on a
  // write error (the caller must not acknowledge them). `seqs`, when given,
  // receives each event's sequence number, to pass to EventsDispatched once
  // it is dispatched.
  absl::Status AppendEvents(const std::vector<EventPtr>& events,
                            std::vector<int64_t>* seqs = nullptr) override;

  // FlowStore.
  using FlowStore::Put;
  void Put(const FlowRecord& record, std::function<void()> on_durable) override;
  // Sequence numbers are contiguous (AUTOINCREMENT, and a failed batch
  // rolls back whole), so a watermark "everything up to W is dispatched"
  // replaces a write per event: one small write per batch.
  void EventsDispatched(const std::vector<int64_t>& seqs) override;
  void GroupCooldown(const std::string& group, absl::Time until) override;
  std::vector<FlowRecord> List(const FlowFilter& filter) override;
  std::optional<FlowRecord> Get(const std::string& id) override;

  // Deletes what is past retention and returns free pages to the file
  // system. Safe to call any time (runs on the writer thread).
  void Compact(absl::Time now);

  // Blocks until everything enqueued so far is committed.
  void Flush();

  // Writes one small row (without waiting), so that WriteHealth() speaks of
  // the file as it is now even when nothing else is being written.
  void Probe(absl::Time now);
  // The outcome of the last commit: OK, or why the journal cannot be written
  // (locked, read-only, full, ...). OK before the first commit. Thread-safe.
  absl::Status WriteHealth() const;

  bool moved_aside() const { return moved_aside_; }

 private:
  struct Op {
    std::function<absl::Status(sqlite3*)> apply;
    std::function<void(const absl::Status&)> done;
  };
  Journal(JournalOptions options, spdlog::logger& logger) : options_(std::move(options)), logger_(logger) {}
  absl::Status OpenDb();
  void Enqueue(Op op);
  void WriterLoop();
  // Called by SQLite after each commit on the writer's connection, with the
  // WAL's size in pages: asks the checkpointer to run past a threshold.
  static int OnWalCommit(void* self, sqlite3* db, const char* name, int pages);
  void CheckpointLoop(sqlite3* db);
  std::vector<FlowRecord> Query(const std::string& sql, const std::vector<std::string>& args,
                                int limit);

  const JournalOptions options_;
  spdlog::logger& logger_;
  bool moved_aside_ = false;

  absl::Mutex db_mu_;  // the connection: writer transactions and reads
  sqlite3* db_ ABSL_GUARDED_BY(db_mu_) = nullptr;

  absl::Mutex mark_mu_;
  int64_t watermark_ ABSL_GUARDED_BY(mark_mu_) = 0;
  std::set<int64_t> dispatched_above_ ABSL_GUARDED_BY(mark_mu_);

  absl::Mutex queue_mu_;
  std::deque<Op> pending_ ABSL_GUARDED_BY(queue_mu_);
  bool stopping_ ABSL_GUARDED_BY(queue_mu_) = false;
  std::thread writer_;

  mutable absl::Mutex health_mu_;
  absl::Status write_health_ ABSL_GUARDED_BY(health_mu_);

  absl::Mutex checkpoint_mu_;
  bool checkpoint_wanted_ ABSL_GUARDED_BY(checkpoint_mu_) = false;
  bool checkpoint_stopping_ ABSL_GUARDED_BY(checkpoint_mu_) = false;
  std::thread checkpointer_;
};

}  // namespace hollowtrees::engine
