// The answers of TreatmentService.StreamDecide as bytes: a
// StreamDecideResponse split into its fields without parsing its results,
// for a client that writes each result from its bytes. Internal to the
// client library (not installed); no gRPC, so the fuzzers link it.
//
// Stateless functions; a StreamAnswer is used by one thread at a time.
#ifndef TREATD_CLIENT_STREAM_ANSWER_H_
#define TREATD_CLIENT_STREAM_ANSWER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "treatd/v1/treatment_service.pb.h"

namespace treatd::internal {

// The fields of a StreamDecideResponse, its results as their bytes.
struct StreamAnswer {
  uint64_t sequence = 0;
  // The bytes of `result` (empty when absent).
  absl::string_view result;
  std::vector<absl::string_view> results;
  // The answer re-encoded when it came in another encoding (views above
  // point here then).
  v1::StreamDecideResponse parsed;
  std::vector<std::string> reencoded;
};

// Splits a StreamDecideResponse's bytes into `*answer` (whose views point
// into `bytes`, or into the answer itself). Bytes as treatd's serializer
// writes them (each field with its wire type, `result` at most once) are
// split as they are; anything else is parsed by protobuf and its results
// re-encoded, so each view parses to what protobuf's parser reads from
// `bytes`. Returns false when the answer's own fields are malformed; the
// bytes of each result are not checked here (their parse or
// json::AppendDecisionResultJsonFromWire does), so protobuf refusing the
// whole answer means that some view does not parse.
bool SplitStreamAnswer(absl::string_view bytes, StreamAnswer* answer);

// Whether a DecisionResult's bytes set `error`, as protobuf's parser
// reads them (the oneof's last member given wins); false for bytes that do
// not parse, whose parse reports them.
bool HasItemError(absl::string_view bytes);

}  // namespace treatd::internal

#endif  // TREATD_CLIENT_STREAM_ANSWER_H_
