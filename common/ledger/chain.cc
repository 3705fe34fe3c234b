#include "common/ledger/chain.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/digest/sha256.h"
#include "common/text/ascii.h"
#include "nlohmann/json.hpp"

namespace treatd::ledger {
namespace {

using Json = nlohmann::json;  // std::map objects: keys come out sorted

int64_t Micros(absl::Time t) { return absl::ToUnixMicros(t); }
absl::Time FromMicros(int64_t us) { return absl::FromUnixMicros(us); }

void PutString(Json& j, const char* key, const std::string& value) {
  if (!value.empty()) j[key] = value;
}

void PutTime(Json& j, const char* key, const std::optional<absl::Time>& t) {
  if (t.has_value()) j[key] = Micros(*t);
}

Json EncodeDecision(const DecisionFacts& d) {
  Json j = Json::object();
  PutString(j, "id", d.decision_id);
  if (d.treatment != v1::TREATMENT_UNSPECIFIED) {
    j["treatment"] = v1::Treatment_Name(d.treatment);
  }
  PutString(j, "priority", d.priority);
  if (d.priority_rank != 0) j["priority_rank"] = d.priority_rank;
  PutString(j, "rule", d.rule);
  PutTime(j, "mitigate_by", d.mitigate_by);
  PutTime(j, "remediate_by", d.remediate_by);
  PutTime(j, "review_by", d.review_by);
  if (d.residual_risk != 0) j["residual_risk"] = d.residual_risk;
  PutString(j, "policy_digest", d.policy_digest);
  if (d.kind != v1::FINDING_KIND_UNSPECIFIED) {
    j["kind"] = v1::FindingKind_Name(d.kind);
  }
  PutString(j, "owner", d.owner);
  PutString(j, "asset", d.asset);
  PutString(j, "vulnerability", d.vulnerability);
  PutTime(j, "first_seen", d.first_seen);
  return j;
}

// Typed reads that fail with the key's name instead of throwing.
class Reader {
 public:
  explicit Reader(const Json& j) : j_(j) {}

  std::string String(const char* key) {
    auto it = j_.find(key);
    if (it == j_.end()) return "";
    if (!it->is_string()) return Fail(key, "a string"), "";
    return it->get<std::string>();
  }
  int64_t Int(const char* key) {
    auto it = j_.find(key);
    if (it == j_.end()) return 0;
    if (!it->is_number_integer()) return Fail(key, "an integer"), 0;
    return it->get<int64_t>();
  }
  double Double(const char* key) {
    auto it = j_.find(key);
    if (it == j_.end()) return 0;
    if (!it->is_number()) return Fail(key, "a number"), 0;
    return it->get<double>();
  }
  std::optional<absl::Time> Time(const char* key) {
    if (j_.find(key) == j_.end()) return std::nullopt;
    return FromMicros(Int(key));
  }
  template <typename Enum>
  Enum ProtoEnum(const char* key, bool (*parse)(const std::string&, Enum*),
                 Enum fallback) {
    std::string name = String(key);
    if (name.empty()) return fallback;
    Enum value = fallback;
    if (!parse(name, &value)) Fail(key, "a known enum name");
    return value;
  }
  void Fail(const char* key, const char* expected) {
    if (status_.ok()) {
      status_ = absl::InvalidArgumentError(
          absl::StrCat("ledger event: field '", key, "' is not ", expected));
    }
  }
  const absl::Status& status() const { return status_; }

 private:
  const Json& j_;
  absl::Status status_;
};

DecisionFacts DecodeDecision(Reader& r) {
  DecisionFacts d;
  d.decision_id = r.String("id");
  d.treatment = r.ProtoEnum<v1::Treatment>("treatment", v1::Treatment_Parse,
                                           v1::TREATMENT_UNSPECIFIED);
  d.priority = r.String("priority");
  d.priority_rank = static_cast<int>(r.Int("priority_rank"));
  d.rule = r.String("rule");
  d.mitigate_by = r.Time("mitigate_by");
  d.remediate_by = r.Time("remediate_by");
  d.review_by = r.Time("review_by");
  d.residual_risk = r.Double("residual_risk");
  d.policy_digest = r.String("policy_digest");
  d.kind = r.ProtoEnum<v1::FindingKind>("kind", v1::FindingKind_Parse,
                                        v1::FINDING_KIND_UNSPECIFIED);
  d.owner = r.String("owner");
  d.asset = r.String("asset");
  d.vulnerability = r.String("vulnerability");
  d.first_seen = r.Time("first_seen");
  return d;
}

// Whether every string CanonicalEncoding writes is ASCII: the fast writer
// below escapes ASCII exactly as nlohmann does; anything else (UTF-8 to
// copy, or invalid bytes to replace) goes through nlohmann itself.
bool AllTextAscii(const Event& e) {
  const DecisionFacts& d = e.decision;
  for (const std::string* text :
       {&e.finding_key, &e.idempotency_key, &e.actor, &e.note, &e.control,
        &e.evidence, &e.scope, &d.decision_id, &d.priority, &d.rule,
        &d.policy_digest, &d.owner, &d.asset, &d.vulnerability}) {
    if (!IsAscii(*text)) return false;
  }
  return true;
}

// Writes one JSON object the way nlohmann's compact dump does. The caller
// names the keys in sorted (std::map) order; the equivalence test in
// chain_test.cc checks the bytes against CanonicalEncodingGeneral.
class ObjectWriter {
 public:
  explicit ObjectWriter(std::string& out) : out_(out) { out_.push_back('{'); }
  // Goes on writing an object whose first keys `out` already holds.
  ObjectWriter(std::string& out, bool continuing)
      : out_(out), first_(!continuing) {
    if (!continuing) out_.push_back('{');
  }
  void Close() { out_.push_back('}'); }

  // Opens `key`'s value (a nested object follows).
  // Writes `,"key":` (no comma first), and with `quote` the '"' that opens
  // a string value, in one append (the keys are this file's literals).
  void Key(absl::string_view key, bool quote = false) {
    char piece[48];
    if (key.size() > sizeof(piece) - 5) {
      LongKey(key, quote);
      return;
    }
    size_t n = 0;
    if (!first_) piece[n++] = ',';
    first_ = false;
    piece[n++] = '"';
    std::memcpy(piece + n, key.data(), key.size());
    n += key.size();
    piece[n++] = '"';
    piece[n++] = ':';
    value_begin_ = out_.size() + n;
    if (quote) piece[n++] = '"';
    out_.append(piece, n);
  }
  // Where the value written last begins (just after its key's ':').
  size_t value_begin() const { return value_begin_; }
  void Int(absl::string_view key, int64_t value) {
    Key(key);
    absl::StrAppend(&out_, value);
  }
  void Double(absl::string_view key, double value) {
    Key(key);
    out_.append(Json(value).dump());  // nlohmann's own float formatting
  }
  void True(absl::string_view key) {
    Key(key);
    out_.append("true");
  }
  // Always written, even empty.
  void String(absl::string_view key, absl::string_view value) {
    Key(key, /*quote=*/true);
    // Runs that need no escape are copied whole; eight bytes are tested at
    // once (this loop was most of an event's encoding, on the ledger's
    // path for every decision).
    size_t run = 0;
    size_t i = 0;
    while (i < value.size()) {
      if (i + 8 <= value.size() && !AnyEscaped(Load8(value.data() + i))) {
        i += 8;
        continue;
      }
      const char c = value[i];
      if (static_cast<unsigned char>(c) >= 0x20 && c != '"' && c != '\\') {
        ++i;
        continue;
      }
      out_.append(value.data() + run, i - run);
      Escaped(c);
      run = ++i;
    }
    out_.append(value.data() + run, value.size() - run);
    out_.push_back('"');
  }
  // Left out when empty (PutString).
  void NonEmpty(absl::string_view key, absl::string_view value) {
    if (!value.empty()) String(key, value);
  }
  void Time(absl::string_view key, const std::optional<absl::Time>& t) {
    if (t.has_value()) Int(key, Micros(*t));
  }

 private:
  void LongKey(absl::string_view key, bool quote) {
    if (!first_) out_.push_back(',');
    first_ = false;
    out_.push_back('"');
    out_.append(key.data(), key.size());
    out_.append("\":");
    value_begin_ = out_.size();
    if (quote) out_.push_back('"');
  }

  static uint64_t Load8(const char* p) {
    uint64_t word;
    std::memcpy(&word, p, sizeof(word));
    return word;
  }
  // Whether one of the eight bytes of `word` is a control character
  // (< 0x20), '"' or '\\': the classic "has a zero byte" test applied to
  // word - 0x20.., word ^ '"'.. and word ^ '\\'... Exact for bytes below
  // 0x80; a byte from 0x80 up is never flagged (String copies it as is).
  static bool AnyEscaped(uint64_t word) {
    constexpr uint64_t kOnes = 0x0101010101010101ULL;
    constexpr uint64_t kHigh = 0x8080808080808080ULL;
    const uint64_t quote = word ^ (kOnes * '"');
    const uint64_t backslash = word ^ (kOnes * '\\');
    const uint64_t found = ((word - kOnes * 0x20) & ~word) |
                           ((quote - kOnes) & ~quote) |
                           ((backslash - kOnes) & ~backslash);
    return (found & kHigh) != 0;
  }

  // A character String does not copy as is. nlohmann with ensure_ascii =
  // false: the short escapes, \u00xx for other control characters,
  // everything else as is (0x7f included).
  void Escaped(char c) {
    switch (c) {
      case '"':
        out_.append("\\\"");
        return;
      case '\\':
        out_.append("\\\\");
        return;
      case '\b':
        out_.append("\\b");
        return;
      case '\f':
        out_.append("\\f");
        return;
      case '\n':
        out_.append("\\n");
        return;
      case '\r':
        out_.append("\\r");
        return;
      case '\t':
        out_.append("\\t");
        return;
      default:
        break;
    }
    if (static_cast<unsigned char>(c) < 0x20) {
      static constexpr char kHex[] = "0123456789abcdef";
      out_.append("\\u00");
      out_.push_back(kHex[(c >> 4) & 0xf]);
      out_.push_back(kHex[c & 0xf]);
      return;
    }
    out_.push_back(c);
  }

  std::string& out_;
  bool first_ = true;
  size_t value_begin_ = 0;
};

using Range = PrefixMarks::Range;

// The value `j` wrote last, up to the end of `out`.
Range LastValue(const ObjectWriter& j, const std::string& out) {
  return Range{static_cast<uint32_t>(j.value_begin()),
               static_cast<uint32_t>(out.size())};
}

// As LastValue for a string value `text`, when it went out as it is
// (nothing escaped: what the column renders, so ElideColumnValues leaves
// it out); else an empty range.
Range PlainString(const ObjectWriter& j, const std::string& out,
                  absl::string_view text) {
  const Range range = LastValue(j, out);
  if (text.empty() || range.end - range.begin != text.size() + 2) return {};
  return range;
}

// The fast path of CanonicalEncoding, for events whose text is ASCII, in
// two parts. Keys in sorted order, the same fields and rules as
// CanonicalEncodingGeneral. The prefix holds every key before
// "recorded_at": reported fields only (the bulk of the bytes).
std::string AsciiPrefix(const Event& event, PrefixMarks* marks) {
  std::string out;
  out.reserve(768);
  ObjectWriter j(out);
  j.NonEmpty("actor", event.actor);
  j.NonEmpty("control", event.control);
  if (event.kind == EventKind::kDecision ||
      event.kind == EventKind::kSweepDecision) {
    const DecisionFacts& d = event.decision;
    j.Key("decision");
    ObjectWriter o(out);
    o.NonEmpty("asset", d.asset);
    o.Time("first_seen", d.first_seen);
    o.NonEmpty("id", d.decision_id);
    if (d.kind != v1::FINDING_KIND_UNSPECIFIED) {
      o.String("kind", v1::FindingKind_Name(d.kind));
    }
    o.Time("mitigate_by", d.mitigate_by);
    o.NonEmpty("owner", d.owner);
    o.NonEmpty("policy_digest", d.policy_digest);
    o.NonEmpty("priority", d.priority);
    if (d.priority_rank != 0) o.Int("priority_rank", d.priority_rank);
    o.Time("remediate_by", d.remediate_by);
    if (d.residual_risk != 0) o.Double("residual_risk", d.residual_risk);
    o.Time("review_by", d.review_by);
    o.NonEmpty("rule", d.rule);
    if (d.treatment != v1::TREATMENT_UNSPECIFIED) {
      o.String("treatment", v1::Treatment_Name(d.treatment));
    }
    o.NonEmpty("vulnerability", d.vulnerability);
    o.Close();
  }
  j.NonEmpty("evidence", event.evidence);
  // The values ElideColumnValues may leave out, in its order.
  Range values[4];
  j.String("finding", event.finding_key);  // always there: the object is open
  values[0] = PlainString(j, out, event.finding_key);
  if (!event.idempotency_key.empty()) {
    j.String("idempotency_key", event.idempotency_key);
    values[1] = PlainString(j, out, event.idempotency_key);
  }
  j.String("kind", EventKindName(event.kind));
  values[2] = PlainString(j, out, EventKindName(event.kind));
  j.NonEmpty("note", event.note);
  j.Int("occurred_at", Micros(event.occurred_at));
  values[3] = LastValue(j, out);
  if (marks != nullptr) std::copy(values, values + 4, marks->values);
  return out;
}

// Appends the keys from "recorded_at" on to an AsciiPrefix: the ledger's
// assigned fields and two short reported ones.
// `values` gets where recorded_at's and seq's values are.
void AppendAsciiSuffix(const Event& event, std::string& out,
                       Range (&values)[2]) {
  ObjectWriter j(out, /*continuing=*/true);
  j.Int("recorded_at", Micros(event.recorded_at));
  values[0] = LastValue(j, out);
  if (event.recurrence) j.True("recurrence");
  j.NonEmpty("scope", event.scope);
  j.Int("seq", event.seq);
  values[1] = LastValue(j, out);
  j.String("state_after", FindingStateName(event.state_after));
  if (event.state_before.has_value()) {
    j.String("state_before", FindingStateName(*event.state_before));
  }
  j.Time("until", event.until);
  j.Int("v", 1);
  j.Close();
}

}  // namespace

Event ReportedPart(Event event) {
  event.seq = 0;
  event.recorded_at = absl::UnixEpoch();
  event.state_before.reset();
  event.state_after = FindingState::kOpen;
  event.recurrence = false;
  return event;
}

std::string CanonicalEncoding(const Event& event) {
  return CanonicalEncodingFromPrefix(CanonicalPrefix(event), event);
}

std::string CanonicalPrefix(const Event& event) {
  // The general encoder's tree of std::map nodes cost more than the rest of
  // an append on the ledger's single writer thread, so ASCII text (the
  // usual case) takes the direct writer.
  if (!AllTextAscii(event)) return "";
  return AsciiPrefix(event, nullptr);
}

std::string CanonicalPrefix(const Event& event, PrefixMarks& marks) {
  marks = PrefixMarks();
  if (!AllTextAscii(event)) return "";
  return AsciiPrefix(event, &marks);
}

std::string CanonicalEncodingFromPrefix(std::string prefix,
                                        const Event& event) {
  if (prefix.empty()) return CanonicalEncodingGeneral(event);
  Range suffix_values[2];
  AppendAsciiSuffix(event, prefix, suffix_values);
  return prefix;
}

std::string CanonicalEncodingFromPrefix(std::string prefix,
                                        const PrefixMarks& marks,
                                        const Event& event,
                                        std::string& stored) {
  Range suffix_values[2];
  AppendAsciiSuffix(event, prefix, suffix_values);
  // The ranges come in the order of the encoding: copy what lies between.
  stored.clear();
  stored.reserve(prefix.size());
  size_t from = 0;
  auto leave_out = [&](const Range& value) {
    if (value.end == value.begin) return;
    stored.append(prefix, from, value.begin - from);
    stored.push_back('@');
    from = value.end;
  };
  for (const Range& value : marks.values) leave_out(value);
  for (const Range& value : suffix_values) leave_out(value);
  stored.append(prefix, from, std::string::npos);
  return prefix;
}

std::string CanonicalEncodingGeneral(const Event& event) {
  Json j = Json::object();
  j["v"] = 1;
  j["seq"] = event.seq;
  j["kind"] = std::string(EventKindName(event.kind));
  j["finding"] = event.finding_key;
  j["occurred_at"] = Micros(event.occurred_at);
  j["recorded_at"] = Micros(event.recorded_at);
  PutString(j, "idempotency_key", event.idempotency_key);
  PutString(j, "actor", event.actor);
  PutString(j, "note", event.note);
  PutString(j, "control", event.control);
  PutString(j, "evidence", event.evidence);
  PutTime(j, "until", event.until);
  PutString(j, "scope", event.scope);
  if (event.state_before.has_value()) {
    j["state_before"] = std::string(FindingStateName(*event.state_before));
  }
  j["state_after"] = std::string(FindingStateName(event.state_after));
  if (event.recurrence) j["recurrence"] = true;
  if (event.kind == EventKind::kDecision ||
      event.kind == EventKind::kSweepDecision) {
    j["decision"] = EncodeDecision(event.decision);
  }
  // Invalid UTF-8 (only possible from a library caller: proto3 strings are
  // checked on parse) becomes U+FFFD instead of throwing.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

absl::StatusOr<Event> DecodeCanonical(absl::string_view body) {
  Json j = Json::parse(body.begin(), body.end(), nullptr,
                       /*allow_exceptions=*/false);
  if (!j.is_object()) {
    return absl::InvalidArgumentError(
        "ledger event: body is not a JSON object");
  }
  Reader r(j);
  if (r.Int("v") != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ledger event: encoding version ", r.Int("v"), "; this build reads 1"));
  }
  Event e;
  e.seq = r.Int("seq");
  std::optional<EventKind> kind = ParseEventKind(r.String("kind"));
  if (!kind.has_value()) r.Fail("kind", "a known event kind");
  e.kind = kind.value_or(EventKind::kDecision);
  e.finding_key = r.String("finding");
  e.occurred_at = FromMicros(r.Int("occurred_at"));
  e.recorded_at = FromMicros(r.Int("recorded_at"));
  e.idempotency_key = r.String("idempotency_key");
  e.actor = r.String("actor");
  e.note = r.String("note");
  e.control = r.String("control");
  e.evidence = r.String("evidence");
  e.until = r.Time("until");
  e.scope = r.String("scope");
  std::string before = r.String("state_before");
  if (!before.empty()) {
    e.state_before = ParseFindingState(before);
    if (!e.state_before.has_value()) r.Fail("state_before", "a known state");
  }
  std::optional<FindingState> after =
      ParseFindingState(r.String("state_after"));
  if (!after.has_value()) r.Fail("state_after", "a known state");
  e.state_after = after.value_or(FindingState::kOpen);
  auto recurrence = j.find("recurrence");
  e.recurrence = recurrence != j.end() && recurrence->is_boolean() &&
                 recurrence->get<bool>();
  auto decision = j.find("decision");
  if (decision != j.end()) {
    if (!decision->is_object()) {
      r.Fail("decision", "an object");
    } else {
      Reader dr(*decision);
      e.decision = DecodeDecision(dr);
      if (!dr.status().ok()) return dr.status();
    }
  }
  if (!r.status().ok()) return r.status();
  return e;
}

std::string LinkHash(absl::string_view prev_hash, absl::string_view body) {
  return Sha256Hex(prev_hash, "\n", body);
}

namespace {

// The fields whose values ElideColumnValues may leave out, in the order the
// canonical encoding writes them (sorted keys).
constexpr absl::string_view kElidable[] = {
    "finding", "idempotency_key", "kind", "occurred_at", "recorded_at", "seq"};

// A value as the canonical encoding writes it: `open` + `text` + `close`.
struct Rendered {
  absl::string_view open, text, close;  // "" or "\"" around text
  size_t size() const { return open.size() + text.size() + close.size(); }
  void AppendTo(std::string& out) const {
    out.append(open.data(), open.size());
    out.append(text.data(), text.size());
    out.append(close.data(), close.size());
  }
  bool Equals(absl::string_view at) const {
    return at.size() >= size() && at.substr(0, open.size()) == open &&
           at.substr(open.size(), text.size()) == text &&
           at.substr(open.size() + text.size(), close.size()) == close;
  }
};
// The value of `key` (an elidable field) as the canonical encoding writes
// it from `columns` when the column's text needs no escape: a string
// between quotes, an integer in decimal (digits in `buffer`). A string
// with something to escape never matches what the encoder wrote (the two
// differ from its first escaped character on, and the rendering ends
// first), so ElideColumnValues leaves such a value in place. False for a
// key that is not elidable or an empty string.
bool Render(absl::string_view key, const EventColumns& columns,
            char (&buffer)[32], Rendered& out) {
  auto quoted = [&](absl::string_view text) {
    if (text.empty()) return false;
    out = Rendered{"\"", text, "\""};
    return true;
  };
  auto number = [&](int64_t value) {
    char* end = absl::numbers_internal::FastIntToBuffer(value, buffer);
    out = Rendered{"", absl::string_view(buffer, end - buffer), ""};
    return true;
  };
  if (key == "finding") return quoted(columns.finding_key);
  if (key == "idempotency_key") return quoted(columns.idempotency_key);
  if (key == "kind") return quoted(EventKindName(columns.kind));
  if (key == "occurred_at") return number(columns.occurred_us);
  if (key == "recorded_at") return number(columns.recorded_us);
  if (key == "seq") return number(columns.seq);
  return false;
}

size_t Find(absl::string_view text, absl::string_view needle, size_t from) {
  if (from > text.size()) return absl::string_view::npos;
  const void* at = memmem(text.data() + from, text.size() - from, needle.data(),
                          needle.size());
  return at == nullptr ? absl::string_view::npos
                       : static_cast<const char*>(at) - text.data();
}

}  // namespace

std::string ElideColumnValues(absl::string_view canonical,
                              const EventColumns& columns) {
  std::string out;
  out.reserve(canonical.size());
  size_t from = 0;    // copied up to here
  size_t search = 0;  // the fields come in this order
  for (absl::string_view key : kElidable) {
    char buffer[32];
    Rendered value;
    if (!Render(key, columns, buffer, value)) continue;
    char needle_buffer[32];  // "key":
    const size_t needle_size = key.size() + 3;
    needle_buffer[0] = '"';
    std::memcpy(needle_buffer + 1, key.data(), key.size());
    needle_buffer[key.size() + 1] = '"';
    needle_buffer[key.size() + 2] = ':';
    const absl::string_view needle(needle_buffer, needle_size);
    // A top-level member: after '{' or ',', its value as rendered, then ','
    // or '}'. The nested decision object (the only one) has none of these
    // keys but "kind", whose value there is a FINDING_KIND_* name, never an
    // event kind's; inside a string every '"' is escaped, so `"key":` is a
    // key.
    size_t at = Find(canonical, needle, search);
    while (at != absl::string_view::npos) {
      const size_t end = at + needle_size + value.size();
      if (at > 0 && (canonical[at - 1] == ',' || canonical[at - 1] == '{') &&
          end < canonical.size() &&
          (canonical[end] == ',' || canonical[end] == '}') &&
          value.Equals(canonical.substr(at + needle_size))) {
        break;
      }
      at = Find(canonical, needle, at + 1);
    }
    // Not there as rendered: the value stays, RestoreColumnValues leaves it.
    if (at == absl::string_view::npos) continue;
    out.append(canonical.data() + from, at + needle_size - from);
    out.push_back('@');
    from = search = at + needle_size + value.size();
  }
  out.append(canonical.data() + from, canonical.size() - from);
  return out;
}

absl::StatusOr<std::string> RestoreColumnValues(absl::string_view stored,
                                                const EventColumns& columns) {
  std::string out;
  size_t from = 0;    // copied up to here
  size_t search = 0;  // looked for markers up to here
  while (true) {
    // Outside strings a value never starts with '@', so an unescaped `":@`
    // is a left-out value. Inside a string a '"' is escaped: `\":@` there
    // (an odd number of backslashes before the quote) is the string's own
    // text and stays.
    const size_t marker = Find(stored, "\":@", search);
    if (marker == absl::string_view::npos) break;
    size_t backslashes = 0;
    while (backslashes < marker && stored[marker - 1 - backslashes] == '\\') {
      ++backslashes;
    }
    if (backslashes % 2 == 1) {
      search = marker + 3;
      continue;
    }
    const size_t open =
        marker == 0 ? absl::string_view::npos : stored.rfind('"', marker - 1);
    const absl::string_view key =
        open == absl::string_view::npos
            ? absl::string_view()
            : stored.substr(open + 1, marker - open - 1);
    char buffer[32];
    Rendered value;
    if (!Render(key, columns, buffer, value)) {
      return absl::DataLossError(absl::StrCat(
          "ledger event ", columns.seq,
          ": its stored body leaves out a value that is no column (\"", key,
          "\") or one the column cannot give back"));
    }
    if (out.empty()) out.reserve(stored.size() + 192);
    out.append(stored.data() + from, marker + 2 - from);  // up to ':'
    value.AppendTo(out);
    from = search = marker + 3;
  }
  if (from == 0) return std::string(stored);  // a body stored whole
  out.append(stored.data() + from, stored.size() - from);
  return out;
}

}  // namespace treatd::ledger
