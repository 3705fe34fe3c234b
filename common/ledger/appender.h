// The ledger's write semantics, written once for every store: idempotency,
// validation, lifecycle transitions, episodes, scan observations and the
// hash chain, applied to one batch inside one store transaction.
//
// Thread safety: not thread-safe; the committer owns the one instance.
#ifndef TREATD_COMMON_LEDGER_APPENDER_H_
#define TREATD_COMMON_LEDGER_APPENDER_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/ledger/chain.h"
#include "common/ledger/event.h"
#include "common/ledger/ledger.h"
#include "common/ledger/store.h"

namespace treatd::ledger {

// One unit of work of a batch: an event to append or a scan to record.
struct WorkItem {
  std::optional<Event> event;  // set for an append
  // CanonicalPrefix(*event), made on the caller's thread (Ledger::Append)
  // so the committer only appends the assigned fields; empty: encode here.
  // Once applied, `event` (less its keys) and the encoding stay here, so
  // their memory is freed on the caller's thread.
  std::string encoded_prefix;
  PrefixMarks marks;  // where encoded_prefix holds the column values
  std::optional<ScanObservation> scan;  // set for a scan
  absl::StatusOr<Appended> appended = absl::UnknownError("not applied");
  absl::StatusOr<ScanResult> scanned = absl::UnknownError("not applied");
};

struct BatchOutcome {
  int64_t events_written = 0;
  int64_t duplicates = 0;
  int64_t last_seq = 0;  // the chain head after the batch
};

class Appender {
 public:
  // `store` must outlive the appender.
  Appender(Store* store, absl::Duration future_tolerance,
           std::function<absl::Time()> clock);

  // Applies `items` in order in one transaction and sets each item's
  // result. Returns the transaction's status: when it is not OK every
  // item's result is that status, always UNAVAILABLE (the store's own code,
  // when another, is named in the message); nothing was written, unless
  // the COMMIT's reply was lost: then the outcome is unknown (the message
  // says so) and a retry with the same idempotency keys is recorded once.
  absl::StatusOr<BatchOutcome> Apply(const std::vector<WorkItem*>& items);

 private:
  struct Batch;

  absl::Status Run(const std::vector<WorkItem*>& items, Batch& batch);
  // `prefix`: the event's CanonicalPrefix (with its `marks`), or empty;
  // it becomes the event's canonical encoding when the event is recorded.
  // Takes what it keeps out of `event` (its keys): the caller drops the
  // event afterwards.
  absl::StatusOr<Appended> ApplyEvent(Event& event, std::string& prefix,
                                      const PrefixMarks& marks, Batch& batch);
  absl::StatusOr<ScanResult> ApplyScan(const ScanObservation& scan,
                                       Batch& batch);
  // Marks as seen the batch's decisions that an older treatd recorded
  // under their legacy key (LegacyDecisionIdempotencyKey).
  absl::Status FindLegacyDecisionKeys(const std::vector<WorkItem*>& items,
                                      Batch& batch);
  absl::Status Validate(const Event& event, absl::Time now) const;

  Store* const store_;
  const absl::Duration future_tolerance_;
  const std::function<absl::Time()> clock_;
};

// The idempotency key the ledger derives for an event reported without one:
// "auto:" + the first 32 hex digits of the SHA-256 of its canonical encoding
// (reported fields only).
std::string DerivedIdempotencyKey(const Event& event);

}  // namespace treatd::ledger

#endif  // TREATD_COMMON_LEDGER_APPENDER_H_
