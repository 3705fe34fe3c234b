#include "common/time/time_text.h"

#include <cstdint>
#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/time/proto_time.h"

namespace treatd {
namespace {

constexpr absl::string_view kDurationForms =
    "a duration such as 90s, 15m, 72h, 14d, 2w or 1d12h (units w, d, h, m, "
    "s, ms)";

// `value` as `width` decimal digits at `at`, zero-padded.
void PutDigits(int64_t value, int width, char* at) {
  for (int i = width - 1; i >= 0; --i) {
    at[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
}

// The value of the `count` decimal digits at `text[at]`, or -1.
int Digits(absl::string_view text, size_t at, size_t count) {
  int value = 0;
  for (size_t i = at; i < at + count; ++i) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(text[i]))) return -1;
    value = value * 10 + (text[i] - '0');
  }
  return value;
}

// Days from 1970-01-01 to the proleptic Gregorian date y-m-d (H. Hinnant's
// days_from_civil).
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

bool IsLeapYear(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// The forms scanners write, "2021-08-25T12:20:30.123Z",
// "2023-07-17T18:28:47-06:00" and "2025-06-18", read without absl::ParseTime
// (its format interpreter was a tenth of a large report's import,
// callgrind, issue 15). Returns false for anything else, including values
// out of range, which the caller leaves to absl::ParseTime; what this
// accepts, absl::ParseTime reads to the same instant.
bool ParseCommonTimestamp(absl::string_view text, absl::Time* out) {
  if (text.size() < 10 || text[4] != '-' || text[7] != '-') return false;
  const int year = Digits(text, 0, 4);
  const int month = Digits(text, 5, 2);
  const int day = Digits(text, 8, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1) return false;
  static constexpr int kDaysInMonth[] = {31, 28, 31, 30, 31, 30,
                                         31, 31, 30, 31, 30, 31};
  const int month_days =
      kDaysInMonth[month - 1] + (month == 2 && IsLeapYear(year) ? 1 : 0);
  if (day > month_days) return false;
  int64_t seconds = DaysFromCivil(year, month, day) * 86400;
  if (text.size() == 10) {
    *out = absl::FromUnixSeconds(seconds);
    return true;
  }
  // "THH:MM:SS" then an optional fraction and the zone.
  if (text.size() < 20 || (text[10] != 'T' && text[10] != 't') ||
      text[13] != ':' || text[16] != ':') {
    return false;
  }
  const int hour = Digits(text, 11, 2);
  const int minute = Digits(text, 14, 2);
  const int second = Digits(text, 17, 2);
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 ||
      second > 59) {
    return false;
  }
  seconds += hour * 3600 + minute * 60 + second;
  size_t at = 19;
  int64_t nanos = 0;
  if (text[at] == '.') {
    const size_t start = ++at;
    while (at < text.size() &&
           absl::ascii_isdigit(static_cast<unsigned char>(text[at]))) {
      ++at;
    }
    const size_t digits = at - start;
    if (digits == 0 || digits > 9) return false;
    nanos = Digits(text, start, digits);
    for (size_t i = digits; i < 9; ++i) nanos *= 10;
  }
  absl::string_view zone = text.substr(at);
  if (zone == "Z" || zone == "z") {
    // UTC.
  } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') &&
             zone[3] == ':') {
    const int zone_hours = Digits(zone, 1, 2);
    const int zone_minutes = Digits(zone, 4, 2);
    if (zone_hours < 0 || zone_hours > 23 || zone_minutes < 0 ||
        zone_minutes > 59) {
      return false;
    }
    const int offset = zone_hours * 3600 + zone_minutes * 60;
    seconds -= zone[0] == '+' ? offset : -offset;
  } else {
    return false;
  }
  *out = absl::FromUnixSeconds(seconds) + absl::Nanoseconds(nanos);
  return true;
}
}  // namespace

absl::StatusOr<absl::Duration> ParseDurationText(absl::string_view text) {
  const absl::string_view input = absl::StripAsciiWhitespace(text);
  absl::string_view rest = input;
  if (rest.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("empty duration; expected ", kDurationForms));
  }
  absl::Duration total = absl::ZeroDuration();
  while (!rest.empty()) {
    size_t n = 0;
    while (n < rest.size() &&
           (absl::ascii_isdigit(static_cast<unsigned char>(rest[n])) ||
            rest[n] == '.')) {
      ++n;
    }
    size_t u = n;
    while (u < rest.size() &&
           absl::ascii_isalpha(static_cast<unsigned char>(rest[u]))) {
      ++u;
    }
    double number;
    if (n == 0 || u == n || !absl::SimpleAtod(rest.substr(0, n), &number)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid duration '", input, "'; expected ", kDurationForms));
    }
    const absl::string_view unit = rest.substr(n, u - n);
    absl::Duration scale;
    if (unit == "w") {
      scale = absl::Hours(24 * 7);
    } else if (unit == "d") {
      scale = absl::Hours(24);
    } else if (unit == "h") {
      scale = absl::Hours(1);
    } else if (unit == "m") {
      scale = absl::Minutes(1);
    } else if (unit == "s") {
      scale = absl::Seconds(1);
    } else if (unit == "ms") {
      scale = absl::Milliseconds(1);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown unit '", unit, "' in duration '", input,
                       "'; expected ", kDurationForms));
    }
    total += number * scale;
    rest.remove_prefix(u);
  }
  return total;
}

std::string FormatDurationText(absl::Duration d) {
  if (d == absl::ZeroDuration()) return "0s";
  std::string out;
  if (d < absl::ZeroDuration()) {
    out = "-";
    d = -d;
  }
  struct Unit {
    absl::Duration size;
    const char* name;
  };
  const Unit units[] = {{absl::Hours(24), "d"},
                        {absl::Hours(1), "h"},
                        {absl::Minutes(1), "m"},
                        {absl::Seconds(1), "s"},
                        {absl::Milliseconds(1), "ms"}};
  for (const Unit& unit : units) {
    absl::Duration rem;
    const int64_t count = absl::IDivDuration(d, unit.size, &rem);
    if (count > 0) {
      absl::StrAppend(&out, count, unit.name);
      d = rem;
    }
  }
  if (d > absl::ZeroDuration()) {
    absl::StrAppend(&out, absl::ToInt64Nanoseconds(d), "ns");
  }
  return out;
}

absl::StatusOr<absl::Time> ParseTimestampText(absl::string_view text) {
  absl::Time t;
  if (ParseCommonTimestamp(absl::StripAsciiWhitespace(text), &t)) return t;
  const std::string input(absl::StripAsciiWhitespace(text));
  std::string err;
  if (absl::ParseTime(absl::RFC3339_full, input, &t, &err)) return t;
  if (input.size() == 10 &&
      absl::ParseTime("%Y-%m-%d", input, absl::UTCTimeZone(), &t, &err)) {
    return t;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("invalid timestamp '", input,
                   "'; expected RFC 3339 (2026-12-31T00:00:00Z) or a date "
                   "(2026-12-31)"));
}

size_t FormatProtoTimestampText(int64_t seconds, int32_t nanos, char* out) {
  if (seconds < kMinProtoTimestampSeconds ||
      seconds > kMaxProtoTimestampSeconds || nanos < 0 || nanos > 999999999) {
    return 0;
  }
  // Days since 1970-01-01 to a civil date (H. Hinnant's days_from_civil,
  // inverted).
  int64_t days = seconds / 86400;
  int64_t rem = seconds % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t day = doy - (153 * mp + 2) / 5 + 1;
  const int64_t month = mp < 10 ? mp + 3 : mp - 9;
  const int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  std::memcpy(out, "0000-00-00T00:00:00", 19);
  PutDigits(year, 4, out);
  PutDigits(month, 2, out + 5);
  PutDigits(day, 2, out + 8);
  PutDigits(rem / 3600, 2, out + 11);
  PutDigits(rem / 60 % 60, 2, out + 14);
  PutDigits(rem % 60, 2, out + 17);
  size_t n = 19;
  // protobuf's fraction: 3, 6 or 9 digits, the fewest that are exact.
  if (nanos != 0) {
    out[n++] = '.';
    if (nanos % 1000000 == 0) {
      PutDigits(nanos / 1000000, 3, out + n);
      n += 3;
    } else if (nanos % 1000 == 0) {
      PutDigits(nanos / 1000, 6, out + n);
      n += 6;
    } else {
      PutDigits(nanos, 9, out + n);
      n += 9;
    }
  }
  out[n++] = 'Z';
  return n;
}

}  // namespace treatd
