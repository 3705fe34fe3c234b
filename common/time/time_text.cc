#include "common/time/time_text.h"

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace treatd {
namespace {

constexpr absl::string_view kDurationForms =
    "a duration such as 90s, 15m, 72h, 14d, 2w or 1d12h (units w, d, h, m, "
    "s, ms)";

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
  const std::string input(absl::StripAsciiWhitespace(text));
  absl::Time t;
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

}  // namespace treatd
