#pragma once

// The packaged Abseil has no RETURN_IF_ERROR / ASSIGN_OR_RETURN; these are ours.

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define HT_STATUS_CONCAT_INNER_(a, b) a##b
#define HT_STATUS_CONCAT_(a, b) HT_STATUS_CONCAT_INNER_(a, b)

// Returns the status from the enclosing function when `expr` is not OK.
#define HT_RETURN_IF_ERROR(expr)                  \
  do {                                            \
    ::absl::Status ht_status_ = (expr);           \
    if (!ht_status_.ok()) return ht_status_;      \
  } while (0)

// HT_ASSIGN_OR_RETURN(auto x, MakeX()); declares `x` from a StatusOr, or
// returns its error from the enclosing function.
#define HT_ASSIGN_OR_RETURN(lhs, rexpr) \
  HT_ASSIGN_OR_RETURN_IMPL_(HT_STATUS_CONCAT_(ht_statusor_, __LINE__), lhs, rexpr)
#define HT_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                              \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()
