#include "common/json/proto_json_reader.h"

#include <climits>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "google/protobuf/stubs/stringpiece.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "simdjson.h"

namespace treatd::json {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using simdjson::dom::element_type;

// How the fast path reads a field; kOther fields go to protobuf's parser.
enum class Kind : uint8_t {
  kOther,
  kString,
  kBool,
  kEnum,
  kDouble,
  kMessage,
  kTimestamp,
  kStringMap,
};

struct MessageTable;

struct FieldEntry {
  const FieldDescriptor* field = nullptr;
  Kind kind = Kind::kOther;
  // The field's bit in the per-object "seen" mask (field->index()).
  int bit = 0;
  // kMessage: the nested type's table.
  const MessageTable* message = nullptr;
  // kEnum: the numbers of the enum's values by name (FindValueByName
  // searched the pool's symbol table: 5 % of treatctl decide, callgrind).
  const absl::flat_hash_map<std::string, int>* enum_values = nullptr;
  // kEnum: the value this field named last, compared before hashing (a
  // field mostly repeats a few values; a guess, always compared).
  mutable const std::pair<const std::string, int>* last_enum = nullptr;
};

struct MessageTable {
  using Named = std::pair<const std::string, FieldEntry>;
  // Both the JSON name (lowerCamelCase) and the proto name of each field,
  // as protobuf's parser accepts both. Not changed once built, so
  // pointers to its entries stay valid.
  absl::flat_hash_map<std::string, FieldEntry> by_name;
  // The entries in the order the last object of this type named them.
  // Input from one producer names fields in one order, so each key is
  // compared with the one at its position last time before it is hashed
  // (hashing every key was 2,500 instructions per Finding, callgrind,
  // issue 15). A guess, never trusted without the comparison.
  mutable std::vector<const Named*> last_order;
};

Kind KindOf(const FieldDescriptor* f) {
  // A field of a real oneof may not be set together with its siblings;
  // protobuf's parser knows how it answers that.
  if (f->real_containing_oneof() != nullptr || f->index() >= 64) {
    return Kind::kOther;
  }
  if (f->is_map()) {
    const Descriptor* entry = f->message_type();
    return entry->map_key()->type() == FieldDescriptor::TYPE_STRING &&
                   entry->map_value()->type() == FieldDescriptor::TYPE_STRING
               ? Kind::kStringMap
               : Kind::kOther;
  }
  switch (f->type()) {
    case FieldDescriptor::TYPE_STRING:
      return Kind::kString;
    case FieldDescriptor::TYPE_BOOL:
      return Kind::kBool;
    case FieldDescriptor::TYPE_ENUM:
      return Kind::kEnum;
    case FieldDescriptor::TYPE_DOUBLE:
      return Kind::kDouble;
    case FieldDescriptor::TYPE_MESSAGE:
      if (f->message_type() == google::protobuf::Timestamp::descriptor()) {
        return Kind::kTimestamp;
      }
      // Other well-known types have JSON forms of their own.
      return f->message_type()->file()->package() == "google.protobuf"
                 ? Kind::kOther
                 : Kind::kMessage;
    default:
      return Kind::kOther;
  }
}

// JSON numbers as protobuf's parser turns them into a double: integers
// only when the double holds them exactly (protobuf rejects the others).
bool ToDouble(simdjson::dom::element v, double* out) {
  switch (v.type()) {
    case element_type::DOUBLE:
      return v.get_double().get(*out) == simdjson::SUCCESS;
    case element_type::INT64: {
      int64_t i = 0;
      if (v.get_int64().get(i) != simdjson::SUCCESS) return false;
      const double d = static_cast<double>(i);
      if (d >= 9223372036854775808.0 || static_cast<int64_t>(d) != i) {
        return false;
      }
      *out = d;
      return true;
    }
    case element_type::UINT64: {
      uint64_t u = 0;
      if (v.get_uint64().get(u) != simdjson::SUCCESS) return false;
      const double d = static_cast<double>(u);
      if (d >= 18446744073709551616.0 || static_cast<uint64_t>(d) != u) {
        return false;
      }
      *out = d;
      return true;
    }
    default:
      return false;
  }
}

bool GetString(simdjson::dom::element v, std::string_view* out) {
  return v.type() == element_type::STRING &&
         v.get_string().get(*out) == simdjson::SUCCESS;
}

// The protobuf wire format of the message being read, appended to a
// reused string. Setting each field through Reflection (a descriptor
// check, an offset lookup and a has-bit per call, and a temporary string
// per string field) was 27,000 of the 34,000 instructions a Finding cost
// (callgrind of treatctl decide, issue 15); the generated parser then
// reads these bytes at a third of that. Nested messages get a one-byte
// length that End() widens when the content turns out longer. Bytes go
// through a raw pointer into the string, room made ahead of each field
// (std::string::append per varint cost more than the fields).
class Wire {
 public:
  explicit Wire(std::string* out) : out_(out) {
    if (out_->size() < 1024) out_->resize(1024);
    used_ = 0;
  }
  // Every write below makes room for its largest size first: a tag and a
  // varint (at most 10 bytes each) plus the bytes of strings.
  static constexpr size_t kMaxHead = 20;

  void Tag(uint32_t tag) {
    Reserve(kMaxHead);
    Put(tag);
  }
  void Varint(uint64_t v) {
    Reserve(kMaxHead);
    Put(v);
  }
  void Fixed64(uint64_t v) {
    Reserve(8);
    for (int i = 0; i < 8; ++i) At()[i] = static_cast<char>(v >> (8 * i));
    used_ += 8;
  }
  void Bytes(uint32_t tag, std::string_view s) {
    Reserve(kMaxHead + s.size());
    Put(tag);
    Put(s.size());
    std::memcpy(At(), s.data(), s.size());
    used_ += s.size();
  }
  // Starts a length-delimited message field; End() closes it.
  size_t Begin(uint32_t tag) {
    Reserve(kMaxHead);
    Put(tag);
    At()[0] = '\0';
    return ++used_;
  }
  void End(size_t start) {
    const size_t length = used_ - start;
    if (length < 0x80) {
      (*out_)[start - 1] = static_cast<char>(length);
      return;
    }
    char buffer[10];
    size_t n = 0;
    for (uint64_t v = length; true; v >>= 7) {
      buffer[n++] = static_cast<char>(v >= 0x80 ? (v | 0x80) : v);
      if (v < 0x80) break;
    }
    Reserve(n);
    char* const content = out_->data() + start;
    std::memmove(content + n - 1, content, length);
    std::memcpy(content - 1, buffer, n);
    used_ += n - 1;
  }

  const char* data() const { return out_->data(); }
  size_t size() const { return used_; }

 private:
  char* At() { return out_->data() + used_; }
  void Reserve(size_t n) {
    if (out_->size() - used_ < n) out_->resize(2 * (used_ + n));
  }
  void Put(uint64_t v) {
    char* p = At();
    while (v >= 0x80) {
      *p++ = static_cast<char>(v | 0x80);
      v >>= 7;
    }
    *p++ = static_cast<char>(v);
    used_ = static_cast<size_t>(p - out_->data());
  }

  std::string* const out_;
  size_t used_;
};

// Wire types.
constexpr uint32_t kVarint = 0;
constexpr uint32_t kFixed64 = 1;
constexpr uint32_t kLength = 2;

uint32_t TagOf(const FieldDescriptor* f, uint32_t wire_type) {
  return static_cast<uint32_t>(f->number()) << 3 | wire_type;
}

bool ReadObject(simdjson::dom::object object, const MessageTable& table,
                Wire* out);

// Writes one value of field `e`: the field, or one element when it is
// repeated. False sends the text to protobuf's parser.
bool ReadValue(const FieldEntry& e, simdjson::dom::element v, Wire* out) {
  const FieldDescriptor* f = e.field;
  switch (e.kind) {
    case Kind::kString: {
      std::string_view s;
      if (!GetString(v, &s)) return false;
      out->Bytes(TagOf(f, kLength), s);
      return true;
    }
    case Kind::kBool: {
      bool b = false;
      if (v.type() != element_type::BOOL ||
          v.get_bool().get(b) != simdjson::SUCCESS) {
        return false;
      }
      out->Tag(TagOf(f, kVarint));
      out->Varint(b ? 1 : 0);
      return true;
    }
    case Kind::kEnum: {
      std::string_view s;
      if (!GetString(v, &s)) return false;
      if (e.last_enum == nullptr || e.last_enum->first != s) {
        const auto value =
            e.enum_values->find(absl::string_view(s.data(), s.size()));
        if (value == e.enum_values->end()) return false;
        e.last_enum = &*value;
      }
      // Enums are int32 on the wire, negative ones sign-extended.
      out->Tag(TagOf(f, kVarint));
      out->Varint(
          static_cast<uint64_t>(static_cast<int64_t>(e.last_enum->second)));
      return true;
    }
    case Kind::kDouble: {
      double d = 0;
      if (!ToDouble(v, &d)) return false;
      uint64_t bits;
      std::memcpy(&bits, &d, sizeof(bits));
      out->Tag(TagOf(f, kFixed64));
      out->Fixed64(bits);
      return true;
    }
    case Kind::kMessage: {
      simdjson::dom::object object;
      if (v.type() != element_type::OBJECT ||
          v.get_object().get(object) != simdjson::SUCCESS) {
        return false;
      }
      const size_t start = out->Begin(TagOf(f, kLength));
      if (!ReadObject(object, *e.message, out)) return false;
      out->End(start);
      return true;
    }
    case Kind::kTimestamp: {
      std::string_view s;
      if (!GetString(v, &s)) return false;
      google::protobuf::Timestamp parsed;
      // The same RFC 3339 reading protobuf's JSON parser does.
      if (!google::protobuf::util::TimeUtil::FromString(std::string(s),
                                                        &parsed)) {
        return false;
      }
      const size_t start = out->Begin(TagOf(f, kLength));
      if (parsed.seconds() != 0) {
        out->Tag(1 << 3 | kVarint);
        out->Varint(static_cast<uint64_t>(parsed.seconds()));
      }
      if (parsed.nanos() != 0) {
        out->Tag(2 << 3 | kVarint);
        out->Varint(
            static_cast<uint64_t>(static_cast<int64_t>(parsed.nanos())));
      }
      out->End(start);
      return true;
    }
    case Kind::kStringMap: {
      simdjson::dom::object object;
      if (v.type() != element_type::OBJECT ||
          v.get_object().get(object) != simdjson::SUCCESS) {
        return false;
      }
      // A key given twice is protobuf's to answer; maps here are small.
      if (object.size() > 64) return false;
      std::string_view keys[64];
      size_t count = 0;
      for (simdjson::dom::key_value_pair kv : object) {
        for (size_t i = 0; i < count; ++i) {
          if (keys[i] == kv.key) return false;
        }
        keys[count++] = kv.key;
        std::string_view value;
        if (!GetString(kv.value, &value)) return false;
        // An entry is a message of key (1) and value (2).
        const size_t start = out->Begin(TagOf(f, kLength));
        out->Bytes(1 << 3 | kLength, kv.key);
        out->Bytes(2 << 3 | kLength, value);
        out->End(start);
      }
      return true;
    }
    case Kind::kOther:
      return false;
  }
  return false;
}

bool ReadObject(simdjson::dom::object object, const MessageTable& table,
                Wire* out) {
  uint64_t seen = 0;
  size_t position = 0;
  for (simdjson::dom::key_value_pair kv : object) {
    const MessageTable::Named* named = nullptr;
    if (position < table.last_order.size() &&
        table.last_order[position]->first == kv.key) {
      named = table.last_order[position];
    } else {
      const auto it =
          table.by_name.find(absl::string_view(kv.key.data(), kv.key.size()));
      if (it == table.by_name.end()) return false;
      named = &*it;
      if (position < table.last_order.size()) {
        table.last_order[position] = named;
      } else if (position == table.last_order.size() && position < 256) {
        table.last_order.push_back(named);
      }
    }
    ++position;
    const FieldEntry& e = named->second;
    // Twice (also once by each name), null, and the fields the table does
    // not read are protobuf's to answer.
    const uint64_t bit = uint64_t{1} << e.bit;
    if ((seen & bit) != 0 || e.kind == Kind::kOther) return false;
    seen |= bit;
    const element_type type = kv.value.type();
    if (type == element_type::NULL_VALUE) return false;
    if (e.field->is_repeated() && e.kind != Kind::kStringMap) {
      simdjson::dom::array array;
      if (type != element_type::ARRAY ||
          kv.value.get_array().get(array) != simdjson::SUCCESS) {
        return false;
      }
      for (simdjson::dom::element item : array) {
        if (!ReadValue(e, item, out)) return false;
      }
    } else if (!ReadValue(e, kv.value, out)) {
      return false;
    }
  }
  return true;
}

}  // namespace

struct ProtoJsonReader::Tables {
  const Descriptor* root = nullptr;
  absl::flat_hash_map<const Descriptor*, std::unique_ptr<MessageTable>> types;
  absl::flat_hash_map<const google::protobuf::EnumDescriptor*,
                      std::unique_ptr<absl::flat_hash_map<std::string, int>>>
      enums;
  simdjson::dom::parser parser;
  // The wire bytes of the message being read (reused).
  std::string wire;

  // The values of `type` by name, built on first use.
  const absl::flat_hash_map<std::string, int>* ValuesOf(
      const google::protobuf::EnumDescriptor* type) {
    std::unique_ptr<absl::flat_hash_map<std::string, int>>& values =
        enums[type];
    if (values == nullptr) {
      values = std::make_unique<absl::flat_hash_map<std::string, int>>();
      for (int i = 0; i < type->value_count(); ++i) {
        values->emplace(type->value(i)->name(), type->value(i)->number());
      }
    }
    return values.get();
  }

  // The table of `type`, built with those of the types it contains.
  const MessageTable* TableOf(const Descriptor* type) {
    auto it = types.find(type);
    if (it != types.end()) return it->second.get();
    MessageTable* table = types.emplace(type, std::make_unique<MessageTable>())
                              .first->second.get();
    for (int i = 0; i < type->field_count(); ++i) {
      const FieldDescriptor* f = type->field(i);
      FieldEntry e;
      e.field = f;
      e.kind = KindOf(f);
      e.bit = f->index() < 64 ? f->index() : 0;
      if (e.kind == Kind::kMessage) e.message = TableOf(f->message_type());
      if (e.kind == Kind::kEnum) e.enum_values = ValuesOf(f->enum_type());
      table->by_name.emplace(f->json_name(), e);
      table->by_name.emplace(f->name(), e);
    }
    return table;
  }
};

ProtoJsonReader::ProtoJsonReader(const Descriptor* type)
    : tables_(std::make_unique<Tables>()) {
  tables_->root = type;
  tables_->TableOf(type);
}

ProtoJsonReader::~ProtoJsonReader() = default;

absl::Status ProtoJsonReader::Read(absl::string_view json, Message* message) {
  return Read(json, message, nullptr);
}

absl::Status ProtoJsonReader::Read(absl::string_view json, Message* message,
                                   std::string* wire_out) {
  return ReadImpl(json, message, wire_out, /*parse=*/true);
}

absl::Status ProtoJsonReader::ReadWireOnly(absl::string_view json,
                                           Message* message,
                                           std::string* wire) {
  return ReadImpl(json, message, wire, /*parse=*/false);
}

namespace {

// Whether `json` holds a \u escape of a UTF-16 surrogate (\uD800-\uDFFF),
// or something that looks like one (an escaped backslash before "uD8"):
// the one way a string of text simdjson accepted (it checks the text is
// UTF-8) could decode to bytes protobuf's parser refuses.
bool MayEscapeSurrogate(absl::string_view json) {
  for (size_t at = json.find("\\u"); at != absl::string_view::npos;
       at = json.find("\\u", at + 2)) {
    if (at + 3 >= json.size()) return false;
    const char high = json[at + 2];
    const char next = json[at + 3];
    if ((high == 'd' || high == 'D') &&
        ((next >= '8' && next <= '9') || (next >= 'a' && next <= 'f') ||
         (next >= 'A' && next <= 'F'))) {
      return true;
    }
  }
  return false;
}

}  // namespace

absl::Status ProtoJsonReader::ReadImpl(absl::string_view json, Message* message,
                                       std::string* wire_out, bool parse) {
  if (wire_out != nullptr) wire_out->clear();
  message->Clear();
  if (message->GetDescriptor() == tables_->root) {
    simdjson::dom::element document;
    simdjson::dom::object object;
    if (tables_->parser.parse(json.data(), json.size()).get(document) ==
            simdjson::SUCCESS &&
        document.type() == element_type::OBJECT &&
        document.get_object().get(object) == simdjson::SUCCESS) {
      Wire wire(&tables_->wire);
      // The generated parser reads the bytes (and refuses what protobuf
      // would not hold, e.g. a string that is not UTF-8, which the JSON
      // parser then reports its own way).
      // Without the parse (wire bytes only), what the generated parser
      // would refuse must not be there: no string decoded from a
      // surrogate escape (the fuzz target proto_json_reader checks that
      // the bytes then parse to what Read() reads).
      if (ReadObject(object, *tables_->types.at(tables_->root), &wire) &&
          wire.size() <= static_cast<size_t>(INT_MAX) &&
          ((!parse && wire_out != nullptr && !MayEscapeSurrogate(json)) ||
           message->ParseFromArray(wire.data(),
                                   static_cast<int>(wire.size())))) {
        if (wire_out != nullptr) wire_out->assign(wire.data(), wire.size());
        return absl::OkStatus();
      }
    }
    message->Clear();
  }
  ++fallbacks_;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), message,
      options);
  if (status.ok()) return absl::OkStatus();
  return absl::Status(
      static_cast<absl::StatusCode>(status.code()),
      absl::string_view(status.message().data(), status.message().size()));
}

}  // namespace treatd::json
