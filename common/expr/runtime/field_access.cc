#include "common/expr/runtime/field_access.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace treatd::expr::internal {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Reads a Timestamp or Duration message field without going through its
// generated class, so that any message implementation works.
void ReadSecondsNanos(const Message& m, int64_t* seconds, int32_t* nanos) {
  const auto* d = m.GetDescriptor();
  const Reflection* r = m.GetReflection();
  *seconds = r->GetInt64(m, d->field(0));
  *nanos = r->GetInt32(m, d->field(1));
}

}  // namespace

// The reflection of `node.path[hop]`'s message `m`: cached when the type
// has generated code.
const Reflection* ReflectionAt(const Node& node, size_t hop, const Message& m) {
  return node.reflections.empty() ? m.GetReflection() : node.reflections[hop];
}

// The typed accessor of `node.path[hop]`, or null.
const FieldAccessor* AccessorAt(const Node& node, size_t hop) {
  return node.accessors.empty() ? nullptr : &node.accessors[hop];
}

Value ReadField(const Node& node, const Message& m) {
  const FieldDescriptor* field = node.path.back();
  if (const FieldAccessor* a = AccessorAt(node, node.path.size() - 1)) {
    if (a->scalar != nullptr) return a->scalar(m);
    if (a->enum_number != nullptr) {
      return Value::Enum(a->enum_number(m), node.enum_type);
    }
  }
  const Reflection* r = ReflectionAt(node, node.path.size() - 1, m);
  if (field->is_repeated()) return Value::RepeatedField(&m, field, r);
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_BOOL:
      return Value::Bool(r->GetBool(m, field));
    case FieldDescriptor::CPPTYPE_INT32:
      return Value::Int(r->GetInt32(m, field));
    case FieldDescriptor::CPPTYPE_INT64:
      return Value::Int(r->GetInt64(m, field));
    case FieldDescriptor::CPPTYPE_UINT32:
      return Value::Int(r->GetUInt32(m, field));
    case FieldDescriptor::CPPTYPE_UINT64:
      return Value::Int(static_cast<int64_t>(r->GetUInt64(m, field)));
    case FieldDescriptor::CPPTYPE_FLOAT:
      return Value::Double(r->GetFloat(m, field));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return Value::Double(r->GetDouble(m, field));
    case FieldDescriptor::CPPTYPE_ENUM:
      return Value::Enum(r->GetEnumValue(m, field), node.enum_type);
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      const std::string& s = r->GetStringReference(m, field, &scratch);
      if (&s == &scratch) {
        return Value::Error("unsupported string representation");
      }
      return Value::String(s);
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      const FieldAccessor* a = AccessorAt(node, node.path.size() - 1);
      const Message& sub = a != nullptr && a->message != nullptr
                               ? a->message(m)
                               : r->GetMessage(m, field);
      const auto* type = field->message_type();
      // descriptor() runs a once-check on every call; this path is hot.
      static const auto* const kTimestamp =
          google::protobuf::Timestamp::descriptor();
      static const auto* const kDuration =
          google::protobuf::Duration::descriptor();
      if (type == kTimestamp || type == kDuration) {
        int64_t seconds = 0;
        int32_t nanos = 0;
        if (node.reflections.empty()) {
          ReadSecondsNanos(sub, &seconds, &nanos);
        } else if (type == kTimestamp) {
          // A generated parent holds the generated well-known type.
          const auto& t = static_cast<const google::protobuf::Timestamp&>(sub);
          seconds = t.seconds();
          nanos = t.nanos();
        } else {
          const auto& t = static_cast<const google::protobuf::Duration&>(sub);
          seconds = t.seconds();
          nanos = t.nanos();
        }
        const absl::Duration d =
            absl::Seconds(seconds) + absl::Nanoseconds(nanos);
        if (type == kDuration) {
          return Value::Duration(d);
        }
        return Value::Timestamp(absl::UnixEpoch() + d);
      }
      return Value::Message(&sub);
    }
  }
  return Value::Error("unsupported field type");
}

// Walks all but the last field of `node.path` from the message the node
// starts at. Returns null and sets `*error` when the base failed.
const Message* WalkToParent(const Node& node, Frame& frame, Value* error) {
  const Message* m = frame.root();
  if (!node.kids.empty()) {
    Value base = EvaluateNode(*node.kids[0], frame);
    if (base.kind() != ValueKind::kMessage) {
      *error = base.is_error() ? base : Value::Error("not a message");
      return nullptr;
    }
    m = base.message();
  }
  for (size_t i = 0; i + 1 < node.path.size(); ++i) {
    const FieldAccessor* a = AccessorAt(node, i);
    m = a != nullptr && a->message != nullptr
            ? &a->message(*m)
            : &ReflectionAt(node, i, *m)->GetMessage(*m, node.path[i]);
  }
  return m;
}

void PrepareNode(Node& node) {
  if ((node.op == Op::kField || node.op == Op::kHas) && !node.path.empty()) {
    auto* factory = google::protobuf::MessageFactory::generated_factory();
    for (const FieldDescriptor* field : node.path) {
      const Message* prototype =
          factory->GetPrototype(field->containing_type());
      if (prototype == nullptr) {
        node.reflections.clear();
        break;
      }
      node.reflections.push_back(prototype->GetReflection());
    }
    if (node.path.back()->cpp_type() == FieldDescriptor::CPPTYPE_ENUM) {
      node.enum_type = node.path.back()->enum_type();
    }
  }
  for (auto& kid : node.kids) PrepareNode(*kid);
}

}  // namespace treatd::expr::internal
