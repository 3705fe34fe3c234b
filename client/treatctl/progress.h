// The progress line of a long treatctl run: findings done, rate and, when
// the size of the input is known, the share done and an estimated time
// left. A ticker thread redraws it on stderr a few times a second with a
// carriage return; lines other code writes to the same stream go through
// Log() so they do not mix with it.
//
// Thread-safe: Add()/SetFraction() from any thread; Log() from any thread.
#ifndef TREATD_CLIENT_TREATCTL_PROGRESS_H_
#define TREATD_CLIENT_TREATCTL_PROGRESS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace treatd {

class Progress {
 public:
  // Where the run stands: findings done, and, when known, the total or the
  // share of the input read (0..1).
  struct Snapshot {
    int64_t done = 0;
    int64_t total = -1;
    double fraction = -1;
  };

  // `err` is borrowed. When `enabled` is false the line is never drawn and
  // Log() writes straight through. `fraction` (may be empty) reports the
  // share of the input read, for inputs whose count is unknown.
  Progress(std::ostream* err, bool enabled, absl::Duration interval,
           std::function<double()> fraction);
  // Stops the ticker (as Finish()).
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Starts the ticker thread (no-op when disabled).
  void Start();
  // Counts `n` more findings done.
  void Add(int64_t n) { done_.fetch_add(n, std::memory_order_relaxed); }
  // The total number of findings, once known.
  void SetTotal(int64_t total) {
    total_.store(total, std::memory_order_relaxed);
  }
  // Writes `line` (a newline is added) above the progress line.
  void Log(absl::string_view line) ABSL_LOCKS_EXCLUDED(mu_);
  // Stops the ticker and leaves the final state on its own line.
  void Finish() ABSL_LOCKS_EXCLUDED(mu_);

  // The line for `snapshot` after `elapsed`, e.g.
  // "12,000 findings  4,000/s  40%  ETA 0:03". Exposed for tests.
  static std::string Format(const Snapshot& snapshot, absl::Duration elapsed);

 private:
  void Run();
  void DrawLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::ostream* const err_;
  const bool enabled_;
  const absl::Duration interval_;
  const std::function<double()> fraction_;
  std::atomic<int64_t> done_{0};
  std::atomic<int64_t> total_{-1};
  absl::Time start_;
  std::thread ticker_;

  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool drawn_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace treatd

#endif  // TREATD_CLIENT_TREATCTL_PROGRESS_H_
