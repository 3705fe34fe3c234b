#include "common/expr/checker/checker.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/expr/parser/parser.h"
#include "common/expr/runtime/operations.h"
#include "common/time/time_text.h"

namespace treatd::expr {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;

bool IsComparable(const Type& t) {
  switch (t.kind) {
    case ValueKind::kBool:
    case ValueKind::kInt:
    case ValueKind::kDouble:
    case ValueKind::kString:
    case ValueKind::kDuration:
    case ValueKind::kTimestamp:
    case ValueKind::kEnum:
    case ValueKind::kNull:
    case ValueKind::kType:
      return true;
    default:
      return false;
  }
}

// Types whose values can be ordered with < <= > >=.
bool IsOrdered(const Type& t) {
  return IsComparable(t) && t.kind != ValueKind::kNull &&
         t.kind != ValueKind::kType;
}

// Types a map literal's keys may have (CEL also allows uint, which the
// language does not have).
bool IsMapKeyType(const Type& t) {
  return t.kind == ValueKind::kBool || t.kind == ValueKind::kInt ||
         t.kind == ValueKind::kString;
}

// CEL's type values that the language has, by the names type() yields and
// identifiers spell (`type(x) == int`). Static storage: values point into
// it.
struct TypeValueEntry {
  ValueKind kind;
  absl::string_view name;
};
constexpr TypeValueEntry kTypeValues[] = {
    {ValueKind::kBool, "bool"},
    {ValueKind::kInt, "int"},
    {ValueKind::kDouble, "double"},
    {ValueKind::kString, "string"},
    {ValueKind::kList, "list"},
    {ValueKind::kMap, "map"},
    {ValueKind::kNull, "null_type"},
    {ValueKind::kType, "type"},
    // No identifier names these two (CEL qualifies them), but type() of a
    // duration or timestamp yields them.
    {ValueKind::kDuration, "google.protobuf.Duration"},
    {ValueKind::kTimestamp, "google.protobuf.Timestamp"},
};

// The name of `t`'s type value, or "" when the language has none for it.
absl::string_view TypeValueName(const Type& t) {
  for (const TypeValueEntry& e : kTypeValues) {
    if (e.kind == t.kind) return e.name;
  }
  return "";
}

// The type a bare identifier names, or kError when it names none.
ValueKind TypeIdentifier(absl::string_view name) {
  for (const TypeValueEntry& e : kTypeValues) {
    if (e.name == name && e.kind != ValueKind::kDuration &&
        e.kind != ValueKind::kTimestamp) {
      return e.kind;
    }
  }
  return ValueKind::kError;
}

bool IsStringConst(const Node& n) {
  return n.op == Op::kConst && n.kind == ValueKind::kString;
}

std::string FieldNames(const Descriptor* d) {
  std::vector<std::string> names;
  for (int i = 0; i < d->field_count(); ++i)
    names.push_back(d->field(i)->name());
  return absl::StrJoin(names, ", ");
}

std::string EnumNames(const EnumDescriptor* e) {
  std::vector<std::string> names;
  for (int i = 0; i < e->value_count(); ++i) {
    names.emplace_back(EnumShortName(e, e->value(i)->number()));
  }
  return absl::StrJoin(names, ", ");
}

class Checker {
 public:
  Checker(absl::string_view source, Env& env, std::vector<ExprError>* errors)
      : source_(source), env_(env), errors_(errors) {}

  std::unique_ptr<Node> Check(const Expr& e, Type* type) {
    auto node = CheckExpr(e, type);
    node->begin = e.begin;
    node->end = e.end;
    return node;
  }

  bool failed() const { return failed_; }
  size_t error_count() const { return error_count_; }
  bool read_broken_binding() const { return read_broken_binding_; }
  std::vector<int> TakeSlotRefs() { return std::move(slot_refs_); }

 private:
  struct Local {
    std::string name;
    Type type;
  };

  // Reports an error at byte `offset` and returns a placeholder node of
  // error type, so checking goes on and finds further errors.
  std::unique_ptr<Node> Error(int offset, std::string message, Type* type) {
    failed_ = true;
    ++error_count_;
    if (errors_ != nullptr) errors_->push_back({offset, std::move(message)});
    *type = Type();
    return std::make_unique<Node>();
  }
  // A node for a sub-expression whose error was already reported.
  std::unique_ptr<Node> Poisoned(Type* type) {
    *type = Type();
    return std::make_unique<Node>();
  }

  static std::unique_ptr<Node> MakeNode(Op op, ValueKind kind) {
    auto n = std::make_unique<Node>();
    n->op = op;
    n->kind = kind;
    return n;
  }

  std::unique_ptr<Node> CheckExpr(const Expr& e, Type* type) {
    switch (e.kind) {
      case ExprKind::kLiteral:
        return CheckLiteral(e, type);
      case ExprKind::kIdent:
        return CheckIdent(e, type);
      case ExprKind::kSelect:
        return CheckSelect(e, type);
      case ExprKind::kIndex:
        return CheckIndex(e, type);
      case ExprKind::kCall:
        return CheckCall(e, type);
      case ExprKind::kList:
        return CheckList(e, type);
      case ExprKind::kMap:
        return CheckMap(e, type);
      case ExprKind::kUnary:
        return CheckUnary(e, type);
      case ExprKind::kBinary:
        return CheckBinary(e, type);
      case ExprKind::kConditional:
        return CheckConditional(e, type);
    }
    return Error(e.position, "unsupported expression", type);
  }

  std::unique_ptr<Node> CheckLiteral(const Expr& e, Type* type) {
    auto n = MakeNode(Op::kConst, ValueKind::kBool);
    switch (e.literal) {
      case LiteralKind::kBool:
        n->constant = Value::Bool(e.bool_value);
        break;
      case LiteralKind::kInt:
        n->kind = ValueKind::kInt;
        n->constant = Value::Int(e.int_value);
        break;
      case LiteralKind::kDouble:
        n->kind = ValueKind::kDouble;
        n->constant = Value::Double(e.double_value);
        break;
      case LiteralKind::kString:
        n->kind = ValueKind::kString;
        n->constant_text = e.text;
        n->constant = Value::String(n->constant_text);
        break;
      case LiteralKind::kNull:
        n->kind = ValueKind::kNull;
        n->constant = Value::Null();
        break;
    }
    *type = Type::Of(n->kind);
    return n;
  }

  const Local* FindLocal(absl::string_view name, int* index) const {
    for (int i = static_cast<int>(locals_.size()) - 1; i >= 0; --i) {
      if (locals_[i].name == name) {
        *index = i;
        return &locals_[i];
      }
    }
    return nullptr;
  }

  std::unique_ptr<Node> FromBinding(const Binding& b, Type* type) {
    *type = b.type;
    // A broken definition was reported where it is defined.
    read_broken_binding_ = read_broken_binding_ || b.type.is_error();
    if (b.kind == Binding::Kind::kNow) {
      return MakeNode(Op::kNow, ValueKind::kTimestamp);
    }
    slot_refs_.push_back(b.slot);
    auto n = MakeNode(Op::kSlot, b.type.kind);
    n->index = b.slot;
    return n;
  }

  // Reads `field` from the message `base` yields (null: the root).
  std::unique_ptr<Node> FieldNode(std::unique_ptr<Node> base,
                                  const FieldDescriptor* field, int offset,
                                  Type* type) {
    *type = FieldType(field);
    auto n = MakeNode(Op::kField, type->kind);
    if (field->is_map()) {
      const FieldDescriptor* key = field->message_type()->map_key();
      const FieldDescriptor* value = field->message_type()->map_value();
      n->map_getter = env_.MapGetterFor(field);
      if (key->cpp_type() != FieldDescriptor::CPPTYPE_STRING ||
          value->cpp_type() != FieldDescriptor::CPPTYPE_STRING ||
          n->map_getter == nullptr) {
        return Error(offset,
                     absl::StrCat("map field '", field->full_name(),
                                  "' cannot be used in expressions"),
                     type);
      }
    }
    // Fuse a.b.c into one node that walks cached descriptors, instead of
    // one node per hop.
    if (base != nullptr && base->op == Op::kField &&
        base->map_getter == nullptr) {
      n->path = std::move(base->path);
      n->kids = std::move(base->kids);
    } else if (base != nullptr) {
      n->kids.push_back(std::move(base));
    }
    n->path.push_back(field);
    return n;
  }

  std::unique_ptr<Node> CheckIdent(const Expr& e, Type* type) {
    int index = 0;
    if (const Local* local = FindLocal(e.text, &index)) {
      *type = local->type;
      auto n = MakeNode(Op::kLocal, local->type.kind);
      n->index = index;
      return n;
    }
    absl::StatusOr<Binding> b = env_.Lookup(e.text);
    if (b.ok()) return FromBinding(*b, type);
    if (!absl::IsNotFound(b.status())) {
      return Error(e.position, std::string(b.status().message()), type);
    }
    if (const FieldDescriptor* f = env_.root()->FindFieldByName(e.text)) {
      return FieldNode(nullptr, f, e.position, type);
    }
    if (env_.IsNamespace(e.text)) {
      return Error(e.position,
                   absl::StrCat("'", e.text, "' must be followed by .NAME"),
                   type);
    }
    if (const ValueKind kind = TypeIdentifier(e.text);
        kind != ValueKind::kError) {
      auto n = MakeNode(Op::kConst, ValueKind::kType);
      n->constant = Value::TypeValue(TypeValueName(Type::Of(kind)));
      *type = Type::Of(ValueKind::kType);
      return n;
    }
    return Error(
        e.position,
        absl::StrCat("unknown name '", e.text, "'; names are the fields of ",
                     env_.root()->name(), " (", FieldNames(env_.root()),
                     "), `now`, lets, tables.NAME and risk.NAME"),
        type);
  }

  std::unique_ptr<Node> CheckSelect(const Expr& e, Type* type) {
    const Expr& operand = *e.args[0];
    int unused = 0;
    if (operand.kind == ExprKind::kIdent && env_.IsNamespace(operand.text) &&
        FindLocal(operand.text, &unused) == nullptr) {
      const std::string name = absl::StrCat(operand.text, ".", e.text);
      absl::StatusOr<Binding> b = env_.Lookup(name);
      if (!b.ok()) {
        return Error(e.position, std::string(b.status().message()), type);
      }
      return FromBinding(*b, type);
    }
    Type base_type;
    auto base = Check(operand, &base_type);
    if (base_type.is_error()) return Poisoned(type);
    if (base_type.kind != ValueKind::kMessage) {
      return Error(e.position,
                   absl::StrCat("cannot select '", e.text,
                                "' from a value of "
                                "type ",
                                base_type.Name()),
                   type);
    }
    const FieldDescriptor* f = base_type.message_type->FindFieldByName(e.text);
    if (f == nullptr) {
      return Error(
          e.position,
          absl::StrCat("no field '", e.text, "' in ",
                       base_type.message_type->full_name(),
                       "; fields: ", FieldNames(base_type.message_type)),
          type);
    }
    return FieldNode(std::move(base), f, e.position, type);
  }

  std::unique_ptr<Node> CheckIndex(const Expr& e, Type* type) {
    Type base_type, index_type;
    auto base = Check(*e.args[0], &base_type);
    auto index = Check(*e.args[1], &index_type);
    if (base_type.is_error() || index_type.is_error()) return Poisoned(type);
    std::unique_ptr<Node> n;
    if (base_type.kind == ValueKind::kList) {
      if (index_type.kind != ValueKind::kInt) {
        return Error(
            e.args[1]->begin,
            absl::StrCat("list index must be int, got ", index_type.Name()),
            type);
      }
      n = MakeNode(Op::kIndexList, base_type.element->kind);
    } else if (base_type.kind == ValueKind::kMap) {
      if (!base_type.key->is_error() && !index_type.SameAs(*base_type.key)) {
        return Error(e.args[1]->begin,
                     absl::StrCat("map key must be ", base_type.key->Name(),
                                  ", got ", index_type.Name()),
                     type);
      }
      n = MakeNode(Op::kIndexMap, base_type.element->kind);
    } else {
      return Error(
          e.position,
          absl::StrCat("cannot index a value of type ", base_type.Name()),
          type);
    }
    *type = *base_type.element;
    n->kids.push_back(std::move(base));
    n->kids.push_back(std::move(index));
    return n;
  }

  std::unique_ptr<Node> CheckList(const Expr& e, Type* type) {
    Type element;
    bool all_const = true;
    bool first = true;
    std::vector<std::unique_ptr<Node>> kids;
    for (const auto& arg : e.args) {
      Type t;
      auto kid = Check(*arg, &t);
      if (t.is_error()) return Poisoned(type);
      if (first) {
        element = t;
        first = false;
      } else if (!t.SameAs(element)) {
        // Not even int and double: CEL keeps each element's own type
        // (list(dyn)), which a strict element type cannot say.
        return Error(arg->begin,
                     absl::StrCat("list elements must have one type; found ",
                                  element.Name(), " and ", t.Name(),
                                  MixedNumbersHint(element, t)),
                     type);
      }
      all_const = all_const && kid->op == Op::kConst;
      kids.push_back(std::move(kid));
    }
    *type = Type::List(element);
    if (!all_const) {
      auto n = MakeNode(Op::kList, ValueKind::kList);
      n->kids = std::move(kids);
      return n;
    }
    // A constant list keeps its elements (and their strings) in the node.
    auto n = MakeNode(Op::kConst, ValueKind::kList);
    n->kids = std::move(kids);
    for (const auto& kid : n->kids) n->constant_items.push_back(kid->constant);
    n->constant =
        Value::Array(n->constant_items.data(), n->constant_items.size());
    return n;
  }

  static std::string MixedNumbersHint(const Type& a, const Type& b) {
    return a.is_numeric() && b.is_numeric()
               ? " (write 1.0 rather than 1 to make every number a double)"
               : "";
  }

  std::unique_ptr<Node> CheckMap(const Expr& e, Type* type) {
    Type key_type, value_type;
    bool all_const = true;
    std::vector<std::unique_ptr<Node>> kids;
    for (size_t i = 0; i < e.args.size(); i += 2) {
      Type tk, tv;
      auto key = Check(*e.args[i], &tk);
      auto value = Check(*e.args[i + 1], &tv);
      if (tk.is_error() || tv.is_error()) return Poisoned(type);
      if (!IsMapKeyType(tk)) {
        return Error(e.args[i]->begin,
                     absl::StrCat("map keys must be bool, int or string; got ",
                                  tk.Name()),
                     type);
      }
      if (i > 0 && !tk.SameAs(key_type)) {
        return Error(e.args[i]->begin,
                     absl::StrCat("map keys must have one type; found ",
                                  key_type.Name(), " and ", tk.Name()),
                     type);
      }
      key_type = tk;
      if (i > 0 && !tv.SameAs(value_type)) {
        return Error(e.args[i + 1]->begin,
                     absl::StrCat("map values must have one type; found ",
                                  value_type.Name(), " and ", tv.Name(),
                                  MixedNumbersHint(value_type, tv)),
                     type);
      }
      value_type = tv;
      all_const = all_const && key->op == Op::kConst && value->op == Op::kConst;
      kids.push_back(std::move(key));
      kids.push_back(std::move(value));
    }
    *type = Type::Map(key_type, value_type);
    auto n = MakeNode(all_const ? Op::kConst : Op::kMap, ValueKind::kMap);
    n->kids = std::move(kids);
    if (!all_const) return n;
    // A constant map keeps its entries (and their strings) in the node.
    for (size_t i = 0; i < n->kids.size(); i += 2) {
      const Value& key = n->kids[i]->constant;
      for (size_t j = 0; j < i; j += 2) {
        if (internal::Equal(n->kids[j]->constant, key)) {
          return Error(e.args[i]->begin,
                       absl::StrCat("duplicate map key ",
                                    ValueToString(key, /*quote_strings=*/true)),
                       type);
        }
      }
      n->constant_items.push_back(key);
      n->constant_items.push_back(n->kids[i + 1]->constant);
    }
    n->constant =
        Value::Entries(n->constant_items.data(), n->constant_items.size() / 2);
    return n;
  }

  std::unique_ptr<Node> CheckUnary(const Expr& e, Type* type) {
    Type t;
    auto operand = Check(*e.args[0], &t);
    if (t.is_error()) return Poisoned(type);
    if (e.text == "!") {
      if (t.kind != ValueKind::kBool) {
        return Error(e.position,
                     absl::StrCat("'!' needs a bool, got ", t.Name()), type);
      }
    } else if (!t.is_numeric() && t.kind != ValueKind::kDuration) {
      return Error(
          e.position,
          absl::StrCat("unary '-' needs a number or duration, got ", t.Name()),
          type);
    }
    *type = t;
    auto n = MakeNode(e.text == "!" ? Op::kNot : Op::kNeg, t.kind);
    n->kids.push_back(std::move(operand));
    return n;
  }

  // When one side is an enum and the other a string literal (or a list of
  // them), turns the literal into the enum's value. Returns false after
  // reporting an unknown value name.
  bool CoerceEnumLiteral(const Type& enum_type, Node* literal,
                         Type* literal_type) {
    const EnumDescriptor* e = enum_type.enum_type;
    auto convert = [&](Node* n) {
      const auto* v = FindEnumValue(e, n->constant.string_value());
      if (v == nullptr) {
        Error(n->begin,
              absl::StrCat("'", n->constant.string_value(),
                           "' is not a value of ", e->full_name(),
                           "; values: ", EnumNames(e)),
              literal_type);
        return false;
      }
      n->constant = Value::Enum(v->number(), e);
      n->kind = ValueKind::kEnum;
      return true;
    };
    if (IsStringConst(*literal)) {
      if (!convert(literal)) return false;
      *literal_type = enum_type;
      return true;
    }
    if (literal->op == Op::kConst && literal->kind == ValueKind::kList &&
        literal_type->element != nullptr &&
        literal_type->element->kind == ValueKind::kString) {
      for (size_t i = 0; i < literal->kids.size(); ++i) {
        if (!convert(literal->kids[i].get())) return false;
        literal->constant_items[i] = literal->kids[i]->constant;
      }
      *literal_type = Type::List(enum_type);
    }
    return true;
  }

  std::unique_ptr<Node> Binary(Op op, ValueKind kind, std::unique_ptr<Node> a,
                               std::unique_ptr<Node> b) {
    auto n = MakeNode(op, kind);
    n->kids.push_back(std::move(a));
    n->kids.push_back(std::move(b));
    return n;
  }

  std::unique_ptr<Node> CheckBinary(const Expr& e, Type* type) {
    Type ta, tb;
    auto a = Check(*e.args[0], &ta);
    auto b = Check(*e.args[1], &tb);
    if (ta.is_error() || tb.is_error()) {
      return Poisoned(type);
    }
    const std::string& op = e.text;
    auto mismatch = [&](absl::string_view what) {
      return Error(e.position,
                   absl::StrCat("'", op, "' ", what, "; got ", ta.Name(),
                                " and ", tb.Name()),
                   type);
    };

    if (op == "&&" || op == "||") {
      if (ta.kind != ValueKind::kBool || tb.kind != ValueKind::kBool) {
        return mismatch("needs bool operands");
      }
      *type = ta;
      return Binary(op == "&&" ? Op::kAnd : Op::kOr, ValueKind::kBool,
                    std::move(a), std::move(b));
    }

    if (op == "in") {
      if (tb.kind == ValueKind::kMap) {
        if (!tb.key->is_error() && !ta.SameAs(*tb.key)) {
          return mismatch("needs a key of the map's key type");
        }
        *type = Type::Of(ValueKind::kBool);
        return Binary(Op::kInMap, ValueKind::kBool, std::move(a), std::move(b));
      }
      if (tb.kind != ValueKind::kList) {
        return mismatch("needs a list or map on the right");
      }
      if (ta.kind == ValueKind::kEnum && !CoerceEnumLiteral(ta, b.get(), &tb)) {
        return Poisoned(type);
      }
      const Type& element = *tb.element;
      if (!element.is_error() && !element.EqualityCompatible(ta)) {
        return mismatch("needs a value of the list's element type");
      }
      *type = Type::Of(ValueKind::kBool);
      return Binary(Op::kInList, ValueKind::kBool, std::move(a), std::move(b));
    }

    const bool equality = op == "==" || op == "!=";
    const bool ordering = op == "<" || op == "<=" || op == ">" || op == ">=";
    if (equality || ordering) {
      if (ta.kind == ValueKind::kEnum && IsStringConst(*b)) {
        if (!CoerceEnumLiteral(ta, b.get(), &tb)) return Poisoned(type);
      } else if (tb.kind == ValueKind::kEnum && IsStringConst(*a)) {
        if (!CoerceEnumLiteral(tb, a.get(), &ta)) return Poisoned(type);
      }
      const bool numeric = ta.is_numeric() && tb.is_numeric();
      if (!ta.EqualityCompatible(tb)) {
        if (ta.kind == ValueKind::kEnum || tb.kind == ValueKind::kEnum) {
          return mismatch(
              "compares an enum only with the same enum or a "
              "string literal naming one of its values");
        }
        return mismatch("needs operands of the same type");
      }
      const bool aggregate =
          ta.kind == ValueKind::kList || ta.kind == ValueKind::kMap;
      if (ordering ? !IsOrdered(ta) : !(IsComparable(ta) || aggregate)) {
        return mismatch(ordering ? "cannot order values of this type"
                                 : "cannot compare values of this type");
      }
      Op o = Op::kEq;
      if (op == "!=") o = Op::kNe;
      if (op == "<") o = Op::kLt;
      if (op == "<=") o = Op::kLe;
      if (op == ">") o = Op::kGt;
      if (op == ">=") o = Op::kGe;
      auto n = Binary(o, ValueKind::kBool, std::move(a), std::move(b));
      n->as_double = numeric && !ta.SameAs(tb);
      *type = Type::Of(ValueKind::kBool);
      return n;
    }

    Op o = Op::kAdd;
    if (op == "-") o = Op::kSub;
    if (op == "*") o = Op::kMul;
    if (op == "/") o = Op::kDiv;
    if (op == "%") o = Op::kMod;
    if (ta.is_numeric() && tb.is_numeric()) {
      const bool mixed_or_double =
          ta.kind == ValueKind::kDouble || tb.kind == ValueKind::kDouble;
      if (o == Op::kMod && mixed_or_double) {
        return mismatch("needs int operands");
      }
      const ValueKind kind =
          mixed_or_double ? ValueKind::kDouble : ValueKind::kInt;
      auto n = Binary(o, kind, std::move(a), std::move(b));
      n->as_double = mixed_or_double;
      *type = Type::Of(kind);
      return n;
    }
    if (o == Op::kAdd && ta.kind == ValueKind::kList &&
        tb.kind == ValueKind::kList) {
      // Concatenation; the empty literal's open element type takes the
      // other side's.
      const Type& ea = *ta.element;
      const Type& eb = *tb.element;
      if (!ea.is_error() && !eb.is_error() && !ea.SameAs(eb)) {
        return mismatch("concatenates lists of one element type");
      }
      *type = ea.is_error() ? tb : ta;
      return Binary(o, ValueKind::kList, std::move(a), std::move(b));
    }
    ValueKind result = ValueKind::kError;
    const ValueKind ka = ta.kind;
    const ValueKind kb = tb.kind;
    if (o == Op::kAdd) {
      if (ka == ValueKind::kString && kb == ValueKind::kString) {
        result = ValueKind::kString;
      } else if ((ka == ValueKind::kTimestamp && kb == ValueKind::kDuration) ||
                 (ka == ValueKind::kDuration && kb == ValueKind::kTimestamp)) {
        result = ValueKind::kTimestamp;
      } else if (ka == ValueKind::kDuration && kb == ValueKind::kDuration) {
        result = ValueKind::kDuration;
      }
    } else if (o == Op::kSub) {
      if (ka == ValueKind::kTimestamp && kb == ValueKind::kDuration) {
        result = ValueKind::kTimestamp;
      } else if (ka == ValueKind::kTimestamp && kb == ValueKind::kTimestamp) {
        result = ValueKind::kDuration;
      } else if (ka == ValueKind::kDuration && kb == ValueKind::kDuration) {
        result = ValueKind::kDuration;
      }
    }
    if (result == ValueKind::kError) {
      return mismatch(o == Op::kAdd ? "adds numbers, strings, lists, or "
                                      "durations to timestamps and durations"
                      : o == Op::kSub
                          ? "subtracts numbers, durations, or timestamps "
                            "from timestamps"
                          : "needs numbers");
    }
    *type = Type::Of(result);
    return Binary(o, result, std::move(a), std::move(b));
  }

  std::unique_ptr<Node> CheckConditional(const Expr& e, Type* type) {
    Type tc, ta, tb;
    auto c = Check(*e.args[0], &tc);
    auto a = Check(*e.args[1], &ta);
    auto b = Check(*e.args[2], &tb);
    if (tc.is_error() || ta.is_error() || tb.is_error()) return Poisoned(type);
    if (tc.kind != ValueKind::kBool) {
      return Error(
          e.args[0]->begin,
          absl::StrCat("the condition of '?:' must be bool, got ", tc.Name()),
          type);
    }
    if (ta.kind == ValueKind::kEnum && IsStringConst(*b)) {
      if (!CoerceEnumLiteral(ta, b.get(), &tb)) return Poisoned(type);
    } else if (tb.kind == ValueKind::kEnum && IsStringConst(*a)) {
      if (!CoerceEnumLiteral(tb, a.get(), &ta)) return Poisoned(type);
    }
    bool as_double = false;
    if (ta.is_numeric() && tb.is_numeric() && !ta.SameAs(tb)) {
      as_double = true;
      ta = Type::Of(ValueKind::kDouble);
    } else if (!ta.SameAs(tb)) {
      return Error(e.position,
                   absl::StrCat("both branches of '?:' must have the same "
                                "type; got ",
                                ta.Name(), " and ", tb.Name()),
                   type);
    }
    *type = ta;
    auto n = MakeNode(Op::kCond, ta.kind);
    n->as_double = as_double;
    n->kids.push_back(std::move(c));
    n->kids.push_back(std::move(a));
    n->kids.push_back(std::move(b));
    return n;
  }

  std::unique_ptr<Node> CheckCall(const Expr& e, Type* type) {
    const std::string& f = e.text;
    const size_t argc = e.args.size() - (e.has_target ? 1 : 0);
    auto arity = [&](size_t want) {
      if (argc == want) return true;
      Error(
          e.position,
          absl::StrCat(f, "() takes ", want,
                       want == 1 ? " argument" : " arguments", ", got ", argc),
          type);
      return false;
    };
    if (!e.has_target) {
      if (f == "has") return arity(1) ? CheckHas(e, type) : Poisoned(type);
      if (f == "size")
        return arity(1) ? CheckSize(*e.args[0], e, type) : Poisoned(type);
      if (f == "int" || f == "double" || f == "string" || f == "bool") {
        return arity(1) ? CheckConversion(e, type) : Poisoned(type);
      }
      if (f == "type") return arity(1) ? CheckTypeOf(e, type) : Poisoned(type);
      if (f == "min" || f == "max") {
        return arity(2) ? CheckMinMax(e, type) : Poisoned(type);
      }
      if (f == "duration" || f == "timestamp") {
        return arity(1) ? CheckTimeLiteral(e, type) : Poisoned(type);
      }
      if (f == "exists" || f == "all" || f == "exists_one" ||
          f == "existsOne" || f == "startsWith" || f == "endsWith" ||
          f == "contains" || f == "matches") {
        return Error(e.position,
                     absl::StrCat(f, "() is a method: write x.", f, "(...)"),
                     type);
      }
      return Error(e.position,
                   absl::StrCat("unknown function '", f,
                                "'; functions: has, size, int, double, "
                                "string, bool, type, min, max, duration, "
                                "timestamp"),
                   type);
    }
    if (f == "size")
      return arity(0) ? CheckSize(*e.args[0], e, type) : Poisoned(type);
    if (f == "exists" || f == "all" || f == "exists_one" || f == "existsOne") {
      if (argc == 2 || argc == 3) return CheckMacro(e, type);
      return Error(e.position,
                   absl::StrCat(f,
                                "() takes 2 arguments (x, predicate) or 3 "
                                "(index or key, value, predicate), got ",
                                argc),
                   type);
    }
    if (f == "startsWith" || f == "endsWith" || f == "contains" ||
        f == "matches") {
      return arity(1) ? CheckStringMethod(e, type) : Poisoned(type);
    }
    return Error(e.position,
                 absl::StrCat("unknown method '", f,
                              "'; methods: size, exists, all, exists_one, "
                              "existsOne, startsWith, endsWith, contains, "
                              "matches"),
                 type);
  }

  std::unique_ptr<Node> CheckHas(const Expr& e, Type* type) {
    const Expr& arg = *e.args[0];
    const FieldDescriptor* field = nullptr;
    std::unique_ptr<Node> base;
    if (arg.kind == ExprKind::kIdent) {
      int unused = 0;
      if (FindLocal(arg.text, &unused) == nullptr) {
        field = env_.root()->FindFieldByName(arg.text);
      }
    } else if (arg.kind == ExprKind::kSelect) {
      Type base_type;
      base = Check(*arg.args[0], &base_type);
      if (base_type.is_error()) return Poisoned(type);
      if (base_type.kind != ValueKind::kMessage) {
        return Error(arg.position,
                     absl::StrCat("has() needs a message field; ",
                                  arg.args[0]->kind == ExprKind::kIdent
                                      ? "the operand"
                                      : "the selected value",
                                  " is ", base_type.Name()),
                     type);
      }
      field = base_type.message_type->FindFieldByName(arg.text);
      if (field == nullptr) {
        return Error(
            arg.position,
            absl::StrCat("no field '", arg.text, "' in ",
                         base_type.message_type->full_name(),
                         "; fields: ", FieldNames(base_type.message_type)),
            type);
      }
    }
    if (field == nullptr) {
      return Error(arg.begin,
                   "has() needs a field selection such as "
                   "has(vulnerability.cvss.score)",
                   type);
    }
    auto n = MakeNode(Op::kHas, ValueKind::kBool);
    if (base != nullptr && base->op == Op::kField &&
        base->map_getter == nullptr) {
      n->path = std::move(base->path);
      n->kids = std::move(base->kids);
    } else if (base != nullptr) {
      n->kids.push_back(std::move(base));
    }
    n->path.push_back(field);
    *type = Type::Of(ValueKind::kBool);
    return n;
  }

  std::unique_ptr<Node> CheckSize(const Expr& arg, const Expr& call,
                                  Type* type) {
    Type t;
    auto operand = Check(arg, &t);
    if (t.is_error()) return Poisoned(type);
    if (t.kind != ValueKind::kString && t.kind != ValueKind::kList &&
        t.kind != ValueKind::kMap) {
      return Error(
          call.position,
          absl::StrCat("size() needs a string, list or map, got ", t.Name()),
          type);
    }
    auto n = MakeNode(Op::kSize, ValueKind::kInt);
    n->kids.push_back(std::move(operand));
    *type = Type::Of(ValueKind::kInt);
    return n;
  }

  std::unique_ptr<Node> CheckStringMethod(const Expr& e, Type* type) {
    Type ts, tp;
    auto s = Check(*e.args[0], &ts);
    auto p = Check(*e.args[1], &tp);
    if (ts.is_error() || tp.is_error()) return Poisoned(type);
    if (ts.kind != ValueKind::kString) {
      return Error(e.position,
                   absl::StrCat(e.text,
                                "() is a string method; the "
                                "receiver is ",
                                ts.Name()),
                   type);
    }
    if (tp.kind != ValueKind::kString) {
      return Error(
          e.args[1]->begin,
          absl::StrCat(e.text, "() needs a string argument, got ", tp.Name()),
          type);
    }
    *type = Type::Of(ValueKind::kBool);
    if (e.text == "matches") {
      if (!IsStringConst(*p)) {
        return Error(e.args[1]->begin,
                     "matches() needs a string literal pattern, so that it "
                     "is compiled once when the policy loads",
                     type);
      }
      RE2::Options options;
      options.set_log_errors(false);
      absl::string_view pattern = p->constant.string_value();
      auto re = std::make_unique<RE2>(
          re2::StringPiece(pattern.data(), pattern.size()), options);
      if (!re->ok()) {
        return Error(e.args[1]->begin,
                     absl::StrCat("invalid regular expression: ", re->error()),
                     type);
      }
      auto n = MakeNode(Op::kMatches, ValueKind::kBool);
      n->regex = std::move(re);
      n->kids.push_back(std::move(s));
      n->kids.push_back(std::move(p));
      return n;
    }
    const Op op = e.text == "startsWith" ? Op::kStartsWith
                  : e.text == "endsWith" ? Op::kEndsWith
                                         : Op::kContains;
    return Binary(op, ValueKind::kBool, std::move(s), std::move(p));
  }

  // exists, all and exists_one over a list (x: each element; or i, x:
  // index and element) or a map (k: each key; or k, v: key and value).
  std::unique_ptr<Node> CheckMacro(const Expr& e, Type* type) {
    Type range;
    auto list = Check(*e.args[0], &range);
    if (range.is_error()) return Poisoned(type);
    const bool is_map = range.kind == ValueKind::kMap;
    if (range.kind != ValueKind::kList && !is_map) {
      return Error(
          e.position,
          absl::StrCat(e.text, "() needs a list or map, got ", range.Name()),
          type);
    }
    const bool two = e.args.size() == 4;
    std::vector<Local> vars;
    if (two) {
      vars.push_back({"", is_map ? *range.key : Type::Of(ValueKind::kInt)});
      vars.push_back({"", *range.element});
    } else {
      vars.push_back({"", is_map ? *range.key : *range.element});
    }
    for (size_t i = 0; i < vars.size(); ++i) {
      const Expr& var = *e.args[1 + i];
      if (var.kind != ExprKind::kIdent) {
        return Error(
            var.begin,
            absl::StrCat(e.text,
                         "() needs variable names before the "
                         "predicate, e.g. list.",
                         e.text, "(x, x > 0) or map.", e.text, "(k, v, v > 0)"),
            type);
      }
      vars[i].name = var.text;
    }
    if (two && vars[0].name == vars[1].name) {
      return Error(e.args[2]->begin,
                   absl::StrCat(e.text,
                                "() needs two different variable "
                                "names"),
                   type);
    }
    if (locals_.size() + vars.size() > static_cast<size_t>(kMaxLocals)) {
      return Error(e.position,
                   absl::StrCat("more than ", kMaxLocals,
                                " variables of nested exists()/all()"),
                   type);
    }
    const int index = static_cast<int>(locals_.size());
    for (Local& var : vars) locals_.push_back(std::move(var));
    const size_t errors_before = error_count_;
    const Expr& predicate = *e.args.back();
    Type tp;
    auto pred = Check(predicate, &tp);
    locals_.resize(index);
    const Op op = e.text == "exists" ? Op::kExists
                  : e.text == "all"  ? Op::kAll
                                     : Op::kExistsOne;
    if (tp.is_error()) {
      // A range with an open element type is the empty literal ([] or {}):
      // a predicate that only failed to type because it reads the open
      // variable never runs, and the result is known.
      const bool open =
          is_map ? range.key->is_error() : range.element->is_error();
      if (!open || error_count_ != errors_before) return Poisoned(type);
      auto n = MakeNode(Op::kConst, ValueKind::kBool);
      n->constant = Value::Bool(op == Op::kAll);
      *type = Type::Of(ValueKind::kBool);
      return n;
    }
    if (tp.kind != ValueKind::kBool) {
      return Error(predicate.begin,
                   absl::StrCat("the predicate of ", e.text,
                                "() must be bool, got ", tp.Name()),
                   type);
    }
    auto n = Binary(op, ValueKind::kBool, std::move(list), std::move(pred));
    n->index = index;
    n->index2 = two ? index + 1 : -1;
    *type = Type::Of(ValueKind::kBool);
    return n;
  }

  // type(x): x's type as a value, once x evaluated without error.
  std::unique_ptr<Node> CheckTypeOf(const Expr& e, Type* type) {
    Type t;
    auto operand = Check(*e.args[0], &t);
    if (t.is_error()) return Poisoned(type);
    const absl::string_view name = TypeValueName(t);
    if (name.empty()) {
      return Error(e.position,
                   absl::StrCat("type() of a value of type ", t.Name(),
                                " is not supported"),
                   type);
    }
    auto n = MakeNode(Op::kTypeOf, ValueKind::kType);
    n->constant = Value::TypeValue(name);
    n->kids.push_back(std::move(operand));
    *type = Type::Of(ValueKind::kType);
    return n;
  }

  std::unique_ptr<Node> CheckConversion(const Expr& e, Type* type) {
    Type t;
    auto operand = Check(*e.args[0], &t);
    if (t.is_error()) return Poisoned(type);
    Op op = Op::kToString;
    ValueKind result = ValueKind::kString;
    bool ok = false;
    if (e.text == "int") {
      op = Op::kToInt;
      result = ValueKind::kInt;
      ok = t.is_numeric() || t.kind == ValueKind::kString ||
           t.kind == ValueKind::kEnum || t.kind == ValueKind::kTimestamp;
    } else if (e.text == "double") {
      op = Op::kToDouble;
      result = ValueKind::kDouble;
      ok = t.is_numeric() || t.kind == ValueKind::kString;
    } else if (e.text == "bool") {
      op = Op::kToBool;
      result = ValueKind::kBool;
      ok = t.kind == ValueKind::kBool || t.kind == ValueKind::kString;
    } else {
      ok = IsOrdered(t) || t.kind == ValueKind::kList;
    }
    if (!ok) {
      return Error(
          e.position,
          absl::StrCat("cannot convert ", t.Name(), " with ", e.text, "()"),
          type);
    }
    auto n = MakeNode(op, result);
    n->kids.push_back(std::move(operand));
    *type = Type::Of(result);
    return n;
  }

  std::unique_ptr<Node> CheckMinMax(const Expr& e, Type* type) {
    Type ta, tb;
    auto a = Check(*e.args[0], &ta);
    auto b = Check(*e.args[1], &tb);
    if (ta.is_error() || tb.is_error()) return Poisoned(type);
    if (!ta.is_numeric() || !tb.is_numeric()) {
      return Error(e.position,
                   absl::StrCat(e.text, "() needs numbers, got ", ta.Name(),
                                " and ", tb.Name()),
                   type);
    }
    const bool as_double =
        !(ta.kind == ValueKind::kInt && tb.kind == ValueKind::kInt);
    const ValueKind kind = as_double ? ValueKind::kDouble : ValueKind::kInt;
    auto n = Binary(e.text == "min" ? Op::kMin : Op::kMax, kind, std::move(a),
                    std::move(b));
    n->as_double = as_double;
    *type = Type::Of(kind);
    return n;
  }

  std::unique_ptr<Node> CheckTimeLiteral(const Expr& e, Type* type) {
    const Expr& arg = *e.args[0];
    if (arg.kind != ExprKind::kLiteral || arg.literal != LiteralKind::kString) {
      return Error(arg.begin,
                   absl::StrCat(e.text, "() takes a string literal, e.g. ",
                                e.text == "duration"
                                    ? "duration(\"72h\")"
                                    : "timestamp(\"2026-01-01T00:00:00Z\")"),
                   type);
    }
    if (e.text == "duration") {
      absl::StatusOr<absl::Duration> d = ParseDurationText(arg.text);
      if (!d.ok())
        return Error(arg.begin, std::string(d.status().message()), type);
      if (!internal::DurationInRange(*d)) {
        return Error(arg.begin,
                     "duration out of range (CEL's durations span about "
                     "+-292 years)",
                     type);
      }
      auto n = MakeNode(Op::kConst, ValueKind::kDuration);
      n->constant = Value::Duration(*d);
      *type = Type::Of(ValueKind::kDuration);
      return n;
    }
    absl::StatusOr<absl::Time> t = ParseTimestampText(arg.text);
    if (!t.ok())
      return Error(arg.begin, std::string(t.status().message()), type);
    if (!internal::TimeInRange(*t)) {
      return Error(arg.begin,
                   "timestamp out of range (0001-01-01 to 9999-12-31)", type);
    }
    auto n = MakeNode(Op::kConst, ValueKind::kTimestamp);
    n->constant = Value::Timestamp(*t);
    *type = Type::Of(ValueKind::kTimestamp);
    return n;
  }

  absl::string_view source_;
  Env& env_;
  std::vector<ExprError>* errors_;
  std::vector<Local> locals_;
  std::vector<int> slot_refs_;
  bool failed_ = false;
  size_t error_count_ = 0;
  bool read_broken_binding_ = false;
};

// Gives every field node the environment's typed accessors for its path,
// when it knows at least one of them.
void ResolveAccessors(const Env& env, Node& node) {
  if ((node.op == Op::kField || node.op == Op::kHas) && !node.path.empty()) {
    std::vector<FieldAccessor> hops;
    bool known = false;
    for (const FieldDescriptor* field : node.path) {
      hops.push_back(env.AccessorFor(field));
      const FieldAccessor& a = hops.back();
      known = known || a.message != nullptr || a.scalar != nullptr ||
              a.enum_number != nullptr || a.has != nullptr;
    }
    if (known) node.accessors = std::move(hops);
  }
  for (auto& kid : node.kids) ResolveAccessors(env, *kid);
}

}  // namespace

FieldAccessor Env::AccessorFor(const FieldDescriptor* /*field*/) const {
  return FieldAccessor();
}

absl::StatusOr<CheckedProgram> CheckAndPlan(const Expr& expr,
                                            absl::string_view source, Env& env,
                                            std::optional<ValueKind> expected,
                                            std::vector<ExprError>* errors) {
  std::vector<ExprError> local_errors;
  Checker checker(source, env, &local_errors);
  Type type;
  auto root = checker.Check(expr, &type);
  if (!checker.failed() && type.is_error() && !checker.read_broken_binding()) {
    // Besides a broken let, only an operand of open type (an element of []
    // or {}) poisons silently.
    local_errors.push_back(
        {expr.begin,
         "cannot determine the type of this expression: it reads an element "
         "of an empty [] or {}, whose type is unknown"});
  }
  if (!checker.failed() && expected.has_value() && !type.is_error() &&
      type.kind != *expected &&
      !(*expected == ValueKind::kDouble && type.kind == ValueKind::kInt)) {
    local_errors.push_back(
        {expr.begin, absl::StrCat("expected a ", Type::Of(*expected).Name(),
                                  " expression, got ", type.Name())});
  }
  if (!local_errors.empty() || checker.failed()) {
    std::string message =
        local_errors.empty() ? "invalid expression" : local_errors[0].message;
    if (errors != nullptr) {
      errors->insert(errors->end(), local_errors.begin(), local_errors.end());
    }
    return absl::InvalidArgumentError(message);
  }
  ResolveAccessors(env, *root);
  CheckedProgram out;
  out.type = type;
  out.program = std::make_unique<Program>(std::string(source), std::move(root),
                                          checker.TakeSlotRefs());
  return out;
}

absl::StatusOr<CheckedProgram> CheckAndPlan(absl::string_view source, Env& env,
                                            std::optional<ValueKind> expected,
                                            std::vector<ExprError>* errors) {
  std::vector<ExprError> parse_errors;
  auto parsed = Parse(source, &parse_errors);
  if (!parsed.ok()) {
    if (errors != nullptr) {
      errors->insert(errors->end(), parse_errors.begin(), parse_errors.end());
    }
    return parsed.status();
  }
  return CheckAndPlan(**parsed, source, env, expected, errors);
}

bool PrecedenceChangedMeaning(absl::string_view source, Env& env,
                              std::optional<ValueKind> expected) {
  if (!PrecedenceChangesMeaning(source)) return false;
  auto legacy = Parse(source, nullptr, Precedence::kLegacy);
  std::vector<ExprError> ignored;
  return legacy.ok() &&
         CheckAndPlan(**legacy, source, env, expected, &ignored).ok();
}

}  // namespace treatd::expr
