#include "common/validation/finding_validator.h"

#include <cmath>
#include <limits>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace treatd {
namespace {

using ::testing::HasSubstr;
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

}  // namespace
}  // namespace treatd
