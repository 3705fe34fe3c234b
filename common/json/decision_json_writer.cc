#include "common/json/decision_json_writer.h"

#include <algorithm>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "absl/strings/string_view.h"
#include "common/time/time_text.h"
#include "google/protobuf/util/json_util.h"

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
void AppendTimestamp(const google::protobuf::Timestamp& t, Sink* out) {
  if (!t.GetReflection()->GetUnknownFields(t).empty()) return Fail(out);
  char buffer[kMaxProtoTimestampTextSize + 2];
  const size_t n = FormatProtoTimestampText(t.seconds(), t.nanos(), buffer + 1);
  if (n == 0) return Fail(out);
  buffer[0] = '"';
  buffer[n + 1] = '"';
  out->append(buffer, n + 2);
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

}  // namespace treatd::json
