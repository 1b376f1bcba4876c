#include "engine/store/data_dir_lock.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace hollowtrees::engine {
namespace {

using ::hollowtrees::testing::IsOk;
using ::testing::AllOf;
using ::testing::HasSubstr;

std::string ReadAll(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

TEST(DataDirLockTest, OneHolderAtATimeNamedByPid) {
  const std::string dir = hollowtrees::testing::MakeTempDir("ht-lock");
  auto first = DataDirLock::Acquire(dir);
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(ReadAll(dir + "/lock"), absl::StrCat(getpid(), "\n"));

  auto second = DataDirLock::Acquire(dir);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(second.status().message()),
              AllOf(HasSubstr(dir), HasSubstr(absl::StrCat("pid ", getpid())),
                    HasSubstr("one engine per data_dir")));
  // The refused attempt did not disturb the holder's record.
  EXPECT_EQ(ReadAll(dir + "/lock"), absl::StrCat(getpid(), "\n"));

  first->reset();
  EXPECT_THAT(DataDirLock::Acquire(dir), IsOk()) << "released with its holder";
}

TEST(DataDirLockTest, AnotherProcessHoldsItUntilItDies) {
  const std::string dir = hollowtrees::testing::MakeTempDir("ht-lock");
  // A second engine stands in: takes the lock the same way and records its
  // PID, then waits.
  auto other = hollowtrees::testing::Subprocess::Start(
      {"/usr/bin/python3", "-c",
       absl::StrCat("import fcntl, os, time; f = open('", dir,
                    "/lock', 'a+'); fcntl.flock(f, fcntl.LOCK_EX); f.truncate(0); "
                    "f.write(str(os.getpid()) + '\\n'); f.flush(); "
                    "print('held', os.getpid(), flush=True); time.sleep(30)")});
  ASSERT_THAT(other, IsOk());
  ASSERT_THAT((*other)->WaitForOutput("held"), IsOk());
  auto refused = DataDirLock::Acquire(dir);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr(absl::StrCat("pid ", (*other)->pid())));

  other->reset();  // SIGKILL: the kernel drops its lock, the file stays
  auto after = DataDirLock::Acquire(dir);
  ASSERT_THAT(after, IsOk()) << "a lock file left by a dead holder blocks nothing";
  EXPECT_EQ(ReadAll(dir + "/lock"), absl::StrCat(getpid(), "\n"));
}

TEST(DataDirLockTest, ADirectoryThatDoesNotExistIsAnError) {
  auto missing = DataDirLock::Acquire("/nonexistent-ht-dir/data");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("/nonexistent-ht-dir/data/lock"));
}

}  // namespace
}  // namespace hollowtrees::engine
