#include "common/expr/checker/types.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace treatd::expr {

using google::protobuf::FieldDescriptor;

bool Type::SameAs(const Type& other) const {
  if (kind != other.kind || enum_type != other.enum_type ||
      message_type != other.message_type) {
    return false;
  }
  if ((key == nullptr) != (other.key == nullptr) ||
      (key != nullptr && !key->SameAs(*other.key))) {
    return false;
  }
  if (element == nullptr || other.element == nullptr) {
    return element == other.element;
  }
  return element->SameAs(*other.element);
}

bool Type::EqualityCompatible(const Type& other) const {
  if (is_numeric() && other.is_numeric()) return true;
  if (kind != other.kind) return false;
  if (kind != ValueKind::kList && kind != ValueKind::kMap) {
    return SameAs(other);
  }
  auto open_or_compatible = [](const std::shared_ptr<const Type>& a,
                               const std::shared_ptr<const Type>& b) {
    return a == nullptr || b == nullptr || a->is_error() || b->is_error() ||
           a->EqualityCompatible(*b);
  };
  return open_or_compatible(key, other.key) &&
         open_or_compatible(element, other.element);
}

std::string Type::Name() const {
  switch (kind) {
    case ValueKind::kError:
      return "dyn";
    case ValueKind::kBool:
      return "bool";
    case ValueKind::kInt:
      return "int";
    case ValueKind::kDouble:
      return "double";
    case ValueKind::kString:
      return "string";
    case ValueKind::kDuration:
      return "duration";
    case ValueKind::kTimestamp:
      return "timestamp";
    case ValueKind::kEnum:
      return absl::StrCat("enum ", enum_type->full_name());
    case ValueKind::kMessage:
      return absl::StrCat("message ", message_type->full_name());
    case ValueKind::kList:
      return absl::StrCat("list(", element->Name(), ")");
    case ValueKind::kMap:
      return absl::StrCat("map(", key == nullptr ? "string" : key->Name(), ", ",
                          element->Name(), ")");
    case ValueKind::kNull:
      return "null_type";
    case ValueKind::kType:
      return "type";
  }
  return "?";
}

namespace {

Type ScalarFieldType(const FieldDescriptor* field) {
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_BOOL:
      return Type::Of(ValueKind::kBool);
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64:
      return Type::Of(ValueKind::kInt);
    case FieldDescriptor::CPPTYPE_FLOAT:
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return Type::Of(ValueKind::kDouble);
    case FieldDescriptor::CPPTYPE_STRING:
      return Type::Of(ValueKind::kString);
    case FieldDescriptor::CPPTYPE_ENUM:
      return Type::Enum(field->enum_type());
    case FieldDescriptor::CPPTYPE_MESSAGE:
      if (field->message_type() == google::protobuf::Timestamp::descriptor()) {
        return Type::Of(ValueKind::kTimestamp);
      }
      if (field->message_type() == google::protobuf::Duration::descriptor()) {
        return Type::Of(ValueKind::kDuration);
      }
      return Type::Message(field->message_type());
  }
  return Type();
}

}  // namespace

Type FieldType(const FieldDescriptor* field) {
  if (field->is_map()) {
    return Type::Map(ScalarFieldType(field->message_type()->map_value()));
  }
  if (field->is_repeated()) return Type::List(ScalarFieldType(field));
  return ScalarFieldType(field);
}

}  // namespace treatd::expr
