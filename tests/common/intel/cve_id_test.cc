#include "common/intel/cve_id.h"

#include "gtest/gtest.h"

namespace treatd::intel {
namespace {

TEST(CveIdTest, ParsesAndFormatsCanonicalIds) {
  for (const char* text : {"CVE-2024-3094", "CVE-1999-0001", "CVE-2021-44228",
                           "CVE-2017-1000253", "CVE-2024-123456789"}) {
    std::optional<CveId> id = CveId::Parse(text);
    ASSERT_TRUE(id.has_value()) << text;
    EXPECT_EQ(id->ToString(), text);
  }
}

TEST(CveIdTest, SplitsYearAndNumber) {
  std::optional<CveId> id = CveId::Parse("CVE-2021-44228");
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->year(), 2021);
  EXPECT_EQ(id->number(), 44228u);
  EXPECT_EQ(CveId::FromKey(id->key()), *id);
}

TEST(CveIdTest, AcceptsLowerCasePrefix) {
  std::optional<CveId> id = CveId::Parse("cve-2024-3094");
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->ToString(), "CVE-2024-3094");
}

TEST(CveIdTest, RejectsMalformedIds) {
  for (const char* text :
       {"", "CVE", "CVE-2024-", "CVE-2024-123", "CVE-24-1234", "CVE-2024_1234",
        "GHSA-jfh8-c2jp-5v3q", " CVE-2024-3094", "CVE-2024-3094 ",
        "CVE-2024-12a4", "CVE-1998-1234", "CVE-2024-1234567890",
        "CVE-2021-00001", "XVE-2024-3094"}) {
    EXPECT_FALSE(CveId::Parse(text).has_value()) << '"' << text << '"';
  }
}

TEST(CveIdTest, OrdersNumericallyWithinAYear) {
  // As text "CVE-2021-10000" sorts before "CVE-2021-9999"; as keys it must
  // not.
  EXPECT_LT(*CveId::Parse("CVE-2021-9999"), *CveId::Parse("CVE-2021-10000"));
  EXPECT_LT(*CveId::Parse("CVE-2020-99999"), *CveId::Parse("CVE-2021-0001"));
}

}  // namespace
}  // namespace treatd::intel
