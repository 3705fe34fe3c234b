#include "common/json/decision_json_writer.h"

#include <algorithm>
#include <cfloat>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <optional>
#include <string>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "absl/base/attributes.h"
#include "absl/strings/string_view.h"
#include "common/text/ascii.h"
#include "common/time/time_text.h"
#include "google/protobuf/util/json_util.h"
#include "simdjson.h"

namespace treatd::json {
namespace {

// Where the JSON goes: the end of a string, written through a raw pointer
// with room made ahead (std::string::append per piece was a call and a
// capacity check for every few bytes: a fifth of the writer, callgrind,
// issue 15). Finish() trims the string to what was written. `unsure` is
// set when the hand-written path meets something it does not print the
// way protobuf does; the caller then throws the text away and protobuf's
// printer writes the whole result.
class Sink {
 public:
  explicit Sink(std::string* s) : s_(s), used_(s->size()) { Reserve(1024); }

  // Makes room for `n` more bytes; pos() stays valid until the next call.
  void Reserve(size_t n) {
    if (s_->size() - used_ >= n) return;
    s_->resize(std::max(2 * s_->size(), used_ + n + 1024));
  }
  // Where the next byte goes; Advance() says how many were written there.
  char* pos() { return s_->data() + used_; }
  void Advance(size_t n) { used_ += n; }

  void push_back(char c) {
    Reserve(1);
    (*s_)[used_++] = c;
  }
  Sink* append(const char* p, size_t n) {
    Reserve(n);
    std::memcpy(pos(), p, n);
    used_ += n;
    return this;
  }
  Sink* append(absl::string_view v) { return append(v.data(), v.size()); }

  // Trims the string to the bytes written.
  void Finish() { s_->resize(used_); }

  bool unsure = false;

 private:
  std::string* const s_;
  size_t used_;
};

// What protobuf's JsonEscaping does with each byte below 0xa0 (which
// covers every one-byte code point): 0 copy, 1 escape (kEscapes), and 2
// for the lead bytes of multi-byte UTF-8, decoded first.
constexpr char kHex[] = "0123456789abcdef";

enum : uint8_t { kCopy = 0, kEscape = 1, kMultiByte = 2 };

struct ByteClasses {
  uint8_t of[256];
  constexpr ByteClasses() : of() {
    for (int c = 0; c < 256; ++c) {
      of[c] =
          c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == 0x7f
              ? kEscape
          : c >= 0x80 ? kMultiByte
                      : kCopy;
    }
  }
};
constexpr ByteClasses kClasses;

void Fail(Sink* out) { out->unsure = true; }

void AppendHex4(uint32_t unit, Sink* out) {
  char buffer[6] = {'\\',
                    'u',
                    kHex[(unit >> 12) & 0xf],
                    kHex[(unit >> 8) & 0xf],
                    kHex[(unit >> 4) & 0xf],
                    kHex[unit & 0xf]};
  out->append(buffer, 6);
}

// protobuf's EscapeCodePoint for code points of 0x80 and above: C1
// controls and a list of invisible or separator characters are escaped
// (supplementary ones as a surrogate pair); the rest are copied.
bool EscapeWide(uint32_t cp, Sink* out) {
  if (cp < 0xa0 || cp == 0xfeff || cp == 0xfff9 || cp == 0xfffa ||
      cp == 0xfffb || cp == 0x00ad || cp == 0x06dd || cp == 0x070f ||
      cp == 0x17b4 || cp == 0x17b5 || (cp >= 0x0600 && cp <= 0x0603) ||
      (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202e) ||
      (cp >= 0x2060 && cp <= 0x2064) || (cp >= 0x206a && cp <= 0x206f)) {
    AppendHex4(cp, out);
    return true;
  }
  if (cp == 0xe0001 || (cp >= 0x1d173 && cp <= 0x1d17a) ||
      (cp >= 0xe0020 && cp <= 0xe007f)) {
    const uint32_t v = cp - 0x10000;
    AppendHex4(0xd800 + (v >> 10), out);
    AppendHex4(0xdc00 + (v & 0x3ff), out);
    return true;
  }
  return false;
}

// Appends `s` as a JSON string the way protobuf escapes it. Throws Unsure
// for anything but strict UTF-8 (protobuf drops or mangles such bytes).
void AppendString(absl::string_view s, Sink* out) {
  out->push_back('"');
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* const end = p + s.size();
  while (p < end) {
    // Plain bytes are copied as they are scanned.
    out->Reserve(static_cast<size_t>(end - p));
    char* const start = out->pos();
    char* w = start;
#ifdef __SSE2__
    // Sixteen at a time while sixteen remain: a FULL decision is ~2.4 KB
    // of mostly plain sentences, and the byte loop alone was 11,000
    // instructions of each (callgrind, treatctl decide, issue 15). The
    // block is stored whole (the sink has room for the rest of the
    // string) and the write position advances only past its plain bytes.
    while (end - p >= 16) {
      const __m128i block =
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      // Signed: below 0x20 is the controls and every byte from 0x80.
      __m128i special = _mm_cmplt_epi8(block, _mm_set1_epi8(0x20));
      special =
          _mm_or_si128(special, _mm_cmpeq_epi8(block, _mm_set1_epi8('"')));
      special =
          _mm_or_si128(special, _mm_cmpeq_epi8(block, _mm_set1_epi8('\\')));
      special =
          _mm_or_si128(special, _mm_cmpeq_epi8(block, _mm_set1_epi8('<')));
      special =
          _mm_or_si128(special, _mm_cmpeq_epi8(block, _mm_set1_epi8('>')));
      special =
          _mm_or_si128(special, _mm_cmpeq_epi8(block, _mm_set1_epi8(0x7f)));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(w), block);
      const int mask = _mm_movemask_epi8(special);
      if (mask != 0) {
        const int plain = __builtin_ctz(static_cast<unsigned>(mask));
        p += plain;
        w += plain;
        break;
      }
      p += 16;
      w += 16;
    }
#endif
    while (p < end && kClasses.of[*p] == kCopy) *w++ = static_cast<char>(*p++);
    out->Advance(static_cast<size_t>(w - start));
    if (p == end) break;
    const unsigned char c = *p;
    if (kClasses.of[c] == kEscape) {
      switch (c) {
        case '"':
          out->append("\\\"");
          break;
        case '\\':
          out->append("\\\\");
          break;
        case '\b':
          out->append("\\b");
          break;
        case '\t':
          out->append("\\t");
          break;
        case '\n':
          out->append("\\n");
          break;
        case '\f':
          out->append("\\f");
          break;
        case '\r':
          out->append("\\r");
          break;
        default:
          AppendHex4(c, out);
      }
      ++p;
      continue;
    }
    // Multi-byte UTF-8, strictly: no overlong forms, no surrogates,
    // nothing above U+10FFFF.
    int length;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
      length = 2;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      length = 3;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      length = 4;
      cp = c & 0x07;
    } else {
      return Fail(out);
    }
    if (end - p < length) return Fail(out);
    for (int i = 1; i < length; ++i) {
      if ((p[i] & 0xc0) != 0x80) return Fail(out);
      cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((length == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (length == 4 && (cp < 0x10000 || cp > 0x10ffff))) {
      return Fail(out);
    }
    if (!EscapeWide(cp, out)) {
      out->append(reinterpret_cast<const char*>(p), length);
    }
    p += length;
  }
  out->push_back('"');
}

// protobuf's SimpleDtoa: the shortest of %.15g and %.17g that reads back
// as `value`; Infinity, -Infinity and NaN quoted.
void AppendDouble(double value, Sink* out) {
  if (std::isnan(value)) {
    out->append("\"NaN\"");
    return;
  }
  if (std::isinf(value)) {
    out->append(value > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    return;
  }
  // protobuf's SimpleDtoa: "%.15g", or "%.17g" when that does not read
  // back as the same double. std::to_chars with a precision is defined as
  // printf's %.*g (in the C locale, as protobuf's DelocalizeRadix ensures),
  // at a fraction of snprintf's and strtod's cost (callgrind, issue 15).
  char buffer[32];
  char* const end = buffer + sizeof(buffer);
  std::to_chars_result written =
      std::to_chars(buffer, end, value, std::chars_format::general, DBL_DIG);
  double back = 0;
  if (written.ec != std::errc() ||
      std::from_chars(buffer, written.ptr, back).ec != std::errc() ||
      back != value) {
    written = std::to_chars(buffer, end, value, std::chars_format::general,
                            DBL_DIG + 2);
    if (written.ec != std::errc()) return Fail(out);
  }
  out->append(buffer, static_cast<size_t>(written.ptr - buffer));
}

void AppendInt(int64_t value, Sink* out) {
  char buffer[24];
  const std::to_chars_result written =
      std::to_chars(buffer, buffer + sizeof(buffer), value);
  out->append(buffer, static_cast<size_t>(written.ptr - buffer));
}

// protobuf's FormatTime, quoted.
void AppendTimestampValue(int64_t seconds, int32_t nanos, Sink* out) {
  char buffer[kMaxProtoTimestampTextSize + 2];
  const size_t n = FormatProtoTimestampText(seconds, nanos, buffer + 1);
  if (n == 0) return Fail(out);
  buffer[0] = '"';
  buffer[n + 1] = '"';
  out->append(buffer, n + 2);
}

void AppendTimestamp(const google::protobuf::Timestamp& t, Sink* out) {
  if (!t.GetReflection()->GetUnknownFields(t).empty()) return Fail(out);
  AppendTimestampValue(t.seconds(), t.nanos(), out);
}

// One JSON object being written: the separator before each member.
class Object {
 public:
  explicit Object(Sink* out) : out_(out) { out_->push_back('{'); }
  ~Object() { out_->push_back('}'); }
  // Writes `"name":`; `quoted_name` is the name with its quotes and colon.
  Sink* Key(absl::string_view quoted_name) {
    if (!first_) out_->push_back(',');
    first_ = false;
    out_->append(quoted_name.data(), quoted_name.size());
    return out_;
  }
  Sink* sink() { return out_; }

 private:
  Sink* out_;
  bool first_ = true;
};

// The members protobuf writes for proto3 fields without presence: only
// values other than the default.
void String(Object& o, absl::string_view key, const std::string& value) {
  if (!value.empty()) AppendString(value, o.Key(key));
}
void Bool(Object& o, absl::string_view key, bool value) {
  if (value) o.Key(key)->append("true");
}
void Int(Object& o, absl::string_view key, int32_t value) {
  if (value != 0) AppendInt(value, o.Key(key));
}
void Double(Object& o, absl::string_view key, double value) {
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  if (bits != 0) AppendDouble(value, o.Key(key));
}
template <typename Enum>
void EnumValue(Object& o, absl::string_view key, int value,
               bool (*is_valid)(int), const std::string& (*name)(Enum)) {
  if (value == 0) return;
  if (!is_valid(value)) return Fail(o.sink());
  o.Key(key)
      ->append("\"")
      ->append(name(static_cast<Enum>(value)))
      ->append("\"");
}
void Strings(Object& o, absl::string_view key,
             const google::protobuf::RepeatedPtrField<std::string>& values) {
  if (values.empty()) return;
  Sink* out = o.Key(key);
  out->push_back('[');
  for (int i = 0; i < values.size(); ++i) {
    if (i > 0) out->push_back(',');
    AppendString(values[i], out);
  }
  out->push_back(']');
}
void Time(Object& o, absl::string_view key, bool has,
          const google::protobuf::Timestamp& value) {
  if (has) AppendTimestamp(value, o.Key(key));
}
template <typename Message>
void Messages(Object& o, absl::string_view key,
              const google::protobuf::RepeatedPtrField<Message>& values,
              void (*write)(const Message&, Sink*)) {
  if (values.empty()) return;
  Sink* out = o.Key(key);
  out->push_back('[');
  for (int i = 0; i < values.size(); ++i) {
    if (i > 0) out->push_back(',');
    write(values[i], out);
  }
  out->push_back(']');
}

// Unknown fields are printed by protobuf's printer (it drops them; this
// path does not need to know how).
template <typename Message>
void CheckKnown(const Message& m, Sink* out) {
  if (!m.GetReflection()->GetUnknownFields(m).empty()) Fail(out);
}

// Members in field-number order, as protobuf writes them.
void WriteAction(const v1::Action& a, Sink* out) {
  CheckKnown(a, out);
  Object o(out);
  String(o, "\"id\":", a.id());
  EnumValue(o, "\"category\":", a.category(), v1::ActionCategory_IsValid,
            v1::ActionCategory_Name<v1::ActionCategory>);
  String(o, "\"text\":", a.text());
  Time(o, "\"dueBy\":", a.has_due_by(), a.due_by());
}

void WriteTableOutcome(const v1::TableOutcome& t, Sink* out) {
  CheckKnown(t, out);
  Object o(out);
  String(o, "\"table\":", t.table());
  String(o, "\"outcome\":", t.outcome());
  Int(o, "\"row\":", t.row());
  Strings(o, "\"inputs\":", t.inputs());
}

void WriteException(const v1::ExceptionRef& e, Sink* out) {
  CheckKnown(e, out);
  Object o(out);
  String(o, "\"id\":", e.id());
  String(o, "\"approver\":", e.approver());
  String(o, "\"reason\":", e.reason());
  Time(o, "\"expires\":", e.has_expires(), e.expires());
  Bool(o, "\"applied\":", e.applied());
  String(o, "\"ticket\":", e.ticket());
}

void WriteRuleTrace(const v1::RuleTrace& t, Sink* out) {
  CheckKnown(t, out);
  Object o(out);
  String(o, "\"rule\":", t.rule());
  Bool(o, "\"matched\":", t.matched());
  String(o, "\"explanation\":", t.explanation());
}

void WritePolicyRef(const v1::PolicyRef& p, Sink* out) {
  CheckKnown(p, out);
  Object o(out);
  String(o, "\"name\":", p.name());
  String(o, "\"version\":", p.version());
  String(o, "\"digest\":", p.digest());
}

void WriteIntel(const v1::IntelRef& i, Sink* out) {
  CheckKnown(i, out);
  Object o(out);
  Strings(o, "\"feedVersions\":", i.feed_versions());
  Strings(o, "\"facts\":", i.facts());
  Strings(o, "\"callerFactsKept\":", i.caller_facts_kept());
  Bool(o, "\"stale\":", i.stale());
  Strings(o, "\"staleFeeds\":", i.stale_feeds());
}

void WriteRevisit(const v1::RevisitCondition& r, Sink* out) {
  CheckKnown(r, out);
  Object o(out);
  EnumValue(o, "\"kind\":", r.kind(), v1::RevisitKind_IsValid,
            v1::RevisitKind_Name<v1::RevisitKind>);
  Double(o, "\"threshold\":", r.threshold());
  String(o, "\"value\":", r.value());
  Time(o, "\"at\":", r.has_at(), r.at());
  EnumValue(o, "\"newTreatment\":", r.new_treatment(), v1::Treatment_IsValid,
            v1::Treatment_Name<v1::Treatment>);
  String(o, "\"newPriority\":", r.new_priority());
  String(o, "\"text\":", r.text());
}

void WriteDecision(const v1::Decision& d, Sink* out) {
  CheckKnown(d, out);
  Object o(out);
  String(o, "\"decisionId\":", d.decision_id());
  String(o, "\"findingId\":", d.finding_id());
  EnumValue(o, "\"treatment\":", d.treatment(), v1::Treatment_IsValid,
            v1::Treatment_Name<v1::Treatment>);
  String(o, "\"priority\":", d.priority());
  Int(o, "\"priorityRank\":", d.priority_rank());
  Time(o, "\"mitigateBy\":", d.has_mitigate_by(), d.mitigate_by());
  Time(o, "\"remediateBy\":", d.has_remediate_by(), d.remediate_by());
  Time(o, "\"reviewBy\":", d.has_review_by(), d.review_by());
  Messages(o, "\"actions\":", d.actions(), WriteAction);
  Double(o, "\"inherentRisk\":", d.inherent_risk());
  Double(o, "\"residualRisk\":", d.residual_risk());
  Messages(o, "\"tableOutcomes\":", d.table_outcomes(), WriteTableOutcome);
  EnumValue(o, "\"matchKind\":", d.match_kind(), v1::MatchKind_IsValid,
            v1::MatchKind_Name<v1::MatchKind>);
  String(o, "\"matchedRule\":", d.matched_rule());
  if (d.has_exception()) WriteException(d.exception(), o.Key("\"exception\":"));
  Strings(o, "\"reasons\":", d.reasons());
  Messages(o, "\"trace\":", d.trace(), WriteRuleTrace);
  if (d.has_policy()) WritePolicyRef(d.policy(), o.Key("\"policy\":"));
  Time(o, "\"evaluatedAt\":", d.has_evaluated_at(), d.evaluated_at());
  Strings(o, "\"deadlineSources\":", d.deadline_sources());
  if (d.has_intel()) WriteIntel(d.intel(), o.Key("\"intel\":"));
  Messages(o, "\"revisitConditions\":", d.revisit_conditions(), WriteRevisit);
}

void WriteViolation(const v1::FieldViolation& v, Sink* out) {
  CheckKnown(v, out);
  Object o(out);
  String(o, "\"field\":", v.field());
  String(o, "\"description\":", v.description());
}

void WriteError(const v1::ItemError& e, Sink* out) {
  CheckKnown(e, out);
  Object o(out);
  Int(o, "\"code\":", e.code());
  String(o, "\"message\":", e.message());
  Messages(o, "\"fieldViolations\":", e.field_violations(), WriteViolation);
}

void WriteResult(const v1::DecisionResult& r, Sink* out) {
  CheckKnown(r, out);
  Object o(out);
  String(o, "\"findingId\":", r.finding_id());
  Int(o, "\"index\":", r.index());
  if (r.has_decision()) WriteDecision(r.decision(), o.Key("\"decision\":"));
  if (r.has_error()) WriteError(r.error(), o.Key("\"error\":"));
}

// ---------------------------------------------------------------------------
// From the wire bytes of a DecisionResult, without parsing it into messages.
//
// Only the bytes protobuf's serializer writes are walked: every field known,
// in field-number order, each singular field at most once and the elements
// of a repeated field together, each with its declared wire type, at most one
// member of the oneof. For such bytes protobuf's parser builds a message
// whose set fields are exactly the ones read here, so the JSON is the same.
// Anything else (an unknown field, another order, a field twice, malformed
// bytes) makes the walk unsure and the message path answers.

// Reads wire-format values from a byte range; every read checks bounds.
class WireIn {
 public:
  explicit WireIn(absl::string_view bytes)
      : p_(reinterpret_cast<const uint8_t*>(bytes.data())),
        end_(p_ + bytes.size()) {}
  bool done() const { return p_ == end_; }

  // A varint of at most `max_bytes` bytes (10 for values; protobuf's
  // parser reads keys and lengths as 32-bit varints of at most 5).
  bool Varint(uint64_t* value, int max_bytes = 10) {
    // Most keys, lengths and values are one byte.
    if (p_ < end_ && *p_ < 0x80) {
      *value = *p_++;
      return true;
    }
    uint64_t v = 0;
    for (int shift = 0; shift < 7 * max_bytes && p_ < end_; shift += 7) {
      const uint8_t byte = *p_++;
      v |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if (byte < 0x80) {
        *value = v;
        return true;
      }
    }
    return false;
  }
  // A key: a field number from 1 and a wire type.
  bool Key(uint32_t* field, uint32_t* type) {
    uint64_t key;
    if (!Varint(&key, 5) || key > 0xffffffffu) return false;
    *field = static_cast<uint32_t>(key >> 3);
    *type = static_cast<uint32_t>(key & 7);
    return *field != 0;
  }
  bool Fixed64(uint64_t* value) {
    if (end_ - p_ < 8) return false;
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(p_[i]) << (8 * i);
    p_ += 8;
    *value = v;
    return true;
  }
  bool Delimited(absl::string_view* bytes) {
    uint64_t size;
    // protobuf reads lengths as int32.
    if (!Varint(&size, 5) || size > 0x7fffffffu ||
        size > static_cast<uint64_t>(end_ - p_)) {
      return false;
    }
    *bytes = absl::string_view(reinterpret_cast<const char*>(p_), size);
    p_ += size;
    return true;
  }

 private:
  const uint8_t* p_;
  const uint8_t* const end_;
};

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kDelimited = 2 };

enum class Kind : uint8_t {
  kString,
  kBool,
  kInt32,
  kDouble,
  kEnum,
  kTime,
  kMessage,
};

// What a run summary reads of a result, noted as the fields pass; from
// kReviewBy on, only what a CSV row reads besides
// (ReadDecisionResultNotesFromWire).
enum class Note : uint8_t {
  kNone,
  kFindingId,
  kTreatment,
  kPriority,
  kPriorityRank,
  kMatchedRule,
  kMitigateBy,
  kRemediateBy,
  kDecision,
  kError,
  kErrorCode,
  kReviewBy,
  kResidualRisk,
  kException,
  kExceptionId,
  kExceptionApplied,
  kReasons,
  kErrorMessage,
};

struct WireMessage;
struct WireField {
  absl::string_view key;  // `"jsonName":`
  Kind kind;
  bool repeated = false;
  const WireMessage* message = nullptr;  // kMessage
  // kEnum: whether a number is a value, and its name.
  bool (*is_valid)(int) = nullptr;
  const std::string& (*name)(int) = nullptr;
  Note note = Note::kNone;
};
// A message's fields, numbered from 1 without gaps (all of treatd's result
// messages are), and the numbers of its one oneof, if any.
struct WireMessage {
  const WireField* fields;
  uint32_t count;
  uint32_t oneof_first = 0;
  uint32_t oneof_last = 0;
};

template <typename Enum, const std::string& (*kName)(Enum)>
const std::string& NameOf(int value) {
  return kName(static_cast<Enum>(value));
}

#define TREATD_ENUM(E) v1::E##_IsValid, &NameOf<v1::E, &v1::E##_Name<v1::E>>

constexpr WireField kActionFields[] = {
    {"\"id\":", Kind::kString},
    {"\"category\":", Kind::kEnum, false, nullptr, TREATD_ENUM(ActionCategory)},
    {"\"text\":", Kind::kString},
    {"\"dueBy\":", Kind::kTime},
};
constexpr WireField kTableOutcomeFields[] = {
    {"\"table\":", Kind::kString},
    {"\"outcome\":", Kind::kString},
    {"\"row\":", Kind::kInt32},
    {"\"inputs\":", Kind::kString, true},
};
constexpr WireField kExceptionFields[] = {
    {"\"id\":", Kind::kString, false, nullptr, nullptr, nullptr,
     Note::kExceptionId},
    {"\"approver\":", Kind::kString},
    {"\"reason\":", Kind::kString},
    {"\"expires\":", Kind::kTime},
    {"\"applied\":", Kind::kBool, false, nullptr, nullptr, nullptr,
     Note::kExceptionApplied},
    {"\"ticket\":", Kind::kString},
};
constexpr WireField kRuleTraceFields[] = {
    {"\"rule\":", Kind::kString},
    {"\"matched\":", Kind::kBool},
    {"\"explanation\":", Kind::kString},
};
constexpr WireField kPolicyRefFields[] = {
    {"\"name\":", Kind::kString},
    {"\"version\":", Kind::kString},
    {"\"digest\":", Kind::kString},
};
constexpr WireField kIntelFields[] = {
    {"\"feedVersions\":", Kind::kString, true},
    {"\"facts\":", Kind::kString, true},
    {"\"callerFactsKept\":", Kind::kString, true},
    {"\"stale\":", Kind::kBool},
    {"\"staleFeeds\":", Kind::kString, true},
};
constexpr WireField kRevisitFields[] = {
    {"\"kind\":", Kind::kEnum, false, nullptr, TREATD_ENUM(RevisitKind)},
    {"\"threshold\":", Kind::kDouble},
    {"\"value\":", Kind::kString},
    {"\"at\":", Kind::kTime},
    {"\"newTreatment\":", Kind::kEnum, false, nullptr, TREATD_ENUM(Treatment)},
    {"\"newPriority\":", Kind::kString},
    {"\"text\":", Kind::kString},
};
constexpr WireMessage kAction = {kActionFields, std::size(kActionFields)};
constexpr WireMessage kTableOutcome = {kTableOutcomeFields,
                                       std::size(kTableOutcomeFields)};
constexpr WireMessage kException = {kExceptionFields,
                                    std::size(kExceptionFields)};
constexpr WireMessage kRuleTrace = {kRuleTraceFields,
                                    std::size(kRuleTraceFields)};
constexpr WireMessage kPolicyRef = {kPolicyRefFields,
                                    std::size(kPolicyRefFields)};
constexpr WireMessage kIntel = {kIntelFields, std::size(kIntelFields)};
constexpr WireMessage kRevisit = {kRevisitFields, std::size(kRevisitFields)};

constexpr WireField kDecisionFields[] = {
    {"\"decisionId\":", Kind::kString},
    {"\"findingId\":", Kind::kString},
    {"\"treatment\":", Kind::kEnum, false, nullptr, TREATD_ENUM(Treatment),
     Note::kTreatment},
    {"\"priority\":", Kind::kString, false, nullptr, nullptr, nullptr,
     Note::kPriority},
    {"\"priorityRank\":", Kind::kInt32, false, nullptr, nullptr, nullptr,
     Note::kPriorityRank},
    {"\"mitigateBy\":", Kind::kTime, false, nullptr, nullptr, nullptr,
     Note::kMitigateBy},
    {"\"remediateBy\":", Kind::kTime, false, nullptr, nullptr, nullptr,
     Note::kRemediateBy},
    {"\"reviewBy\":", Kind::kTime, false, nullptr, nullptr, nullptr,
     Note::kReviewBy},
    {"\"actions\":", Kind::kMessage, true, &kAction},
    {"\"inherentRisk\":", Kind::kDouble},
    {"\"residualRisk\":", Kind::kDouble, false, nullptr, nullptr, nullptr,
     Note::kResidualRisk},
    {"\"tableOutcomes\":", Kind::kMessage, true, &kTableOutcome},
    {"\"matchKind\":", Kind::kEnum, false, nullptr, TREATD_ENUM(MatchKind)},
    {"\"matchedRule\":", Kind::kString, false, nullptr, nullptr, nullptr,
     Note::kMatchedRule},
    {"\"exception\":", Kind::kMessage, false, &kException, nullptr, nullptr,
     Note::kException},
    {"\"reasons\":", Kind::kString, true, nullptr, nullptr, nullptr,
     Note::kReasons},
    {"\"trace\":", Kind::kMessage, true, &kRuleTrace},
    {"\"policy\":", Kind::kMessage, false, &kPolicyRef},
    {"\"evaluatedAt\":", Kind::kTime},
    {"\"deadlineSources\":", Kind::kString, true},
    {"\"intel\":", Kind::kMessage, false, &kIntel},
    {"\"revisitConditions\":", Kind::kMessage, true, &kRevisit},
};
constexpr WireMessage kDecision = {kDecisionFields, std::size(kDecisionFields)};

constexpr WireField kViolationFields[] = {
    {"\"field\":", Kind::kString},
    {"\"description\":", Kind::kString},
};
constexpr WireMessage kViolation = {kViolationFields,
                                    std::size(kViolationFields)};
constexpr WireField kErrorFields[] = {
    {"\"code\":", Kind::kInt32, false, nullptr, nullptr, nullptr,
     Note::kErrorCode},
    {"\"message\":", Kind::kString, false, nullptr, nullptr, nullptr,
     Note::kErrorMessage},
    {"\"fieldViolations\":", Kind::kMessage, true, &kViolation},
};
constexpr WireMessage kError = {kErrorFields, std::size(kErrorFields)};

constexpr WireField kResultFields[] = {
    {"\"findingId\":", Kind::kString, false, nullptr, nullptr, nullptr,
     Note::kFindingId},
    {"\"index\":", Kind::kInt32},
    {"\"decision\":", Kind::kMessage, false, &kDecision, nullptr, nullptr,
     Note::kDecision},
    {"\"error\":", Kind::kMessage, false, &kError, nullptr, nullptr,
     Note::kError},
};
constexpr WireMessage kResult = {kResultFields, std::size(kResultFields), 3, 4};
constexpr uint32_t kResultIndexField = 2;

#undef TREATD_ENUM

// A google.protobuf.Timestamp's bytes: seconds (1) then nanos (2), each at
// most once.
bool ReadTimestamp(absl::string_view bytes, int64_t* seconds, int32_t* nanos) {
  WireIn in(bytes);
  *seconds = 0;
  *nanos = 0;
  uint32_t last = 0;
  while (!in.done()) {
    uint32_t field, type;
    uint64_t value;
    if (!in.Key(&field, &type) || type != kVarint || field <= last ||
        field > 2 || !in.Varint(&value)) {
      return false;
    }
    last = field;
    if (field == 1) {
      *seconds = static_cast<int64_t>(value);
    } else {
      // protobuf keeps the low 32 bits of an int32's varint.
      *nanos = static_cast<int32_t>(static_cast<uint32_t>(value));
    }
  }
  return true;
}

google::protobuf::Timestamp* NotedTime(Note note, v1::DecisionResult* notes) {
  switch (note) {
    case Note::kMitigateBy:
      return notes->mutable_decision()->mutable_mitigate_by();
    case Note::kRemediateBy:
      return notes->mutable_decision()->mutable_remediate_by();
    case Note::kReviewBy:
      return notes->mutable_decision()->mutable_review_by();
    default:
      return nullptr;
  }
}

void NoteScalar(Note note, int64_t value, v1::DecisionResult* notes) {
  switch (note) {
    case Note::kTreatment:
      notes->mutable_decision()->set_treatment(
          static_cast<v1::Treatment>(value));
      break;
    case Note::kPriorityRank:
      notes->mutable_decision()->set_priority_rank(static_cast<int32_t>(value));
      break;
    case Note::kErrorCode:
      notes->mutable_error()->set_code(static_cast<int32_t>(value));
      break;
    case Note::kExceptionApplied:
      notes->mutable_decision()->mutable_exception()->set_applied(value != 0);
      break;
    default:
      break;
  }
}

void NoteString(Note note, absl::string_view value, v1::DecisionResult* notes) {
  switch (note) {
    case Note::kFindingId:
      notes->set_finding_id(std::string(value));
      break;
    case Note::kPriority:
      notes->mutable_decision()->set_priority(std::string(value));
      break;
    case Note::kMatchedRule:
      notes->mutable_decision()->set_matched_rule(std::string(value));
      break;
    case Note::kExceptionId:
      notes->mutable_decision()->mutable_exception()->set_id(
          std::string(value));
      break;
    case Note::kErrorMessage:
      notes->mutable_error()->set_message(std::string(value));
      break;
    default:
      break;
  }
}

// Notes that message field `note` is present.
void NoteMessage(Note note, v1::DecisionResult* notes) {
  switch (note) {
    case Note::kDecision:
      notes->mutable_decision();
      break;
    case Note::kError:
      notes->mutable_error();
      break;
    case Note::kException:
      notes->mutable_decision()->mutable_exception();
      break;
    default:
      break;
  }
}

// Reads the next field of message `m` from `in` as WriteWireObject()
// walks it: its number (`*number`), and its value as a varint or fixed64
// (`*value`) or as bytes (`*bytes`). False where the walk is unsure:
// malformed bytes, an unknown field, a field out of order or given twice
// (`*last` is the number read before; `*oneof_seen` whether a member of
// the oneof was), another wire type than the field's.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool ReadWireField(
    const WireMessage& m, WireIn* in, uint32_t* last, bool* oneof_seen,
    uint32_t* number, uint64_t* value, absl::string_view* bytes) {
  uint32_t type;
  if (!in->Key(number, &type) || *number > m.count || *number < *last) {
    return false;
  }
  const WireField& f = m.fields[*number - 1];
  const bool again = *number == *last;
  if (again && !f.repeated) return false;
  if (!again && m.oneof_first != 0 && *number >= m.oneof_first &&
      *number <= m.oneof_last) {
    if (*oneof_seen) return false;
    *oneof_seen = true;
  }
  *last = *number;
  switch (f.kind) {
    case Kind::kString:
    case Kind::kMessage:
    case Kind::kTime:
      return type == kDelimited && in->Delimited(bytes);
    case Kind::kDouble:
      return type == kFixed64 && in->Fixed64(value);
    default:
      return type == kVarint && in->Varint(value);
  }
}

// Whether `s` is strict UTF-8, as protobuf's parser wants a proto3 string.
// Most are ASCII (IsAscii, eight bytes at a time); simdjson (a call
// through its dispatch) checks the others.
bool IsUtf8(absl::string_view s) {
  return IsAscii(s) || simdjson::validate_utf8(s.data(), s.size());
}

// Reads the fields of message `m` that have a Note from its wire bytes
// into `notes`, and checks the others as WriteWireObject() walks them
// (every string strict UTF-8, as protobuf's parser wants a proto3 string;
// every enum value named), without writing anything. False where
// WriteWireObject() would be unsure.
bool NoteWireObject(const WireMessage& m, absl::string_view bytes,
                    v1::DecisionResult* notes) {
  WireIn in(bytes);
  uint32_t last = 0;
  bool oneof_seen = false;
  while (!in.done()) {
    uint32_t number;
    uint64_t value = 0;
    absl::string_view value_bytes;
    if (!ReadWireField(m, &in, &last, &oneof_seen, &number, &value,
                       &value_bytes)) {
      return false;
    }
    const WireField& f = m.fields[number - 1];
    switch (f.kind) {
      case Kind::kString:
        if (!IsUtf8(value_bytes)) return false;
        if (f.note == Note::kReasons) {
          notes->mutable_decision()->add_reasons(value_bytes.data(),
                                                 value_bytes.size());
        } else if (f.note != Note::kNone && !value_bytes.empty()) {
          NoteString(f.note, value_bytes, notes);
        }
        break;
      case Kind::kBool:
      case Kind::kInt32:
      case Kind::kEnum: {
        // protobuf keeps the low 32 bits of an int32's or enum's varint.
        const int32_t v = static_cast<int32_t>(static_cast<uint32_t>(value));
        if (f.kind == Kind::kEnum && v != 0 && !f.is_valid(v)) return false;
        if (f.note != Note::kNone) {
          NoteScalar(f.note, f.kind == Kind::kBool ? value != 0 : v, notes);
        }
        break;
      }
      case Kind::kDouble:
        if (f.note == Note::kResidualRisk) {
          double d;
          std::memcpy(&d, &value, sizeof(d));
          notes->mutable_decision()->set_residual_risk(d);
        }
        break;
      case Kind::kTime: {
        int64_t seconds;
        int32_t nanos;
        if (!ReadTimestamp(value_bytes, &seconds, &nanos)) return false;
        if (google::protobuf::Timestamp* t = NotedTime(f.note, notes)) {
          t->set_seconds(seconds);
          t->set_nanos(nanos);
        }
        break;
      }
      case Kind::kMessage:
        NoteMessage(f.note, notes);
        if (!NoteWireObject(*f.message, value_bytes, notes)) return false;
        break;
    }
  }
  return true;
}

void WriteWireObject(const WireMessage& m, absl::string_view bytes,
                     const int32_t* index, v1::DecisionResult* notes,
                     Sink* out);

// Writes the value read for `f` where the sink stands, and notes it. The
// key (and a list's bracket or comma) is written by the caller.
void WriteWireElement(const WireField& f, absl::string_view bytes,
                      v1::DecisionResult* notes, Sink* out) {
  switch (f.kind) {
    case Kind::kString:
      return AppendString(bytes, out);
    case Kind::kMessage:
      return WriteWireObject(*f.message, bytes, nullptr, notes, out);
    default:
      // Only strings and messages are repeated in these messages.
      return Fail(out);
  }
}

// Writes the object of message `m` from its wire bytes. `index` (the
// result only) replaces the bytes' own field 2 when not null.
void WriteWireObject(const WireMessage& m, absl::string_view bytes,
                     const int32_t* index, v1::DecisionResult* notes,
                     Sink* out) {
  WireIn in(bytes);
  Object o(out);
  uint32_t last = 0;
  bool in_list = false;
  bool oneof_seen = false;
  bool index_written = index == nullptr;
  while (!in.done()) {
    const uint32_t previous = last;
    uint32_t number;
    uint64_t value = 0;
    absl::string_view value_bytes;
    if (!ReadWireField(m, &in, &last, &oneof_seen, &number, &value,
                       &value_bytes)) {
      return Fail(out);
    }
    const WireField& f = m.fields[number - 1];
    const bool again = number == previous;
    if (!again && in_list) {
      out->push_back(']');
      in_list = false;
    }
    if (!index_written && number >= kResultIndexField) {
      Int(o, "\"index\":", *index);
      index_written = true;
      if (number == kResultIndexField) continue;
    }
    if (f.repeated) {
      if (again) {
        out->push_back(',');
      } else {
        o.Key(f.key)->push_back('[');
        in_list = true;
      }
      WriteWireElement(f, value_bytes, notes, out);
      continue;
    }
    switch (f.kind) {
      case Kind::kString:
        if (!value_bytes.empty()) {
          AppendString(value_bytes, o.Key(f.key));
          if (notes != nullptr) NoteString(f.note, value_bytes, notes);
        }
        break;
      case Kind::kBool:
        if (value != 0) o.Key(f.key)->append("true");
        break;
      case Kind::kInt32:
      case Kind::kEnum: {
        // protobuf keeps the low 32 bits of an int32's or enum's varint.
        const int32_t v = static_cast<int32_t>(static_cast<uint32_t>(value));
        if (v == 0) break;
        if (f.kind == Kind::kInt32) {
          AppendInt(v, o.Key(f.key));
        } else if (f.is_valid(v)) {
          o.Key(f.key)->append("\"")->append(f.name(v))->append("\"");
        } else {
          return Fail(out);
        }
        if (notes != nullptr) NoteScalar(f.note, v, notes);
        break;
      }
      case Kind::kDouble:
        if (value != 0) {
          double d;
          std::memcpy(&d, &value, sizeof(d));
          AppendDouble(d, o.Key(f.key));
        }
        break;
      case Kind::kTime: {
        int64_t seconds;
        int32_t nanos;
        if (!ReadTimestamp(value_bytes, &seconds, &nanos)) return Fail(out);
        AppendTimestampValue(seconds, nanos, o.Key(f.key));
        if (notes != nullptr) {
          if (google::protobuf::Timestamp* t = NotedTime(f.note, notes)) {
            t->set_seconds(seconds);
            t->set_nanos(nanos);
          }
        }
        break;
      }
      case Kind::kMessage:
        if (notes != nullptr) NoteMessage(f.note, notes);
        WriteWireObject(*f.message, value_bytes, nullptr, notes, o.Key(f.key));
        break;
    }
  }
  if (in_list) out->push_back(']');
  if (!index_written) Int(o, "\"index\":", *index);
}

}  // namespace

namespace internal {

bool AppendDecisionResultJsonDirect(const v1::DecisionResult& result,
                                    std::string* out) {
  const size_t size = out->size();
  Sink sink(out);
  WriteResult(result, &sink);
  sink.Finish();
  if (!sink.unsure) return true;
  out->resize(size);
  return false;
}

bool AppendDecisionResultJsonFromWireDirect(absl::string_view wire,
                                            std::optional<int32_t> index,
                                            std::string* out,
                                            v1::DecisionResult* notes) {
  const size_t size = out->size();
  if (notes != nullptr) notes->Clear();
  Sink sink(out);
  WriteWireObject(kResult, wire, index.has_value() ? &*index : nullptr, notes,
                  &sink);
  sink.Finish();
  if (!sink.unsure) return true;
  out->resize(size);
  return false;
}

bool ReadDecisionResultNotesFromWireDirect(absl::string_view wire,
                                           v1::DecisionResult* notes) {
  notes->Clear();
  return NoteWireObject(kResult, wire, notes);
}

}  // namespace internal

absl::Status AppendDecisionResultJson(const v1::DecisionResult& result,
                                      std::string* out) {
  if (internal::AppendDecisionResultJsonDirect(result, out)) {
    return absl::OkStatus();
  }
  std::string json;
  const auto status =
      google::protobuf::util::MessageToJsonString(result, &json);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::string_view(status.message().data(), status.message().size()));
  }
  out->append(json);
  return absl::OkStatus();
}

absl::Status AppendDecisionResultJsonFromWire(absl::string_view wire,
                                              std::optional<int32_t> index,
                                              std::string* out,
                                              v1::DecisionResult* notes) {
  if (internal::AppendDecisionResultJsonFromWireDirect(wire, index, out,
                                                       notes)) {
    return absl::OkStatus();
  }
  v1::DecisionResult parsed;
  v1::DecisionResult* result = notes != nullptr ? notes : &parsed;
  if (wire.size() > static_cast<size_t>(INT_MAX) ||
      !result->ParseFromArray(wire.data(), static_cast<int>(wire.size()))) {
    result->Clear();
    return absl::InvalidArgumentError(
        "the bytes are not a DecisionResult (protobuf's parser refuses them)");
  }
  if (index.has_value()) result->set_index(*index);
  return AppendDecisionResultJson(*result, out);
}

absl::Status ReadDecisionResultNotesFromWire(absl::string_view wire,
                                             std::optional<int32_t> index,
                                             v1::DecisionResult* notes) {
  if (!internal::ReadDecisionResultNotesFromWireDirect(wire, notes)) {
    notes->Clear();
    if (wire.size() > static_cast<size_t>(INT_MAX) ||
        !notes->ParseFromArray(wire.data(), static_cast<int>(wire.size()))) {
      notes->Clear();
      return absl::InvalidArgumentError(
          "the bytes are not a DecisionResult (protobuf's parser refuses "
          "them)");
    }
  }
  if (index.has_value()) notes->set_index(*index);
  return absl::OkStatus();
}

}  // namespace treatd::json
