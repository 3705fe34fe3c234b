// Static types of expressions, derived from the proto schema of the finding.
// The checker computes one for every sub-expression; the policy compiler
// reads them to validate table cells and priorities.
//
// Thread safety: plain values; immutable once built.
#ifndef TREATD_COMMON_EXPR_CHECKER_TYPES_H_
#define TREATD_COMMON_EXPR_CHECKER_TYPES_H_

#include <memory>
#include <string>

#include "common/expr/runtime/value.h"
#include "google/protobuf/descriptor.h"

namespace treatd::expr {

struct Type {
  // kError marks a sub-expression whose error was already reported (so
  // parents stay quiet) and the element type of the empty list literal.
  ValueKind kind = ValueKind::kError;
  const google::protobuf::EnumDescriptor* enum_type = nullptr;  // kEnum
  const google::protobuf::Descriptor* message_type = nullptr;   // kMessage
  // kList: the element type; kMap: the value type. kError inside stands
  // for the open element type of an empty literal ([] or {}).
  std::shared_ptr<const Type> element;
  // kMap: the key type (string for map fields).
  std::shared_ptr<const Type> key;

  static Type Of(ValueKind kind) {
    Type t;
    t.kind = kind;
    return t;
  }
  static Type Enum(const google::protobuf::EnumDescriptor* e) {
    Type t = Of(ValueKind::kEnum);
    t.enum_type = e;
    return t;
  }
  static Type Message(const google::protobuf::Descriptor* d) {
    Type t = Of(ValueKind::kMessage);
    t.message_type = d;
    return t;
  }
  static Type List(Type element) {
    Type t = Of(ValueKind::kList);
    t.element = std::make_shared<const Type>(std::move(element));
    return t;
  }
  static Type Map(Type value) {
    return Map(Of(ValueKind::kString), std::move(value));
  }
  static Type Map(Type key, Type value) {
    Type t = Of(ValueKind::kMap);
    t.key = std::make_shared<const Type>(std::move(key));
    t.element = std::make_shared<const Type>(std::move(value));
    return t;
  }

  bool is_error() const { return kind == ValueKind::kError; }
  bool is_numeric() const {
    return kind == ValueKind::kInt || kind == ValueKind::kDouble;
  }
  // Same kind, same enum or message, same element (and key) types.
  bool SameAs(const Type& other) const;
  // Whether values of the two types may be compared with == and !=: the
  // same type, numbers of either kind, or lists and maps whose elements
  // are comparable, where the open element type of [] and {} matches any.
  bool EqualityCompatible(const Type& other) const;
  // "int", "list(string)", "enum treatd.v1.Exposure", ...
  std::string Name() const;
};

// The type of a (possibly repeated or map) proto field. Timestamp and
// Duration messages become timestamp and duration.
Type FieldType(const google::protobuf::FieldDescriptor* field);

}  // namespace treatd::expr

#endif  // TREATD_COMMON_EXPR_CHECKER_TYPES_H_
