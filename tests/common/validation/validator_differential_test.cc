// Differential test of the finding validator's two implementations: the
// hand-written fast path (generated accessors) and the reflection walk,
// which must give the same verdict on every finding, valid or not. The
// fast path only ever says "no problem"; if it accepted a finding the walk
// rejects, ValidateFinding would let a bad finding through, and if it
// rejected one the walk accepts, every such finding would pay for the slow
// path. Findings are random (fixed seeds) and mix valid values with every
// kind of invalid one, several at a time, under tight limits.
#include <string>

#include "absl/strings/str_cat.h"
#include "common/validation/finding_validator.h"
#include "gtest/gtest.h"
#include "tests/common/random_finding.h"
#include "treatd/v1/finding.pb.h"

namespace treatd {
namespace {

using finding_validator_internal::FastPathAccepts;
using finding_validator_internal::ValidateByReflection;

TEST(ValidatorDifferentialTest, FastPathAndReflectionWalkAgree) {
  ASSERT_TRUE(finding_validator_internal::FastPathSchemaMismatches().empty());
  FindingLimits limits;
  limits.max_string_bytes = 8;
  limits.max_repeated = 3;
  testing::RandomFindingOptions options;
  options.invalid = true;
  options.overlong_string = limits.max_string_bytes + 1;
  options.overlong_list = static_cast<int>(limits.max_repeated) + 1;
  int accepted = 0, rejected = 0;
  for (uint32_t seed = 0; seed < 200; ++seed) {
    // Sparse findings are mostly valid, dense ones mostly not.
    options.set_percent = 10 + static_cast<int>(seed % 9) * 10;
    testing::RandomFindings findings(seed, options);
    for (int i = 0; i < 100; ++i) {
      const v1::Finding finding = findings.Next();
      const bool fast = FastPathAccepts(finding, limits);
      const absl::Status walked = ValidateByReflection(finding, limits);
      ASSERT_EQ(fast, walked.ok())
          << "fast path " << (fast ? "accepts" : "rejects")
          << ", reflection walk says " << walked
          << "\nfinding: " << finding.ShortDebugString();
      // ValidateFinding is the two together.
      const absl::Status status = ValidateFinding(finding, limits);
      ASSERT_EQ(status, walked) << finding.ShortDebugString();
      (walked.ok() ? accepted : rejected)++;
    }
  }
  // Both verdicts are well represented.
  EXPECT_GT(accepted, 2000);
  EXPECT_GT(rejected, 2000);
}

// At the default limits: findings the way callers send them, almost all
// valid.
TEST(ValidatorDifferentialTest, AgreeAtDefaultLimits) {
  const FindingLimits limits;
  testing::RandomFindingOptions options;
  options.invalid = true;
  options.overlong_string = limits.max_string_bytes + 1;
  options.overlong_list = static_cast<int>(limits.max_repeated) + 1;
  testing::RandomFindings findings(7, options);
  for (int i = 0; i < 3000; ++i) {
    const v1::Finding finding = findings.Next();
    const absl::Status walked = ValidateByReflection(finding, limits);
    ASSERT_EQ(FastPathAccepts(finding, limits), walked.ok())
        << walked << "\nfinding: " << finding.ShortDebugString();
  }
}

}  // namespace
}  // namespace treatd
