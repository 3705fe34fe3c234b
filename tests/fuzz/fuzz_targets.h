// The bodies of treatd's libFuzzer targets, one per entry point that takes
// bytes from outside: policy YAML, expressions, Finding protobufs, the
// scanner importers and format detection, VEX documents (--vex), the
// findings treatctl reads, the KEV and EPSS feeds, the tokens file and the
// asset inventories.
//
// Each body takes one input and returns 0. It must not crash, hang or trip
// a sanitizer on any input; where two computations must agree (the tree and
// array evaluators, the validator's fast path and its reflection walk) it
// checks that too and calls FuzzFail() when they do not. The bodies know
// nothing of libFuzzer: each fuzzer binary (fuzzer_main.cc.in) calls one,
// and the ordinary test suite (corpus_replay_test.cc) replays the checked-in
// corpus through all of them, so every crash found once stays a test.
//
// Thread safety: bodies keep process-wide read-only state (the default
// policy, the feeds, sample findings) built on first use; call them from
// one thread at a time.
#ifndef TREATD_TESTS_FUZZ_FUZZ_TARGETS_H_
#define TREATD_TESTS_FUZZ_FUZZ_TARGETS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace treatd::fuzz {

using FuzzBody = int (*)(const uint8_t* data, size_t size);

// Policy YAML -> compiled policy; when it compiles, the revisit analysis and
// a decision (with trace) of each sample finding.
int PolicyYaml(const uint8_t* data, size_t size);
// A `treatctl test` suite (PolicyTestSuite YAML); the findings of its first
// cases go on as FindingProto's input.
int PolicyTestsYaml(const uint8_t* data, size_t size);
// Expression text -> parse -> check -> evaluate over the sample findings
// with both evaluators (which must agree), and the explanation.
int Expression(const uint8_t* data, size_t size);
// Finding protobuf bytes -> validation (fast path and reflection walk must
// agree) -> decision with trace and revisit conditions by the default
// policy and the repository's feeds.
int FindingProto(const uint8_t* data, size_t size);
// Scanner documents, each read as one format; and format detection.
int ImportTrivy(const uint8_t* data, size_t size);
int ImportGrype(const uint8_t* data, size_t size);
int ImportSarif(const uint8_t* data, size_t size);
int ImportCycloneDx(const uint8_t* data, size_t size);
int ImportOpenVex(const uint8_t* data, size_t size);
int ImportCsaf(const uint8_t* data, size_t size);
// A Trivy document seeded with `trivy k8s` cluster reports: cluster
// findings are Kubernetes assets (container or cloud resource).
int ImportTrivyCluster(const uint8_t* data, size_t size);
int DetectFormat(const uint8_t* data, size_t size);
// A --vex document (any VEX format) -> VexStatements, applied to the sample
// findings and to the document's own statements.
int VexDocument(const uint8_t* data, size_t size);
// treatctl's findings input (JSON object, array or JSON Lines) framed by
// FindingReader; each finding it reads goes on as FindingProto's input.
int FindingJson(const uint8_t* data, size_t size);
// One JSON text read as a Finding by common/json's ProtoJsonReader (the
// simdjson fast path with protobuf's parser behind it) and by protobuf's
// JsonStringToMessage: both must accept or reject it alike, with the same
// message, or the same status code and error text.
int ProtoJsonReader(const uint8_t* data, size_t size);
// The wire bytes of a DecisionResult (as a server answers) written as JSON
// by common/json's AppendDecisionResultJsonFromWire and by protobuf's parser
// and MessageToJsonString: the same JSON or both refusing, and the notes it
// hands out equal to the parsed message's fields.
int DecisionResultWire(const uint8_t* data, size_t size);
// A StreamDecideResponse's bytes split by the client's SplitStreamAnswer
// and parsed by protobuf: the same sequence and results (each view parses
// to protobuf's field), or protobuf refusing only what a view shows wrong.
int StreamAnswer(const uint8_t* data, size_t size);
// Threat-intel feeds.
int KevJson(const uint8_t* data, size_t size);
int EpssCsv(const uint8_t* data, size_t size);
// The tokens file parser (server/security, without gRPC).
int TokensFile(const uint8_t* data, size_t size);
// Asset inventories.
int InventoryYaml(const uint8_t* data, size_t size);
int InventoryCsv(const uint8_t* data, size_t size);

struct FuzzTarget {
  // The fuzzer's name: fuzz_<name> is its binary, tests/fuzz/corpus/<name>
  // its checked-in corpus, <name>.dict its dictionary.
  const char* name;
  FuzzBody body;
};

// Every target, in a stable order.
const std::vector<FuzzTarget>& AllTargets();

// Reports a broken invariant on stderr and aborts, so that libFuzzer saves
// the input and the replay test fails.
[[noreturn]] void FuzzFail(absl::string_view what);

// Reads a file of the source tree (path relative to its root); aborts when
// it cannot (the fuzzers are run from a build of this tree).
std::string ReadSourceFile(absl::string_view relative_path);

}  // namespace treatd::fuzz

#endif  // TREATD_TESTS_FUZZ_FUZZ_TARGETS_H_
