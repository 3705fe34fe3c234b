#include "client/treatctl/progress.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace treatd {
namespace {

// 1234567 -> "1,234,567".
std::string Grouped(int64_t n) {
  std::string digits = absl::StrCat(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return n < 0 ? absl::StrCat("-", out) : out;
}

// "1:02:03" or "2:03".
std::string Clock(absl::Duration d) {
  const int64_t seconds = absl::ToInt64Seconds(d);
  if (seconds >= 3600) {
    return absl::StrFormat("%d:%02d:%02d", seconds / 3600, seconds / 60 % 60,
                           seconds % 60);
  }
  return absl::StrFormat("%d:%02d", seconds / 60, seconds % 60);
}

}  // namespace

Progress::Progress(std::ostream* err, bool enabled, absl::Duration interval,
                   std::function<double()> fraction)
    : err_(err),
      enabled_(enabled),
      interval_(interval),
      fraction_(std::move(fraction)),
      start_(absl::Now()) {}

Progress::~Progress() { Finish(); }

void Progress::Start() {
  start_ = absl::Now();
  if (enabled_) ticker_ = std::thread([this] { Run(); });
}

std::string Progress::Format(const Snapshot& snapshot, absl::Duration elapsed) {
  const double seconds = absl::ToDoubleSeconds(elapsed);
  const double rate = seconds > 0 ? snapshot.done / seconds : 0;
  std::string line = absl::StrCat(Grouped(snapshot.done));
  if (snapshot.total >= 0) absl::StrAppend(&line, "/", Grouped(snapshot.total));
  absl::StrAppend(&line, " findings  ",
                  Grouped(static_cast<int64_t>(rate + 0.5)), "/s");
  double fraction = snapshot.fraction;
  if (snapshot.total > 0) {
    fraction = static_cast<double>(snapshot.done) / snapshot.total;
  }
  if (fraction >= 0) {
    if (fraction > 1) fraction = 1;
    absl::StrAppend(&line, "  ", static_cast<int>(fraction * 100), "%");
    if (fraction > 0 && fraction < 1) {
      absl::StrAppend(
          &line, "  ETA ",
          Clock(absl::Seconds(seconds * (1 - fraction) / fraction)));
    }
  }
  absl::StrAppend(&line, "  ", Clock(elapsed));
  return line;
}

void Progress::DrawLocked() {
  Snapshot snapshot;
  snapshot.done = done_.load(std::memory_order_relaxed);
  snapshot.total = total_.load(std::memory_order_relaxed);
  if (snapshot.total < 0 && fraction_) snapshot.fraction = fraction_();
  // "\r" then clear to the end of the line (ANSI EL), so a shorter line
  // leaves nothing of the previous one.
  *err_ << '\r' << Format(snapshot, absl::Now() - start_) << "\x1b[K"
        << std::flush;
  drawn_ = true;
}

void Progress::Run() {
  absl::MutexLock lock(&mu_);
  while (!stop_) {
    DrawLocked();
    mu_.AwaitWithTimeout(absl::Condition(&stop_), interval_);
  }
}

void Progress::Log(absl::string_view line) {
  absl::MutexLock lock(&mu_);
  if (drawn_) {
    *err_ << "\r\x1b[K";
    drawn_ = false;
  }
  *err_ << line << '\n';
  // The ticker redraws the line at its next tick.
}

void Progress::Finish() {
  {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    finished_ = true;
    stop_ = true;
  }
  if (ticker_.joinable()) ticker_.join();
  if (!enabled_) return;
  absl::MutexLock lock(&mu_);
  DrawLocked();
  *err_ << '\n' << std::flush;
  drawn_ = false;
}

}  // namespace treatd
