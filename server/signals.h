// Termination signals handled synchronously: SIGTERM and SIGINT are blocked
// in every thread and collected with sigwait(), so no work happens in a
// signal handler.
//
// Call BlockTerminationSignals() first thing in main(), before any thread
// starts: threads inherit the mask.
#ifndef TREATD_SERVER_SIGNALS_H_
#define TREATD_SERVER_SIGNALS_H_

#include "absl/status/status.h"

namespace treatd {

// Blocks SIGTERM and SIGINT in the calling thread (and threads it starts
// later). INTERNAL if the mask cannot be changed.
absl::Status BlockTerminationSignals();

// Waits until SIGTERM or SIGINT arrives and returns its number.
int WaitForTerminationSignal();

}  // namespace treatd

#endif  // TREATD_SERVER_SIGNALS_H_
