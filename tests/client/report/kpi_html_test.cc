// The KPI report page from a real SQLite ledger: every chart is drawn with
// marks, the tables carry the figures, ledger strings are escaped, nothing
// loads from the network, and bad options are refused with a clear error.
// (tests/client/report/chromium_render_test.py renders it in a browser.)
#include "client/report/kpi_html.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/text/escape.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/report/ledger_history.h"
#include "tests/support/postgres_server.h"

namespace treatd::report {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class KpiHtmlTest : public ::testing::Test {
 protected:
  // Writes the history and opens the ledger over it.
  std::unique_ptr<ledger::Ledger> OpenHistory(bool hostile) {
    const std::string path = ::testing::TempDir() + "/kpi_html_" +
                             (hostile ? "hostile" : "plain") + "_" +
                             std::to_string(::getpid()) + ".db";
    std::filesystem::remove(path);
    testing::HistoryOptions options;
    options.hostile_owners = hostile;
    absl::Status written =
        testing::WriteHistoryLedger("sqlite:" + path, options);
    EXPECT_TRUE(written.ok()) << written;
    ledger::LedgerOptions ledger_options;
    ledger_options.url = "sqlite:" + path;
    absl::StatusOr<std::unique_ptr<ledger::Ledger>> opened =
        ledger::Ledger::Open(ledger_options);
    EXPECT_TRUE(opened.ok()) << opened.status();
    return opened.ok() ? *std::move(opened) : nullptr;
  }

  // A new, empty SQLite ledger in the test's temporary directory.
  static absl::StatusOr<std::unique_ptr<ledger::Ledger>> OpenEmpty(
      const std::string& name) {
    const std::string path = ::testing::TempDir() + "/kpi_html_" + name + "_" +
                             std::to_string(::getpid()) + ".db";
    std::filesystem::remove(path);
    ledger::LedgerOptions ledger_options;
    ledger_options.url = "sqlite:" + path;
    return ledger::Ledger::Open(ledger_options);
  }

  static ReportOptions Options() {
    ReportOptions options;
    options.as_of = testing::HistoryAsOf();
    return options;
  }
};

// The <svg id="..."> element's text, up to its end.
std::string ChartSvg(const std::string& html, const std::string& id) {
  const size_t start = html.find(absl::StrCat("<svg id=\"", id, "\""));
  if (start == std::string::npos) return "";
  const size_t end = html.find("</svg>", start);
  return html.substr(start, end - start);
}

int CountOf(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

TEST_F(KpiHtmlTest, EveryChartIsDrawnFromTheLedger) {
  std::unique_ptr<ledger::Ledger> ledger = OpenHistory(false);
  ASSERT_NE(ledger, nullptr);
  absl::StatusOr<KpiReportData> data =
      CollectKpiReport(*ledger, Options(), "sqlite:history.db");
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ(data->periods.size(), 12u);
  EXPECT_EQ(data->periods.back().as_of, testing::HistoryAsOf());
  ASSERT_EQ(data->by_priority.rows.size(), 4u);  // P1..P4
  EXPECT_GT(data->by_priority.total.open, 0);
  EXPECT_GT(data->by_priority.total.time_to_remediate.censored, 0);
  EXPECT_GT(data->by_priority.total.mitigation_debt, 0);
  EXPECT_GT(data->by_priority.total.recurred, 0);
  const std::string html = RenderKpiHtml(*data);
  for (const std::string& id : KpiChartIds()) {
    const std::string svg = ChartSvg(html, id);
    ASSERT_FALSE(svg.empty()) << id;
    EXPECT_GE(CountOf(svg, "class=\"mark"), 1) << id;
  }
  // Bars: 4 priorities x 3 series (some may be "not reached").
  EXPECT_GE(CountOf(ChartSvg(html, "chart-ttr"), "<rect class=\"mark\""), 8);
  // One point per period with something due.
  EXPECT_GE(CountOf(ChartSvg(html, "chart-sla"), "<circle class=\"mark\""), 10);
  // The tables behind the charts carry the same figures.
  EXPECT_THAT(html,
              HasSubstr(absl::StrCat("<td class=\"n\">",
                                     data->by_priority.total.open, "</td>")));
  for (const char* owner : {"payments", "identity", "infra"}) {
    EXPECT_THAT(ChartSvg(html, "chart-risk"), HasSubstr(owner));
  }
  // Self-contained: no script, no external resource.
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("<link")));
  EXPECT_THAT(html, Not(HasSubstr("src=")));
  EXPECT_THAT(html, Not(HasSubstr("url(")));
  EXPECT_THAT(html, HasSubstr("Content-Security-Policy"));
  // Deterministic.
  EXPECT_EQ(html, RenderKpiHtml(*data));
}

TEST_F(KpiHtmlTest, HostileOwnerNamesAreEscapedEverywhere) {
  std::unique_ptr<ledger::Ledger> ledger = OpenHistory(true);
  ASSERT_NE(ledger, nullptr);
  absl::StatusOr<KpiReportData> data = CollectKpiReport(
      *ledger, Options(), "<script>console.error('source')</script>");
  ASSERT_TRUE(data.ok()) << data.status();
  const std::string html = RenderKpiHtml(*data);
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("<img")));
  EXPECT_THAT(html, Not(HasSubstr("<b>")));
  EXPECT_THAT(html, Not(HasSubstr("onerror=\"")));
  EXPECT_THAT(html, Not(HasSubstr("' onmouseover='")));
  EXPECT_THAT(html, Not(HasSubstr("\x01")));
  int owners_seen = 0;
  for (const std::string& owner : testing::HostileOwners()) {
    if (absl::StrContains(html, HtmlEscape(owner))) ++owners_seen;
  }
  // Every hostile owner is shown, escaped (the control character becomes
  // U+FFFD, so the last one is matched by its escaped prefix).
  EXPECT_GE(owners_seen, 4);
  EXPECT_THAT(html,
              HasSubstr("team &amp; &lt;b&gt;bold&lt;/b&gt; \xEF\xBF\xBD"));
  EXPECT_THAT(html, HasSubstr("&lt;script&gt;console.error(&#39;source&#39;)"));
  // Exactly the SVG elements the renderer opens and closes.
  EXPECT_EQ(CountOf(html, "<svg "), static_cast<int>(KpiChartIds().size()));
  EXPECT_EQ(CountOf(html, "</svg>"), static_cast<int>(KpiChartIds().size()));
}

// The stores compute KPIs with the same arithmetic: the same history on a
// real PostgreSQL server gives the same page, figure for figure.
TEST_F(KpiHtmlTest, PostgresAndSqliteGiveTheSamePage) {
  std::string why;
  std::unique_ptr<treatd::testing::PostgresServer> pg =
      treatd::testing::PostgresServer::Start(&why);
  if (pg == nullptr) GTEST_SKIP() << why;  // PostgreSQL binaries absent
  const std::string conninfo = pg->CreateDatabase("report");
  ASSERT_FALSE(conninfo.empty());
  const std::string url = "postgresql:" + conninfo;
  absl::Status written =
      testing::WriteHistoryLedger(url, testing::HistoryOptions());
  ASSERT_TRUE(written.ok()) << written;
  ledger::LedgerOptions options;
  options.url = url;
  absl::StatusOr<std::unique_ptr<ledger::Ledger>> postgres =
      ledger::Ledger::Open(options);
  ASSERT_TRUE(postgres.ok()) << postgres.status();
  std::unique_ptr<ledger::Ledger> sqlite = OpenHistory(false);
  ASSERT_NE(sqlite, nullptr);
  absl::StatusOr<KpiReportData> a =
      CollectKpiReport(**postgres, Options(), "ledger");
  absl::StatusOr<KpiReportData> b =
      CollectKpiReport(*sqlite, Options(), "ledger");
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_GT(a->by_priority.total.open, 0);
  EXPECT_EQ(RenderKpiHtml(*a), RenderKpiHtml(*b));
}

TEST_F(KpiHtmlTest, AnEmptyLedgerRendersWithoutMarks) {
  absl::StatusOr<std::unique_ptr<ledger::Ledger>> ledger = OpenEmpty("empty");
  ASSERT_TRUE(ledger.ok()) << ledger.status();
  absl::StatusOr<KpiReportData> data =
      CollectKpiReport(**ledger, Options(), "empty");
  ASSERT_TRUE(data.ok()) << data.status();
  const std::string html = RenderKpiHtml(*data);
  EXPECT_THAT(html, HasSubstr("<h1>Remediation report</h1>"));
  EXPECT_EQ(CountOf(html, "class=\"mark"), 0);
  EXPECT_THAT(html, HasSubstr("n/a"));
}

TEST_F(KpiHtmlTest, BadOptionsAreRefused) {
  absl::StatusOr<std::unique_ptr<ledger::Ledger>> ledger = OpenEmpty("opts");
  ASSERT_TRUE(ledger.ok()) << ledger.status();
  ReportOptions options = Options();
  options.periods = 0;
  absl::StatusOr<KpiReportData> data = CollectKpiReport(**ledger, options, "x");
  EXPECT_EQ(data.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(data.status().message()), HasSubstr("1..120"));
  options = Options();
  options.period = absl::ZeroDuration();
  EXPECT_EQ(CollectKpiReport(**ledger, options, "x").status().code(),
            absl::StatusCode::kInvalidArgument);
  options = Options();
  options.window = absl::ZeroDuration();
  EXPECT_EQ(CollectKpiReport(**ledger, options, "x").status().code(),
            absl::StatusCode::kInvalidArgument);
  options.as_of = absl::InfinitePast();
  EXPECT_EQ(CollectKpiReport(**ledger, options, "x").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(HtmlEscapeTest, EscapesMarkupQuotesAndControls) {
  EXPECT_EQ(HtmlEscape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
  EXPECT_EQ(HtmlEscape(std::string("x\0y\x7f\tz", 6)),
            "x\xEF\xBF\xBDy\xEF\xBF\xBD\tz");
  EXPECT_EQ(HtmlEscape("Zürich"), "Zürich");
}

}  // namespace
}  // namespace treatd::report
