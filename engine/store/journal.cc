#include "engine/store/journal.h"

#include <sqlite3.h>

#include <cstdio>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "lib/common/logging.h"
#include "spdlog/spdlog.h"

namespace hollowtrees::engine {
namespace {

// A prepared statement, finalized on scope exit.
// A SQLite failure as a status that says what kind it is, and names the
// file. Only damage is DataLoss, and only DataLoss at open moves the journal
// aside (Journal::Open): a lock held by someone else (an operator's sqlite3
// shell, a second engine), a read-only or full file system, a missing
// directory or a permission problem leave the file exactly as it is.
absl::Status SqliteStatus(sqlite3* db, int rc, absl::string_view path, absl::string_view what) {
  const std::string detail = absl::StrCat("journal ", path, ": ", what, ": ",
                                          db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::DataLossError(detail);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(absl::StrCat(
          detail, " (another process holds a lock on it: an open sqlite3 shell, or a second "
                  "engine on the same data_dir)"));
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
    case SQLITE_AUTH:
      return absl::FailedPreconditionError(absl::StrCat(
          detail, " (the file or its directory cannot be written: read-only file system, "
                  "permissions, or a missing directory)"));
    case SQLITE_FULL:
      return absl::ResourceExhaustedError(absl::StrCat(detail, " (the file system is full)"));
    default:
      return absl::UnavailableError(detail);
  }
}

class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  bool ok() const { return rc_ == SQLITE_OK; }
  Stmt& Bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int Step() { return sqlite3_step(stmt_); }
  std::string Text(int col) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p == nullptr ? "" : std::string(p, sqlite3_column_bytes(stmt_, col));
  }
  int64_t Int(int col) { return sqlite3_column_int64(stmt_, col); }
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  absl::Status Error(absl::string_view what) const {
    return SqliteStatus(db_, sqlite3_extended_errcode(db_), sqlite3_db_filename(db_, "main"), what);
  }
  // Runs a statement that returns no rows.
  absl::Status Run(absl::string_view what) {
    if (!ok()) return Error(what);
    const int rc = Step();
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return Error(what);
    return absl::OkStatus();
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

absl::Status Exec(sqlite3* db, const char* sql) {
  if (const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr); rc != SQLITE_OK) {
    return SqliteStatus(db, sqlite3_extended_errcode(db), sqlite3_db_filename(db, "main"), sql);
  }
  return absl::OkStatus();
}

constexpr char kSchema[] = R"sql(
  -- No index on key: event keys are random, so an index would dirty a random
  -- page per event; rows are appended in seq order instead. Uniqueness comes
  -- from the intake's dedup table, and recovery tolerates a repeat.
  CREATE TABLE IF NOT EXISTS events(
    seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, body TEXT NOT NULL,
    received_ns INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS flows(
    id TEXT PRIMARY KEY, state INTEGER NOT NULL, rule TEXT NOT NULL,
    updated_ns INTEGER NOT NULL, body TEXT NOT NULL, event TEXT NOT NULL);
  CREATE INDEX IF NOT EXISTS flows_by_state ON flows(state, updated_ns);
  CREATE TABLE IF NOT EXISTS cooldowns(grp TEXT PRIMARY KEY, until_ns INTEGER NOT NULL);
)sql";

// Opens a connection to `path` (SQLITE_OPEN_* `flags`, no SQLite mutex: each
// connection is used under one lock or by one thread) and applies `pragmas`.
// On failure nothing stays open.
absl::StatusOr<sqlite3*> OpenConnection(const std::string& path, int flags,
                                        std::initializer_list<const char*> pragmas) {
  sqlite3* db = nullptr;
  if (const int rc = sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr);
      rc != SQLITE_OK) {
    absl::Status s = SqliteStatus(db, db != nullptr ? sqlite3_extended_errcode(db) : rc, path, "open");
    sqlite3_close_v2(db);
    return s;
  }
  for (const char* pragma : pragmas) {
    if (absl::Status s = Exec(db, pragma); !s.ok()) {
      sqlite3_close_v2(db);
      return s;
    }
  }
  return db;
}

bool IsFinalState(int64_t state) {
  return state == static_cast<int>(FlowState::kSucceeded) || state == static_cast<int>(FlowState::kFailed);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Journal>> Journal::Open(const JournalOptions& options,
                                                       spdlog::logger& logger) {
  std::unique_ptr<Journal> j(new Journal(options, logger));
  absl::Status s = j->OpenDb();
  if (!s.ok() && !absl::IsDataLoss(s)) {
    // Not damage (locked, read-only, full, no such directory, ...): the
    // file is left exactly as it is and the engine does not start.
    return s;
  }
  if (!s.ok()) {
    // Damage only: the file is not a database, or fails its integrity
    // check. Moved aside, never deleted; start afresh once.
    logger.error("journal {} is damaged ({}); moving it aside and starting a new one", options.path,
                 s.message());
    const std::string aside = absl::StrCat(options.path, ".corrupt-", absl::ToUnixSeconds(absl::Now()));
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm"}) {
      const std::string from = options.path + suffix;
      if (std::filesystem::exists(from, ec)) std::filesystem::rename(from, aside + suffix, ec);
    }
    j->moved_aside_ = true;
    s = j->OpenDb();
    if (!s.ok()) return s;
  }
  // The checkpointer's connection: opened here, so that a failure is
  // reported at start; used only by its thread from then on.
  auto checkpoint_db = OpenConnection(options.path, SQLITE_OPEN_READWRITE,
                                      {"PRAGMA synchronous=FULL", "PRAGMA busy_timeout=5000"});
  if (!checkpoint_db.ok()) return checkpoint_db.status();
  {
    absl::MutexLock lock(&j->db_mu_);
    sqlite3_wal_hook(j->db_, &Journal::OnWalCommit, j.get());  // replaces the automatic checkpoint
  }
  j->checkpointer_ = std::thread([raw = j.get(), db = *checkpoint_db] { raw->CheckpointLoop(db); });
  j->writer_ = std::thread([raw = j.get()] { raw->WriterLoop(); });
  return j;
}

int Journal::OnWalCommit(void* self, sqlite3* db, const char* name, int pages) {
  auto* j = static_cast<Journal*>(self);
  // SQLite's own default threshold (wal_autocheckpoint): 1000 pages (8 MB).
  constexpr int kCheckpointPages = 1000;
  // Under a flood on a slow disk the checkpointer cannot keep up, and a
  // checkpoint can only start the WAL over once it has copied every frame,
  // which it never does while commits keep coming: the WAL would grow
  // without bound (and its eventual copy stall everything). Past this size
  // the writer copies it itself, holding up commits: backpressure.
  constexpr int kWalLimitPages = 4 * kCheckpointPages;
  if (pages >= kWalLimitPages) {
    // RESTART waits (busy_timeout) for the checkpointer, copies everything
    // and makes the next commit start the WAL over.
    const int rc = sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_RESTART, nullptr, nullptr);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
      j->logger_.warn("journal checkpoint failed: {}", sqlite3_errmsg(db));
    }
  } else if (pages >= kCheckpointPages) {
    absl::MutexLock lock(&j->checkpoint_mu_);
    j->checkpoint_wanted_ = true;
  }
  return SQLITE_OK;
}

void Journal::CheckpointLoop(sqlite3* db) {
  while (true) {
    {
      absl::MutexLock lock(&checkpoint_mu_);
      checkpoint_mu_.Await(absl::Condition(
          +[](Journal* j) ABSL_EXCLUSIVE_LOCKS_REQUIRED(j->checkpoint_mu_) {
            return j->checkpoint_stopping_ || j->checkpoint_wanted_;
          },
          this));
      if (checkpoint_stopping_) break;
      checkpoint_wanted_ = false;
    }
    // PASSIVE: copies what it can without waiting for (or blocking) the
    // writer; the writer starts the WAL over once everything was copied.
    const int rc = sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
      logger_.warn("journal checkpoint failed (the WAL keeps growing until one succeeds): {}",
                   sqlite3_errmsg(db));
    }
  }
  sqlite3_close_v2(db);
}

absl::Status Journal::OpenDb() {
  absl::MutexLock lock(&db_mu_);
  if (db_ != nullptr) {
    sqlite3_close_v2(db_);
    db_ = nullptr;
  }
  // page_size and auto_vacuum must be chosen before the first table exists.
  // busy_timeout first: a lock someone else holds briefly (a checkpoint by
  // an operator's sqlite3 shell) is waited for, up to 5 s, before the open
  // fails as Unavailable.
  auto db = OpenConnection(options_.path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                           {"PRAGMA busy_timeout=5000", "PRAGMA page_size=8192",
                            "PRAGMA auto_vacuum=INCREMENTAL", "PRAGMA journal_mode=WAL",
                            "PRAGMA synchronous=FULL", "PRAGMA cache_size=-8192",
                            "PRAGMA journal_size_limit=67108864"});
  if (!db.ok()) return db.status();
  db_ = *db;
  {
    Stmt check(db_, "PRAGMA quick_check");
    if (!check.ok()) return check.Error("PRAGMA quick_check");
    const int rc = check.Step();
    if (rc != SQLITE_ROW) return check.Error("PRAGMA quick_check");
    if (check.Text(0) != "ok") {
      return absl::DataLossError(absl::StrCat("journal ", options_.path,
                                              ": integrity check failed: ", check.Text(0)));
    }
  }
  return Exec(db_, kSchema);
}

Journal::~Journal() {
  {
    absl::MutexLock lock(&checkpoint_mu_);
    checkpoint_stopping_ = true;
  }
  if (checkpointer_.joinable()) checkpointer_.join();
  {
    absl::MutexLock lock(&queue_mu_);
    stopping_ = true;
  }
  if (writer_.joinable()) writer_.join();
  absl::MutexLock lock(&db_mu_);
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

void Journal::Enqueue(Op op) {
  absl::MutexLock lock(&queue_mu_);
  pending_.push_back(std::move(op));
}

void Journal::WriterLoop() {
  while (true) {
    std::deque<Op> batch;
    {
      absl::MutexLock lock(&queue_mu_);
      queue_mu_.Await(absl::Condition(
          +[](Journal* j) ABSL_EXCLUSIVE_LOCKS_REQUIRED(j->queue_mu_) {
            return j->stopping_ || !j->pending_.empty();
          },
          this));
      if (pending_.empty()) return;  // stopping, nothing left
      batch.swap(pending_);
    }
    std::vector<absl::Status> results(batch.size());
    absl::Status commit;
    {
      absl::MutexLock lock(&db_mu_);
      commit = Exec(db_, "BEGIN IMMEDIATE");
      if (commit.ok()) {
        for (size_t i = 0; i < batch.size() && commit.ok(); ++i) {
          results[i] = batch[i].apply(db_);
          // One failure fails the batch whole: a partial commit would leave
          // a gap in the event sequence.
          if (!results[i].ok()) commit = results[i];
        }
        if (commit.ok()) commit = Exec(db_, "COMMIT");
        if (!commit.ok()) (void)Exec(db_, "ROLLBACK");
      }
    }
    if (!commit.ok()) logger_.error("journal commit failed: {}", commit.message());
    {
      absl::MutexLock lock(&health_mu_);
      write_health_ = commit;
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      if (!results[i].ok()) logger_.error("journal write failed: {}", results[i].message());
      if (batch[i].done) batch[i].done(commit.ok() ? results[i] : commit);
    }
  }
}

void Journal::Probe(absl::Time now) {
  const int64_t at = absl::ToUnixNanos(now);
  Enqueue({[at](sqlite3* db) {
             Stmt q(db, "INSERT OR REPLACE INTO meta(k, v) VALUES('probe', ?)");
             q.Bind(1, at);
             return q.Run("write probe");
           },
           nullptr});
}

absl::Status Journal::WriteHealth() const {
  absl::MutexLock lock(&health_mu_);
  return write_health_;
}

void Journal::Flush() {
  absl::Notification n;
  Enqueue({[](sqlite3*) { return absl::OkStatus(); }, [&n](const absl::Status&) { n.Notify(); }});
  n.WaitForNotification();
}

absl::Status Journal::AppendEvents(const std::vector<EventPtr>& events, std::vector<int64_t>* seqs) {
  if (seqs != nullptr) seqs->assign(events.size(), 0);
  if (events.empty()) return absl::OkStatus();
  std::vector<std::tuple<std::string, std::string, int64_t>> rows;
  rows.reserve(events.size());
  for (const EventPtr& e : events) {
    rows.emplace_back(e->DedupKey(), EventToJson(*e), absl::ToUnixNanos(e->received));
  }
  absl::Notification done;
  absl::Status result;
  std::vector<int64_t> assigned(events.size(), 0);
  Enqueue({[rows = std::move(rows), &assigned](sqlite3* db) {
             Stmt insert(db, "INSERT INTO events(key, body, received_ns) VALUES(?,?,?)");
             if (!insert.ok()) return insert.Error("prepare insert event");
             for (size_t i = 0; i < rows.size(); ++i) {
               const auto& [key, body, ns] = rows[i];
               if (absl::Status s = insert.Bind(1, key).Bind(2, body).Bind(3, ns).Run("insert event");
                   !s.ok()) {
                 return s;
               }
               assigned[i] = sqlite3_last_insert_rowid(db);
               insert.Reset();
             }
             return absl::OkStatus();
           },
           [&](const absl::Status& s) {
             result = s;
             done.Notify();
           }});
  done.WaitForNotification();
  if (result.ok() && seqs != nullptr) *seqs = std::move(assigned);
  return result;
}

void Journal::Put(const FlowRecord& record, std::function<void()> on_durable) {
  std::string id = record.id;
  std::string body = FlowStateToJson(record);
  std::string event = record.event ? EventToJson(*record.event) : "{}";
  const int64_t state = static_cast<int>(record.state);
  const int64_t updated = absl::ToUnixNanos(record.updated);
  std::string rule = record.rule;
  Enqueue({[id = std::move(id), body = std::move(body), event = std::move(event), state, updated,
            rule = std::move(rule)](sqlite3* db) {
             Stmt up(db,
                     "INSERT INTO flows(id, state, rule, updated_ns, body, event) VALUES(?,?,?,?,?,?) "
                     "ON CONFLICT(id) DO UPDATE SET state=excluded.state, rule=excluded.rule, "
                     "updated_ns=excluded.updated_ns, body=excluded.body");
             return up.Bind(1, id).Bind(2, state).Bind(3, rule).Bind(4, updated).Bind(5, body)
                 .Bind(6, event)
                 .Run("upsert flow");
           },
           [on_durable = std::move(on_durable)](const absl::Status&) {
             // A failed write is logged by the writer; the flow goes on (its
             // state is still in memory), only its durability is lost.
             if (on_durable) on_durable();
           }});
}

void Journal::EventsDispatched(const std::vector<int64_t>& seqs) {
  int64_t advanced_to = 0;
  {
    absl::MutexLock lock(&mark_mu_);
    for (int64_t seq : seqs) {
      if (seq > watermark_) dispatched_above_.insert(seq);
    }
    const int64_t before = watermark_;
    while (!dispatched_above_.empty() && *dispatched_above_.begin() == watermark_ + 1) {
      dispatched_above_.erase(dispatched_above_.begin());
      ++watermark_;
    }
    if (watermark_ != before) advanced_to = watermark_;
  }
  if (advanced_to == 0) return;
  Enqueue({[advanced_to](sqlite3* db) {
             Stmt up(db, "INSERT INTO meta(k, v) VALUES('dispatched', ?) "
                         "ON CONFLICT(k) DO UPDATE SET v=MAX(v, excluded.v)");
             return up.Bind(1, advanced_to).Run("advance dispatch watermark");
           },
           nullptr});
}

void Journal::GroupCooldown(const std::string& group, absl::Time until) {
  Enqueue({[group, ns = absl::ToUnixNanos(until)](sqlite3* db) {
             Stmt up(db, "INSERT OR REPLACE INTO cooldowns(grp, until_ns) VALUES(?,?)");
             return up.Bind(1, group).Bind(2, ns).Run("upsert cooldown");
           },
           nullptr});
}

std::vector<FlowRecord> Journal::Query(const std::string& sql, const std::vector<std::string>& args,
                                       int limit) {
  std::vector<FlowRecord> out;
  absl::MutexLock lock(&db_mu_);
  Stmt q(db_, sql.c_str());
  if (!q.ok()) {
    logger_.error("journal query failed: {}", sqlite3_errmsg(db_));
    return out;
  }
  int i = 1;
  for (const auto& a : args) q.Bind(i++, a);
  if (limit > 0) q.Bind(i, static_cast<int64_t>(limit));
  while (q.Step() == SQLITE_ROW) {
    FlowRecord r;
    if (!FlowStateFromJson(q.Text(0), &r).ok()) continue;
    auto event = EventFromJson(q.Text(1));
    if (event.ok()) r.event = *std::move(event);
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<FlowRecord> Journal::List(const FlowFilter& filter) {
  std::string sql = "SELECT body, event FROM flows WHERE 1=1";
  std::vector<std::string> args;
  if (!filter.state.empty()) {
    for (int s = 0; s <= static_cast<int>(FlowState::kFailed); ++s) {
      if (FlowStateName(static_cast<FlowState>(s)) == filter.state) {
        absl::StrAppend(&sql, " AND state=", s);
      }
    }
  }
  if (!filter.rule.empty()) {
    sql += " AND rule=?";
    args.push_back(filter.rule);
  }
  sql += " ORDER BY updated_ns DESC LIMIT ?";
  return Query(sql, args, static_cast<int>(filter.limit));
}

std::optional<FlowRecord> Journal::Get(const std::string& id) {
  auto rows = Query("SELECT body, event FROM flows WHERE id=? LIMIT ?", {id}, 1);
  if (rows.empty()) return std::nullopt;
  return rows[0];
}

absl::StatusOr<Recovery> Journal::Recover() {
  Recovery rec;
  rec.moved_aside = moved_aside_;
  absl::MutexLock lock(&db_mu_);
  int64_t watermark = 0;
  {
    Stmt q(db_, "SELECT v FROM meta WHERE k='dispatched'");
    if (!q.ok()) return q.Error("read watermark");
    if (q.Step() == SQLITE_ROW) watermark = q.Int(0);
  }
  {
    Stmt q(db_, "SELECT seq, key, body FROM events ORDER BY seq");
    if (!q.ok()) return q.Error("read events");
    while (q.Step() == SQLITE_ROW) {
      rec.seen_keys.push_back(q.Text(1));
      const int64_t seq = q.Int(0);
      if (seq <= watermark) continue;
      auto e = EventFromJson(q.Text(2));
      if (!e.ok()) {
        ++rec.skipped_rows;
        logger_.error("journal: skipping event {}: {}", q.Text(1), e.status().message());
        // Counted as dispatched, so the watermark can pass it.
        rec.undispatched.push_back(nullptr);
        rec.undispatched_seqs.push_back(seq);
        continue;
      }
      rec.undispatched.push_back(*std::move(e));
      rec.undispatched_seqs.push_back(seq);
    }
  }
  {
    absl::MutexLock mark(&mark_mu_);
    watermark_ = watermark;
    dispatched_above_.clear();
  }
  {
    Stmt q(db_, "SELECT id, state, body, event FROM flows ORDER BY rowid");
    if (!q.ok()) return q.Error("read flows");
    while (q.Step() == SQLITE_ROW) {
      if (IsFinalState(q.Int(1))) continue;
      FlowRecord r;
      absl::Status s = FlowStateFromJson(q.Text(2), &r);
      auto e = EventFromJson(q.Text(3));
      if (!s.ok() || !e.ok()) {
        ++rec.skipped_rows;
        logger_.error("journal: skipping flow {}: {}", q.Text(0),
                      !s.ok() ? s.message() : e.status().message());
        continue;
      }
      r.event = *std::move(e);
      rec.unfinished.push_back(std::move(r));
    }
  }
  {
    Stmt q(db_, "SELECT grp, until_ns FROM cooldowns");
    if (!q.ok()) return q.Error("read cooldowns");
    while (q.Step() == SQLITE_ROW) {
      rec.cooldowns.emplace_back(q.Text(0), absl::FromUnixNanos(q.Int(1)));
    }
  }
  return rec;
}

void Journal::Compact(absl::Time now) {
  const int64_t finished_before = absl::ToUnixNanos(now - options_.retention);
  const int64_t failed_before = absl::ToUnixNanos(now - options_.dead_letter_retention);
  const int64_t now_ns = absl::ToUnixNanos(now);
  Enqueue({[=](sqlite3* db) {
             Stmt a(db, "DELETE FROM events WHERE received_ns<? AND seq<=COALESCE("
                        "(SELECT v FROM meta WHERE k='dispatched'), 0)");
             if (absl::Status s = a.Bind(1, finished_before).Run("compact events"); !s.ok()) return s;
             Stmt b(db, "DELETE FROM flows WHERE state=? AND updated_ns<?");
             b.Bind(1, static_cast<int64_t>(FlowState::kSucceeded)).Bind(2, finished_before);
             if (absl::Status s = b.Run("compact flows"); !s.ok()) return s;
             Stmt c(db, "DELETE FROM flows WHERE state=? AND updated_ns<?");
             c.Bind(1, static_cast<int64_t>(FlowState::kFailed)).Bind(2, failed_before);
             if (absl::Status s = c.Run("compact dead letters"); !s.ok()) return s;
             Stmt d(db, "DELETE FROM cooldowns WHERE until_ns<?");
             if (absl::Status s = d.Bind(1, now_ns).Run("compact cooldowns"); !s.ok()) return s;
             return Exec(db, "PRAGMA incremental_vacuum");
           },
           nullptr});
}

}  // namespace hollowtrees::engine
