// Reading message fields for the evaluators: the typed accessors the
// checker planned where a field's type has generated code, reflection
// elsewhere, Timestamp and Duration without their generated classes.
// Internal to the expression runtime (program.cc, tree_evaluator.cc).
//
// Thread safety: stateless functions over const data, except PrepareNode,
// which a Program calls once on its own tree before sharing it.
#ifndef TREATD_COMMON_EXPR_RUNTIME_FIELD_ACCESS_H_
#define TREATD_COMMON_EXPR_RUNTIME_FIELD_ACCESS_H_

#include <cstddef>

#include "common/expr/runtime/program.h"
#include "google/protobuf/message.h"

namespace treatd::expr::internal {

// The reflection of `node.path[hop]`'s message `m`: cached when the type
// has generated code.
const google::protobuf::Reflection* ReflectionAt(
    const Node& node, size_t hop, const google::protobuf::Message& m);

// The typed accessor of `node.path[hop]`, or null.
const FieldAccessor* AccessorAt(const Node& node, size_t hop);

// The value of the last field of `node.path` in `m`, its parent message.
Value ReadField(const Node& node, const google::protobuf::Message& m);

// Walks all but the last field of `node.path` from the message the node
// starts at. Returns null and sets `*error` when the base failed.
const google::protobuf::Message* WalkToParent(const Node& node, Frame& frame,
                                              Value* error);

// Caches per-node reflection and accessors in `node` and its subtree.
void PrepareNode(Node& node);

}  // namespace treatd::expr::internal

#endif  // TREATD_COMMON_EXPR_RUNTIME_FIELD_ACCESS_H_
