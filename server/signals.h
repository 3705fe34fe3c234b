// Signals handled synchronously: SIGTERM and SIGINT (shut down) and SIGHUP
// (reload) are blocked in every thread and collected with sigwait(), so no
// work happens in a signal handler.
//
// Call BlockTerminationSignals() first thing in main(), before any thread
// starts: threads inherit the mask.
#ifndef TREATD_SERVER_SIGNALS_H_
#define TREATD_SERVER_SIGNALS_H_

#include "absl/status/status.h"

namespace treatd {

// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (and threads it
// starts later). INTERNAL if the mask cannot be changed.
absl::Status BlockTerminationSignals();

// Waits until SIGTERM or SIGINT arrives and returns its number; SIGHUPs
// meanwhile are consumed and ignored.
int WaitForTerminationSignal();

// Waits until SIGTERM, SIGINT or SIGHUP arrives and returns its number.
int WaitForSignal();

// Starts a detached thread that ends the process at once, with exit code
// 1, on the next SIGTERM or SIGINT: an operator's second signal skips the
// rest of a graceful drain.
void ExitOnNextTerminationSignal();

}  // namespace treatd

#endif  // TREATD_SERVER_SIGNALS_H_
