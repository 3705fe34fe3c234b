// Typed field accessors for treatd.v1.Finding and its sub-messages: the
// checker plans field reads onto them so that evaluating a policy reads
// the generated C++ classes directly instead of walking protobuf
// Reflection for every field of every decision.
//
// Thread safety: the table is built once, on first use, and is immutable.
#ifndef TREATD_COMMON_POLICY_ENGINE_FINDING_ACCESSORS_H_
#define TREATD_COMMON_POLICY_ENGINE_FINDING_ACCESSORS_H_

#include "common/expr/runtime/program.h"
#include "google/protobuf/descriptor.h"

namespace treatd {

// The accessors of `field`, a field of treatd.v1.Finding or of a message it
// contains. All members are null for fields without one (repeated and map
// fields, fields of other messages); the caller then uses Reflection.
expr::FieldAccessor FindingFieldAccessor(
    const google::protobuf::FieldDescriptor* field);

}  // namespace treatd

#endif  // TREATD_COMMON_POLICY_ENGINE_FINDING_ACCESSORS_H_
