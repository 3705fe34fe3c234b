// Messages filled through reflection, every field set, for tests that
// must cover a field added to a .proto without being edited (the decision
// id's encoder, the reuse of a decision message).
#ifndef TREATD_TESTS_COMMON_FILL_MESSAGE_H_
#define TREATD_TESTS_COMMON_FILL_MESSAGE_H_

#include <string>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "gtest/gtest.h"

namespace treatd::testing_util {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// A value for one scalar of `field`, varied by `seed` so that repeated
// elements and map entries differ; strings of `length` bytes.
inline void SetScalar(Message* m, const FieldDescriptor* field, int seed,
                      size_t length) {
  const Reflection* r = m->GetReflection();
  const bool rep = field->is_repeated();
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string s = absl::StrCat(field->name(), "-", seed, "-");
      while (s.size() < length) s.push_back(static_cast<char>('a' + seed));
      rep ? r->AddString(m, field, s) : r->SetString(m, field, s);
      break;
    }
    case FieldDescriptor::CPPTYPE_BOOL:
      rep ? r->AddBool(m, field, true) : r->SetBool(m, field, true);
      break;
    case FieldDescriptor::CPPTYPE_ENUM: {
      const int count = field->enum_type()->value_count();
      const int number =
          field->enum_type()->value(1 + seed % (count - 1))->number();
      rep ? r->AddEnumValue(m, field, number)
          : r->SetEnumValue(m, field, number);
      break;
    }
    case FieldDescriptor::CPPTYPE_DOUBLE:
      rep ? r->AddDouble(m, field, 0.25 + seed)
          : r->SetDouble(m, field, 0.25 + seed);
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      // Timestamps' seconds: negative ones take ten bytes.
      rep ? r->AddInt64(m, field, -62135596800 + seed)
          : r->SetInt64(m, field, -62135596800 + seed);
      break;
    case FieldDescriptor::CPPTYPE_INT32:
      rep ? r->AddInt32(m, field, 999999999 - seed)
          : r->SetInt32(m, field, 999999999 - seed);
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      rep ? r->AddUInt32(m, field, 1 + seed) : r->SetUInt32(m, field, 1 + seed);
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      rep ? r->AddUInt64(m, field, 1 + seed) : r->SetUInt64(m, field, 1 + seed);
      break;
    case FieldDescriptor::CPPTYPE_FLOAT:
      rep ? r->AddFloat(m, field, 0.5f + seed)
          : r->SetFloat(m, field, 0.5f + seed);
      break;
    default:
      FAIL() << "a field of a type FillAll does not fill: "
             << field->full_name();
  }
}

// Sets every field of `m` and its sub-messages: repeated fields and maps
// get three elements, in an order that is not sorted.
inline void FillAll(Message* m, size_t length) {
  const Reflection* r = m->GetReflection();
  const auto* d = m->GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* field = d->field(i);
    if (field->is_map()) {
      for (int seed : {2, 0, 1}) {
        Message* entry = r->AddMessage(m, field);
        SetScalar(entry, entry->GetDescriptor()->map_key(), seed, length);
        SetScalar(entry, entry->GetDescriptor()->map_value(), seed, length);
      }
    } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      const int n = field->is_repeated() ? 3 : 1;
      for (int k = 0; k < n; ++k) {
        FillAll(field->is_repeated() ? r->AddMessage(m, field)
                                     : r->MutableMessage(m, field),
                length);
      }
    } else {
      for (int seed = 0; seed < (field->is_repeated() ? 3 : 1); ++seed) {
        SetScalar(m, field, seed, length);
      }
    }
  }
}

}  // namespace treatd::testing_util

#endif  // TREATD_TESTS_COMMON_FILL_MESSAGE_H_
