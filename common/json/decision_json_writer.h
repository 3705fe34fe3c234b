// The JSON of a DecisionResult, written field by field by code that knows
// the message, byte for byte what protobuf's
// google::protobuf::util::MessageToJsonString(result, &out) writes with its
// default options (lowerCamelCase names, defaults omitted, enums by name,
// RFC 3339 timestamps, protobuf's string escaping and double formatting).
// treatctl's JSONL output writes one per decision: protobuf's printer
// serializes the message and walks it through descriptors and a type
// resolver, several times the cost of the decision's bytes.
//
// Anything the hand-written path is not sure to print as protobuf does (a
// string that is not strict UTF-8, an enum number without a name, a
// timestamp outside 0001..9999, unknown fields) is handed to protobuf's
// printer, so the output and errors are protobuf's in every case.
//
// Stateless; thread-safe.
#ifndef TREATD_COMMON_JSON_DECISION_JSON_WRITER_H_
#define TREATD_COMMON_JSON_DECISION_JSON_WRITER_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "treatd/v1/treatment_service.pb.h"

namespace treatd::json {

// Appends the JSON of `result` to `*out`. On error (only what protobuf's
// printer fails on: a timestamp out of range, a string protobuf cannot
// print) returns INVALID_ARGUMENT with protobuf's message, and `*out` keeps
// what it held before the call.
absl::Status AppendDecisionResultJson(const v1::DecisionResult& result,
                                      std::string* out);

// AppendDecisionResultJson() for the DecisionResult whose wire bytes are
// `wire` (e.g. one of a StreamDecideResponse's `results`, not parsed), with
// `index`, when set, in place of the bytes' own index. Bytes as protobuf's
// serializer writes them (known fields in field-number order) are written
// as they are read, without building messages; any others are parsed and
// written as the message, so the output is byte for byte
// MessageToJsonString's of the parsed message in every case.
// `notes`, when not null, receives at least the result's finding_id, the
// presence of its decision or error, the error's code and the decision's
// treatment, priority, priority_rank, matched_rule, mitigate_by and
// remediate_by (what a run summary reads); the whole message when the bytes
// were parsed. INVALID_ARGUMENT when protobuf's parser refuses the bytes
// (`*out` as it was), or as AppendDecisionResultJson().
absl::Status AppendDecisionResultJsonFromWire(absl::string_view wire,
                                              std::optional<int32_t> index,
                                              std::string* out,
                                              v1::DecisionResult* notes);

// What a CSV row and a run summary read of the DecisionResult whose wire
// bytes are `wire`, read into `*notes` without writing JSON: its
// finding_id, `index` when set (else not read), the presence of its
// decision or error, the error's code and message, and the decision's
// treatment, priority, priority_rank, matched_rule, mitigate_by,
// remediate_by, review_by, exception id and applied, residual_risk and
// reasons, each as protobuf's parser sets it; the whole message when the
// bytes are not as protobuf's serializer writes them (then parsed).
// INVALID_ARGUMENT when protobuf's parser refuses the bytes (as
// AppendDecisionResultJsonFromWire(); `*notes` cleared).
absl::Status ReadDecisionResultNotesFromWire(absl::string_view wire,
                                             std::optional<int32_t> index,
                                             v1::DecisionResult* notes);

namespace internal {
// The hand-written path alone, for tests: appends and returns true, or
// returns false (leaving `*out` as it was) where protobuf's printer would
// be asked.
bool AppendDecisionResultJsonDirect(const v1::DecisionResult& result,
                                    std::string* out);
// The bytes walk alone: appends and returns true, or returns false
// (leaving `*out` as it was) where the bytes would be parsed.
bool AppendDecisionResultJsonFromWireDirect(absl::string_view wire,
                                            std::optional<int32_t> index,
                                            std::string* out,
                                            v1::DecisionResult* notes);
// The walk of ReadDecisionResultNotesFromWire() alone: true, or false
// where the bytes would be parsed (`*notes` then meaningless).
bool ReadDecisionResultNotesFromWireDirect(absl::string_view wire,
                                           v1::DecisionResult* notes);
}  // namespace internal

}  // namespace treatd::json

#endif  // TREATD_COMMON_JSON_DECISION_JSON_WRITER_H_
