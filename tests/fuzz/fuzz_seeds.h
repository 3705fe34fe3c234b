// The seed corpus and dictionary of every fuzz target, derived from the
// repository's own files at run time rather than copied into tests/fuzz:
// the shipped and benchmark policies (and the expressions in them), the
// example findings and the policy test cases' findings as protobuf bytes,
// the scanner samples (whole, and with every array cut to two elements),
// the intel feeds (cut to a few entries), the asset inventories and the
// tokens-file example of the README. Policy and expression dictionaries come
// from the proto descriptors, so they follow the schema; JSON dictionaries
// from the keys of the samples.
//
// Used by treatd_fuzz_seeds (for run_fuzzers.sh) and by the corpus replay
// test. Not thread-safe (writes files).
#ifndef TREATD_TESTS_FUZZ_FUZZ_SEEDS_H_
#define TREATD_TESTS_FUZZ_FUZZ_SEEDS_H_

#include <map>
#include <string>

namespace treatd::fuzz {

// Writes OUT_DIR/seeds/<target>/* and OUT_DIR/dict/<target>.dict for every
// target from the tree at `source_dir`, overwriting earlier files. Returns
// the number of seeds per target. Exits the process when a source file
// cannot be read.
std::map<std::string, int> WriteSeeds(const std::string& source_dir,
                                      const std::string& out_dir);

}  // namespace treatd::fuzz

#endif  // TREATD_TESTS_FUZZ_FUZZ_SEEDS_H_
