#include "engine/store/journal.h"

#include <sys/resource.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "engine/intake/alerts.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spdlog/sinks/null_sink.h"
#include "spdlog/spdlog.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace hollowtrees::engine {
namespace {

using ::hollowtrees::testing::IsOk;
using ::testing::ElementsAre;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

const absl::Time kNow = absl::FromUnixSeconds(1704067200);

EventPtr MakeEvent(const std::string& instance) {
  auto batch = ParsePrometheusAlerts(
      absl::StrCat(R"([{"labels":{"alertname":"X","instance_id":")", instance,
                   R"("},"annotations":{"a":"b"},"startsAt":"2024-01-01T00:00:00Z","generatorURL":"http://p/g"}])"),
      kNow);
  return AlertToEvent(std::move(batch->alerts[0]), IntakeSource::kPrometheus, "s", kNow);
}

FlowRecord MakeFlow(const std::string& id, const EventPtr& e, FlowState state, size_t step,
                    int attempts) {
  FlowRecord r;
  r.id = id;
  r.rule = "drain";
  r.group_key = "g-" + id;
  r.event = e;
  r.state = state;
  r.step = step;
  r.steps = {{"k8s", StepState::kDone, 1, "drained"}, {"asg", StepState::kRunning, attempts, ""}};
  r.created = kNow;
  r.updated = kNow + absl::Seconds(1);
  return r;
}

class JournalTest : public ::testing::Test {
 protected:
  JournalTest()
      : logger_("test", std::make_shared<spdlog::sinks::null_sink_mt>()),
        path_(hollowtrees::testing::MakeTempDir("ht-journal") + "/journal.db") {}

  std::unique_ptr<Journal> Open() {
    auto j = Journal::Open({.path = path_}, logger_);
    EXPECT_THAT(j, IsOk());
    return j.ok() ? *std::move(j) : nullptr;
  }

  spdlog::logger logger_;
  std::string path_;
};

TEST_F(JournalTest, RecoversWhatARestartMustResume) {
  EventPtr a = MakeEvent("i-a"), b = MakeEvent("i-b"), c = MakeEvent("i-c");
  {
    auto j = Open();
    std::vector<int64_t> seqs;
    ASSERT_THAT(j->AppendEvents({a, b, c}, &seqs), IsOk());
    ASSERT_EQ(seqs.size(), 3u);
    // b is dispatched before a (two requests racing): the watermark waits
    // for a, then covers both; c stays undispatched.
    j->EventsDispatched({seqs[1]});
    j->EventsDispatched({seqs[0]});
    j->Put(MakeFlow("f1", a, FlowState::kRunning, 1, 2));
    j->Put(MakeFlow("f2", b, FlowState::kSucceeded, 1, 1));
    j->GroupCooldown("drain\0g-f2", kNow + absl::Minutes(5));
    j->Flush();
  }
  auto j = Open();
  ASSERT_OK_AND_ASSIGN(Recovery r, j->Recover());
  EXPECT_FALSE(r.moved_aside);
  EXPECT_EQ(r.skipped_rows, 0);
  EXPECT_THAT(r.seen_keys, UnorderedElementsAre(a->DedupKey(), b->DedupKey(), c->DedupKey()));
  ASSERT_EQ(r.undispatched.size(), 1u);
  EXPECT_EQ(r.undispatched[0]->id, c->id);
  EXPECT_EQ(r.undispatched_seqs.size(), 1u);
  EXPECT_EQ(r.undispatched[0]->Data(), c->Data()) << "the event comes back whole";
  EXPECT_EQ(r.undispatched[0]->labels, c->labels);
  EXPECT_EQ(r.undispatched[0]->time, c->time);
  ASSERT_EQ(r.unfinished.size(), 1u);
  const FlowRecord& f = r.unfinished[0];
  EXPECT_EQ(f.id, "f1");
  EXPECT_EQ(f.step, 1u);
  EXPECT_EQ(f.steps[1].attempts, 2);
  EXPECT_EQ(f.steps[0].message, "drained");
  EXPECT_EQ(f.event->id, a->id);
  EXPECT_THAT(r.cooldowns, ElementsAre(Pair("drain\0g-f2", kNow + absl::Minutes(5))));
}

TEST_F(JournalTest, PutIsDurableBeforeItsCallbackAndListsAndGets) {
  auto j = Open();
  EventPtr a = MakeEvent("i-a");
  absl::Notification durable;
  j->Put(MakeFlow("f1", a, FlowState::kFailed, 1, 4), [&] { durable.Notify(); });
  ASSERT_TRUE(durable.WaitForNotificationWithTimeout(absl::Seconds(5)));
  // Visible to a second connection (another process) once durable.
  auto other = Journal::Open({.path = path_}, logger_);
  ASSERT_THAT(other, IsOk());
  auto got = (*other)->Get("f1");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->state, FlowState::kFailed);
  EXPECT_EQ(got->event->id, a->id);
  j->Put(MakeFlow("f2", a, FlowState::kSucceeded, 1, 1));
  j->Flush();
  EXPECT_EQ(j->List({.state = "failed"}).size(), 1u);
  EXPECT_EQ(j->List({}).size(), 2u);
  EXPECT_EQ(j->List({.rule = "other"}).size(), 0u);
  EXPECT_FALSE(j->Get("nope").has_value());
}

TEST_F(JournalTest, CompactionDropsWhatIsPastRetention) {
  auto j = Journal::Open({.path = path_, .retention = absl::Hours(1),
                          .dead_letter_retention = absl::Hours(24)},
                         logger_);
  ASSERT_THAT(j, IsOk());
  EventPtr a = MakeEvent("i-a");
  std::vector<int64_t> seqs;
  ASSERT_THAT((*j)->AppendEvents({a}, &seqs), IsOk());
  (*j)->EventsDispatched(seqs);
  (*j)->Put(MakeFlow("ok", a, FlowState::kSucceeded, 1, 1));
  (*j)->Put(MakeFlow("dead", a, FlowState::kFailed, 1, 1));
  (*j)->Put(MakeFlow("live", a, FlowState::kRunning, 1, 1));
  (*j)->GroupCooldown("g", kNow + absl::Minutes(1));
  (*j)->Compact(kNow + absl::Hours(2));  // past retention, not dead-letter retention
  (*j)->Flush();
  EXPECT_FALSE((*j)->Get("ok").has_value());
  EXPECT_TRUE((*j)->Get("dead").has_value());
  EXPECT_TRUE((*j)->Get("live").has_value()) << "unfinished flows are never compacted";
  ASSERT_OK_AND_ASSIGN(Recovery r, (*j)->Recover());
  EXPECT_TRUE(r.seen_keys.empty());
  EXPECT_TRUE(r.cooldowns.empty());
  (*j)->Compact(kNow + absl::Hours(25));
  (*j)->Flush();
  EXPECT_FALSE((*j)->Get("dead").has_value());
}

// Damage the files in the ways a crash or a bad disk can; the journal must
// open (moving a broken database aside) and never crash.
TEST_F(JournalTest, SurvivesTruncatedAndBitFlippedFiles) {
  auto fill = [&] {
    auto j = Open();
    std::vector<EventPtr> events;
    for (int i = 0; i < 200; ++i) events.push_back(MakeEvent(absl::StrCat("i-", i)));
    ASSERT_THAT(j->AppendEvents(events), IsOk());
    for (int i = 0; i < 50; ++i) {
      j->Put(MakeFlow(absl::StrCat("f", i), events[i], FlowState::kRunning, 1, 1));
    }
    j->Flush();
  };
  struct Damage {
    std::string name;
    std::function<void()> apply;
    bool must_move_aside = false;
  };
  auto truncate = [&](const std::string& file, double keep) {
    const auto size = std::filesystem::file_size(file);
    std::filesystem::resize_file(file, static_cast<uintmax_t>(size * keep));
  };
  auto flip = [&](const std::string& file, int every) {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    const auto size = std::filesystem::file_size(file);
    for (uintmax_t pos = 100; pos < size; pos += every) {
      f.seekg(pos);
      char c;
      f.get(c);
      f.seekp(pos);
      f.put(static_cast<char>(c ^ 0x5a));
    }
  };
  const std::vector<Damage> damages = {
      {"torn WAL tail", [&] { truncate(path_ + "-wal", 0.7); }},
      {"WAL cut to its header", [&] { truncate(path_ + "-wal", 0.0001); }},
      {"bit flips in the WAL", [&] { flip(path_ + "-wal", 997); }},
      {"bit flips in the database", [&] {
         // Checkpoint the WAL into the main file first, then damage it.
         auto j = Open();
         j.reset();
         flip(path_, 501);
       }},
      {"truncated database", [&] {
         auto j = Open();
         j.reset();
         truncate(path_, 0.5);
       }, true},
      {"not a database at all", [&] {
         std::filesystem::remove(path_ + "-wal");
         std::ofstream(path_, std::ios::trunc) << "this is not SQLite";
       }, true},
  };
  for (const Damage& d : damages) {
    SCOPED_TRACE(d.name);
    std::filesystem::remove_all(std::filesystem::path(path_).parent_path());
    std::filesystem::create_directories(std::filesystem::path(path_).parent_path());
    // A crash leaves the WAL un-checkpointed: copy the files aside while a
    // journal is open, as a SIGKILL would leave them.
    {
      fill();
    }
    {
      auto j = Open();
      ASSERT_NE(j, nullptr);
      j->Flush();
      // Snapshot the live files (WAL included) as a crash would leave them.
      for (const char* sfx : {"", "-wal"}) {
        if (std::filesystem::exists(path_ + sfx)) {
          std::filesystem::copy_file(path_ + sfx, path_ + sfx + ".snap",
                                     std::filesystem::copy_options::overwrite_existing);
        }
      }
    }
    for (const char* sfx : {"", "-wal"}) {
      if (std::filesystem::exists(path_ + sfx + std::string(".snap"))) {
        std::filesystem::rename(path_ + sfx + std::string(".snap"), path_ + sfx);
      }
    }
    std::filesystem::remove(path_ + "-shm");
    d.apply();
    auto j = Journal::Open({.path = path_}, logger_);
    ASSERT_THAT(j, IsOk()) << "a damaged journal must not stop the engine";
    if (d.must_move_aside) {
      EXPECT_TRUE((*j)->moved_aside());
      bool found = false;
      for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path(path_).parent_path())) {
        found = found || entry.path().filename().string().find("journal.db.corrupt-") == 0;
      }
      EXPECT_TRUE(found) << "the damaged file is kept aside for inspection";
    }
    auto r = (*j)->Recover();
    ASSERT_THAT(r, IsOk());
    EXPECT_LE(r->unfinished.size(), 50u);
    // And it still works.
    ASSERT_THAT((*j)->AppendEvents({MakeEvent("after")}), IsOk());
  }
}

TEST_F(JournalTest, UnreadableRowsAreSkippedNotFatal) {
  {
    auto j = Open();
    EventPtr a = MakeEvent("i-a");
    ASSERT_THAT(j->AppendEvents({a}), IsOk());
    j->Put(MakeFlow("f1", a, FlowState::kRunning, 1, 1));
    j->Put(MakeFlow("f2", a, FlowState::kRunning, 1, 1));
    j->Flush();
  }
  // Garble one flow's body through SQLite itself (a logical corruption).
  auto p = hollowtrees::testing::Subprocess::Start(
      {"/usr/bin/python3", "-c",
       absl::StrCat("import sqlite3; c=sqlite3.connect('", path_,
                    "'); c.execute(\"UPDATE flows SET body='{garbage' WHERE id='f1'\"); "
                    "c.execute(\"UPDATE events SET body='[]'\"); c.commit()")});
  ASSERT_THAT(p, IsOk());
  ASSERT_OK_AND_ASSIGN(int code, (*p)->Wait(absl::Seconds(20)));
  ASSERT_EQ(code, 0) << (*p)->Output();
  auto j = Open();
  ASSERT_OK_AND_ASSIGN(Recovery r, j->Recover());
  EXPECT_EQ(r.skipped_rows, 2);
  ASSERT_EQ(r.unfinished.size(), 1u);
  EXPECT_EQ(r.unfinished[0].id, "f2");
}

TEST_F(JournalTest, AppendFailsWhenTheDiskDoes) {
  auto j = Open();
  // Make the database read-only underneath the open connection.
  auto p = hollowtrees::testing::HoldSqliteWriteLock(path_, absl::Seconds(8));
  ASSERT_THAT(p, IsOk());
  // busy_timeout is 5 s: the append waits, then reports the failure.
  absl::Status s = j->AppendEvents({MakeEvent("i-x")});
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
}

// Files in the journal's directory whose names say they were moved aside.
std::vector<std::string> MovedAside(const std::string& path) {
  std::vector<std::string> out;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::filesystem::path(path).parent_path())) {
    if (entry.path().filename().string().find(".corrupt-") != std::string::npos) {
      out.push_back(entry.path().filename().string());
    }
  }
  return out;
}

// chattr +i makes a file or directory immutable even for root (tests run as
// root here, for whom permission bits change nothing).
bool SetImmutable(const std::string& path, bool on) {
  return std::system(absl::StrCat("chattr ", on ? "+i " : "-i ", path, " 2>/dev/null").c_str()) == 0;
}

TEST_F(JournalTest, ALockedJournalIsAnErrorAndIsLeftWhereItIs) {
  {
    auto j = Open();
    ASSERT_THAT(j->AppendEvents({MakeEvent("i-1"), MakeEvent("i-2")}), IsOk());
    j->Put(MakeFlow("f1", MakeEvent("i-1"), FlowState::kFailed, 1, 3));
    j->Flush();
  }
  // An operator's sqlite3 shell in the middle of a write transaction.
  auto p = hollowtrees::testing::HoldSqliteWriteLock(path_, absl::Seconds(30));
  ASSERT_THAT(p, IsOk());
  const absl::Time started = absl::Now();
  auto locked = Journal::Open({.path = path_}, logger_);
  const absl::Duration waited = absl::Now() - started;
  ASSERT_FALSE(locked.ok());
  EXPECT_EQ(locked.status().code(), absl::StatusCode::kUnavailable) << locked.status();
  EXPECT_THAT(std::string(locked.status().message()),
              ::testing::AllOf(::testing::HasSubstr(path_), ::testing::HasSubstr("lock")));
  // A short lock is waited for (busy_timeout), a long one is not.
  EXPECT_GE(waited, absl::Seconds(4));
  EXPECT_LT(waited, absl::Seconds(20));
  EXPECT_THAT(MovedAside(path_), ::testing::IsEmpty()) << "a healthy journal was moved aside";
  p->reset();  // SIGKILL: the lock goes with the process

  auto j = Journal::Open({.path = path_}, logger_);
  ASSERT_THAT(j, IsOk());
  EXPECT_FALSE((*j)->moved_aside());
  auto r = (*j)->Recover();
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->seen_keys.size(), 2u) << "the journal's events are all still there";
  EXPECT_THAT((*j)->List({.state = "failed"}), ::testing::SizeIs(1))
      << "the dead letter is still there";
}

TEST_F(JournalTest, AReadOnlyJournalOrDirectoryIsAnErrorNotDamage) {
  const std::string dir = std::filesystem::path(path_).parent_path();
  {
    auto j = Open();
    ASSERT_THAT(j->AppendEvents({MakeEvent("i-1")}), IsOk());
  }
  // The journal file cannot be written (an immutable file, as on a
  // read-only mount).
  if (!SetImmutable(path_, true)) GTEST_SKIP() << "chattr +i is not supported here";
  auto ro = Journal::Open({.path = path_}, logger_);
  SetImmutable(path_, false);
  ASSERT_FALSE(ro.ok());
  EXPECT_EQ(ro.status().code(), absl::StatusCode::kFailedPrecondition) << ro.status();
  EXPECT_THAT(std::string(ro.status().message()), ::testing::HasSubstr(path_));
  EXPECT_THAT(MovedAside(path_), ::testing::IsEmpty());

  // A new journal in a directory where nothing can be created.
  const std::string fresh = dir + "/sub";
  std::filesystem::create_directories(fresh);
  ASSERT_TRUE(SetImmutable(fresh, true));
  auto nodir = Journal::Open({.path = fresh + "/journal.db"}, logger_);
  SetImmutable(fresh, false);
  ASSERT_FALSE(nodir.ok());
  EXPECT_EQ(nodir.status().code(), absl::StatusCode::kFailedPrecondition) << nodir.status();
  EXPECT_THAT(std::string(nodir.status().message()), ::testing::HasSubstr(fresh + "/journal.db"));
  EXPECT_TRUE(std::filesystem::is_empty(fresh));

  // And the journal still opens, whole, once it can be written again.
  auto j = Journal::Open({.path = path_}, logger_);
  ASSERT_THAT(j, IsOk());
  EXPECT_FALSE((*j)->moved_aside());
  auto r = (*j)->Recover();
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->seen_keys.size(), 1u);
}

TEST_F(JournalTest, AFullFileSystemIsAnErrorNotDamage) {
  // No byte may be written: the file size limit stands in for a full disk
  // (SIGXFSZ ignored, so a write fails with EFBIG instead of killing us).
  struct rlimit old;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit none = {0, old.rlim_max};
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &none), 0);
  auto full = Journal::Open({.path = path_}, logger_);
  setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, old_handler);
  ASSERT_FALSE(full.ok());
  EXPECT_NE(full.status().code(), absl::StatusCode::kDataLoss) << full.status();
  EXPECT_THAT(std::string(full.status().message()), ::testing::HasSubstr(path_));
  EXPECT_THAT(MovedAside(path_), ::testing::IsEmpty());
}

TEST_F(JournalTest, WalStaysBoundedUnderAFloodAndLosesNothing) {
  // Four senders append as fast as the journal commits: the background
  // checkpointer alone would fall behind on a slow disk, and the WAL must
  // still stay near its limit (4000 pages of 8 KB) rather than grow with
  // the flood. Every event is recovered after a reopen.
  constexpr int kSenders = 4, kBatches = 150, kBatch = 64;
  std::atomic<uintmax_t> max_wal{0};
  {
    auto j = Open();
    ASSERT_NE(j, nullptr);
    std::vector<std::thread> senders;
    for (int t = 0; t < kSenders; ++t) {
      senders.emplace_back([&, t] {
        const std::string pad(400, 'p');  // rows of about a real alert's size
        for (int b = 0; b < kBatches; ++b) {
          std::vector<EventPtr> batch;
          for (int i = 0; i < kBatch; ++i) batch.push_back(MakeEvent(absl::StrCat(pad, t, "-", b, "-", i)));
          ASSERT_THAT(j->AppendEvents(batch), IsOk());
          std::error_code ec;
          const uintmax_t wal = std::filesystem::file_size(path_ + "-wal", ec);
          if (!ec) {
            uintmax_t seen = max_wal.load();
            while (wal > seen && !max_wal.compare_exchange_weak(seen, wal)) {
            }
          }
        }
      });
    }
    for (auto& s : senders) s.join();
  }
  EXPECT_GT(max_wal.load(), 0u);
  EXPECT_LT(max_wal.load(), 48u << 20) << "the WAL grew with the flood";
  auto j = Open();
  ASSERT_NE(j, nullptr);
  auto rec = j->Recover();
  ASSERT_THAT(rec, IsOk());
  EXPECT_EQ(rec->undispatched.size(), static_cast<size_t>(kSenders * kBatches * kBatch));
}

}  // namespace
}  // namespace hollowtrees::engine
