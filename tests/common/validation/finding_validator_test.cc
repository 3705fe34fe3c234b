#include "common/validation/finding_validator.h"

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/timestamp.pb.h"
#include "gtest/gtest.h"

namespace treatd {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::Message;
using ::google::protobuf::Reflection;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

v1::Finding ValidFinding() {
  v1::Finding finding;
  finding.set_id("f-1");
  finding.set_kind(v1::FINDING_KIND_VULNERABILITY);
  finding.set_severity(v1::SEVERITY_HIGH);
  finding.mutable_vulnerability()->set_cve_id("CVE-2024-3094");
  finding.mutable_vulnerability()->mutable_cvss()->set_score(9.8);
  finding.mutable_vulnerability()->mutable_epss()->set_score(0.97);
  finding.mutable_vulnerability()->mutable_epss()->set_percentile(0.99);
  finding.mutable_asset()->set_id("web-1");
  finding.mutable_asset()->add_tags("pci");
  (*finding.mutable_asset()->mutable_labels())["team"] = "payments";
  finding.mutable_first_seen()->set_seconds(1700000000);
  return finding;
}

TEST(FindingValidatorTest, AcceptsValidFinding) {
  EXPECT_TRUE(ValidateFinding(ValidFinding(), FindingLimits()).ok());
}

TEST(FindingValidatorTest, AcceptsScoresAtTheirBounds) {
  v1::Finding finding = ValidFinding();
  finding.mutable_vulnerability()->mutable_cvss()->set_score(10.0);
  finding.mutable_vulnerability()->mutable_epss()->set_score(0.0);
  finding.mutable_vulnerability()->mutable_epss()->set_percentile(1.0);
  EXPECT_TRUE(ValidateFinding(finding, FindingLimits()).ok());
}

TEST(FindingValidatorTest, RejectsMissingIdAndKind) {
  v1::Finding finding = ValidFinding();
  finding.clear_id();
  finding.clear_kind();
  google::protobuf::RepeatedPtrField<v1::FieldViolation> violations;
  absl::Status status =
      ValidateFinding(finding, FindingLimits(), "finding", &violations);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("finding.id: required"));
  EXPECT_THAT(status.message(), HasSubstr("finding.kind: required"));
  ASSERT_THAT(violations, SizeIs(2));
  EXPECT_EQ(violations[0].field(), "finding.id");
  EXPECT_EQ(violations[1].field(), "finding.kind");
}

TEST(FindingValidatorTest, RejectsCvssScoreAboveTenWithFieldPath) {
  v1::Finding finding = ValidFinding();
  finding.mutable_vulnerability()->mutable_cvss()->set_score(11.5);
  absl::Status status = ValidateFinding(finding, FindingLimits());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "finding.vulnerability.cvss.score: must be a number within "
            "0..10, got 11.5");
}

TEST(FindingValidatorTest, RejectsNaNScores) {
  v1::Finding finding = ValidFinding();
  finding.mutable_vulnerability()->mutable_cvss()->set_score(
      std::numeric_limits<double>::quiet_NaN());
  finding.mutable_vulnerability()->mutable_epss()->set_score(
      std::numeric_limits<double>::quiet_NaN());
  google::protobuf::RepeatedPtrField<v1::FieldViolation> violations;
  absl::Status status =
      ValidateFinding(finding, FindingLimits(), "finding", &violations);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  ASSERT_THAT(violations, SizeIs(2));
  EXPECT_EQ(violations[0].field(), "finding.vulnerability.cvss.score");
  EXPECT_THAT(violations[0].description(), HasSubstr("got NaN"));
  EXPECT_EQ(violations[1].field(), "finding.vulnerability.epss.score");
}

TEST(FindingValidatorTest, RejectsEpssOutsideZeroToOne) {
  v1::Finding finding = ValidFinding();
  finding.mutable_vulnerability()->mutable_epss()->set_score(-0.1);
  finding.mutable_vulnerability()->mutable_epss()->set_percentile(1.5);
  google::protobuf::RepeatedPtrField<v1::FieldViolation> violations;
  absl::Status status =
      ValidateFinding(finding, FindingLimits(), "finding", &violations);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  ASSERT_THAT(violations, SizeIs(2));
  EXPECT_EQ(violations[0].field(), "finding.vulnerability.epss.score");
  EXPECT_EQ(violations[0].description(),
            "must be a number within 0..1, got -0.1");
  EXPECT_EQ(violations[1].field(), "finding.vulnerability.epss.percentile");
}

TEST(FindingValidatorTest, RejectsUnknownEnumNumbersInNestedAndRepeatedFields) {
  v1::Finding finding = ValidFinding();
  finding.mutable_asset()->set_exposure(static_cast<v1::Exposure>(42));
  v1::CompensatingControl* control = finding.add_compensating_controls();
  control->set_type(v1::CONTROL_TYPE_WAF);
  control = finding.add_compensating_controls();
  control->set_type(static_cast<v1::ControlType>(99));
  google::protobuf::RepeatedPtrField<v1::FieldViolation> violations;
  absl::Status status =
      ValidateFinding(finding, FindingLimits(), "finding", &violations);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  ASSERT_THAT(violations, SizeIs(2));
  EXPECT_EQ(violations[0].field(), "finding.asset.exposure");
  EXPECT_THAT(violations[0].description(),
              HasSubstr("42 is not a value of treatd.v1.Exposure; allowed: "
                        "EXPOSURE_ISOLATED"));
  EXPECT_EQ(violations[1].field(), "finding.compensating_controls[1].type");
}

TEST(FindingValidatorTest, RejectsUnknownKindNumber) {
  v1::Finding finding = ValidFinding();
  finding.set_kind(static_cast<v1::FindingKind>(7));
  absl::Status status = ValidateFinding(finding, FindingLimits());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("finding.kind: 7 is not a value"));
}

TEST(FindingValidatorTest, RejectsTimestampsOutOfRange) {
  v1::Finding finding = ValidFinding();
  finding.mutable_last_seen()->set_seconds(253402300800);  // Year 10000.
  finding.mutable_vulnerability()->mutable_kev()->mutable_due_date()->set_nanos(
      -1);
  google::protobuf::RepeatedPtrField<v1::FieldViolation> violations;
  absl::Status status =
      ValidateFinding(finding, FindingLimits(), "finding", &violations);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  ASSERT_THAT(violations, SizeIs(2));
  EXPECT_EQ(violations[0].field(), "finding.vulnerability.kev.due_date");
  EXPECT_EQ(violations[1].field(), "finding.last_seen");
  EXPECT_THAT(violations[1].description(), HasSubstr("valid timestamp"));
}

TEST(FindingValidatorTest, RejectsOverlongStringWithResourceExhausted) {
  v1::Finding finding = ValidFinding();
  finding.set_title(std::string(101, 'x'));
  FindingLimits limits;
  limits.max_string_bytes = 100;
  absl::Status status = ValidateFinding(finding, limits);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(status.message(),
            "finding.title: is 101 bytes; at most 100 allowed");
}

TEST(FindingValidatorTest, RejectsOverlongListAndMapEntries) {
  v1::Finding finding = ValidFinding();
  for (int i = 0; i < 4; ++i) finding.mutable_asset()->add_tags("t");
  (*finding.mutable_attributes())["note"] = std::string(20, 'y');
  FindingLimits limits;
  limits.max_repeated = 3;
  limits.max_string_bytes = 16;
  google::protobuf::RepeatedPtrField<v1::FieldViolation> violations;
  absl::Status status =
      ValidateFinding(finding, limits, "findings[3]", &violations);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  ASSERT_THAT(violations, SizeIs(2));
  EXPECT_EQ(violations[0].field(), "findings[3].asset.tags");
  EXPECT_EQ(violations[0].description(), "has 5 entries; at most 3 allowed");
  EXPECT_EQ(violations[1].field(), "findings[3].attributes[\"note\"]");
}

TEST(FindingValidatorTest, PrefersInvalidArgumentWhenSizeAndValueProblemsMix) {
  v1::Finding finding = ValidFinding();
  finding.set_title(std::string(20, 'x'));
  finding.mutable_vulnerability()->mutable_cvss()->set_score(-1);
  FindingLimits limits;
  limits.max_string_bytes = 16;
  google::protobuf::RepeatedPtrField<v1::FieldViolation> violations;
  absl::Status status =
      ValidateFinding(finding, limits, "finding", &violations);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(violations, SizeIs(2));
  EXPECT_THAT(status.message(), HasSubstr("finding.title: is 20 bytes"));
  EXPECT_THAT(status.message(),
              HasSubstr("finding.vulnerability.cvss.score: must be"));
}

TEST(FindingValidatorTest, ListsEveryProblemButShortensTheMessage) {
  v1::Finding finding;  // No id, no kind.
  for (int i = 0; i < 12; ++i) {
    finding.add_compensating_controls()->set_effectiveness(
        static_cast<v1::ControlEffectiveness>(9));
  }
  google::protobuf::RepeatedPtrField<v1::FieldViolation> violations;
  absl::Status status =
      ValidateFinding(finding, FindingLimits(), "finding", &violations);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(violations, SizeIs(14));
  EXPECT_EQ(violations[13].field(),
            "finding.compensating_controls[11].effectiveness");
  EXPECT_THAT(status.message(), HasSubstr("; and 4 more"));
}

// ValidateFinding checks the fields it knows with generated accessors and
// falls back to a reflection walk otherwise. A field added to finding.proto
// must be added to that fast path too (common/validation/
// finding_validator.cc); until then every finding is validated slowly.
TEST(FindingValidatorTest, FastPathKnowsEveryFieldOfTheSchema) {
  EXPECT_THAT(finding_validator_internal::FastPathSchemaMismatches(),
              IsEmpty());
}

// One way of breaking one field of a valid finding.
struct Breakage {
  std::string what;
  std::function<void(Message*)> apply;
  absl::StatusCode code;
};

// Returns the message in which `field` (the last of `path`) lives, adding
// any messages on the way (a new element for lists).
Message* Reach(Message* root, const std::vector<const FieldDescriptor*>& path) {
  Message* message = root;
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    const Reflection* reflection = message->GetReflection();
    message = path[i]->is_repeated()
                  ? reflection->AddMessage(message, path[i])
                  : reflection->MutableMessage(message, path[i]);
  }
  return message;
}

// Every field of the schema that has a rule, broken in every way the rules
// forbid. Walks the descriptors, so fields added later are covered.
void CollectBreakages(const Descriptor* type,
                      std::vector<const FieldDescriptor*>* path,
                      std::vector<Breakage>* out) {
  const FindingLimits limits;
  const std::string overlong(limits.max_string_bytes + 1, 'x');
  const int too_many = static_cast<int>(limits.max_repeated) + 1;
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* field = type->field(i);
    path->push_back(field);
    const std::vector<const FieldDescriptor*> at = *path;
    const std::string name = field->full_name();
    auto add = [&](const std::string& what, absl::StatusCode code,
                   std::function<void(Message*, const FieldDescriptor*)> f) {
      out->push_back({absl::StrCat(name, " ", what),
                      [at, f](Message* root) { f(Reach(root, at), at.back()); },
                      code});
    };
    if (field->is_repeated()) {
      add("too many entries", absl::StatusCode::kResourceExhausted,
          [too_many](Message* m, const FieldDescriptor* f) {
            const Reflection* r = m->GetReflection();
            for (int n = 0; n < too_many; ++n) {
              if (f->is_map()) {
                Message* entry = r->AddMessage(m, f);
                entry->GetReflection()->SetString(
                    entry, f->message_type()->map_key(), absl::StrCat(n));
              } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
                r->AddString(m, f, "s");
              } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
                r->AddMessage(m, f);
              } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_ENUM) {
                r->AddEnumValue(m, f, 0);
              }
            }
          });
    }
    if (field->is_map()) {
      add("overlong key", absl::StatusCode::kResourceExhausted,
          [overlong](Message* m, const FieldDescriptor* f) {
            Message* entry = m->GetReflection()->AddMessage(m, f);
            entry->GetReflection()->SetString(
                entry, f->message_type()->map_key(), overlong);
          });
      add("overlong value", absl::StatusCode::kResourceExhausted,
          [overlong](Message* m, const FieldDescriptor* f) {
            Message* entry = m->GetReflection()->AddMessage(m, f);
            entry->GetReflection()->SetString(
                entry, f->message_type()->map_value(), overlong);
          });
      path->pop_back();
      continue;
    }
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        add("overlong", absl::StatusCode::kResourceExhausted,
            [overlong](Message* m, const FieldDescriptor* f) {
              if (f->is_repeated()) {
                m->GetReflection()->AddString(m, f, overlong);
              } else {
                m->GetReflection()->SetString(m, f, overlong);
              }
            });
        break;
      case FieldDescriptor::CPPTYPE_ENUM:
        add("unknown number", absl::StatusCode::kInvalidArgument,
            [](Message* m, const FieldDescriptor* f) {
              if (f->is_repeated()) {
                m->GetReflection()->AddEnumValue(m, f, 99);
              } else {
                m->GetReflection()->SetEnumValue(m, f, 99);
              }
            });
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        for (double value :
             {std::numeric_limits<double>::quiet_NaN(),
              std::numeric_limits<double>::infinity(), -1.0, 11.0}) {
          const bool ranged =
              field->name() == "score" || field->name() == "percentile";
          if (!ranged && std::isfinite(value)) continue;
          add(absl::StrCat("= ", value), absl::StatusCode::kInvalidArgument,
              [value](Message* m, const FieldDescriptor* f) {
                if (f->is_repeated()) {
                  m->GetReflection()->AddDouble(m, f, value);
                } else {
                  m->GetReflection()->SetDouble(m, f, value);
                }
              });
        }
        break;
      case FieldDescriptor::CPPTYPE_MESSAGE:
        if (field->message_type() ==
            google::protobuf::Timestamp::descriptor()) {
          for (auto [seconds, nanos] :
               std::vector<std::pair<int64_t, int32_t>>{{253402300800, 0},
                                                        {-62135596801, 0},
                                                        {0, -1},
                                                        {0, 1000000000}}) {
            add(absl::StrCat("seconds=", seconds, " nanos=", nanos),
                absl::StatusCode::kInvalidArgument,
                [seconds = seconds, nanos = nanos](Message* m,
                                                   const FieldDescriptor* f) {
                  auto* timestamp = static_cast<google::protobuf::Timestamp*>(
                      f->is_repeated()
                          ? m->GetReflection()->AddMessage(m, f)
                          : m->GetReflection()->MutableMessage(m, f));
                  timestamp->set_seconds(seconds);
                  timestamp->set_nanos(nanos);
                });
          }
        } else {
          CollectBreakages(field->message_type(), path, out);
        }
        break;
      default:
        break;
    }
    path->pop_back();
  }
}

// The fast path must never accept what the full walk rejects: break each
// field of a valid finding and expect exactly that problem reported.
TEST(FindingValidatorTest, RejectsEveryBrokenFieldOfTheSchema) {
  std::vector<const FieldDescriptor*> path;
  std::vector<Breakage> breakages;
  CollectBreakages(v1::Finding::descriptor(), &path, &breakages);
  EXPECT_GT(breakages.size(), 90u);
  for (const Breakage& breakage : breakages) {
    SCOPED_TRACE(breakage.what);
    v1::Finding finding = ValidFinding();
    breakage.apply(&finding);
    google::protobuf::RepeatedPtrField<v1::FieldViolation> violations;
    absl::Status status =
        ValidateFinding(finding, FindingLimits(), "finding", &violations);
    EXPECT_EQ(status.code(), breakage.code) << status;
    EXPECT_THAT(violations, SizeIs(1));
  }
}

TEST(FindingValidatorTest, AcceptsEveryExampleShapeWithinLimits) {
  v1::Finding finding = ValidFinding();
  FindingLimits limits;
  limits.max_string_bytes = 4;
  limits.max_repeated = 1;
  finding.set_id("f-1");
  finding.set_title("four");
  finding.mutable_vulnerability()->set_cve_id("CVE");
  finding.mutable_asset()->set_id("a");
  finding.mutable_asset()->clear_labels();
  (*finding.mutable_asset()->mutable_labels())["team"] = "pay";
  finding.add_compensating_controls()->set_type(v1::CONTROL_TYPE_OTHER);
  finding.mutable_vulnerability()->mutable_kev()->mutable_due_date()->set_nanos(
      999999999);
  finding.mutable_last_seen()->set_seconds(-62135596800);
  finding.mutable_vulnerability()->mutable_epss()->set_score(1.0);
  EXPECT_TRUE(ValidateFinding(finding, limits).ok());
  finding.mutable_asset()->add_tags("x");
  EXPECT_EQ(ValidateFinding(finding, limits).code(),
            absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace treatd
