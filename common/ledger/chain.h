// The hash chain: the canonical encoding of an event (the bytes that are
// stored and hashed) and the link hash. docs/ledger.md describes the
// encoding so that anyone can re-verify an export without treatd.
//
// Pure functions; thread-safe.
#ifndef TREATD_COMMON_LEDGER_CHAIN_H_
#define TREATD_COMMON_LEDGER_CHAIN_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/ledger/event.h"

namespace treatd::ledger {

// The previous hash of the first event.
inline constexpr absl::string_view kGenesisHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

// The canonical encoding of `event`: compact JSON, keys sorted, absent and
// empty fields left out, times as integer microseconds since the Unix epoch,
// enums by name; invalid UTF-8 in a string is replaced by U+FFFD. Covers
// every reported and assigned field except `hash`,
// `prev_hash` and decision.finding_snapshot. Deterministic: the same event
// gives the same bytes on every platform this builds on.
std::string CanonicalEncoding(const Event& event);

// `event` with the fields the ledger assigns (seq, recorded_at, states,
// recurrence) set to fixed values (recorded_at: the Unix epoch): what its
// reporter said. Its encoding is the content a derived idempotency key
// hashes, so these values never change.
Event ReportedPart(Event event);

// CanonicalEncoding in two steps, so that the part an event's reporter
// fills can be encoded on the reporter's thread and the ledger's single
// writer only appends what it assigns (seq, recorded_at, states,
// recurrence). CanonicalPrefix encodes the reported fields (an opaque
// string; empty when the event's text takes the reference encoder, so a
// non-empty prefix also says that all of the event's text is ASCII);
// CanonicalEncodingFromPrefix(CanonicalPrefix(e'), e) equals
// CanonicalEncoding(e) for any e' that differs from e only in assigned
// fields.
std::string CanonicalPrefix(const Event& event);
std::string CanonicalEncodingFromPrefix(std::string prefix, const Event& event);

// Where a prefix holds the values that ElideColumnValues leaves out
// (finding, idempotency_key, kind, occurred_at): [begin, end) byte offsets
// of each value as written, empty where it stays in the stored body.
struct PrefixMarks {
  struct Range {
    uint32_t begin = 0;
    uint32_t end = 0;
  };
  Range values[4];
};

// CanonicalPrefix, also saying where the prefix holds those values.
std::string CanonicalPrefix(const Event& event, PrefixMarks& marks);

// The event's canonical encoding (CanonicalEncodingFromPrefix) and, in
// `stored`, ElideColumnValues of it for the event's columns, without
// searching the encoding for the values: `prefix` and `marks` come from
// one CanonicalPrefix(e', marks) call with e' as for
// CanonicalEncodingFromPrefix, and `prefix` is not empty.
std::string CanonicalEncodingFromPrefix(std::string prefix,
                                        const PrefixMarks& marks,
                                        const Event& event,
                                        std::string& stored);

// The reference implementation of CanonicalEncoding (a JSON tree dumped by
// nlohmann::json). CanonicalEncoding writes events whose text is all ASCII
// directly and must give the same bytes; it uses this one for the rest.
// Tests compare the two.
std::string CanonicalEncodingGeneral(const Event& event);

// Decodes a canonical encoding (as stored) back into an event; `hash` and
// `prev_hash` are left empty. INVALID_ARGUMENT when `body` is not one.
absl::StatusOr<Event> DecodeCanonical(absl::string_view body);

// Lower-case hex SHA-256 of prev_hash + "\n" + body.
std::string LinkHash(absl::string_view prev_hash, absl::string_view body);

// The fields of an event that the events table also keeps as columns.
struct EventColumns {
  int64_t seq = 0;
  absl::string_view finding_key;
  EventKind kind = EventKind::kDecision;
  int64_t occurred_us = 0;
  int64_t recorded_us = 0;
  absl::string_view idempotency_key;
};

// The stored form of a canonical encoding (schema version 4 on): the values
// of its top-level fields finding, idempotency_key, kind, occurred_at,
// recorded_at and seq are replaced by '@' where they are exactly what
// `columns` renders (`"seq":@`), so each is stored once, in its column
// (~170 bytes of a ~750-byte decision). The chain still hashes the
// canonical encoding: RestoreColumnValues(ElideColumnValues(c, cols), cols)
// == c for every canonical encoding c of an event with those columns.
std::string ElideColumnValues(absl::string_view canonical,
                              const EventColumns& columns);

// The canonical encoding back from a stored body: every `"key":@` gets the
// value of `columns`. A body without one (stored whole, as every event
// before schema version 4) comes back unchanged. DATA_LOSS when a left-out
// value is not one of the columns (an edited body). An edited column gives
// different bytes, which no longer hash to the event's hash.
absl::StatusOr<std::string> RestoreColumnValues(absl::string_view stored,
                                                const EventColumns& columns);

}  // namespace treatd::ledger

#endif  // TREATD_COMMON_LEDGER_CHAIN_H_
