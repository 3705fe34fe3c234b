// soak_client: drives a running treatd with MixedLoad (client/faults/
// mixed_load.h: Decide, BatchDecide and StreamDecide with a thread of faults
// on the wire beside them) for a fixed time, printing the calls so far by
// kind and final status every --report-seconds and a summary at the end.
// bench/soak.sh runs it against the sanitizer build of treatd.
//
//   build/bench/soak_client --target 127.0.0.1:50051 --seconds 300
//
// Exit code 0 when it ran; the statuses are for the reader (and the soak
// script) to judge against docs/server.md, "Faults on the wire".
#include <algorithm>
#include <cstdio>
#include <map>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/faults/mixed_load.h"

int main(int argc, char** argv) {
  CLI::App app{"Mixed load with faults on the wire against a treatd"};
  std::string target;
  double seconds = 60;
  double report_seconds = 10;
  treatd::MixedLoadOptions options;
  bool no_faults = false;
  app.add_option("--target", target, "treatd address, host:port")->required();
  app.add_option("--seconds", seconds, "How long to run")
      ->check(CLI::PositiveNumber);
  app.add_option("--report-seconds", report_seconds,
                 "Print the tally this often")
      ->check(CLI::PositiveNumber);
  app.add_option("--unary-threads", options.unary_threads, "Decide loops");
  app.add_option("--batch-threads", options.batch_threads, "BatchDecide loops");
  app.add_option("--batch-size", options.batch_size, "Findings per batch");
  app.add_option("--stream-threads", options.stream_threads,
                 "StreamDecide loops");
  app.add_flag("--no-faults", no_faults, "Well-behaved calls only");
  CLI11_PARSE(app, argc, argv);
  options.faults = !no_faults;

  const absl::Time start = absl::Now();
  const absl::Time end = start + absl::Seconds(seconds);
  treatd::MixedLoad load(target, options);
  for (absl::Time next = start + absl::Seconds(report_seconds);;
       next += absl::Seconds(report_seconds)) {
    const absl::Time now = absl::Now();
    if (now >= end) break;
    absl::SleepFor(std::min(next, end) - now);
    std::printf("t=%.0fs calls=%lld %s\n",
                absl::ToDoubleSeconds(absl::Now() - start),
                static_cast<long long>(load.tally().total()),
                load.tally().Text().c_str());
    std::fflush(stdout);
  }
  load.Stop();
  std::map<grpc::StatusCode, int64_t> by_status;
  for (const auto& [kind, codes] : load.tally().counts()) {
    for (const auto& [code, n] : codes) by_status[code] += n;
  }
  std::printf("total: %lld calls in %.0fs;",
              static_cast<long long>(load.tally().total()),
              absl::ToDoubleSeconds(absl::Now() - start));
  for (const auto& [code, n] : by_status) {
    std::printf(" %s=%lld", treatd::StatusCodeName(code).c_str(),
                static_cast<long long>(n));
  }
  std::printf("\nby kind: %s\n", load.tally().Text().c_str());
  return 0;
}
