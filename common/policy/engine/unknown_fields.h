// Whether a generated message carries unknown fields, for the engine's
// hand-written fast paths (the decision id's encoder, the reuse of a
// decision's strings), which must step aside for such a message.
//
// Reflection::GetUnknownFields() costs a call and an offset lookup per
// message; protobuf 3.21's generated classes do not expose the inline
// test behind it. The flag is read from MessageLite's metadata (through a
// pointer to the protected member, formed in a derived class, as C++
// allows), and Reflection is asked only when it is set: a message whose
// unknown fields were cleared keeps the flag, so the flag alone is only
// "maybe".
//
// Thread safety: reads only; as safe as reading the message.
#ifndef TREATD_COMMON_POLICY_ENGINE_UNKNOWN_FIELDS_H_
#define TREATD_COMMON_POLICY_ENGINE_UNKNOWN_FIELDS_H_

#include "google/protobuf/message.h"
#include "google/protobuf/message_lite.h"

namespace treatd::internal {

class UnknownFieldsPeek : public google::protobuf::MessageLite {
 public:
  // False when `m` has certainly no unknown fields.
  static bool MayHave(const google::protobuf::MessageLite& m) {
    return (m.*&UnknownFieldsPeek::_internal_metadata_).have_unknown_fields();
  }
};

// Whether `m` holds unknown fields (exact).
inline bool HasUnknownFields(const google::protobuf::Message& m) {
  return UnknownFieldsPeek::MayHave(m) &&
         !m.GetReflection()->GetUnknownFields(m).empty();
}

}  // namespace treatd::internal

#endif  // TREATD_COMMON_POLICY_ENGINE_UNKNOWN_FIELDS_H_
