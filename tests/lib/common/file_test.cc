#include "lib/common/file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace hollowtrees {
namespace {

using ::hollowtrees::testing::StatusIs;
using ::testing::HasSubstr;

std::string TempPath(const char* name) {
  return std::string(::testing::TempDir()) + "/" + name + std::to_string(getpid());
}

TEST(ReadFileTest, ReadsTheWholeFileBinary) {
  const std::string path = TempPath("read_file_test");
  std::string want(100000, 'x');
  want[5] = '\0';
  want[99999] = '\n';
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fwrite(want.data(), 1, want.size(), f);
  std::fclose(f);
  auto got = ReadFile(path);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, want);
  std::remove(path.c_str());
}

TEST(ReadFileTest, EmptyFileIsEmpty) {
  const std::string path = TempPath("read_file_empty");
  std::fclose(std::fopen(path.c_str(), "wb"));
  auto got = ReadFile(path);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, "");
  std::remove(path.c_str());
}

TEST(ReadFileTest, MissingFileIsNotFoundNamingPathAndCause) {
  EXPECT_THAT(ReadFile("/nonexistent/hollowtrees/file"),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("/nonexistent/hollowtrees/file: No such file or directory")));
}

TEST(ReadFileTest, DirectoryIsAnError) {
  auto got = ReadFile(std::string(::testing::TempDir()));
  EXPECT_FALSE(got.ok());
  EXPECT_THAT(std::string(got.status().message()), HasSubstr("Is a directory"));
}

}  // namespace
}  // namespace hollowtrees
