// `treatctl ledger kpi --output csv`: every number reads back as the value
// the server sent (the JSON output's), not a six-digit rounding of it.
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "client/treatctl/ledger_commands.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "treatd/v1/ledger_service.pb.h"

namespace treatd {
namespace {

// The number under `column` in the first row of `csv` (the total).
double Cell(const std::string& csv, const std::string& column) {
  std::vector<std::string> lines = absl::StrSplit(csv, '\n');
  EXPECT_GE(lines.size(), 2u);
  std::vector<std::string> header = absl::StrSplit(lines[0], ',');
  std::vector<std::string> row = absl::StrSplit(lines[1], ',');
  for (size_t i = 0; i < header.size() && i < row.size(); ++i) {
    if (header[i] != column) continue;
    double value = 0;
    EXPECT_TRUE(absl::SimpleAtod(row[i], &value)) << row[i];
    return value;
  }
  ADD_FAILURE() << "no column " << column << " in " << lines[0];
  return 0;
}

TEST(LedgerKpiCsvTest, NumbersReadBackExactly) {
  v1::GetKpisResponse kpis;
  v1::Kpis* total = kpis.mutable_total();
  total->set_sla_compliance(2.0 / 3.0);
  total->set_mitigation_debt_days(9.779671234567891);
  total->set_residual_risk_sum(1234567.125);
  total->set_residual_risk_mean(0.1);
  total->mutable_time_to_remediate()->set_mean_days(12.345678901234);
  std::ostringstream out;
  ASSERT_TRUE(WriteKpis(kpis, "csv", out).ok());
  const std::string csv = out.str();
  EXPECT_EQ(Cell(csv, "sla_compliance"), 2.0 / 3.0) << csv;
  EXPECT_EQ(Cell(csv, "mitigation_debt_days"), 9.779671234567891) << csv;
  EXPECT_EQ(Cell(csv, "residual_risk_sum"), 1234567.125) << csv;
  EXPECT_EQ(Cell(csv, "residual_risk_mean"), 0.1) << csv;
  EXPECT_EQ(Cell(csv, "ttr_mean_days"), 12.345678901234) << csv;
  // Shortest form: no trailing digits for values that need none.
  EXPECT_THAT(csv, ::testing::HasSubstr(",0.1,"));
}

}  // namespace
}  // namespace treatd
