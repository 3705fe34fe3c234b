// A year of made-up but plausible ledger history for the report tests:
// findings of four priorities and several owners are decided, then
// remediated (mostly within their SLA, some late), mitigated with a review
// date, accepted until a date, declared false positives, or left open; some
// remediated ones come back (a decision after the remediation reopens
// them). Deterministic for a seed. Written through the real Ledger into a
// real SQLite file or PostgreSQL database.
#ifndef TREATD_TESTS_CLIENT_REPORT_LEDGER_HISTORY_H_
#define TREATD_TESTS_CLIENT_REPORT_LEDGER_HISTORY_H_

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/ledger/event.h"
#include "common/ledger/ledger.h"

namespace treatd::report::testing {

// The report's "now": every event lies before it.
inline absl::Time HistoryAsOf() {
  return absl::FromCivil(absl::CivilDay(2026, 7, 1), absl::UTCTimeZone());
}

// Owner names a hostile scanner or inventory could carry into the ledger.
inline std::vector<std::string> HostileOwners() {
  return {
      "<script>console.error('XSS-script')</script>",
      "\"><img src=x onerror=\"console.error('XSS-img')\">",
      "' onmouseover='console.error(1)' x='",
      "</svg></figure><svg onload=console.error('XSS-svg')>",
      "team & <b>bold</b> \x01",
  };
}

struct HistoryOptions {
  int findings = 600;
  uint32_t seed = 7;
  bool hostile_owners = false;  // every fourth finding gets a hostile owner
};

// The events, oldest first.
inline std::vector<ledger::Event> HistoryEvents(const HistoryOptions& options) {
  std::mt19937 rng(options.seed);
  auto uniform = [&rng](double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(rng);
  };
  struct Priority {
    const char* name;
    int sla_days;
    double median_fix_days;
  };
  const Priority priorities[] = {
      {"P1", 7, 6}, {"P2", 30, 20}, {"P3", 90, 70}, {"P4", 180, 120}};
  const std::vector<std::string> teams = {
      "payments", "identity", "platform", "data", "web", "mobile", "infra"};
  const std::vector<std::string> hostile = HostileOwners();
  const absl::Time as_of = HistoryAsOf();
  auto at = [&as_of](double days_ago) {
    return as_of - absl::Seconds(static_cast<int64_t>(days_ago * 86400));
  };
  std::vector<ledger::Event> events;
  for (int i = 0; i < options.findings; ++i) {
    const Priority& p =
        priorities[std::min(3, static_cast<int>(uniform(0, 4)))];
    const std::string key = absl::StrCat("finding-", i);
    std::string owner = teams[static_cast<size_t>(i) % teams.size()];
    if (options.hostile_owners && i % 4 == 0) {
      owner = hostile[static_cast<size_t>(i / 4) % hostile.size()];
    }
    const double opened = uniform(1, 365);  // days before as_of
    const double risk = uniform(0.5, 9.5) / (p.sla_days > 30 ? 2 : 1);
    const double fate = uniform(0, 1);
    const bool mitigate = fate < 0.12;
    const bool accept = fate >= 0.12 && fate < 0.18;
    ledger::Event d;
    d.kind = ledger::EventKind::kDecision;
    d.finding_key = key;
    d.occurred_at = at(opened);
    d.decision.decision_id = absl::StrCat(key, "-d1");
    d.decision.treatment =
        mitigate ? v1::TREATMENT_MITIGATE : v1::TREATMENT_REMEDIATE;
    d.decision.priority = p.name;
    d.decision.priority_rank = static_cast<int>(&p - priorities) + 1;
    d.decision.rule = "rule-" + std::string(p.name);
    d.decision.kind = i % 5 == 0 ? v1::FINDING_KIND_MISCONFIGURATION
                                 : v1::FINDING_KIND_VULNERABILITY;
    d.decision.owner = owner;
    d.decision.asset = absl::StrCat("id=asset-", i % 40);
    d.decision.remediate_by = at(opened - p.sla_days);
    d.decision.residual_risk = risk;
    if (mitigate) d.decision.review_by = at(opened - 30);
    events.push_back(d);
    if (mitigate) {
      ledger::Event m;
      m.kind = ledger::EventKind::kMitigated;
      m.finding_key = key;
      m.occurred_at = at(opened - std::min(opened - 0.5, uniform(0.5, 5)));
      m.control = "waf";
      m.actor = "secops";
      events.push_back(m);
      continue;
    }
    if (accept) {
      ledger::Event a;
      a.kind = ledger::EventKind::kAccepted;
      a.finding_key = key;
      a.occurred_at = at(opened - std::min(opened - 0.5, uniform(0.5, 10)));
      a.until = at(opened - 90);
      a.actor = "ciso";
      events.push_back(a);
      continue;
    }
    if (fate > 0.97) {
      ledger::Event fp;
      fp.kind = ledger::EventKind::kFalsePositive;
      fp.finding_key = key;
      fp.occurred_at = at(opened - std::min(opened - 0.5, uniform(0.5, 3)));
      events.push_back(fp);
      continue;
    }
    // Time to fix: lognormal around the priority's median.
    const double fix = p.median_fix_days *
                       std::exp(std::normal_distribution<double>(0, 0.7)(rng));
    if (fix >= opened) continue;  // still open at as_of
    ledger::Event r;
    r.kind = ledger::EventKind::kRemediated;
    r.finding_key = key;
    r.occurred_at = at(opened - fix);
    r.evidence = "upgrade";
    events.push_back(r);
    // Some come back: a later decision reopens the finding.
    const double back = uniform(3, 60);
    if (uniform(0, 1) < 0.12 && opened - fix - back > 0.5) {
      ledger::Event again = d;
      again.occurred_at = at(opened - fix - back);
      again.decision.decision_id = absl::StrCat(key, "-d2");
      again.decision.remediate_by = at(opened - fix - back - p.sla_days);
      events.push_back(again);
    }
  }
  std::stable_sort(events.begin(), events.end(),
                   [](const ledger::Event& a, const ledger::Event& b) {
                     return a.occurred_at < b.occurred_at;
                   });
  return events;
}

// Writes the history into a new ledger at `url` (LedgerOptions::url: a
// SQLite path or a PostgreSQL URL). The ledger's clock is pinned a day
// after HistoryAsOf, so no outcome is "in the future".
inline absl::Status WriteHistoryLedger(const std::string& url,
                                       const HistoryOptions& options) {
  ledger::LedgerOptions ledger_options;
  ledger_options.url = url;
  ledger_options.sqlite_synchronous = "normal";
  ledger_options.clock = [] { return HistoryAsOf() + absl::Hours(24); };
  absl::StatusOr<std::unique_ptr<ledger::Ledger>> opened =
      ledger::Ledger::Open(ledger_options);
  if (!opened.ok()) return opened.status();
  std::vector<ledger::Event> events = HistoryEvents(options);
  for (auto& result : (*opened)->Append(std::move(events))) {
    if (!result.ok()) return result.status();
  }
  return absl::OkStatus();
}

}  // namespace treatd::report::testing

#endif  // TREATD_TESTS_CLIENT_REPORT_LEDGER_HISTORY_H_
