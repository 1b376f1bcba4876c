#include "lib/common/duration.h"

#include <cstdint>
#include <limits>

#include "absl/strings/str_cat.h"

namespace hollowtrees {
namespace {

struct Unit {
  absl::string_view name;
  absl::Duration size;
};

// Largest first, as Prometheus requires; "ms" is listed before "m" so that the
// longest unit name wins when reading.
constexpr int kNumUnits = 7;
const Unit* Units() {
  static const Unit kUnits[kNumUnits] = {
      {"y", absl::Hours(24 * 365)}, {"w", absl::Hours(24 * 7)}, {"d", absl::Hours(24)},
      {"h", absl::Hours(1)},        {"m", absl::Minutes(1)},    {"s", absl::Seconds(1)},
      {"ms", absl::Milliseconds(1)},
  };
  return kUnits;
}

int UnitRank(absl::string_view name) {
  for (int i = 0; i < kNumUnits; ++i) {
    if (Units()[i].name == name) return i;
  }
  return -1;
}

}  // namespace

absl::StatusOr<absl::Duration> ParsePromDuration(absl::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError("empty duration");
  if (text == "0") return absl::ZeroDuration();
  absl::Duration total = absl::ZeroDuration();
  int last_rank = -1;
  size_t i = 0;
  while (i < text.size()) {
    const size_t digits_start = i;
    uint64_t value = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (value > (std::numeric_limits<uint64_t>::max() - 9) / 10) {
        return absl::InvalidArgumentError(absl::StrCat("duration \"", text, "\" is out of range"));
      }
      value = value * 10 + static_cast<uint64_t>(text[i] - '0');
      ++i;
    }
    if (i == digits_start) {
      return absl::InvalidArgumentError(
          absl::StrCat("not a valid duration string: \"", text,
                       "\" (use a number and a unit: 500ms, 90s, 5m, 1h30m)"));
    }
    const size_t unit_start = i;
    while (i < text.size() && (text[i] < '0' || text[i] > '9')) ++i;
    const absl::string_view unit = text.substr(unit_start, i - unit_start);
    const int rank = UnitRank(unit);
    if (rank < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("not a valid duration string: \"", text, "\" (unknown unit \"", unit,
                       "\"; units are y w d h m s ms)"));
    }
    if (rank <= last_rank) {
      return absl::InvalidArgumentError(absl::StrCat(
          "not a valid duration string: \"", text, "\" (units must be largest first, once each)"));
    }
    last_rank = rank;
    if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max() /
                                      absl::ToInt64Milliseconds(Units()[rank].size))) {
      return absl::InvalidArgumentError(absl::StrCat("duration \"", text, "\" is out of range"));
    }
    total += Units()[rank].size * static_cast<int64_t>(value);
  }
  return total;
}

std::string FormatPromDuration(absl::Duration d) {
  if (d == absl::ZeroDuration()) return "0s";
  std::string out;
  if (d < absl::ZeroDuration()) {
    out = "-";
    d = -d;
  }
  for (int i = 0; i < kNumUnits; ++i) {
    const int64_t n = absl::IDivDuration(d, Units()[i].size, &d);
    if (n > 0) absl::StrAppend(&out, n, Units()[i].name);
  }
  return out;
}

}  // namespace hollowtrees
