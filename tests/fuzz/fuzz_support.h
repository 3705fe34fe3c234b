// Shared state of the fuzz target bodies: the repository's example
// findings, parsed once. Internal to tests/fuzz.
#ifndef TREATD_TESTS_FUZZ_FUZZ_SUPPORT_H_
#define TREATD_TESTS_FUZZ_FUZZ_SUPPORT_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "treatd/v1/finding.pb.h"

namespace treatd::fuzz {

// The findings of examples/findings.jsonl (all valid), plus an empty
// finding with only id and kind. Built on first use; never freed.
const std::vector<v1::Finding>& SampleFindings();

// The input as text.
inline absl::string_view AsText(const uint8_t* data, size_t size) {
  return absl::string_view(reinterpret_cast<const char*>(data), size);
}

// FuzzFail()s unless `status` is OK or has code `allowed`: each entry point
// documents the one code its bad input gets (INVALID_ARGUMENT for parsers,
// INTERNAL for a policy that cannot decide); any other is a bug.
void ExpectOkOr(absl::StatusCode allowed, const absl::Status& status,
                absl::string_view what);

// Whether `a` and `b` hold the same fields, unknown fields included. Unlike
// MessageDifferencer::Equals, a NaN equals a NaN: both sides read the same
// bytes, so a NaN on one side is the same NaN on the other.
bool SameMessage(const google::protobuf::Message& a,
                 const google::protobuf::Message& b);

// The evaluation time every body uses, so runs are reproducible:
// 2026-12-01T00:00:00Z.
absl::Time FuzzNow();

}  // namespace treatd::fuzz

#endif  // TREATD_TESTS_FUZZ_FUZZ_SUPPORT_H_
