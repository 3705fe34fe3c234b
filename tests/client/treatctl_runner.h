// Runs the treatctl binary under test (TREATCTL_BINARY, set by CMake) as a
// child process and collects its exit code and output. For tests only.
#ifndef TREATD_TESTS_CLIENT_TREATCTL_RUNNER_H_
#define TREATD_TESTS_CLIENT_TREATCTL_RUNNER_H_

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "tests/server/subprocess.h"

namespace treatd::testing {

struct TreatctlRun {
  // -1 when the process could not be started or did not finish in time.
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `treatctl args...` with `stdin_text` on its standard input; a run
// longer than `timeout` is killed and reported with exit code -1.
inline TreatctlRun RunTreatctl(const std::vector<std::string>& args,
                               const std::string& stdin_text = "",
                               absl::Duration timeout = absl::Seconds(100)) {
  std::vector<std::string> argv = {TREATCTL_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  auto process = Subprocess::Start(argv);
  TreatctlRun run;
  if (process == nullptr) return run;
  process->WriteStdinAndClose(stdin_text);
  run.exit_code = process->Wait(timeout);
  run.out = process->stdout_text();
  run.err = process->stderr_text();
  return run;
}

}  // namespace treatd::testing

#endif  // TREATD_TESTS_CLIENT_TREATCTL_RUNNER_H_
