#include "client/report/kpi_html.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status/status_macros.h"
#include "common/text/escape.h"
#include "common/time/time_text.h"

namespace treatd::report {
namespace {

using ledger::KpiReport;
using ledger::KpiRow;

// Page geometry (SVG user units = CSS pixels at 100%).
constexpr double kWidth = 760;
constexpr double kLabelWidth = 170;
constexpr double kValueRoom = 90;  // right of the longest bar, for its label
constexpr double kPlotWidth = kWidth - kLabelWidth - kValueRoom;

// Colour-blind-safe palette (Okabe–Ito), one meaning per colour.
constexpr char kBlue[] = "#0072B2";
constexpr char kOrange[] = "#E69F00";
constexpr char kGreen[] = "#009E73";
constexpr char kVermillion[] = "#D55E00";
constexpr char kPurple[] = "#CC79A7";
constexpr char kSky[] = "#56B4E9";
constexpr char kGrey[] = "#999999";

std::string Esc(absl::string_view text) { return HtmlEscape(text); }

std::string Fixed(double v, int decimals) {
  return absl::StrFormat("%.*f", decimals, v);
}

std::string Days(std::optional<double> d) {
  return d.has_value() ? Fixed(*d, 1) : "—";
}

std::string Percent(std::optional<double> ratio) {
  return ratio.has_value() ? absl::StrCat(Fixed(*ratio * 100, 1), "%") : "—";
}

// The Kaplan–Meier median as text: "not reached" when there were episodes
// but survival never fell to one half.
std::string KmMedian(const ledger::DurationStats& s) {
  if (s.km_median_days.has_value()) return Fixed(*s.km_median_days, 1);
  return s.count + s.censored > 0 ? "not reached" : "—";
}

std::string GroupLabel(absl::string_view value, absl::string_view none) {
  return value.empty() ? std::string(none) : std::string(value);
}

std::string DateText(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d", t, absl::UTCTimeZone());
}

std::string TimeText(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M UTC", t, absl::UTCTimeZone());
}

// A "nice" axis maximum (1, 2, 2.5, 5 x 10^k) at or above `v`.
double NiceMax(double v) {
  if (!(v > 0)) return 1;
  const double magnitude = std::pow(10.0, std::floor(std::log10(v)));
  for (const double step : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (step * magnitude >= v) return step * magnitude;
  }
  return 10 * magnitude;
}

std::string TickText(double v) {
  if (v == std::floor(v)) return Fixed(v, 0);
  return Fixed(v, 1);
}

struct Series {
  std::string name;
  const char* color;
  std::vector<std::optional<double>> values;  // one per category
  // Shown instead of a bar when a value is absent ("not reached").
  std::vector<std::string> absent_text;
};

struct BarChart {
  std::string id;
  std::string aria_label;
  std::vector<std::string> categories;  // raw; escaped when drawn
  std::vector<Series> series;
  bool stacked = false;
  std::function<std::string(double)> format = [](double v) {
    return TickText(v);
  };
  std::string unit;  // axis caption
  std::optional<double> fixed_max;
};

// Swatches and names in rows from the left edge; returns the height used.
double AppendLegend(const std::vector<Series>& series, double y,
                    std::string* svg) {
  double x = 8;
  double row = y;
  for (const Series& s : series) {
    // Approximate text width: enough for DejaVu Sans at 12px.
    const double w = 28 + 6.8 * static_cast<double>(s.name.size());
    if (x > 8 && x + w > kWidth) {
      x = 8;
      row += 18;
    }
    absl::StrAppend(svg, "<rect class=\"legend\" x=\"", Fixed(x, 1), "\" y=\"",
                    Fixed(row, 1), "\" width=\"12\" height=\"12\" fill=\"",
                    s.color, "\"/><text x=\"", Fixed(x + 16, 1), "\" y=\"",
                    Fixed(row + 10, 1), "\">", Esc(s.name), "</text>");
    x += w;
  }
  return row - y + 18;
}

// Horizontal bars, one row per category: grouped (one bar per series) or
// stacked. Every bar is a <rect class="mark"> with a <title>.
std::string RenderBarChart(const BarChart& chart) {
  double max = 0;
  for (size_t c = 0; c < chart.categories.size(); ++c) {
    double stack = 0;
    for (const Series& s : chart.series) {
      const double v = s.values[c].value_or(0);
      stack += v;
      max = std::max(max, chart.stacked ? stack : v);
    }
  }
  max = chart.fixed_max.value_or(NiceMax(max));
  const double bar_h = chart.stacked ? 18 : 13;
  const double row_h = chart.stacked
                           ? 26
                           : 10 + bar_h * static_cast<double>(std::max<size_t>(
                                              1, chart.series.size()));
  std::string legend;
  const double top = 16 + AppendLegend(chart.series, 6, &legend);
  const double plot_h = row_h * static_cast<double>(chart.categories.size());
  const double height = top + plot_h + 30;
  std::string svg = absl::StrCat(
      "<svg id=\"", chart.id, "\" class=\"chart\" role=\"img\" aria-label=\"",
      Esc(chart.aria_label), "\" viewBox=\"0 0 ", Fixed(kWidth, 0), " ",
      Fixed(height, 0), "\" width=\"", Fixed(kWidth, 0), "\" height=\"",
      Fixed(height, 0), "\" xmlns=\"http://www.w3.org/2000/svg\">");
  svg += legend;
  // Grid and axis.
  constexpr int kTicks = 5;
  for (int i = 0; i <= kTicks; ++i) {
    const double v = max * i / kTicks;
    const double x = kLabelWidth + kPlotWidth * i / kTicks;
    absl::StrAppend(&svg, "<line class=\"grid\" x1=\"", Fixed(x, 1), "\" y1=\"",
                    Fixed(top - 4, 1), "\" x2=\"", Fixed(x, 1), "\" y2=\"",
                    Fixed(top + plot_h, 1), "\"/><text class=\"tick\" x=\"",
                    Fixed(x, 1), "\" y=\"", Fixed(top + plot_h + 14, 1),
                    "\" text-anchor=\"middle\">", Esc(chart.format(v)),
                    "</text>");
  }
  absl::StrAppend(&svg, "<text class=\"unit\" x=\"",
                  Fixed(kLabelWidth + kPlotWidth, 1), "\" y=\"",
                  Fixed(top + plot_h + 27, 1), "\" text-anchor=\"end\">",
                  Esc(chart.unit), "</text>");
  auto scale = [&](double v) {
    return kPlotWidth * std::clamp(v / max, 0.0, 1.0);
  };
  for (size_t c = 0; c < chart.categories.size(); ++c) {
    const double row_top = top + row_h * static_cast<double>(c);
    absl::StrAppend(&svg, "<text class=\"cat\" x=\"", Fixed(kLabelWidth - 8, 1),
                    "\" y=\"", Fixed(row_top + row_h / 2 + 4, 1),
                    "\" text-anchor=\"end\">", Esc(chart.categories[c]),
                    "</text>");
    double x = kLabelWidth;
    for (size_t i = 0; i < chart.series.size(); ++i) {
      const Series& s = chart.series[i];
      const double y = chart.stacked
                           ? row_top + (row_h - bar_h) / 2
                           : row_top + 5 + bar_h * static_cast<double>(i);
      const std::optional<double> v = s.values[c];
      if (!v.has_value()) {
        const std::string text =
            c < s.absent_text.size() && !s.absent_text[c].empty()
                ? s.absent_text[c]
                : "—";
        absl::StrAppend(&svg, "<text class=\"absent\" x=\"",
                        Fixed(kLabelWidth + 4, 1), "\" y=\"",
                        Fixed(y + bar_h - 3, 1), "\" fill=\"", s.color, "\">",
                        Esc(text), "</text>");
        continue;
      }
      const double w = scale(*v);
      const std::string tip =
          absl::StrCat(Esc(chart.categories[c]), " — ", Esc(s.name), ": ",
                       Esc(chart.format(*v)));
      absl::StrAppend(&svg, "<rect class=\"mark\" x=\"", Fixed(x, 1), "\" y=\"",
                      Fixed(y, 1), "\" width=\"", Fixed(w, 1), "\" height=\"",
                      Fixed(bar_h - 2, 1), "\" fill=\"", s.color, "\"><title>",
                      tip, "</title></rect>");
      if (chart.stacked) {
        if (w >= 22) {
          absl::StrAppend(&svg, "<text class=\"inbar\" x=\"",
                          Fixed(x + w / 2, 1), "\" y=\"",
                          Fixed(y + bar_h - 5, 1), "\" text-anchor=\"middle\">",
                          Esc(chart.format(*v)), "</text>");
        }
        x += w;
      } else {
        absl::StrAppend(&svg, "<text class=\"val\" x=\"",
                        Fixed(kLabelWidth + w + 4, 1), "\" y=\"",
                        Fixed(y + bar_h - 4, 1), "\">", Esc(chart.format(*v)),
                        "</text>");
      }
    }
  }
  svg += "</svg>";
  return svg;
}

// A line over the periods, 0..100 %, broken where a period has no value.
std::string RenderSlaChart(const std::vector<KpiReport>& periods) {
  const double left = 60;
  const double right = kWidth - 20;
  const double top = 20;
  const double plot_h = 200;
  const double height = top + plot_h + 44;
  std::string svg = absl::StrCat(
      "<svg id=\"chart-sla\" class=\"chart\" role=\"img\" aria-label=\"SLA "
      "compliance per period\" viewBox=\"0 0 ",
      Fixed(kWidth, 0), " ", Fixed(height, 0), "\" width=\"", Fixed(kWidth, 0),
      "\" height=\"", Fixed(height, 0),
      "\" xmlns=\"http://www.w3.org/2000/svg\">");
  for (int i = 0; i <= 4; ++i) {
    const double y = top + plot_h - plot_h * i / 4;
    absl::StrAppend(&svg, "<line class=\"grid\" x1=\"", Fixed(left, 1),
                    "\" y1=\"", Fixed(y, 1), "\" x2=\"", Fixed(right, 1),
                    "\" y2=\"", Fixed(y, 1), "\"/><text class=\"tick\" x=\"",
                    Fixed(left - 6, 1), "\" y=\"", Fixed(y + 4, 1),
                    "\" text-anchor=\"end\">", i * 25, "%</text>");
  }
  const size_t n = periods.size();
  auto x_of = [&](size_t i) {
    return n <= 1 ? (left + right) / 2
                  : left + 10 +
                        (right - left - 20) * static_cast<double>(i) /
                            static_cast<double>(n - 1);
  };
  auto y_of = [&](double ratio) { return top + plot_h - plot_h * ratio; };
  std::string points;
  auto flush = [&]() {
    if (!points.empty()) {
      absl::StrAppend(&svg, "<polyline class=\"mark line\" fill=\"none\" ",
                      "stroke=\"", kBlue, "\" stroke-width=\"2\" points=\"",
                      points, "\"/>");
      points.clear();
    }
  };
  for (size_t i = 0; i < n; ++i) {
    const std::optional<double>& r = periods[i].total.sla_compliance;
    if (!r.has_value()) {
      flush();
      continue;
    }
    absl::StrAppend(&points, points.empty() ? "" : " ", Fixed(x_of(i), 1), ",",
                    Fixed(y_of(*r), 1));
  }
  flush();
  for (size_t i = 0; i < n; ++i) {
    const KpiRow& t = periods[i].total;
    const std::string label = DateText(periods[i].as_of);
    if (t.sla_compliance.has_value()) {
      absl::StrAppend(
          &svg, "<circle class=\"mark\" cx=\"", Fixed(x_of(i), 1), "\" cy=\"",
          Fixed(y_of(*t.sla_compliance), 1), "\" r=\"4\" fill=\"", kBlue,
          "\"><title>period ending ", label, ": ", Percent(t.sla_compliance),
          " (", t.remediated_on_time, " on time of ",
          t.remediated_in_window + t.open_past_due, ")</title></circle>");
    } else {
      absl::StrAppend(&svg, "<text class=\"absent\" x=\"", Fixed(x_of(i), 1),
                      "\" y=\"", Fixed(top + plot_h - 4, 1),
                      "\" text-anchor=\"middle\">n/a</text>");
    }
    // Label every period when they fit, else every other one.
    if (n <= 12 || i % 2 == (n - 1) % 2) {
      absl::StrAppend(
          &svg, "<text class=\"tick\" x=\"", Fixed(x_of(i), 1), "\" y=\"",
          Fixed(top + plot_h + 16, 1), "\" text-anchor=\"middle\">",
          absl::FormatTime("%d %b", periods[i].as_of, absl::UTCTimeZone()),
          "</text>");
    }
  }
  absl::StrAppend(&svg, "<text class=\"unit\" x=\"", Fixed(right, 1), "\" y=\"",
                  Fixed(top + plot_h + 36, 1),
                  "\" text-anchor=\"end\">end of period (UTC)</text></svg>");
  return svg;
}

// A table; cells are raw text, escaped here. Columns after the first are
// numbers (right-aligned).
std::string Table(const std::vector<std::string>& header,
                  const std::vector<std::vector<std::string>>& rows) {
  std::string html = "<table><thead><tr>";
  for (const std::string& h : header)
    absl::StrAppend(&html, "<th>", Esc(h), "</th>");
  html += "</tr></thead><tbody>";
  for (const std::vector<std::string>& row : rows) {
    html += "<tr>";
    for (size_t i = 0; i < row.size(); ++i) {
      absl::StrAppend(&html, i == 0 ? "<td>" : "<td class=\"n\">", Esc(row[i]),
                      "</td>");
    }
    html += "</tr>";
  }
  html += "</tbody></table>";
  return html;
}

std::string Section(absl::string_view id, absl::string_view title,
                    absl::string_view explanation, absl::string_view chart,
                    absl::string_view table) {
  return absl::StrCat("<section id=\"", id, "\"><h2>", Esc(title),
                      "</h2><p class=\"why\">", explanation, "</p><figure>",
                      chart, "</figure><details open><summary>Table</summary>",
                      table, "</details></section>");
}

std::string Tile(absl::string_view label, absl::string_view value,
                 absl::string_view note) {
  return absl::StrCat("<div class=\"tile\"><div class=\"tv\">", Esc(value),
                      "</div><div class=\"tl\">", Esc(label),
                      "</div><div class=\"tn\">", Esc(note), "</div></div>");
}

std::vector<std::string> Priorities(const KpiReport& report) {
  std::vector<std::string> out;
  for (const KpiRow& row : report.rows) {
    out.push_back(GroupLabel(row.priority, "(no priority)"));
  }
  return out;
}

constexpr char kStyle[] = R"css(
body{font-family:"DejaVu Sans",Verdana,Arial,sans-serif;margin:24px auto;
max-width:820px;color:#222;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 4px;
border-bottom:1px solid #ddd;padding-bottom:3px}
.meta{color:#555;font-size:13px;margin:0 0 14px}
.why{color:#444;font-size:13px;margin:4px 0 8px}
.tiles{display:flex;flex-wrap:wrap;gap:10px}
.tile{border:1px solid #ddd;border-radius:6px;padding:8px 12px;min-width:110px}
.tv{font-size:20px;font-weight:bold}.tl{font-size:12px;color:#333}
.tn{font-size:11px;color:#777}
figure{margin:0}svg.chart{max-width:100%;height:auto;font-size:12px}
svg text{fill:#222}svg .tick,svg .unit{fill:#666;font-size:11px}
svg .absent{font-style:italic;font-size:11px}
svg .inbar{fill:#fff;font-size:11px}
svg .grid{stroke:#e4e4e4;stroke-width:1}
table{border-collapse:collapse;font-size:12px;margin:6px 0 0}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
th{background:#f4f4f4}summary{cursor:pointer;color:#555;font-size:12px}
footer{margin-top:28px;color:#777;font-size:11px}
)css";

}  // namespace

const std::vector<std::string>& KpiChartIds() {
  static const std::vector<std::string>* const kIds =
      new std::vector<std::string>{"chart-ttr",        "chart-sla",
                                   "chart-age",        "chart-debt",
                                   "chart-recurrence", "chart-risk"};
  return *kIds;
}

absl::StatusOr<KpiReportData> CollectKpiReport(const ledger::Ledger& ledger,
                                               const ReportOptions& options,
                                               std::string source) {
  if (options.as_of == absl::InfinitePast()) {
    return absl::InvalidArgumentError("report: as_of is required");
  }
  if (options.periods < 1 || options.periods > 120) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--periods: ", options.periods, " is out of range; allowed: 1..120"));
  }
  if (options.period <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--period: must be a positive duration, e.g. 30d");
  }
  KpiReportData data;
  data.source = std::move(source);
  ledger::KpiQuery query;
  query.as_of = options.as_of;
  query.window = options.window;
  query.recurrence_within = options.recurrence_within;
  query.group_by = {ledger::KpiGroupBy::kPriority};
  TREATD_ASSIGN_OR_RETURN(data.by_priority, ledger.Kpis(query));
  query.group_by = {ledger::KpiGroupBy::kOwner};
  TREATD_ASSIGN_OR_RETURN(data.by_owner, ledger.Kpis(query));
  query.group_by.clear();
  query.window = options.period;
  for (int i = options.periods - 1; i >= 0; --i) {
    query.as_of = options.as_of - options.period * i;
    TREATD_ASSIGN_OR_RETURN(ledger::KpiReport period, ledger.Kpis(query));
    data.periods.push_back(std::move(period));
  }
  return data;
}

std::string RenderKpiHtml(const KpiReportData& data) {
  const KpiReport& prio = data.by_priority;
  const KpiRow& total = prio.total;
  const std::vector<std::string> priorities = Priorities(prio);
  const std::string window_text = FormatDurationText(prio.window);
  std::string html = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      // Nothing on this page may load from anywhere: no script, no remote
      // style, font or image.
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src "
      "'none'; style-src 'unsafe-inline'\">"
      "<meta name=\"viewport\" content=\"width=device-width\">"
      "<title>treatd ledger report — ",
      DateText(prio.as_of), "</title><style>", kStyle,
      "</style></head><body><h1>Remediation report</h1><p class=\"meta\">As "
      "of ",
      TimeText(prio.as_of), " · window ", Esc(window_text),
      " · recurrence within ", Esc(FormatDurationText(prio.recurrence_within)),
      " · source ", Esc(data.source), "</p>");

  // Headline figures.
  html += "<div class=\"tiles\">";
  html += Tile("open findings", absl::StrCat(total.open),
               "open, mitigated or accepted");
  html += Tile("open past due", absl::StrCat(total.open_past_due),
               "past remediate-by");
  html += Tile("SLA compliance", Percent(total.sla_compliance),
               absl::StrCat("last ", window_text));
  html += Tile("time to remediate", KmMedian(total.time_to_remediate),
               "KM median, days");
  html +=
      Tile("mitigation debt", absl::StrCat(total.mitigation_debt),
           absl::StrCat(Fixed(total.mitigation_debt_days, 0), " days overdue"));
  html +=
      Tile("residual risk", Fixed(total.residual_risk_sum, 1), "sum over open");
  html += "</div>";

  // 1. Time to remediate by priority.
  {
    BarChart chart;
    chart.id = "chart-ttr";
    chart.aria_label = "Time to remediate by priority, days";
    chart.categories = priorities;
    chart.unit = "days";
    Series median{"median (remediated only)", kSky, {}, {}};
    Series p90{"p90 (remediated only)", kGrey, {}, {}};
    Series km{"Kaplan–Meier median (open counted)", kBlue, {}, {}};
    std::vector<std::vector<std::string>> rows;
    for (const KpiRow& row : prio.rows) {
      const ledger::DurationStats& s = row.time_to_remediate;
      median.values.push_back(s.median_days);
      p90.values.push_back(s.p90_days);
      km.values.push_back(s.km_median_days);
      median.absent_text.push_back("none remediated");
      p90.absent_text.push_back("none remediated");
      km.absent_text.push_back(s.count + s.censored > 0 ? "not reached"
                                                        : "no findings");
      const ledger::DurationStats& m = row.time_to_mitigate;
      rows.push_back({GroupLabel(row.priority, "(no priority)"),
                      absl::StrCat(s.count), absl::StrCat(s.censored),
                      Days(s.mean_days), Days(s.median_days), Days(s.p90_days),
                      KmMedian(s), Days(m.median_days), KmMedian(m)});
    }
    chart.series = {median, p90, km};
    html += Section(
        "ttr", "Time to remediate by priority",
        absl::StrCat(
            "Days from first seen to remediated, for findings remediated in "
            "the last ",
            Esc(window_text),
            ". The median over remediated findings alone flatters a slow "
            "team; the Kaplan–Meier median also counts the findings still "
            "open as censored at their current age (&quot;not reached&quot;: "
            "fewer than half were remediated)."),
        RenderBarChart(chart),
        Table({"priority", "remediated", "still open (censored)", "mean",
               "median", "p90", "KM median", "mitigate median",
               "mitigate KM median"},
              rows));
  }

  // 2. SLA compliance over time.
  {
    std::vector<std::vector<std::string>> rows;
    for (const KpiReport& p : data.periods) {
      const KpiRow& t = p.total;
      rows.push_back(
          {absl::StrCat(DateText(p.as_of - p.window), " – ", DateText(p.as_of)),
           absl::StrCat(t.remediated_in_window),
           absl::StrCat(t.remediated_on_time), absl::StrCat(t.open_past_due),
           Percent(t.sla_compliance)});
    }
    const std::string period_text =
        data.periods.empty() ? "" : FormatDurationText(data.periods[0].window);
    html += Section(
        "sla", "SLA compliance over time",
        absl::StrCat("Per ", Esc(period_text),
                     " period: remediated on time / (remediated in the period "
                     "+ open past due at its end). n/a: nothing was due."),
        RenderSlaChart(data.periods),
        Table(
            {"period", "remediated", "on time", "open past due", "compliance"},
            rows));
  }

  // 3. Open findings by age.
  {
    BarChart chart;
    chart.id = "chart-age";
    chart.aria_label = "Open findings by age bucket and priority";
    chart.categories = priorities;
    chart.stacked = true;
    chart.unit = "open findings";
    Series a{"0–30 days", kGreen, {}, {}};
    Series b{"31–60", kSky, {}, {}};
    Series c{"61–90", kOrange, {}, {}};
    Series d{"> 90", kVermillion, {}, {}};
    std::vector<std::vector<std::string>> rows;
    auto add = [&](const std::string& label, const KpiRow& row) {
      rows.push_back({label, absl::StrCat(row.open), absl::StrCat(row.age_0_30),
                      absl::StrCat(row.age_31_60), absl::StrCat(row.age_61_90),
                      absl::StrCat(row.age_over_90),
                      absl::StrCat(row.open_past_due)});
    };
    for (size_t i = 0; i < prio.rows.size(); ++i) {
      const KpiRow& row = prio.rows[i];
      a.values.push_back(static_cast<double>(row.age_0_30));
      b.values.push_back(static_cast<double>(row.age_31_60));
      c.values.push_back(static_cast<double>(row.age_61_90));
      d.values.push_back(static_cast<double>(row.age_over_90));
      add(priorities[i], row);
    }
    add("all", total);
    chart.series = {a, b, c, d};
    html += Section("age", "Open findings by age",
                    "Open, mitigated or accepted findings by days since "
                    "they were first seen (or reopened).",
                    RenderBarChart(chart),
                    Table({"priority", "open", "0–30", "31–60", "61–90", "> 90",
                           "past due"},
                          rows));
  }

  // 4. Mitigation debt.
  {
    BarChart chart;
    chart.id = "chart-debt";
    chart.aria_label = "Mitigation debt by priority";
    chart.categories = priorities;
    chart.unit = "findings past review";
    Series count{"mitigations and acceptances past review", kPurple, {}, {}};
    std::vector<std::vector<std::string>> rows;
    for (size_t i = 0; i < prio.rows.size(); ++i) {
      const KpiRow& row = prio.rows[i];
      count.values.push_back(static_cast<double>(row.mitigation_debt));
      rows.push_back({priorities[i], absl::StrCat(row.mitigation_debt),
                      Fixed(row.mitigation_debt_days, 1),
                      row.mitigation_debt > 0
                          ? Fixed(row.mitigation_debt_days /
                                      static_cast<double>(row.mitigation_debt),
                                  1)
                          : "—"});
    }
    chart.series = {count};
    html += Section(
        "debt", "Mitigation debt",
        "Mitigated or accepted findings whose review date has passed: a "
        "temporary measure nobody revisited.",
        RenderBarChart(chart),
        Table({"priority", "past review", "days overdue (sum)",
               "days overdue (mean)"},
              rows));
  }

  // 5. Recurrence.
  {
    BarChart chart;
    chart.id = "chart-recurrence";
    chart.aria_label = "Recurrence rate by priority";
    chart.categories = priorities;
    chart.unit = "% of remediated findings reopened";
    chart.fixed_max = 100;
    chart.format = [](double v) { return absl::StrCat(TickText(v), "%"); };
    Series rate{"reopened within the recurrence window", kVermillion, {}, {}};
    std::vector<std::vector<std::string>> rows;
    for (size_t i = 0; i < prio.rows.size(); ++i) {
      const KpiRow& row = prio.rows[i];
      rate.values.push_back(
          row.recurrence_rate.has_value()
              ? std::optional<double>(*row.recurrence_rate * 100)
              : std::nullopt);
      rate.absent_text.push_back("none remediated");
      rows.push_back({priorities[i], absl::StrCat(row.remediated_in_window),
                      absl::StrCat(row.recurred),
                      Percent(row.recurrence_rate)});
    }
    chart.series = {rate};
    html += Section(
        "recurrence", "Recurrence",
        absl::StrCat("Findings remediated in the window that came back "
                     "(reopened) within ",
                     Esc(FormatDurationText(prio.recurrence_within)), "."),
        RenderBarChart(chart),
        Table({"priority", "remediated", "reopened", "rate"}, rows));
  }

  // 6. Residual risk by owner.
  {
    std::vector<const KpiRow*> owners;
    for (const KpiRow& row : data.by_owner.rows) owners.push_back(&row);
    std::stable_sort(owners.begin(), owners.end(),
                     [](const KpiRow* a, const KpiRow* b) {
                       return a->residual_risk_sum > b->residual_risk_sum;
                     });
    constexpr size_t kTopOwners = 15;
    BarChart chart;
    chart.id = "chart-risk";
    chart.aria_label = "Residual risk of open findings by owner";
    chart.unit = "residual risk (sum over open findings)";
    Series sum{"residual risk, sum", kOrange, {}, {}};
    std::vector<std::vector<std::string>> rows;
    for (size_t i = 0; i < owners.size(); ++i) {
      const KpiRow& row = *owners[i];
      const std::string owner = GroupLabel(row.owner, "(no owner)");
      if (i < kTopOwners) {
        chart.categories.push_back(owner);
        sum.values.push_back(row.residual_risk_sum);
      }
      rows.push_back(
          {owner, absl::StrCat(row.open), Fixed(row.residual_risk_sum, 2),
           row.residual_risk_mean.has_value()
               ? Fixed(*row.residual_risk_mean, 2)
               : "—",
           absl::StrCat(row.open_past_due), absl::StrCat(row.mitigation_debt)});
    }
    chart.series = {sum};
    html +=
        Section("risk", "Residual risk by owner",
                absl::StrCat("Residual risk the policy assigned to each open "
                             "finding, summed per owner",
                             owners.size() > kTopOwners
                                 ? absl::StrCat(" (chart: the ", kTopOwners,
                                                " largest; table: all ",
                                                owners.size(), ")")
                                 : "",
                             "."),
                RenderBarChart(chart),
                Table({"owner", "open", "risk (sum)", "risk (mean)", "past due",
                       "mitigation debt"},
                      rows));
  }

  absl::StrAppend(
      &html, "<footer>treatd ledger report · generated ",
      data.generated_at == absl::InfinitePast() ? "—"
                                                : TimeText(data.generated_at),
      " · formulas: docs/ledger.md · self-contained: nothing on this page "
      "loads from the network</footer></body></html>\n");
  return html;
}

}  // namespace treatd::report
