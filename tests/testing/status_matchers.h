#pragma once

// IsOk() and StatusIs(code[, message matcher]) for absl::Status and
// absl::StatusOr<T>, and ASSERT_OK_AND_ASSIGN.

#include <ostream>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"

namespace hollowtrees::testing {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

MATCHER(IsOk, "is OK") {
  const absl::Status& s = GetStatus(arg);
  if (!s.ok()) *result_listener << "status: " << s;
  return s.ok();
}

MATCHER_P2(StatusIs, code, message_matcher, "") {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status: " << s;
  return s.code() == code &&
         ::testing::ExplainMatchResult(message_matcher, std::string(s.message()), result_listener);
}

// StatusIs(code): any message.
inline auto StatusIs(absl::StatusCode code) { return StatusIs(code, ::testing::_); }

}  // namespace hollowtrees::testing

#define HT_TESTING_CONCAT_INNER_(a, b) a##b
#define HT_TESTING_CONCAT_(a, b) HT_TESTING_CONCAT_INNER_(a, b)
#define ASSERT_OK_AND_ASSIGN(lhs, rexpr)                                          \
  auto HT_TESTING_CONCAT_(statusor_, __LINE__) = (rexpr);                         \
  ASSERT_TRUE(HT_TESTING_CONCAT_(statusor_, __LINE__).ok())                       \
      << HT_TESTING_CONCAT_(statusor_, __LINE__).status();                        \
  lhs = std::move(HT_TESTING_CONCAT_(statusor_, __LINE__)).value()
