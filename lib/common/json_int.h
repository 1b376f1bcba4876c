#pragma once

// Integers read from JSON a program did not write itself (a journal row, a
// ConfigMap): nlohmann's get<int64_t>() converts a float such as 1e30 with
// undefined behaviour. JsonInteger takes only a JSON integer that fits.

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <type_traits>

#include "nlohmann/json.hpp"

namespace hollowtrees {

// The integer in `v`. std::invalid_argument when `v` is not a JSON integer
// (a float, a string, ...) or does not fit in T.
template <typename T>
T JsonInteger(const nlohmann::json& v) {
  static_assert(std::is_integral_v<T>);
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<T>::max())) {
      throw std::invalid_argument("integer out of range");
    }
    return static_cast<T>(u);
  }
  if (v.is_number_integer()) {
    const int64_t i = v.get<int64_t>();
    if constexpr (std::is_unsigned_v<T>) {
      if (i < 0) throw std::invalid_argument("negative where none may be");
      if (static_cast<uint64_t>(i) > static_cast<uint64_t>(std::numeric_limits<T>::max())) {
        throw std::invalid_argument("integer out of range");
      }
    } else {
      if (i < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
          i > static_cast<int64_t>(std::numeric_limits<T>::max())) {
        throw std::invalid_argument("integer out of range");
      }
    }
    return static_cast<T>(i);
  }
  throw std::invalid_argument("not an integer");
}

}  // namespace hollowtrees
