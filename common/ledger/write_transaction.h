// The end of a store's append transaction, shared by both stores: the
// writer connection runs COMMIT or ROLLBACK and the writer mutex that
// BeginAppend locked is released. `Connection` is a store's connection
// type; it needs `absl::Status Exec(const std::string&)`.
//
// Thread safety: call on the thread that holds `writer_mu` (the committer).
#ifndef TREATD_COMMON_LEDGER_WRITE_TRANSACTION_H_
#define TREATD_COMMON_LEDGER_WRITE_TRANSACTION_H_

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace treatd::ledger {

// COMMITs, and ROLLBACKs when the COMMIT fails so that the connection is
// usable for the next transaction; unlocks `writer_mu`. Returns the
// COMMIT's status. Not OK does not always mean not recorded: when the
// connection broke during COMMIT (its reply lost, UNAVAILABLE) the
// transaction may have committed.
template <typename Connection>
absl::Status CommitAndUnlock(Connection& writer, absl::Mutex& writer_mu)
    ABSL_UNLOCK_FUNCTION(writer_mu) {
  absl::Status status = writer.Exec("COMMIT");
  if (!status.ok()) (void)writer.Exec("ROLLBACK");
  writer_mu.Unlock();
  return status;
}

// ROLLBACKs (a failure leaves nothing to undo) and unlocks `writer_mu`.
template <typename Connection>
void RollbackAndUnlock(Connection& writer, absl::Mutex& writer_mu)
    ABSL_UNLOCK_FUNCTION(writer_mu) {
  (void)writer.Exec("ROLLBACK");
  writer_mu.Unlock();
}

}  // namespace treatd::ledger

#endif  // TREATD_COMMON_LEDGER_WRITE_TRANSACTION_H_
