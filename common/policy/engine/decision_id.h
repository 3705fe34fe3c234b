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

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
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

// Which singular fields of a Finding a policy's core cache key holds
// (core_projection.cc fills it per policy), by message and field number,
// for DecisionIdHashAndKey(): the id's encoder walks every field anyway,
// and writing the key's facts on that walk spares a second one.
struct FindingKeyFields {
  // The messages of finding.proto the encoder walks below a Finding
  // through singular fields (CompensatingControl: none of its fields is
  // ever wanted: Finding's field 20, compensating_controls, wanted means
  // their number and each one's deterministic bytes).
  enum Message : uint8_t {
    kFinding,
    kVulnerability,
    kCvss,
    kEpss,
    kKev,
    kPackage,
    kFix,
    kAsset,
    kMisconfiguration,
    kSecret,
    kMalware,
    kVex,
    kCompensatingControl,
    kMessages
  };
  static constexpr int kMaxField = 32;
  struct Field {
    // The key holds the field: a message field's presence (the walk then
    // writes the wanted fields below it when it is set); a timestamp's or
    // an `optional double`'s presence and value; any other field's value.
    bool wanted = false;
    // For a string: the index in `atoms` of the constants the key holds
    // which one of it equals (or that it equals none), instead of its
    // text; -1 for the text.
    int16_t atoms = -1;
  };
  Field fields[kMessages][kMaxField];
  std::vector<std::vector<absl::string_view>> atoms;

  // The message `type` is, or kMessages for any other (Timestamp, a
  // dynamic message's descriptor).
  static Message Of(const google::protobuf::Descriptor* type);
  // Whether the walk writes `field` when wanted: a singular field of one
  // of the messages above, or compensating_controls.
  static bool Walked(const google::protobuf::FieldDescriptor* field);
};

// DecisionId()'s hash, and, in the same walk of the finding, the facts
// `fields` wants appended to `*key` from byte `key_start` on (the buffer
// may be left longer: `*key_end` says where they end). The order is fixed
// by the schema and `fields`, so equal bytes mean equal facts. Returns
// false when the finding carries unknown fields: the hash is still the
// id's, but the key's bytes are not to be used (protobuf then wrote the
// id's bytes, and a control's bytes would leave its unknown fields out).
bool DecisionIdHashAndKey(const v1::PolicyRef& ref, absl::Time as_of,
                          const v1::Finding& finding,
                          const FindingKeyFields& fields, std::string* key,
                          size_t key_start, size_t* key_end, Xxh3Hash128* hash);

// Replaces `*out` with the decision id of `hash` (DecisionIdHashAndKey()).
void DecisionIdFromHash(const Xxh3Hash128& hash, std::string* out);

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
