#include "server/signals.h"

#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"

namespace treatd {
namespace {

sigset_t TerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
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

int WaitForSignal() {
  const sigset_t set = TerminationSignals();
  int signal_number = 0;
  while (sigwait(&set, &signal_number) != 0) {
    // sigwait only fails for an invalid set; retry keeps us waiting.
  }
  return signal_number;
}

int WaitForTerminationSignal() {
  int signal_number = WaitForSignal();
  while (signal_number == SIGHUP) signal_number = WaitForSignal();
  return signal_number;
}

void ExitOnNextTerminationSignal() {
  std::thread([] {
    WaitForTerminationSignal();
    std::_Exit(1);
  }).detach();
}

}  // namespace treatd
