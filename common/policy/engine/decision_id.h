// The decision id (docs/policy-language.md): the XXH3 128-bit hash, as 32
// lowercase hex digits in canonical (big-endian) order, of
// "<policy digest>\n<as_of in RFC 3339>\n<the finding's deterministic
// protobuf serialization>". A non-cryptographic hash is enough for an
// identifier of the decision (nothing is authenticated with it) and is
// over ten times cheaper than SHA-256 on a typical finding.
//
// The finding's bytes are written by a hand-written encoder for
// treatd.v1.Finding that produces exactly what protobuf's deterministic
// serialization does (fields in number order, proto3 defaults left out,
// map entries sorted by key) without protobuf's size pass (ByteSizeLong)
// and UTF-8 checks, which were two thirds of the id's cost. A finding
// carrying unknown fields is serialized by protobuf itself. A test
// compares both encoders over every field of the schema, so a field added
// to finding.proto and not here fails it.
//
// Thread safety: the functions keep a per-thread buffer; any number of
// threads may call them at once.
#ifndef TREATD_COMMON_POLICY_ENGINE_DECISION_ID_H_
#define TREATD_COMMON_POLICY_ENGINE_DECISION_ID_H_

#include <string>

#include "absl/time/time.h"
#include "common/policy/engine/xxh3.h"
#include "google/protobuf/message.h"
#include "treatd/v1/finding.pb.h"
#include "treatd/v1/policy.pb.h"

namespace treatd {

// Replaces `*out` with the decision id of `finding` decided by the policy
// `ref` at `as_of`. Deterministic; never fails.
void DecisionId(const v1::PolicyRef& ref, absl::Time as_of,
                const v1::Finding& finding, std::string* out);

// Appends the deterministic protobuf serialization of `finding` to `*out`:
// the same bytes as SerializeToString() with SetSerializationDeterministic.
// Exposed for the test that holds the encoder to protobuf's.
void AppendDeterministicFinding(const v1::Finding& finding, std::string* out);

// The same for a message of one of the types a Finding holds (Finding,
// its sub-messages, google.protobuf.Timestamp), written as its own
// top-level message: appends its deterministic serialization and returns
// true. Returns false, appending nothing, for any other type, a dynamic
// message, or a message with unknown fields. Skips the UTF-8 checks
// protobuf's serializer makes, which cost more than the encoding (the
// core cache's keys hold compensating controls this way).
bool AppendDeterministicMessage(const google::protobuf::Message& m,
                                std::string* out);

namespace internal {

// The 32 hex digits of a decision id for `hash` (high64 then low64, each
// big-endian), written to `out` (no terminator). DecisionId() uses
// HashHexSse2() where it is compiled (x86-64 with SSE2) and
// HashHexScalar() elsewhere; both are exposed so that a test holds them
// to the same digits on any machine that has both.
void HashHexScalar(const Xxh3Hash128& hash, char out[32]);
#if defined(__x86_64__) && defined(__SSE2__)
void HashHexSse2(const Xxh3Hash128& hash, char out[32]);
#endif

}  // namespace internal

}  // namespace treatd

#endif  // TREATD_COMMON_POLICY_ENGINE_DECISION_ID_H_
