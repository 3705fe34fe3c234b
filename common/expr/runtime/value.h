// The runtime value of an expression: a small tagged union that never owns
// heap memory. Strings are views into the finding, into the compiled
// program's constants or into the evaluation's scratch space; messages,
// repeated fields and maps are pointers into the finding. A Value is only
// valid while the finding, the program and the Frame it came from live.
//
// Thread safety: plain value, trivially copyable.
#ifndef TREATD_COMMON_EXPR_RUNTIME_VALUE_H_
#define TREATD_COMMON_EXPR_RUNTIME_VALUE_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/map.h"
#include "google/protobuf/message.h"

namespace treatd::expr {

using StringMap = google::protobuf::Map<std::string, std::string>;

enum class ValueKind : uint8_t {
  kError,  // Evaluation failed; error() says why.
  kBool,
  kInt,
  kDouble,
  kString,
  kDuration,
  kTimestamp,
  kEnum,
  kMessage,
  kList,
  kMap,
  kNull,  // CEL's null.
  kType,  // A type as a value (type(x), `int`); string_value() is its name.
};

class Value {
 public:
  Value() = default;

  static Value Bool(bool b) {
    Value v(ValueKind::kBool);
    v.i_ = b ? 1 : 0;
    return v;
  }
  static Value Int(int64_t i) {
    Value v(ValueKind::kInt);
    v.i_ = i;
    return v;
  }
  static Value Double(double d) {
    Value v(ValueKind::kDouble);
    v.d_ = d;
    return v;
  }
  // `s` must outlive the value.
  static Value String(absl::string_view s) {
    Value v(ValueKind::kString);
    v.p_ = s.data();
    v.n_ = s.size();
    return v;
  }
  static Value Duration(absl::Duration d);
  static Value Timestamp(absl::Time t);
  static Value Enum(int number, const google::protobuf::EnumDescriptor* type) {
    Value v(ValueKind::kEnum);
    v.aux_ = number;
    v.p_ = type;
    return v;
  }
  static Value Message(const google::protobuf::Message* m) {
    Value v(ValueKind::kMessage);
    v.p_ = m;
    return v;
  }
  // A repeated (non-map) field of `m`.
  static Value RepeatedField(const google::protobuf::Message* m,
                             const google::protobuf::FieldDescriptor* field);
  // The same with `m`'s Reflection already at hand (m->GetReflection() is
  // a virtual call through the descriptor table's once-check).
  static Value RepeatedField(const google::protobuf::Message* m,
                             const google::protobuf::FieldDescriptor* field,
                             const google::protobuf::Reflection* reflection);
  // A list of values held elsewhere (program constants or frame scratch).
  static Value Array(const Value* items, size_t size) {
    Value v(ValueKind::kList);
    v.p_ = items;
    v.n_ = size;
    return v;
  }
  static Value Map(const StringMap* map) {
    Value v(ValueKind::kMap);
    v.p_ = map;
    return v;
  }
  // A map held elsewhere (program constants or frame scratch) as `size`
  // key/value pairs: entries[2i] is a key, entries[2i + 1] its value. Keys
  // are distinct.
  static Value Entries(const Value* entries, size_t size) {
    Value v(ValueKind::kMap);
    v.entries_ = true;
    v.p_ = entries;
    v.n_ = size;
    return v;
  }
  static Value Null() { return Value(ValueKind::kNull); }
  // `name` ("int", "list", "google.protobuf.Duration") must outlive the
  // value; the checker hands out static names.
  static Value TypeValue(absl::string_view name) {
    Value v(ValueKind::kType);
    v.p_ = name.data();
    v.n_ = name.size();
    return v;
  }
  // `message` must outlive the value (a literal or frame scratch).
  static Value Error(absl::string_view message) {
    Value v(ValueKind::kError);
    v.p_ = message.data();
    v.n_ = message.size();
    return v;
  }

  ValueKind kind() const { return kind_; }
  bool is_error() const { return kind_ == ValueKind::kError; }

  bool bool_value() const { return i_ != 0; }
  int64_t int_value() const { return i_; }
  double double_value() const { return d_; }
  // kInt or kDouble as a double.
  double AsDouble() const {
    return kind_ == ValueKind::kInt ? static_cast<double>(i_) : d_;
  }
  absl::string_view string_value() const {
    return absl::string_view(static_cast<const char*>(p_), n_);
  }
  absl::string_view error() const { return string_value(); }
  // kDuration and kTimestamp as stored: whole seconds and nanoseconds, with
  // one representation per value (durations truncated toward zero, so the
  // nanoseconds carry the sign of the seconds; timestamps floored, so they
  // are in [0, 1e9)). Ordering and equality of (seconds, nanos) pairs are
  // those of the values, without absl's arithmetic.
  int64_t seconds() const { return i_; }
  int32_t nanos() const { return aux_; }
  absl::Duration duration_value() const {
    return absl::Seconds(i_) + absl::Nanoseconds(aux_);
  }
  absl::Time timestamp_value() const {
    return absl::FromUnixSeconds(i_) + absl::Nanoseconds(aux_);
  }
  int enum_number() const { return aux_; }
  const google::protobuf::EnumDescriptor* enum_type() const {
    return static_cast<const google::protobuf::EnumDescriptor*>(p_);
  }
  const google::protobuf::Message* message() const {
    return static_cast<const google::protobuf::Message*>(p_);
  }
  // A map field's map; null for a map built by the expression (Entries).
  const StringMap* map() const {
    return entries_ ? nullptr : static_cast<const StringMap*>(p_);
  }

  // Lists.
  size_t ListSize() const;
  Value ListElement(size_t i) const;

  // Maps, either form. Entry order is the map's iteration order.
  size_t MapSize() const { return entries_ ? n_ : map()->size(); }
  // Calls f(key, value) for each entry until f returns false.
  template <typename F>
  void ForEachEntry(const F& f) const {
    if (entries_) {
      const auto* e = static_cast<const Value*>(p_);
      for (size_t i = 0; i < n_; ++i) {
        if (!f(e[2 * i], e[2 * i + 1])) return;
      }
      return;
    }
    for (const auto& [key, value] : *map()) {
      if (!f(String(key), String(value))) return;
    }
  }
  // The value of `key`, or false when the map has no such key.
  bool MapFind(const Value& key, Value* value) const;

 private:
  explicit Value(ValueKind kind) : kind_(kind) {}

  ValueKind kind_ = ValueKind::kError;
  // kList: true when the list is a repeated field (p_ = message, q_ = field,
  // n_ = the message's Reflection) rather than an array (p_ = items, n_ =
  // size).
  bool repeated_ = false;
  // kMap: true for the Entries() form (p_ = entries, n_ = size), false for
  // a map field (p_ = StringMap).
  bool entries_ = false;
  // Nanoseconds of durations and timestamps; enum numbers.
  int32_t aux_ = 0;
  union {
    int64_t i_ = 0;  // Bools, ints, seconds of durations and timestamps.
    double d_;
    const void* q_;
  };
  const void* p_ = nullptr;
  size_t n_ = 0;
};

// "TREATMENT_UNSPECIFIED" -> "TREATMENT_": the prefix every value of a
// buf-STANDARD enum carries. Empty when the enum does not follow it.
absl::string_view EnumValuePrefix(const google::protobuf::EnumDescriptor* type);

// The value name without the enum's prefix: "INTERNET" for
// EXPOSURE_INTERNET. Points into the descriptor pool.
absl::string_view EnumShortName(const google::protobuf::EnumDescriptor* type,
                                int number);

// Looks up an enum value by name with or without prefix, ignoring case.
const google::protobuf::EnumValueDescriptor* FindEnumValue(
    const google::protobuf::EnumDescriptor* type, absl::string_view name);

// Formats durations in the largest unit that divides them: "3d", "36h".
std::string RenderDuration(absl::Duration d);

// RFC 3339 in UTC with a "Z" suffix and only the fraction digits needed.
std::string RenderTimestamp(absl::Time t);
// RenderTimestamp() appended to `*out`, without a temporary string.
void AppendTimestamp(absl::Time t, std::string* out);

// Appends the text form used by templates: strings as-is, numbers in
// shortest round-trip form, enums by short value name, timestamps in RFC
// 3339, durations like "36h", lists joined with ", ", maps as
// "{k: v, ...}" sorted by key. `quote_strings` quotes strings (and list
// elements), as traces do so that "" is visible.
void AppendValue(const Value& v, bool quote_strings, std::string* out);
std::string ValueToString(const Value& v, bool quote_strings = false);

}  // namespace treatd::expr

#endif  // TREATD_COMMON_EXPR_RUNTIME_VALUE_H_
