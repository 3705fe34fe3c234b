#include "common/policy/engine/finding_accessors.h"

#include <set>
#include <string>
#include <vector>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/timestamp.pb.h"
#include "gtest/gtest.h"
#include "treatd/v1/finding.pb.h"

namespace treatd {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// treatd.v1.Finding and every treatd.v1 message it contains.
std::vector<const Descriptor*> FindingTypes() {
  std::vector<const Descriptor*> out = {v1::Finding::descriptor()};
  std::set<const Descriptor*> seen(out.begin(), out.end());
  for (size_t i = 0; i < out.size(); ++i) {
    for (int f = 0; f < out[i]->field_count(); ++f) {
      const Descriptor* type = out[i]->field(f)->message_type();
      if (type == nullptr || out[i]->field(f)->is_map()) continue;
      if (type->file()->package() != "treatd.v1") continue;
      if (seen.insert(type).second) out.push_back(type);
    }
  }
  return out;
}

TEST(FindingAccessorsTest, EverySingularFieldHasOne) {
  for (const Descriptor* type : FindingTypes()) {
    for (int f = 0; f < type->field_count(); ++f) {
      const FieldDescriptor* field = type->field(f);
      const expr::FieldAccessor a = FindingFieldAccessor(field);
      if (field->is_repeated()) {
        EXPECT_EQ(a.message, nullptr) << field->full_name();
        EXPECT_EQ(a.scalar, nullptr) << field->full_name();
        continue;
      }
      switch (field->cpp_type()) {
        case FieldDescriptor::CPPTYPE_MESSAGE:
          EXPECT_NE(a.message, nullptr) << field->full_name();
          EXPECT_NE(a.has, nullptr) << field->full_name();
          break;
        case FieldDescriptor::CPPTYPE_ENUM:
          EXPECT_NE(a.enum_number, nullptr) << field->full_name();
          break;
        default:
          EXPECT_NE(a.scalar, nullptr) << field->full_name();
          EXPECT_EQ(a.has != nullptr, field->has_presence())
              << field->full_name();
      }
    }
  }
}

// Sets every singular field of `m` (recursively) to a value of its own.
void Fill(Message* m, int* counter) {
  const Reflection* r = m->GetReflection();
  const Descriptor* d = m->GetDescriptor();
  for (int f = 0; f < d->field_count(); ++f) {
    const FieldDescriptor* field = d->field(f);
    if (field->is_repeated()) continue;
    const int n = ++*counter;
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_BOOL:
        r->SetBool(m, field, n % 2 == 1);
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        r->SetDouble(m, field, n + 0.5);
        break;
      case FieldDescriptor::CPPTYPE_STRING:
        r->SetString(m, field, "v" + std::to_string(n));
        break;
      case FieldDescriptor::CPPTYPE_ENUM: {
        const auto* type = field->enum_type();
        r->SetEnumValue(m, field,
                        type->value(n % type->value_count())->number());
        break;
      }
      case FieldDescriptor::CPPTYPE_MESSAGE:
        if (field->message_type() ==
            google::protobuf::Timestamp::descriptor()) {
          auto* t = static_cast<google::protobuf::Timestamp*>(
              r->MutableMessage(m, field));
          t->set_seconds(n);
        } else {
          Fill(r->MutableMessage(m, field), counter);
        }
        break;
      default:
        FAIL() << "unexpected field type " << field->full_name();
    }
  }
}

// Compares every accessor with Reflection on `m` and its sub-messages.
void ExpectSameAsReflection(const Message& m) {
  const Reflection* r = m.GetReflection();
  const Descriptor* d = m.GetDescriptor();
  for (int f = 0; f < d->field_count(); ++f) {
    const FieldDescriptor* field = d->field(f);
    if (field->is_repeated()) continue;
    const expr::FieldAccessor a = FindingFieldAccessor(field);
    if (a.has != nullptr) {
      EXPECT_EQ(a.has(m), r->HasField(m, field)) << field->full_name();
    }
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_BOOL:
        EXPECT_EQ(a.scalar(m).bool_value(), r->GetBool(m, field));
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        EXPECT_EQ(a.scalar(m).double_value(), r->GetDouble(m, field));
        break;
      case FieldDescriptor::CPPTYPE_STRING:
        EXPECT_EQ(a.scalar(m).string_value(), r->GetString(m, field));
        break;
      case FieldDescriptor::CPPTYPE_ENUM:
        EXPECT_EQ(a.enum_number(m), r->GetEnumValue(m, field));
        break;
      case FieldDescriptor::CPPTYPE_MESSAGE:
        EXPECT_EQ(&a.message(m), &r->GetMessage(m, field))
            << field->full_name();
        if (field->message_type()->file()->package() == "treatd.v1") {
          ExpectSameAsReflection(a.message(m));
        }
        break;
      default:
        break;
    }
  }
}

TEST(FindingAccessorsTest, ReadWhatReflectionReads) {
  v1::Finding empty;
  ExpectSameAsReflection(empty);
  v1::Finding full;
  int counter = 0;
  Fill(&full, &counter);
  ExpectSameAsReflection(full);
}

TEST(FindingAccessorsTest, OtherMessagesHaveNone) {
  const FieldDescriptor* field =
      google::protobuf::Timestamp::descriptor()->FindFieldByName("seconds");
  const expr::FieldAccessor a = FindingFieldAccessor(field);
  EXPECT_EQ(a.message, nullptr);
  EXPECT_EQ(a.scalar, nullptr);
  EXPECT_EQ(a.enum_number, nullptr);
  EXPECT_EQ(a.has, nullptr);
}

}  // namespace
}  // namespace treatd
