// Inputs the benchmarks share: files of the source tree and the example
// findings. TREATD_SOURCE_DIR is defined by bench/CMakeLists.txt.
#ifndef TREATD_BENCH_BENCH_DATA_H_
#define TREATD_BENCH_BENCH_DATA_H_

#include <string>
#include <vector>

#include "treatd/v1/finding.pb.h"

namespace treatd::bench {

// Prints "<tool>: <what>" and aborts: a benchmark without its inputs
// measures nothing.
[[noreturn]] void Die(const std::string& what);

// The content of `relative` (e.g. "policies/default.yaml") in the source
// tree; dies when it cannot be read.
std::string ReadSource(const std::string& relative);

// examples/findings.jsonl, parsed once: every kind, KEV and non-KEV
// vulnerabilities, exceptions, nested messages, lists, maps, timestamps.
// All valid. Dies when the file is missing, empty or malformed.
const std::vector<v1::Finding>& ExampleFindings();

}  // namespace treatd::bench

#endif  // TREATD_BENCH_BENCH_DATA_H_
