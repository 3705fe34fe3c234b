// TestEnv with the engine's typed Finding accessors: programs checked in it
// read fields the way policy programs do, so the array form gets its fast
// field reads and fused field-vs-constant comparisons. Links treatd_engine
// (finding_accessors.cc). Single-threaded test helper.
#ifndef TREATD_TESTS_COMMON_EXPR_ACCESSOR_ENV_H_
#define TREATD_TESTS_COMMON_EXPR_ACCESSOR_ENV_H_

#include "common/policy/engine/finding_accessors.h"
#include "tests/common/expr/test_env.h"

namespace treatd::expr {

class AccessorTestEnv : public TestEnv {
 public:
  FieldAccessor AccessorFor(
      const google::protobuf::FieldDescriptor* field) const override {
    return FindingFieldAccessor(field);
  }
};

}  // namespace treatd::expr

#endif  // TREATD_TESTS_COMMON_EXPR_ACCESSOR_ENV_H_
