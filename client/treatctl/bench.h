// treatctl bench: a closed-loop load generator for capacity planning against
// any treatd. It keeps `concurrency` calls (or streams) busy for a fixed
// time with findings read from a file and prints the throughput (calls and
// findings per second), the latency distribution and the errors.
//
//   unary   Decide, one finding per call
//   batch   BatchDecide, `batch` findings per call
//   stream  StreamDecide, `concurrency` streams of messages of `batch`
//           findings (1: `finding`, more: a `findings` chunk), each
//           stream keeping up to `window` findings in flight
//
// `--prebuilt` (stream mode) sends each message's bytes serialized once
// before the run and reads answers as bytes, parsing only the results that
// are errors: like a generic load generator sending a prebuilt request, the
// client then costs little beside the server it measures.
//
// QPS counts calls (unary, batch) or stream messages answered, findings/s
// the findings decided, and latency is per call or per message.
//
// `--write-request FILE` writes one serialized DecideRequest (unary) or
// BatchDecideRequest (batch) built from the same findings instead, for
// generic load generators that send request bytes.
//
// Not thread-safe: run one bench at a time per set of streams.
#ifndef TREATD_CLIENT_TREATCTL_BENCH_H_
#define TREATD_CLIENT_TREATCTL_BENCH_H_

#include <ostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "treatd/v1/treatment_service.pb.h"

namespace treatd {

struct BenchFlags {
  std::string target;
  std::vector<std::string> inputs;
  std::string mode = "unary";
  int concurrency = 8;
  double duration_seconds = 10;
  double warmup_seconds = 1;
  // Findings per BatchDecide call or per StreamDecide message; 0: 100 in
  // batch mode, 1 in stream mode.
  int batch = 0;
  // Findings sent and not yet answered, per stream; 0: 32, or two messages
  // when that is more. At least one message.
  int window = 0;
  // Stream mode: messages serialized once before the run and answers
  // checked from their bytes (errors only), not parsed.
  bool prebuilt = false;
  bool tls = false;
  std::string tls_ca_file;
  std::string token;
  bool json = false;
  std::string label;
  std::string write_request;
  v1::DecisionView view = v1::DECISION_VIEW_FULL;
  // --record: the server records the decisions in its ledger. Off by
  // default: a bench measures, its calls are what-if calls (skip_record).
  bool record = false;
};

// Adds `--view basic|full` (the request's DecisionView, case-insensitive)
// to `command`, writing into `view`; shared by decide, policy eval and
// bench.
CLI::Option* AddViewOption(CLI::App* command, v1::DecisionView* view);

// Adds the `bench` subcommand to `app`; the flags land in `flags`.
CLI::App* AddBenchCommand(CLI::App* app, BenchFlags* flags);

// Runs the bench `flags` describe, printing the report to `out` and
// problems to `err`. Returns a treatctl exit code: OK when every call
// succeeded, kExitFailures when some failed, kExitUsage for bad flags or
// inputs, kExitRpcFailure when no call succeeded.
int RunBench(const BenchFlags& flags, std::ostream& out, std::ostream& err);

}  // namespace treatd

#endif  // TREATD_CLIENT_TREATCTL_BENCH_H_
