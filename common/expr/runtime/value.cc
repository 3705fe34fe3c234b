#include "common/expr/runtime/value.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/text/escape.h"
#include "google/protobuf/timestamp.pb.h"

namespace treatd::expr {

using google::protobuf::EnumDescriptor;
using google::protobuf::EnumValueDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Reflection;

Value Value::Duration(absl::Duration d) {
  Value v(ValueKind::kDuration);
  absl::Duration rem;
  v.i_ = absl::IDivDuration(d, absl::Seconds(1), &rem);
  v.aux_ = static_cast<int32_t>(absl::ToInt64Nanoseconds(rem));
  return v;
}

Value Value::Timestamp(absl::Time t) {
  Value v(ValueKind::kTimestamp);
  v.i_ = absl::ToUnixSeconds(t);
  v.aux_ = static_cast<int32_t>(
      absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(v.i_)));
  return v;
}

Value Value::RepeatedField(const google::protobuf::Message* m,
                           const FieldDescriptor* field) {
  // Looked up once per list rather than once per element.
  return RepeatedField(m, field, m->GetReflection());
}

Value Value::RepeatedField(const google::protobuf::Message* m,
                           const FieldDescriptor* field,
                           const Reflection* reflection) {
  Value v(ValueKind::kList);
  v.repeated_ = true;
  v.p_ = m;
  v.q_ = field;
  v.n_ = reinterpret_cast<uintptr_t>(reflection);
  return v;
}

size_t Value::ListSize() const {
  if (!repeated_) return n_;
  const auto* r = reinterpret_cast<const Reflection*>(n_);
  return static_cast<size_t>(
      r->FieldSize(*message(), static_cast<const FieldDescriptor*>(q_)));
}

Value Value::ListElement(size_t i) const {
  if (!repeated_) return static_cast<const Value*>(p_)[i];
  const auto* m = message();
  const auto* field = static_cast<const FieldDescriptor*>(q_);
  const auto* r = reinterpret_cast<const Reflection*>(n_);
  const int index = static_cast<int>(i);
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_BOOL:
      return Bool(r->GetRepeatedBool(*m, field, index));
    case FieldDescriptor::CPPTYPE_INT32:
      return Int(r->GetRepeatedInt32(*m, field, index));
    case FieldDescriptor::CPPTYPE_INT64:
      return Int(r->GetRepeatedInt64(*m, field, index));
    case FieldDescriptor::CPPTYPE_UINT32:
      return Int(r->GetRepeatedUInt32(*m, field, index));
    case FieldDescriptor::CPPTYPE_UINT64:
      return Int(static_cast<int64_t>(r->GetRepeatedUInt64(*m, field, index)));
    case FieldDescriptor::CPPTYPE_FLOAT:
      return Double(r->GetRepeatedFloat(*m, field, index));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return Double(r->GetRepeatedDouble(*m, field, index));
    case FieldDescriptor::CPPTYPE_ENUM:
      return Enum(r->GetRepeatedEnumValue(*m, field, index),
                  field->enum_type());
    case FieldDescriptor::CPPTYPE_STRING: {
      // Non-cord string fields return a reference to their storage, so
      // the scratch string is never used and the view stays valid.
      std::string scratch;
      const std::string& s =
          r->GetRepeatedStringReference(*m, field, index, &scratch);
      if (&s == &scratch) return Error("unsupported string representation");
      return String(s);
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      const auto& element = r->GetRepeatedMessage(*m, field, index);
      if (field->message_type() == google::protobuf::Timestamp::descriptor()) {
        const auto* d = element.GetDescriptor();
        const Reflection* er = element.GetReflection();
        return Timestamp(
            absl::FromUnixSeconds(er->GetInt64(element, d->field(0))) +
            absl::Nanoseconds(er->GetInt32(element, d->field(1))));
      }
      return Message(&element);
    }
  }
  return Error("unsupported repeated field");
}

bool Value::MapFind(const Value& key, Value* value) const {
  if (!entries_) {
    if (key.kind() != ValueKind::kString) return false;
    const absl::string_view k = key.string_value();
    auto it = map()->find(std::string_view(k.data(), k.size()));
    if (it == map()->end()) return false;
    *value = String(it->second);
    return true;
  }
  // Keys are bool, int or string (the checker allows no others).
  const auto* e = static_cast<const Value*>(p_);
  for (size_t i = 0; i < n_; ++i) {
    const Value& k = e[2 * i];
    if (k.kind() != key.kind()) continue;
    const bool same = k.kind() == ValueKind::kString
                          ? k.string_value() == key.string_value()
                          : k.int_value() == key.int_value();
    if (same) {
      *value = e[2 * i + 1];
      return true;
    }
  }
  return false;
}

absl::string_view EnumValuePrefix(const EnumDescriptor* type) {
  if (type->value_count() == 0) return "";
  absl::string_view first = type->value(0)->name();
  constexpr absl::string_view kUnspecified = "UNSPECIFIED";
  if (!absl::EndsWith(first, kUnspecified)) return "";
  return first.substr(0, first.size() - kUnspecified.size());
}

absl::string_view EnumShortName(const EnumDescriptor* type, int number) {
  const EnumValueDescriptor* value = type->FindValueByNumber(number);
  if (value == nullptr) return "";
  absl::string_view name = value->name();
  absl::string_view prefix = EnumValuePrefix(type);
  if (!prefix.empty() && absl::StartsWith(name, prefix) &&
      name.size() > prefix.size()) {
    name.remove_prefix(prefix.size());
  }
  return name;
}

const EnumValueDescriptor* FindEnumValue(const EnumDescriptor* type,
                                         absl::string_view name) {
  const std::string upper = absl::AsciiStrToUpper(name);
  if (const auto* v = type->FindValueByName(upper)) return v;
  absl::string_view prefix = EnumValuePrefix(type);
  if (prefix.empty()) return nullptr;
  return type->FindValueByName(absl::StrCat(prefix, upper));
}

std::string RenderDuration(absl::Duration d) {
  if (d < absl::ZeroDuration()) return absl::StrCat("-", RenderDuration(-d));
  struct Unit {
    absl::Duration size;
    const char* suffix;
  };
  static const Unit kUnits[] = {{absl::Hours(24), "d"},
                                {absl::Hours(1), "h"},
                                {absl::Minutes(1), "m"},
                                {absl::Seconds(1), "s"}};
  for (const Unit& unit : kUnits) {
    absl::Duration rem;
    const int64_t count = absl::IDivDuration(d, unit.size, &rem);
    if (rem == absl::ZeroDuration() &&
        (count != 0 || unit.size == absl::Seconds(1))) {
      return absl::StrCat(count, unit.suffix);
    }
  }
  return absl::StrCat(absl::FDivDuration(d, absl::Seconds(1)), "s");
}

namespace {

// Writes `value` as exactly `width` decimal digits ending before `end`.
void PutDigits(uint32_t value, int width, char* end) {
  for (int i = 0; i < width; ++i) {
    *--end = static_cast<char>('0' + value % 10);
    value /= 10;
  }
}

}  // namespace

void AppendTimestamp(absl::Time t, std::string* out) {
  // Years 1000..9999 have the same four-digit form in every formatter;
  // decisions format several timestamps each, so they skip cctz's general
  // (and much slower) formatter.
  constexpr int64_t kYear1000 = -30610224000;   // 1000-01-01T00:00:00Z
  constexpr int64_t kYear10000 = 253402300800;  // 10000-01-01T00:00:00Z
  const int64_t seconds = absl::ToUnixSeconds(t);
  if (t == absl::InfiniteFuture() || t == absl::InfinitePast() ||
      seconds < kYear1000 || seconds >= kYear10000) {
    out->append(
        absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", t, absl::UTCTimeZone()));
    return;
  }
  const int64_t nanos =
      absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(seconds));
  int64_t days = seconds / 86400;
  int64_t second_of_day = seconds % 86400;
  if (second_of_day < 0) {
    second_of_day += 86400;
    --days;
  }
  // Civil date from a day count, computed in 400-year eras that start on
  // March 1st so that the leap day ends each year.
  const int64_t z = days + 719468;  // Days from 0000-03-01.
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t day_of_era = z - era * 146097;
  const int64_t year_of_era = (day_of_era - day_of_era / 1460 +
                               day_of_era / 36524 - day_of_era / 146096) /
                              365;
  const int64_t day_of_year =
      day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const int64_t month_index = (5 * day_of_year + 2) / 153;  // 0 = March.
  const int64_t day = day_of_year - (153 * month_index + 2) / 5 + 1;
  const int64_t month = month_index < 10 ? month_index + 3 : month_index - 9;
  const int64_t year = year_of_era + era * 400 + (month <= 2 ? 1 : 0);

  char buf[32] = "0000-00-00T00:00:00";
  PutDigits(static_cast<uint32_t>(year), 4, buf + 4);
  PutDigits(static_cast<uint32_t>(month), 2, buf + 7);
  PutDigits(static_cast<uint32_t>(day), 2, buf + 10);
  PutDigits(static_cast<uint32_t>(second_of_day / 3600), 2, buf + 13);
  PutDigits(static_cast<uint32_t>(second_of_day / 60 % 60), 2, buf + 16);
  PutDigits(static_cast<uint32_t>(second_of_day % 60), 2, buf + 19);
  size_t size = 19;
  if (nanos != 0) {
    buf[size++] = '.';
    PutDigits(static_cast<uint32_t>(nanos), 9, buf + size + 9);
    size += 9;
    while (buf[size - 1] == '0') --size;
  }
  buf[size++] = 'Z';
  out->append(buf, size);
}

std::string RenderTimestamp(absl::Time t) {
  std::string out;
  AppendTimestamp(t, &out);
  return out;
}

namespace {

void AppendDouble(double d, std::string* out) {
  char buf[32];
  // std::to_chars without a precision gives the shortest text that reads
  // back as the same double.
  auto result = std::to_chars(buf, buf + sizeof(buf), d);
  out->append(buf, result.ptr);
}

}  // namespace

void AppendValue(const Value& v, bool quote_strings, std::string* out) {
  switch (v.kind()) {
    case ValueKind::kError:
      out->append("?");
      return;
    case ValueKind::kBool:
      out->append(v.bool_value() ? "true" : "false");
      return;
    case ValueKind::kInt:
      absl::StrAppend(out, v.int_value());
      return;
    case ValueKind::kDouble:
      AppendDouble(v.double_value(), out);
      return;
    case ValueKind::kString:
      if (quote_strings) {
        AppendJsonString(v.string_value(), out);
      } else {
        out->append(v.string_value().data(), v.string_value().size());
      }
      return;
    case ValueKind::kDuration:
      out->append(RenderDuration(v.duration_value()));
      return;
    case ValueKind::kTimestamp:
      AppendTimestamp(v.timestamp_value(), out);
      return;
    case ValueKind::kEnum: {
      absl::string_view name = EnumShortName(v.enum_type(), v.enum_number());
      if (name.empty()) {
        absl::StrAppend(out, v.enum_number());
      } else {
        out->append(name.data(), name.size());
      }
      return;
    }
    case ValueKind::kMessage:
      absl::StrAppend(out, "{", v.message()->ShortDebugString(), "}");
      return;
    case ValueKind::kList: {
      if (quote_strings) out->push_back('[');
      const size_t n = v.ListSize();
      for (size_t i = 0; i < n; ++i) {
        if (i > 0) out->append(", ");
        AppendValue(v.ListElement(i), quote_strings, out);
      }
      if (quote_strings) out->push_back(']');
      return;
    }
    case ValueKind::kMap: {
      // Protobuf map order is unspecified; sort so output is deterministic.
      std::vector<std::pair<std::string, Value>> entries;
      v.ForEachEntry([&](const Value& key, const Value& value) {
        entries.emplace_back(ValueToString(key, /*quote_strings=*/false),
                             value);
        return true;
      });
      std::sort(entries.begin(), entries.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      out->push_back('{');
      for (size_t i = 0; i < entries.size(); ++i) {
        if (i > 0) out->append(", ");
        absl::StrAppend(out, entries[i].first, ": ");
        AppendValue(entries[i].second, quote_strings, out);
      }
      out->push_back('}');
      return;
    }
    case ValueKind::kNull:
      out->append("null");
      return;
    case ValueKind::kType:
      out->append(v.string_value().data(), v.string_value().size());
      return;
  }
}

std::string ValueToString(const Value& v, bool quote_strings) {
  std::string out;
  AppendValue(v, quote_strings, &out);
  return out;
}

}  // namespace treatd::expr
