#include "server/signals.h"

#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace treatd {
namespace {

sigset_t TerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

absl::Status BlockTerminationSignals() {
  const sigset_t set = TerminationSignals();
  const int error = pthread_sigmask(SIG_BLOCK, &set, nullptr);
  if (error != 0) {
    return absl::InternalError(
        absl::StrCat("pthread_sigmask: ", std::strerror(error)));
  }
  return absl::OkStatus();
}

int WaitForTerminationSignal() {
  const sigset_t set = TerminationSignals();
  int signal_number = 0;
  while (sigwait(&set, &signal_number) != 0) {
    // sigwait only fails for an invalid set; retry keeps us waiting.
  }
  return signal_number;
}

}  // namespace treatd
