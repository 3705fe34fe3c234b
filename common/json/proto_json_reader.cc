#include "common/json/proto_json_reader.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

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
using google::protobuf::Reflection;
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
};

struct MessageTable {
  // Both the JSON name (lowerCamelCase) and the proto name of each field,
  // as protobuf's parser accepts both.
  absl::flat_hash_map<std::string, FieldEntry> by_name;
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

bool ReadObject(simdjson::dom::object object, const MessageTable& table,
                Message* message);

// Reads one value of field `e` into `message`: sets it, or adds it when
// the field is repeated. False sends the text to protobuf's parser.
bool ReadValue(const FieldEntry& e, simdjson::dom::element v, Message* message,
               const Reflection* r) {
  const FieldDescriptor* f = e.field;
  const bool add = f->is_repeated();
  switch (e.kind) {
    case Kind::kString: {
      std::string_view s;
      if (!GetString(v, &s)) return false;
      if (add) {
        r->AddString(message, f, std::string(s));
      } else {
        r->SetString(message, f, std::string(s));
      }
      return true;
    }
    case Kind::kBool: {
      bool b = false;
      if (v.type() != element_type::BOOL ||
          v.get_bool().get(b) != simdjson::SUCCESS) {
        return false;
      }
      if (add) {
        r->AddBool(message, f, b);
      } else {
        r->SetBool(message, f, b);
      }
      return true;
    }
    case Kind::kEnum: {
      std::string_view s;
      if (!GetString(v, &s)) return false;
      const auto value =
          e.enum_values->find(absl::string_view(s.data(), s.size()));
      if (value == e.enum_values->end()) return false;
      if (add) {
        r->AddEnumValue(message, f, value->second);
      } else {
        r->SetEnumValue(message, f, value->second);
      }
      return true;
    }
    case Kind::kDouble: {
      double d = 0;
      if (!ToDouble(v, &d)) return false;
      if (add) {
        r->AddDouble(message, f, d);
      } else {
        r->SetDouble(message, f, d);
      }
      return true;
    }
    case Kind::kMessage: {
      simdjson::dom::object object;
      if (v.type() != element_type::OBJECT ||
          v.get_object().get(object) != simdjson::SUCCESS) {
        return false;
      }
      Message* child =
          add ? r->AddMessage(message, f) : r->MutableMessage(message, f);
      return ReadObject(object, *e.message, child);
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
      Message* child =
          add ? r->AddMessage(message, f) : r->MutableMessage(message, f);
      auto* timestamp = dynamic_cast<google::protobuf::Timestamp*>(child);
      if (timestamp == nullptr) return false;
      *timestamp = parsed;
      return true;
    }
    case Kind::kStringMap: {
      simdjson::dom::object object;
      if (v.type() != element_type::OBJECT ||
          v.get_object().get(object) != simdjson::SUCCESS) {
        return false;
      }
      const Descriptor* entry_type = f->message_type();
      const FieldDescriptor* key_field = entry_type->map_key();
      const FieldDescriptor* value_field = entry_type->map_value();
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
        Message* entry = r->AddMessage(message, f);
        const Reflection* er = entry->GetReflection();
        er->SetString(entry, key_field, std::string(kv.key));
        er->SetString(entry, value_field, std::string(value));
      }
      return true;
    }
    case Kind::kOther:
      return false;
  }
  return false;
}

bool ReadObject(simdjson::dom::object object, const MessageTable& table,
                Message* message) {
  const Reflection* r = message->GetReflection();
  uint64_t seen = 0;
  for (simdjson::dom::key_value_pair kv : object) {
    const auto it =
        table.by_name.find(absl::string_view(kv.key.data(), kv.key.size()));
    if (it == table.by_name.end()) return false;
    const FieldEntry& e = it->second;
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
        if (!ReadValue(e, item, message, r)) return false;
      }
    } else if (!ReadValue(e, kv.value, message, r)) {
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
  message->Clear();
  if (message->GetDescriptor() == tables_->root) {
    simdjson::dom::element document;
    simdjson::dom::object object;
    if (tables_->parser.parse(json.data(), json.size()).get(document) ==
            simdjson::SUCCESS &&
        document.type() == element_type::OBJECT &&
        document.get_object().get(object) == simdjson::SUCCESS &&
        ReadObject(object, *tables_->types.at(tables_->root), message)) {
      return absl::OkStatus();
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
