// RevisitSweep: the server's periodic pass that keeps the ledger's promises.
// Each run:
//   1. mitigations and acceptances past their review_by
//      (Ledger::SweepCandidates): a review_due notice, then the finding
//      decided again and recorded as a sweep decision — both once per
//      finding, episode and review date (idempotency keys
//      "review-due:<key>#<episode>:<review_by>" and
//      "sweep:review:<key>#<episode>:<review_by>"), so an expired
//      acceptance, whose review date a decision does not move, is not
//      recorded again every run. At most max_review_due candidates per run,
//      each run continuing after the last one the previous run handled (the
//      "sweep.review_after" mark) and starting over after the last, so
//      every candidate is reached however many there are;
//   2. open and mitigated findings past remediate_by: an overdue notice,
//      once per finding, episode and deadline ("overdue:<key>#<episode>:
//      <remediate_by>"). Only findings that fell due or changed since the
//      previous pass are read (the "sweep.overdue_through" mark);
//   3. after a feed change, the open, mitigated and accepted findings whose
//      last decision was MITIGATE or ACCEPT — the decisions that carry
//      revisit conditions (newly KEV-listed, EPSS over the threshold, ...)
//      — each recorded as a sweep decision when its treatment or priority
//      changed. The feeds' versions are kept in the ledger ("sweep.feeds"
//      mark), so feeds that changed while treatd was down are found after
//      the restart; within a process a reload of the same versions counts
//      too.
// The notices change nothing on the finding; they are what a watcher
// (WatchEvents, `treatctl ledger watch --types review_due,overdue`) acts on.
// The findings are decided from the snapshot the ledger kept with their last
// decision. Only the holder of the ledger's "sweep" lease runs a pass, so on
// PostgreSQL one replica at a time does; the idempotency keys keep a lease
// handed over mid-run (or a restart) from writing any event twice.
//
// Thread-safe: RunOnce may be called from any thread (tests call it
// directly); Start runs it every interval on an own thread until Stop or
// destruction.
#ifndef TREATD_SERVER_LEDGER_REVISIT_SWEEP_H_
#define TREATD_SERVER_LEDGER_REVISIT_SWEEP_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/intel/intel_snapshot.h"
#include "common/ledger/ledger.h"
#include "server/policy_store.h"

namespace treatd {

struct SweepOptions {
  // Time between runs.
  absl::Duration interval = absl::Minutes(1);
  // The lease lasts this long; a replica that dies frees it after that.
  absl::Duration lease_ttl = absl::Minutes(3);
  // Most review-due findings decided again per run (the next run goes on
  // with the following ones).
  int max_review_due = 1000;
  // Who holds the lease: unique per process (host, pid, random).
  std::string holder;
  std::function<absl::Time()> clock = absl::Now;
};

// What one run did.
struct SweepReport {
  bool leader = false;             // held the lease and ran
  int64_t review_due = 0;          // review-due findings decided again
  int64_t review_due_notices = 0;  // review_due events written
  int64_t overdue_notices = 0;     // overdue events written
  bool feeds_changed = false;
  int64_t feed_checked = 0;  // findings checked after a feed reload
  int64_t changed = 0;       // sweep decisions recorded (both kinds)
  int64_t skipped = 0;       // no usable snapshot, or the policy failed
};

// Totals since start, for metrics.
struct SweepCounts {
  int64_t runs = 0;  // runs that held the lease
  int64_t review_due = 0;
  int64_t feed_changed = 0;
  int64_t review_due_notices = 0;
  int64_t overdue_notices = 0;
  int64_t skipped = 0;
  int64_t failed_runs = 0;
};

class RevisitSweep {
 public:
  // `ledger` and `store` are not owned and must outlive the sweep.
  RevisitSweep(ledger::Ledger* ledger, const PolicyStore* store,
               SweepOptions options);
  ~RevisitSweep();
  RevisitSweep(const RevisitSweep&) = delete;
  RevisitSweep& operator=(const RevisitSweep&) = delete;

  // One run now. UNAVAILABLE when the ledger cannot be read or written;
  // FAILED_PRECONDITION when no policy is loaded.
  absl::StatusOr<SweepReport> RunOnce() ABSL_LOCKS_EXCLUDED(mu_);

  // Runs every options.interval on a thread (the first run one interval
  // after the call), until Stop().
  void Start();
  // Stops the thread and gives the lease up. Idempotent.
  void Stop();

  SweepCounts Counts() const;

 private:
  // Decides `record`'s snapshot again at `as_of` under `active` into
  // `*event` (a sweep decision). False when the finding cannot be decided
  // again (no snapshot, an unparsable one, a policy error).
  bool Redecide(const ActivePolicy& active, const std::string& key,
                absl::Time as_of, v1::Decision* decision,
                ledger::Event* event) const;
  // The feed-reload pass over one state; appends what changed.
  absl::Status FeedPass(const ActivePolicy& active, ledger::FindingState state,
                        absl::Time as_of, SweepReport* report);
  // Appends `events` and counts the ones newly written (duplicates and
  // refused events left out) by kind into `appended`.
  absl::Status Append(std::vector<ledger::Event> events,
                      std::map<ledger::EventKind, int64_t>* appended);
  // Pages through the findings matching `filter`, appending per page the
  // events `make` builds from them; counts what was written in `appended`.
  absl::Status AppendPages(
      const ledger::FindingFilter& filter,
      const std::function<void(const ledger::FindingRecord&,
                               std::vector<ledger::Event>*)>& make,
      std::map<ledger::EventKind, int64_t>* appended);
  // Pass 1: review-due notices and sweep decisions.
  absl::Status ReviewPass(const ActivePolicy& active, absl::Time as_of,
                          SweepReport* report);
  // Pass 2: overdue notices since the stored watermark, then moves it.
  absl::Status OverduePass(absl::Time as_of, SweepReport* report);
  // Pass 3 when the feeds changed since the stored baseline or the last
  // run; stores the new baseline.
  absl::Status FeedsPass(const ActivePolicy& active, absl::Time as_of,
                         SweepReport* report)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  ledger::Ledger* const ledger_;
  const PolicyStore* const store_;
  const SweepOptions options_;

  absl::Mutex mu_;  // One run at a time.
  // The feeds of the previous run; null before the first.
  std::shared_ptr<const intel::IntelSnapshot> last_feeds_ ABSL_GUARDED_BY(mu_);
  bool ran_ ABSL_GUARDED_BY(mu_) = false;

  std::atomic<int64_t> runs_{0};
  std::atomic<int64_t> review_due_{0};
  std::atomic<int64_t> feed_changed_{0};
  std::atomic<int64_t> review_due_notices_{0};
  std::atomic<int64_t> overdue_notices_{0};
  std::atomic<int64_t> skipped_{0};
  std::atomic<int64_t> failed_runs_{0};

  absl::Mutex thread_mu_;
  std::unique_ptr<absl::Notification> stop_ ABSL_GUARDED_BY(thread_mu_);
  std::thread thread_ ABSL_GUARDED_BY(thread_mu_);
};

// A holder id unique to this process: "<host>:<pid>:<random>".
std::string SweepHolderId();

}  // namespace treatd

#endif  // TREATD_SERVER_LEDGER_REVISIT_SWEEP_H_
