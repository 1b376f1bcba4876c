#include "lib/common/rfc3339.h"

#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace hollowtrees {
namespace {

bool Digits(absl::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

bool IsLeap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// Days from 1970-01-01 to y-m-d (proleptic Gregorian), Howard Hinnant's method.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

absl::Status Bad(absl::string_view text) {
  return absl::InvalidArgumentError(
      absl::StrCat("\"", text, "\" is not an RFC 3339 timestamp (want 2006-01-02T15:04:05Z)"));
}

}  // namespace

absl::StatusOr<absl::Time> ParseRfc3339(absl::string_view s) {
  int year, month, day, hour, minute, second;
  if (!Digits(s, 0, 4, &year) || s.size() < 20 || s[4] != '-' || !Digits(s, 5, 2, &month) ||
      s[7] != '-' || !Digits(s, 8, 2, &day) || (s[10] != 'T' && s[10] != 't') ||
      !Digits(s, 11, 2, &hour) || s[13] != ':' || !Digits(s, 14, 2, &minute) || s[16] != ':' ||
      !Digits(s, 17, 2, &second)) {
    return Bad(s);
  }
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || day < 1 ||
      day > kDays[month - 1] + (month == 2 && IsLeap(year) ? 1 : 0) || hour > 23 || minute > 59 ||
      second > 60) {
    return Bad(s);
  }
  size_t pos = 19;
  int64_t nanos = 0;
  if (s[pos] == '.') {
    ++pos;
    const size_t start = pos;
    int64_t scale = 100000000;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      nanos += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return Bad(s);
  }
  if (pos >= s.size()) return Bad(s);
  int offset_minutes = 0;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int oh, om;
    if (!Digits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !Digits(s, pos + 4, 2, &om) || oh > 23 || om > 59) {
      return Bad(s);
    }
    offset_minutes = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return Bad(s);
  }
  if (pos != s.size()) return Bad(s);
  const int64_t days = DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  const int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
  return absl::FromUnixSeconds(secs) + absl::Nanoseconds(nanos);
}

std::string FormatRfc3339(absl::Time t, Rfc3339Fraction fraction) {
  const char* const slow_format = fraction == Rfc3339Fraction::kShortest ? "%Y-%m-%d%ET%H:%M:%E*SZ"
                                  : fraction == Rfc3339Fraction::kMillis ? "%Y-%m-%d%ET%H:%M:%E3SZ"
                                  : fraction == Rfc3339Fraction::kMicros ? "%Y-%m-%d%ET%H:%M:%E6SZ"
                                                                         : "%Y-%m-%d%ET%H:%M:%SZ";
  if (t == absl::InfinitePast() || t == absl::InfiniteFuture()) {
    return absl::FormatTime(slow_format, t, absl::UTCTimeZone());
  }
  // Civil from days (Howard Hinnant), without the time zone machinery.
  // Floored seconds and the nanoseconds past them: exact for any year
  // (Unix nanoseconds saturate outside 1678..2262; fuzzing found the
  // overflow).
  int64_t secs = absl::ToUnixSeconds(t);
  int64_t nanos = absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(secs));
  int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  int64_t rem = secs - days * 86400;
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned day = doy - (153 * mp + 2) / 5 + 1;
  const unsigned month = mp < 10 ? mp + 3 : mp - 9;
  const int64_t year = static_cast<int64_t>(yoe) + era * 400 + (month <= 2);
  if (year < 0 || year > 9999) return absl::FormatTime(slow_format, t, absl::UTCTimeZone());
  char buf[40];
  auto put = [&buf](int at, int64_t v, int width) {
    for (int i = width - 1; i >= 0; --i, v /= 10) buf[at + i] = static_cast<char>('0' + v % 10);
  };
  put(0, year, 4);
  buf[4] = '-';
  put(5, month, 2);
  buf[7] = '-';
  put(8, day, 2);
  buf[10] = 'T';
  put(11, rem / 3600, 2);
  buf[13] = ':';
  put(14, rem / 60 % 60, 2);
  buf[16] = ':';
  put(17, rem % 60, 2);
  int n = 19;
  if (fraction == Rfc3339Fraction::kMillis) {
    buf[n] = '.';
    put(n + 1, nanos / 1000000, 3);  // truncated, as absl's %E3S
    n += 4;
  } else if (fraction == Rfc3339Fraction::kMicros) {
    buf[n] = '.';
    put(n + 1, nanos / 1000, 6);  // truncated, as absl's %E6S
    n += 7;
  } else if (fraction == Rfc3339Fraction::kShortest && nanos > 0) {
    // Shortest fraction, as Go and absl's %E*S write it.
    buf[n] = '.';
    put(n + 1, nanos, 9);
    n += 10;
    while (buf[n - 1] == '0') --n;
  }
  buf[n++] = 'Z';
  return std::string(buf, n);
}

}  // namespace hollowtrees
