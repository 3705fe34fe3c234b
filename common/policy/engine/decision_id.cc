// The decision id and the hand-written deterministic encoder of
// treatd.v1.Finding behind it (see decision_id.h for why it exists).
#include "common/policy/engine/decision_id.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

#if defined(__x86_64__) && defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "absl/base/attributes.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/string_view.h"
#include "common/expr/runtime/value.h"
#include "common/policy/engine/unknown_fields.h"
#include "common/policy/engine/xxh3.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/map.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "google/protobuf/timestamp.pb.h"

namespace treatd {
namespace {

using google::protobuf::Map;
using google::protobuf::RepeatedPtrField;

using internal::FindingKeyFields;
// A message's row of FindingKeyFields::fields (null for an encoder that
// writes no key).
using KeyRow = const FindingKeyFields::Field*;

// Protobuf's wire format appended to a string: the subset Finding uses.
// Bytes are stored through a raw pointer into the string, grown ahead of
// each field (std::string::append per field cost more than protobuf's own
// serializer). Messages are written in place with a one-byte length that
// End() widens when the content turns out longer (a memmove of the
// content), which spares the size pass protobuf makes first.
//
// kKeyed: the encoder also writes the facts a FindingKeyFields wants into
// a second buffer, the core cache's key (DecisionIdHashAndKey()), as it
// meets their fields. Each field method takes its message's KeyRow, which
// the other instance ignores.
// The most bytes the encoder writes between two Reserve() calls: each
// field of each message a Finding holds written once, at most as a
// timestamp (its tag and length, then two tagged varints: 3 × 15 bytes).
size_t FixedRoom() {
  static const size_t room = [] {
    size_t fields = 0;
    for (const google::protobuf::Descriptor* d :
         {v1::Finding::descriptor(), v1::Vulnerability::descriptor(),
          v1::Cvss::descriptor(), v1::Epss::descriptor(), v1::Kev::descriptor(),
          v1::Package::descriptor(), v1::Fix::descriptor(),
          v1::Asset::descriptor(), v1::Misconfiguration::descriptor(),
          v1::Secret::descriptor(), v1::Malware::descriptor(),
          v1::Vex::descriptor(), v1::CompensatingControl::descriptor(),
          google::protobuf::Timestamp::descriptor()}) {
      fields += d->field_count();
    }
    return fields * 3 * 15;
  }();
  return room;
}

template <bool kKeyed>
class Encoder {
 public:
  static constexpr bool kWritesKey = kKeyed;
  // Writes into `*out` from byte `start` on, over whatever it holds, and
  // leaves it as long as it grew (end() says where the bytes end): a
  // buffer reused this way is not zero-filled again on every call, which
  // resize() would do.
  Encoder(std::string* out, size_t start) : out_(out), room_(FixedRoom()) {
    if (out_->size() < start + 512 + room_) out_->resize(start + 512 + room_);
    p_ = out_->data() + start;
    end_ = out_->data() + out_->size();
  }
  // The same, writing the facts `fields` wants into `*key` from
  // `key_start` on (the same way: key_end() says where they end).
  Encoder(std::string* out, size_t start, const FindingKeyFields& fields,
          std::string* key, size_t key_start)
      : Encoder(out, start) {
    static_assert(kKeyed);
    fields_ = &fields;
    key_ = key;
    kp_ = key_->data() + key_start;
    KeyRoom(0);
  }
  size_t end() const { return p_ - out_->data(); }
  size_t key_end() const { return kp_ - key_->data(); }
  Encoder(const Encoder&) = delete;
  Encoder& operator=(const Encoder&) = delete;

  // The key fields of `message` (null without a key).
  ABSL_ATTRIBUTE_ALWAYS_INLINE KeyRow
  Row(FindingKeyFields::Message message) const {
    if constexpr (kKeyed) {
      return fields_->fields[message];
    } else {
      return nullptr;
    }
  }
  // Whether the key wants `field` of the message whose row is `k`.
  ABSL_ATTRIBUTE_ALWAYS_INLINE static bool Wants(KeyRow k, int field) {
    if constexpr (kKeyed) {
      return k[field].wanted;
    } else {
      return false;
    }
  }

  // Notes that `m` carries fields this encoder does not know (a newer
  // client's); the caller then lets protobuf write the bytes.
  template <typename M>
  void Check(const M& m) {
    // Generated classes of protobuf 3.21 have no unknown_fields(): the
    // metadata's flag first (inline), then their Reflection, looked up
    // once per type, which reads the set without a virtual call.
    if (!internal::UnknownFieldsPeek::MayHave(m)) return;
    static const google::protobuf::Reflection* const reflection =
        M::GetReflection();
    unknown_ |= !reflection->GetUnknownFields(m).empty();
  }
  bool unknown() const { return unknown_; }

  // Through a local pointer: a char store may alias the member p_, which
  // the compiler would otherwise reload after every byte.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Varint(uint64_t v) {
    char* p = p_;
    while (v >= 0x80) {
      *p++ = static_cast<char>(v | 0x80);
      v >>= 7;
    }
    *p++ = static_cast<char>(v);
    p_ = p;
  }
  // The buffer always has FixedRoom() bytes free for the fixed-size
  // writes (tags, varints, doubles, lengths), which therefore check
  // nothing: Reserve(n) before each write of variable size (a string, a
  // length widened) makes room for its `n` bytes and FixedRoom() after
  // them, and the walk reserves before each element of a repeated message
  // field. A tag takes at most 5 bytes and a varint 10.
  static constexpr size_t kMaxHead = 15;
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Reserve(size_t n) {
    if (static_cast<size_t>(end_ - p_) < n + room_) Grow(n + room_);
  }
  // One byte for fields 1 to 15, which a call with a constant field
  // number folds to.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Tag(int field, int wire_type) {
    const uint32_t tag = static_cast<uint32_t>(field) << 3 | wire_type;
    if (tag < 0x80) {
      *p_++ = static_cast<char>(tag);
    } else {
      Varint(tag);
    }
  }

  // Singular proto3 fields: nothing when the value is the default.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void String(int field, const std::string& s,
                                           KeyRow k) {
    if (Wants(k, field)) KeyString(k[field], s);
    if (!s.empty()) Bytes(field, s);
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Bool(int field, bool b, KeyRow k) {
    if (Wants(k, field)) KeyFixed<char>(b ? 1 : 0);
    if (b) {
      Tag(field, 0);
      *p_++ = 1;
    }
  }
  // Enums and int32 are sign-extended to 64 bits, as protobuf does.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Int32(int field, int32_t v, KeyRow k) {
    if (Wants(k, field)) KeyFixed<int32_t>(v);
    Int32(field, v);
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Int32(int field, int32_t v) {
    if (v != 0) {
      Tag(field, 0);
      Varint(static_cast<uint64_t>(static_cast<int64_t>(v)));
    }
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Int64(int field, int64_t v) {
    if (v != 0) {
      Tag(field, 0);
      Varint(static_cast<uint64_t>(v));
    }
  }
  // A double with explicit presence (`optional double`): written when set,
  // whatever its value.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Double(int field, bool has, double d,
                                           KeyRow k) {
    if (Wants(k, field)) {
      KeyFixed<char>(has ? 1 : 0);
      KeyFixed<double>(d);  // The bits: injective.
    }
    if (!has) return;
    Tag(field, 1);
    // Fixed64 is little-endian, as the host: the double's bytes as they
    // are (a byte loop cost ~100 instructions a finding).
    static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__);
    std::memcpy(p_, &d, sizeof(d));
    p_ += sizeof(d);
  }
  // A length-delimited field, always written (repeated elements, map keys
  // and values).
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Bytes(int field, absl::string_view s) {
    Reserve(kMaxHead + s.size());
    Tag(field, 2);
    Varint(s.size());
    std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  void Strings(int field, const RepeatedPtrField<std::string>& list) {
    for (const std::string& s : list) Bytes(field, s);
  }
  // map<string, string>, entries sorted by key as in deterministic
  // serialization.
  void StringMap(int field, const Map<std::string, std::string>& map) {
    if (map.empty()) return;
    absl::InlinedVector<const Map<std::string, std::string>::value_type*, 8>
        entries;
    for (const auto& entry : map) entries.push_back(&entry);
    std::sort(entries.begin(), entries.end(),
              [](const auto* a, const auto* b) { return a->first < b->first; });
    for (const auto* entry : entries) {
      // An entry is a message too, but a Map keeps only its key and value.
      const size_t at = Begin(field);
      Bytes(1, entry->first);
      Bytes(2, entry->second);
      End(at);
    }
  }
  // A Timestamp field, written when set; its key fact is its presence and
  // its seconds and nanos (those of the default instance when unset).
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Timestamp(
      int field, bool has, const google::protobuf::Timestamp& t, KeyRow k) {
    if (Wants(k, field)) {
      KeyFixed<char>(has ? 1 : 0);
      KeyFixed<int64_t>(t.seconds());
      KeyFixed<int32_t>(t.nanos());
    }
    if (!has) return;
    Check(t);
    // A tag, a length and at most two tagged varints: the length always
    // fits one byte.
    Tag(field, 2);
    char* const length_at = p_++;
    if (t.seconds() != 0) {
      Tag(1, 0);
      Varint(static_cast<uint64_t>(t.seconds()));
    }
    if (t.nanos() != 0) {
      Tag(2, 0);
      Varint(static_cast<uint64_t>(static_cast<int64_t>(t.nanos())));
    }
    *length_at = static_cast<char>(p_ - length_at - 1);
  }

  // Opens a message field; returns where its length goes, for End().
  size_t Begin(int field) {
    Tag(field, 2);
    *p_++ = 0;
    return p_ - out_->data() - 1;
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE void End(size_t at) {
    char* length_at = out_->data() + at;
    const size_t length = p_ - length_at - 1;
    if (length < 0x80) {
      *length_at = static_cast<char>(length);
      return;
    }
    Widen(at, length);
  }
  // End() of a message of 128 bytes or more: its length takes more bytes.
  ABSL_ATTRIBUTE_NOINLINE void Widen(size_t at, size_t length) {
    int n = 1;
    for (uint64_t v = length; v >= 0x80; v >>= 7) ++n;
    Reserve(n);
    char* length_at = out_->data() + at;
    std::memmove(length_at + n, length_at + 1, length);
    p_ += n - 1;
    uint64_t v = length;
    for (int i = 0; i + 1 < n; ++i, v >>= 7) {
      length_at[i] = static_cast<char>(v | 0x80);
    }
    length_at[n - 1] = static_cast<char>(v);
  }
  // The bytes of the message opened at `at` (Begin()) so far, before
  // End(): its content.
  absl::string_view Content(size_t at) const {
    const char* begin = out_->data() + at + 1;
    return absl::string_view(begin, p_ - begin);
  }

  // The key's writes (kKeyed only), through a raw pointer like the
  // encoder's own.
  // A fixed-size write needs no check: see kKeyRoom.
  template <typename T>
  ABSL_ATTRIBUTE_ALWAYS_INLINE void KeyFixed(T v) {
    std::memcpy(kp_, &v, sizeof(v));
    kp_ += sizeof(v);
  }
  void KeyText(absl::string_view s) {
    KeyRoom(sizeof(uint32_t) + s.size());
    KeyFixed<uint32_t>(static_cast<uint32_t>(s.size()));
    std::memcpy(kp_, s.data(), s.size());
    kp_ += s.size();
  }

 private:
  ABSL_ATTRIBUTE_NOINLINE void Grow(size_t n) {
    const size_t used = p_ - out_->data();
    out_->resize(std::max(2 * out_->size(), used + n));
    p_ = out_->data() + used;
    end_ = out_->data() + out_->size();
  }

  // The key has room for every fixed-size write a walk can make after
  // any text: at most 13 bytes (a timestamp's presence, seconds and nanos)
  // for each field of FindingKeyFields, each written once, and the
  // controls' number.
  static constexpr size_t kKeyRoom =
      16 * FindingKeyFields::kMessages * FindingKeyFields::kMaxField;
  // Makes room for `n` bytes of text and kKeyRoom after them.
  void KeyRoom(size_t n) {
    const size_t used = kp_ - key_->data();
    if (key_->size() >= used + n + kKeyRoom) return;
    key_->resize(std::max(2 * key_->size(), used + n + kKeyRoom));
    kp_ = key_->data() + used;
  }
  // A string's fact: which of the field's constants it equals (their
  // number when none), or its text.
  void KeyString(const FindingKeyFields::Field& f, const std::string& s) {
    if (f.atoms < 0) {
      KeyText(s);
      return;
    }
    const std::vector<absl::string_view>& constants = fields_->atoms[f.atoms];
    uint32_t i = 0;
    while (i < constants.size() && constants[i] != s) ++i;
    KeyFixed<uint32_t>(i);
  }

  std::string* out_;
  const size_t room_;
  char* p_;
  char* end_;
  bool unknown_ = false;
  const FindingKeyFields* fields_ = nullptr;
  std::string* key_ = nullptr;
  char* kp_ = nullptr;
};

// One function per message of finding.proto, fields in number order, as
// protobuf's generated serializers write them; each passes its message's
// KeyRow to the field methods.
template <typename E>
void Write(const v1::Cvss& m, E& e) {
  e.Check(m);
  const KeyRow k = e.Row(FindingKeyFields::kCvss);
  e.String(1, m.version(), k);
  e.Double(2, m.has_score(), m.score(), k);
  e.String(3, m.vector(), k);
}

template <typename E>
void Write(const v1::Epss& m, E& e) {
  e.Check(m);
  const KeyRow k = e.Row(FindingKeyFields::kEpss);
  e.Double(1, m.has_score(), m.score(), k);
  e.Double(2, m.has_percentile(), m.percentile(), k);
  e.String(3, m.model_version(), k);
  e.Timestamp(4, m.has_score_date(), m.score_date(), k);
}

template <typename E>
void Write(const v1::Kev& m, E& e) {
  e.Check(m);
  const KeyRow k = e.Row(FindingKeyFields::kKev);
  e.Bool(1, m.listed(), k);
  e.Timestamp(2, m.has_date_added(), m.date_added(), k);
  e.Timestamp(3, m.has_due_date(), m.due_date(), k);
  e.Bool(4, m.known_ransomware_use(), k);
  e.String(5, m.required_action(), k);
}

// A singular message field, written when set; its key fact is its
// presence (the facts below it follow from the walk into it).
template <typename E, typename M>
void Sub(int field, bool has, const M& m, E& e, KeyRow k) {
  if (E::Wants(k, field)) e.template KeyFixed<char>(has ? 1 : 0);
  if (!has) return;
  const size_t at = e.Begin(field);
  Write(m, e);
  e.End(at);
}

template <typename E>
void Write(const v1::Vulnerability& m, E& e) {
  e.Check(m);
  const KeyRow k = e.Row(FindingKeyFields::kVulnerability);
  e.String(1, m.cve_id(), k);
  e.Strings(2, m.aliases());
  e.Strings(3, m.cwe_ids());
  Sub(4, m.has_cvss(), m.cvss(), e, k);
  Sub(5, m.has_epss(), m.epss(), e, k);
  Sub(6, m.has_kev(), m.kev(), e, k);
  e.Int32(7, m.exploit_maturity(), k);
  e.Int32(8, m.automatable(), k);
  e.Int32(9, m.technical_impact(), k);
  e.Timestamp(10, m.has_published(), m.published(), k);
}

template <typename E>
void Write(const v1::Package& m, E& e) {
  e.Check(m);
  const KeyRow k = e.Row(FindingKeyFields::kPackage);
  e.String(1, m.name(), k);
  e.String(2, m.ecosystem(), k);
  e.String(3, m.installed_version(), k);
  e.Strings(4, m.fixed_versions());
  e.String(5, m.purl(), k);
}

template <typename E>
void Write(const v1::Fix& m, E& e) {
  e.Check(m);
  const KeyRow k = e.Row(FindingKeyFields::kFix);
  e.Int32(1, m.availability(), k);
  e.Bool(2, m.change_freeze(), k);
  e.Bool(3, m.restart_required(), k);
  e.Timestamp(4, m.has_next_maintenance_window(), m.next_maintenance_window(),
              k);
}

template <typename E>
void Write(const v1::Asset& m, E& e) {
  e.Check(m);
  const KeyRow k = e.Row(FindingKeyFields::kAsset);
  e.String(1, m.id(), k);
  e.Int32(2, m.type(), k);
  e.Int32(3, m.environment(), k);
  e.Int32(4, m.criticality(), k);
  e.Int32(5, m.exposure(), k);
  e.Int32(6, m.data_classification(), k);
  e.String(7, m.owner(), k);
  e.Strings(8, m.tags());
  e.StringMap(9, m.labels());
  e.String(10, m.name(), k);
}

template <typename E>
void Write(const v1::Misconfiguration& m, E& e) {
  e.Check(m);
  const KeyRow k = e.Row(FindingKeyFields::kMisconfiguration);
  e.String(1, m.check_id(), k);
  e.String(2, m.resource(), k);
  e.String(3, m.setting(), k);
  e.String(4, m.actual(), k);
  e.String(5, m.expected(), k);
}

template <typename E>
void Write(const v1::Secret& m, E& e) {
  e.Check(m);
  const KeyRow k = e.Row(FindingKeyFields::kSecret);
  e.String(1, m.secret_type(), k);
  e.String(2, m.location(), k);
  e.Bool(3, m.verified_active(), k);
  e.Bool(4, m.publicly_exposed(), k);
}

template <typename E>
void Write(const v1::Malware& m, E& e) {
  e.Check(m);
  const KeyRow k = e.Row(FindingKeyFields::kMalware);
  e.String(1, m.family(), k);
  e.String(2, m.path(), k);
  e.String(3, m.sha256(), k);
  e.Bool(4, m.quarantined(), k);
  e.Bool(5, m.active(), k);
}

template <typename E>
void Write(const v1::CompensatingControl& m, E& e) {
  e.Check(m);
  const KeyRow k = e.Row(FindingKeyFields::kCompensatingControl);
  e.Int32(1, m.type(), k);
  e.Int32(2, m.effectiveness(), k);
  e.String(3, m.description(), k);
  e.String(4, m.reference(), k);
}

template <typename E>
void Write(const v1::Vex& m, E& e) {
  e.Check(m);
  const KeyRow k = e.Row(FindingKeyFields::kVex);
  e.Int32(1, m.status(), k);
  e.Int32(2, m.justification(), k);
  e.String(3, m.impact_statement(), k);
  e.String(4, m.action_statement(), k);
  e.String(5, m.status_notes(), k);
  e.String(6, m.author(), k);
  e.Timestamp(7, m.has_timestamp(), m.timestamp(), k);
  e.String(8, m.document_id(), k);
  e.String(9, m.justification_label(), k);
  e.String(10, m.mitigation_statement(), k);
}

template <typename E>
void Write(const v1::Finding& m, E& e) {
  e.Check(m);
  const KeyRow k = e.Row(FindingKeyFields::kFinding);
  e.String(1, m.id(), k);
  e.Int32(2, m.kind(), k);
  e.String(3, m.source(), k);
  e.String(4, m.title(), k);
  e.String(5, m.description(), k);
  e.Int32(6, m.severity(), k);
  Sub(10, m.has_vulnerability(), m.vulnerability(), e, k);
  Sub(11, m.has_package(), m.package(), e, k);
  Sub(12, m.has_fix(), m.fix(), e, k);
  Sub(13, m.has_asset(), m.asset(), e, k);
  Sub(14, m.has_misconfiguration(), m.misconfiguration(), e, k);
  Sub(15, m.has_secret(), m.secret(), e, k);
  Sub(16, m.has_malware(), m.malware(), e, k);
  // The key's fact: the number of controls, then each one's bytes.
  const bool key_controls = E::Wants(k, 20);
  if (key_controls) {
    e.template KeyFixed<uint32_t>(
        static_cast<uint32_t>(m.compensating_controls_size()));
  }
  for (const v1::CompensatingControl& c : m.compensating_controls()) {
    e.Reserve(0);  // FixedRoom() holds one control's fixed fields.
    const size_t at = e.Begin(20);
    Write(c, e);
    if (key_controls) e.KeyText(e.Content(at));
    e.End(at);
  }
  e.Bool(21, m.active_incident(), k);
  e.Timestamp(22, m.has_first_seen(), m.first_seen(), k);
  e.Timestamp(23, m.has_last_seen(), m.last_seen(), k);
  e.StringMap(24, m.attributes());
  e.String(25, m.identity_key(), k);
  Sub(26, m.has_vex(), m.vex(), e, k);
}

// Protobuf's own deterministic serialization, for findings with unknown
// fields, written into `*buffer` from byte `start` on, in place (the
// buffer may be left longer, as by the encoder); returns where the bytes
// end.
size_t WriteProtobufSerialization(const v1::Finding& finding, size_t start,
                                  std::string* buffer) {
  const size_t size = finding.ByteSizeLong();
  if (buffer->size() < start + size) buffer->resize(start + size);
  google::protobuf::io::ArrayOutputStream stream(buffer->data() + start,
                                                 static_cast<int>(size));
  google::protobuf::io::CodedOutputStream coded(&stream);
  // Map fields would otherwise serialize in hash order.
  coded.SetSerializationDeterministic(true);
  finding.SerializeWithCachedSizes(&coded);
  return start + size;
}

// Writes `m` with the encoder into `*buffer` from byte `start` on, in place
// (Encoder's second constructor; the buffer may be left longer), and sets
// `*end` to where the bytes end. False when `m` carries unknown fields: the
// bytes from `start` on are then not `m`'s, and the caller's fallback
// replaces them.
template <typename M>
bool EncodeKnown(const M& m, size_t start, std::string* buffer, size_t* end) {
  Encoder<false> encoder(buffer, start);
  Write(m, encoder);
  *end = encoder.end();
  return !encoder.unknown();
}

// Writes `m`, which must be an M, with the encoder; false (and `*out`
// unchanged) when it carries unknown fields.
// Through a buffer of this thread's that keeps its size: the encoder
// makes room for FixedRoom() bytes past its end, which resize() would
// zero-fill on every call if `*out` were cut back to its bytes after each.
template <typename M>
bool WriteKnown(const google::protobuf::Message& m, std::string* out) {
  thread_local std::string scratch;
  size_t end;
  if (!EncodeKnown(static_cast<const M&>(m), 0, &scratch, &end)) return false;
  out->append(scratch.data(), end);
  return true;
}

// A Timestamp as its own message (Encoder::Timestamp writes it as a
// field).
template <typename E>
void Write(const google::protobuf::Timestamp& t, E& e) {
  e.Check(t);
  e.Int64(1, t.seconds());
  e.Int32(2, t.nanos());
}

}  // namespace

bool AppendDeterministicMessage(const google::protobuf::Message& m,
                                std::string* out) {
  using Writer = bool (*)(const google::protobuf::Message&, std::string*);
  struct Type {
    const google::protobuf::Reflection* reflection;
    Writer write;
  };
  // Looked up once: GetReflection() goes through the file's once-check.
  static const Type kTypes[] = {
      {v1::Finding::GetReflection(), &WriteKnown<v1::Finding>},
      {v1::CompensatingControl::GetReflection(),
       &WriteKnown<v1::CompensatingControl>},
      {v1::Vulnerability::GetReflection(), &WriteKnown<v1::Vulnerability>},
      {v1::Cvss::GetReflection(), &WriteKnown<v1::Cvss>},
      {v1::Epss::GetReflection(), &WriteKnown<v1::Epss>},
      {v1::Kev::GetReflection(), &WriteKnown<v1::Kev>},
      {v1::Package::GetReflection(), &WriteKnown<v1::Package>},
      {v1::Fix::GetReflection(), &WriteKnown<v1::Fix>},
      {v1::Asset::GetReflection(), &WriteKnown<v1::Asset>},
      {v1::Misconfiguration::GetReflection(),
       &WriteKnown<v1::Misconfiguration>},
      {v1::Secret::GetReflection(), &WriteKnown<v1::Secret>},
      {v1::Malware::GetReflection(), &WriteKnown<v1::Malware>},
      {v1::Vex::GetReflection(), &WriteKnown<v1::Vex>},
      {google::protobuf::Timestamp::GetReflection(),
       &WriteKnown<google::protobuf::Timestamp>},
  };
  // The generated class's Reflection: a dynamic message of the same type
  // has another, and is not the class the writer reads.
  const google::protobuf::Reflection* reflection = m.GetReflection();
  for (const Type& type : kTypes) {
    if (type.reflection == reflection) return type.write(m, out);
  }
  return false;
}

namespace {

// AppendDeterministicFinding() written into `*buffer` from `start` on, in
// place (Encoder's second constructor); returns where the bytes end. The
// buffer may be longer.
size_t WriteDeterministicFinding(const v1::Finding& finding, size_t start,
                                 std::string* buffer) {
  size_t end;
  if (EncodeKnown(finding, start, buffer, &end)) return end;
  return WriteProtobufSerialization(finding, start, buffer);
}

}  // namespace

namespace {

// The hash in canonical form: high64 then low64, each big-endian, as 32
// lowercase hex digits. Two hex digits per byte from one table: the
// digits on targets without SSE2, and the reference the SSE2 version is
// tested against.
void HexFromTable(const internal::Xxh3Hash128& hash, char out[32]) {
  static constexpr auto kHexPairs = [] {
    std::array<char, 512> pairs{};
    constexpr char kHex[] = "0123456789abcdef";
    for (int b = 0; b < 256; ++b) {
      pairs[2 * b] = kHex[b >> 4];
      pairs[2 * b + 1] = kHex[b & 0xf];
    }
    return pairs;
  }();
  for (int i = 0; i < 8; ++i) {
    const auto high = static_cast<uint8_t>(hash.high64 >> (56 - 8 * i));
    const auto low = static_cast<uint8_t>(hash.low64 >> (56 - 8 * i));
    std::memcpy(out + 2 * i, &kHexPairs[2 * high], 2);
    std::memcpy(out + 16 + 2 * i, &kHexPairs[2 * low], 2);
  }
}

#if defined(__x86_64__) && defined(__SSE2__)
// The same digits on x86-64 with SSE2 (every x86-64 CPU): the 16 bytes
// split into nibbles and turned into digits 16 at a time (~20
// instructions where the table took ~75 a decision).
void HexWithSse2(const internal::Xxh3Hash128& hash, char out[32]) {
  const __m128i bytes =
      _mm_set_epi64x(static_cast<int64_t>(__builtin_bswap64(hash.low64)),
                     static_cast<int64_t>(__builtin_bswap64(hash.high64)));
  const __m128i low_nibbles = _mm_set1_epi8(0x0f);
  const __m128i high = _mm_and_si128(_mm_srli_epi16(bytes, 4), low_nibbles);
  const __m128i low = _mm_and_si128(bytes, low_nibbles);
  // Nibble n -> '0' + n, and 'a' - 10 + n ('0' + n + 39) from 10 on.
  const auto digits = [](__m128i n) {
    const __m128i letter = _mm_cmpgt_epi8(n, _mm_set1_epi8(9));
    return _mm_add_epi8(_mm_add_epi8(n, _mm_set1_epi8('0')),
                        _mm_and_si128(letter, _mm_set1_epi8('a' - '0' - 10)));
  };
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out),
                   digits(_mm_unpacklo_epi8(high, low)));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16),
                   digits(_mm_unpackhi_epi8(high, low)));
}
#endif

// The decision id's digits: SSE2 where there is SSE2, the table elsewhere.
void HashHex(const internal::Xxh3Hash128& hash, char out[32]) {
#if defined(__x86_64__) && defined(__SSE2__)
  HexWithSse2(hash, out);
#else
  HexFromTable(hash, out);
#endif
}

}  // namespace

namespace internal {

void HashHexScalar(const Xxh3Hash128& hash, char out[32]) {
  HexFromTable(hash, out);
}

#if defined(__x86_64__) && defined(__SSE2__)
void HashHexSse2(const Xxh3Hash128& hash, char out[32]) {
  HexWithSse2(hash, out);
}
#endif

}  // namespace internal

void AppendDeterministicFinding(const v1::Finding& finding, std::string* out) {
  out->resize(WriteDeterministicFinding(finding, out->size(), out));
}

namespace {

// The bytes a decision id hashes, on this thread: the "<digest>\n<as_of>\n"
// prefix is kept while the policy and as_of stay the same (a batch has one
// as_of), sparing its rendering, and the buffer is reused (no allocation
// once warm). The finding's bytes go from `prefix` on.
struct IdBuffer {
  std::string bytes;
  std::string digest;
  absl::Time as_of = absl::InfinitePast();
  size_t prefix = 0;
  std::string prefix_text;  // Where a new prefix is rendered.
};

IdBuffer& IdBufferFor(const v1::PolicyRef& ref, absl::Time as_of) {
  thread_local IdBuffer buffer;
  if (buffer.prefix == 0 || as_of != buffer.as_of ||
      ref.digest() != buffer.digest) {
    buffer.digest = ref.digest();
    buffer.as_of = as_of;
    // Rendered apart, then copied over the first bytes: `bytes` keeps its
    // size (no write to it ever shrinks it). Cut back to the prefix, it
    // had the encoder's room past the finding (FixedRoom(), kilobytes)
    // zero-filled again by resize() on each new as_of, i.e. on every
    // unary call (~4,700 instructions).
    std::string& prefix = buffer.prefix_text;
    prefix.assign(ref.digest());
    prefix.push_back('\n');
    expr::AppendTimestamp(as_of, &prefix);
    prefix.push_back('\n');
    if (buffer.bytes.size() < prefix.size()) buffer.bytes.resize(prefix.size());
    std::memcpy(buffer.bytes.data(), prefix.data(), prefix.size());
    buffer.prefix = prefix.size();
  }
  return buffer;
}

}  // namespace

void DecisionId(const v1::PolicyRef& ref, absl::Time as_of,
                const v1::Finding& finding, std::string* out) {
  IdBuffer& buffer = IdBufferFor(ref, as_of);
  const size_t end =
      WriteDeterministicFinding(finding, buffer.prefix, &buffer.bytes);
  internal::DecisionIdFromHash(internal::Xxh3_128(buffer.bytes.data(), end),
                               out);
}

namespace internal {

void DecisionIdFromHash(const Xxh3Hash128& hash, std::string* out) {
  char hex[32];
  HashHex(hash, hex);
  // A reused decision's id has the length already: overwritten in place
  // (assign() goes through replace()'s general case).
  if (out->size() == sizeof(hex)) {
    std::memcpy(out->data(), hex, sizeof(hex));
  } else {
    out->assign(hex, sizeof(hex));
  }
}

bool DecisionIdHashAndKey(const v1::PolicyRef& ref, absl::Time as_of,
                          const v1::Finding& finding,
                          const FindingKeyFields& fields, std::string* key,
                          size_t key_start, size_t* key_end,
                          Xxh3Hash128* hash) {
  IdBuffer& buffer = IdBufferFor(ref, as_of);
  Encoder<true> encoder(&buffer.bytes, buffer.prefix, fields, key, key_start);
  Write(finding, encoder);
  *key_end = encoder.key_end();
  size_t end = encoder.end();
  const bool known = !encoder.unknown();
  if (!known) {
    end = WriteProtobufSerialization(finding, buffer.prefix, &buffer.bytes);
  }
  *hash = Xxh3_128(buffer.bytes.data(), end);
  return known;
}

FindingKeyFields::Message FindingKeyFields::Of(
    const google::protobuf::Descriptor* type) {
  static const google::protobuf::Descriptor* const kTypes[kMessages] = {
      v1::Finding::descriptor(),
      v1::Vulnerability::descriptor(),
      v1::Cvss::descriptor(),
      v1::Epss::descriptor(),
      v1::Kev::descriptor(),
      v1::Package::descriptor(),
      v1::Fix::descriptor(),
      v1::Asset::descriptor(),
      v1::Misconfiguration::descriptor(),
      v1::Secret::descriptor(),
      v1::Malware::descriptor(),
      v1::Vex::descriptor(),
      v1::CompensatingControl::descriptor(),
  };
  for (int i = 0; i < kMessages; ++i) {
    if (kTypes[i] == type) return static_cast<Message>(i);
  }
  return kMessages;
}

bool FindingKeyFields::Walked(const google::protobuf::FieldDescriptor* field) {
  const Message message = Of(field->containing_type());
  if (message == kMessages || message == kCompensatingControl ||
      field->number() >= kMaxField) {
    return false;
  }
  if (message == kFinding &&
      field->number() == v1::Finding::kCompensatingControlsFieldNumber) {
    return true;
  }
  return !field->is_repeated();
}

}  // namespace internal

}  // namespace treatd
