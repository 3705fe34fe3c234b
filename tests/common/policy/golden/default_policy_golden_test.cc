// Golden tests of the shipped default policy, policies/default.yaml.
//
// The oracles are files, not constants in this test:
//  - tests/testdata/ssvc/*.csv (CERTCC/SSVC): every row of the CISA SSVC
//    coordinator table (36) and of the CISA BOD 26-04 remediation timelines
//    (16) must come out of the policy's tables exactly, and give the
//    deadlines and actions docs/default-policy.md promises;
//  - examples/README.md: the decision promised for each example in
//    examples/findings.jsonl;
//  - tests/testdata/policy_tests/default_cases.yaml: the policy test cases.
//
// The promises themselves (SSVC act -> P1 and mitigate first; the priority
// is the more urgent of SSVC and BOD 26-04; P1..P4 SLAs) are the ones
// docs/default-policy.md documents; they are spelled out once below.
#include <algorithm>
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "common/policy/engine/compiled_policy.h"
#include "common/policy/loader/yaml_proto.h"
#include "common/validation/finding_validator.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "treatd/v1/decision.pb.h"
#include "treatd/v1/finding.pb.h"
#include "treatd/v1/policy.pb.h"

namespace treatd {
namespace {

using v1::Decision;
using v1::Finding;

constexpr char kSourceDir[] = TREATD_SOURCE_DIR;

std::string SourcePath(absl::string_view relative) {
  return absl::StrCat(kSourceDir, "/", relative);
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

absl::Time ParseRfc3339(absl::string_view text) {
  absl::Time time;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, text, &time, &error)) {
    ADD_FAILURE() << "bad time " << text << ": " << error;
    return absl::InfinitePast();
  }
  return time;
}

absl::Time ToTime(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

google::protobuf::Timestamp ToProto(absl::Time time) {
  google::protobuf::Timestamp ts;
  const int64_t nanos = absl::ToUnixNanos(time);
  ts.set_seconds(nanos / 1000000000);
  ts.set_nanos(static_cast<int32_t>(nanos % 1000000000));
  return ts;
}

absl::Duration ToDuration(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

// ---------------------------------------------------------------------------
// The promises of docs/default-policy.md.

// SLA of each priority the SSVC and BOD 26-04 tables map to.
struct Sla {
  absl::Duration mitigate_within;
  absl::Duration remediate_within;
};

const std::map<std::string, Sla>& PromisedSlas() {
  static const auto* slas = new std::map<std::string, Sla>{
      {"P0", {absl::Hours(4), absl::Hours(3 * 24)}},
      {"P1", {absl::Hours(24), absl::Hours(3 * 24)}},
      {"P2", {absl::Hours(72), absl::Hours(14 * 24)}},
      {"P3", {absl::Hours(7 * 24), absl::Hours(60 * 24)}},
      {"P4", {absl::Hours(30 * 24), absl::Hours(180 * 24)}},
  };
  return *slas;
}

// "Fix on system upgrade" is one upgrade cycle.
constexpr absl::Duration kUpgradeCycle = absl::Hours(180 * 24);

// SSVC CISA Levels -> priority.
std::string SsvcPriority(absl::string_view outcome) {
  if (outcome == "act") return "P1";
  if (outcome == "attend") return "P2";
  if (outcome == "track*") return "P3";
  if (outcome == "track") return "P4";
  ADD_FAILURE() << "unknown SSVC outcome '" << outcome << "'";
  return "?";
}

// BOD 26-04 timeline -> the remediation time it allows, read from the
// outcome text itself ("14 days", "3 days & forensic investigation").
absl::Duration BodTimeline(absl::string_view outcome) {
  if (outcome == "fix on system upgrade") return kUpgradeCycle;
  std::vector<absl::string_view> words = absl::StrSplit(outcome, ' ');
  int days = 0;
  if (words.size() < 2 || words[1] != "days" ||
      !absl::SimpleAtoi(words[0], &days)) {
    ADD_FAILURE() << "unknown BOD 26-04 outcome '" << outcome << "'";
    return absl::ZeroDuration();
  }
  return absl::Hours(24 * days);
}

bool BodWantsForensics(absl::string_view outcome) {
  return absl::StrContains(outcome, "forensic investigation");
}

// The least urgent priority (of P1..P4) whose remediation SLA still fits
// in `timeline`: "14 days" -> P2.
std::string PriorityWithin(absl::Duration timeline) {
  std::string fits;
  for (const auto& [name, sla] : PromisedSlas()) {
    if (name != "P0" && sla.remediate_within <= timeline) fits = name;
  }
  if (fits.empty()) ADD_FAILURE() << "no priority fits " << timeline;
  return fits;
}

// ---------------------------------------------------------------------------
// CSV oracle.

struct Csv {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;

  // Index of the column whose header starts with `prefix`, or -1.
  int Column(absl::string_view prefix) const {
    for (size_t i = 0; i < header.size(); ++i) {
      if (absl::StartsWith(header[i], prefix)) return static_cast<int>(i);
    }
    ADD_FAILURE() << "no column '" << prefix << "' in "
                  << absl::StrJoin(header, ",");
    return -1;
  }
};

// Splits one CSV line; handles double-quoted fields with doubled quotes.
std::vector<std::string> SplitCsvLine(absl::string_view line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  return fields;
}

absl::StatusOr<Csv> ReadCsv(absl::string_view relative) {
  absl::StatusOr<std::string> text = ReadFile(SourcePath(relative));
  if (!text.ok()) return text.status();
  Csv csv;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    line = absl::StripSuffix(line, "\r");
    if (line.empty()) continue;
    std::vector<std::string> fields = SplitCsvLine(line);
    if (csv.header.empty()) {
      csv.header = std::move(fields);
    } else if (fields.size() != csv.header.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(relative, ": row has ", fields.size(), " fields"));
    } else {
      csv.rows.push_back(std::move(fields));
    }
  }
  return csv;
}

constexpr char kCoordinatorCsv[] =
    "tests/testdata/ssvc/cisa_coordinator_2_0_3.csv";
constexpr char kBodCsv[] = "tests/testdata/ssvc/cisa_bod_26_04_1_0_0.csv";

// One row of a CSV table: decision point values by column index, outcome
// in the last column, row number in column 0.
struct TableRow {
  int row = -1;
  std::vector<std::string> values;  // Decision points, in CSV order.
  std::string outcome;
};

std::vector<TableRow> Rows(const Csv& csv) {
  std::vector<TableRow> rows;
  for (const auto& fields : csv.rows) {
    TableRow row;
    if (!absl::SimpleAtoi(fields.front(), &row.row)) {
      ADD_FAILURE() << "bad row number " << fields.front();
    }
    row.values.assign(fields.begin() + 1, fields.end() - 1);
    row.outcome = fields.back();
    rows.push_back(std::move(row));
  }
  return rows;
}

// Looks up `values` (one per decision point, CSV order) in `csv`.
const TableRow* Lookup(const std::vector<TableRow>& rows,
                       const std::vector<std::string>& values) {
  for (const TableRow& row : rows) {
    if (row.values == values) return &row;
  }
  ADD_FAILURE() << "no CSV row for " << absl::StrJoin(values, ",");
  return nullptr;
}

// ---------------------------------------------------------------------------
// The policy under test.

struct LoadedPolicy {
  absl::Status status;
  std::shared_ptr<const CompiledPolicy> policy;
  std::vector<v1::PolicyIssue> issues;
};

const LoadedPolicy& DefaultPolicy() {
  static const LoadedPolicy* loaded = [] {
    auto* result = new LoadedPolicy;
    absl::StatusOr<std::shared_ptr<const CompiledPolicy>> policy =
        CompiledPolicy::CompileFile(SourcePath("policies/default.yaml"),
                                    &result->issues);
    result->status = policy.status();
    if (policy.ok()) result->policy = *std::move(policy);
    return result;
  }();
  return *loaded;
}

#define ASSERT_DEFAULT_POLICY_LOADED()                                \
  ASSERT_TRUE(DefaultPolicy().status.ok()) << DefaultPolicy().status; \
  const CompiledPolicy& policy = *DefaultPolicy().policy

const absl::Time kFirstSeen = absl::FromUnixSeconds(1795132800);  // 2026-11-20
const absl::Time kAsOf = kFirstSeen + absl::Hours(30);

absl::StatusOr<Decision> Decide(const CompiledPolicy& policy,
                                const Finding& finding,
                                absl::Time as_of = kAsOf) {
  EvalOptions options;
  options.as_of = as_of;
  Decision decision;
  absl::Status status = policy.Evaluate(finding, options, &decision);
  if (!status.ok()) return status;
  return decision;
}

const v1::TableOutcome* FindTable(const Decision& decision,
                                  absl::string_view table) {
  for (const v1::TableOutcome& outcome : decision.table_outcomes()) {
    if (outcome.table() == table) return &outcome;
  }
  return nullptr;
}

std::string TableOutcome(const Decision& decision, absl::string_view table) {
  const v1::TableOutcome* outcome = FindTable(decision, table);
  return outcome == nullptr ? "<no outcome>" : outcome->outcome();
}

const v1::Action* FindAction(const Decision& decision, absl::string_view id) {
  for (const v1::Action& action : decision.actions()) {
    if (action.id() == id) return &action;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------
// Findings built from table values.

// The SSVC / BOD 26-04 facts of one golden finding.
struct VulnFacts {
  std::string exploitation;  // none | public poc | active
  bool kev = false;          // Listed in KEV (else exploitation via maturity).
  std::string automatable;   // yes | no
  std::string technical_impact;  // partial | total
  v1::Criticality criticality = v1::CRITICALITY_MEDIUM;
  v1::Exposure exposure = v1::EXPOSURE_INTERNAL;
};

// A vulnerability with a fix available and nothing in the way of applying
// it: no freeze, no maintenance window, no restart, no compensating control,
// no incident. Only the SSVC / BOD 26-04 inputs vary.
Finding GoldenFinding(const VulnFacts& facts) {
  Finding finding;
  finding.set_id("golden");
  finding.set_kind(v1::FINDING_KIND_VULNERABILITY);
  finding.set_source("golden-test");
  finding.set_title("Golden SSVC finding");
  v1::Vulnerability* vuln = finding.mutable_vulnerability();
  vuln->set_cve_id("CVE-2026-0001");
  vuln->mutable_cvss()->set_version("3.1");
  vuln->mutable_cvss()->set_score(7.5);
  if (facts.kev) {
    vuln->mutable_kev()->set_listed(true);
  } else if (facts.exploitation == "active") {
    vuln->set_exploit_maturity(v1::EXPLOIT_MATURITY_ACTIVE);
  } else if (facts.exploitation == "public poc") {
    vuln->set_exploit_maturity(v1::EXPLOIT_MATURITY_POC);
  } else if (facts.exploitation == "none") {
    vuln->set_exploit_maturity(v1::EXPLOIT_MATURITY_NONE);
  } else {
    ADD_FAILURE() << "unknown exploitation '" << facts.exploitation << "'";
  }
  if (facts.automatable == "yes") {
    vuln->set_automatable(v1::AUTOMATABLE_YES);
  } else if (facts.automatable == "no") {
    vuln->set_automatable(v1::AUTOMATABLE_NO);
  } else {
    ADD_FAILURE() << "unknown automatable '" << facts.automatable << "'";
  }
  if (facts.technical_impact == "total") {
    vuln->set_technical_impact(v1::TECHNICAL_IMPACT_TOTAL);
  } else if (facts.technical_impact == "partial") {
    vuln->set_technical_impact(v1::TECHNICAL_IMPACT_PARTIAL);
  } else {
    ADD_FAILURE() << "unknown technical impact '" << facts.technical_impact
                  << "'";
  }
  v1::Package* package = finding.mutable_package();
  package->set_name("libgolden");
  package->set_ecosystem("deb");
  package->set_installed_version("1.0.0");
  package->add_fixed_versions("1.0.1");
  finding.mutable_fix()->set_availability(v1::FIX_AVAILABILITY_AVAILABLE);
  v1::Asset* asset = finding.mutable_asset();
  asset->set_id("golden-asset");
  asset->set_type(v1::ASSET_TYPE_APPLICATION);
  asset->set_environment(v1::ENVIRONMENT_PRODUCTION);
  asset->set_criticality(facts.criticality);
  asset->set_exposure(facts.exposure);
  *finding.mutable_first_seen() = ToProto(kFirstSeen);
  return finding;
}

// Criticalities that stand for an SSVC Mission and Well-Being value.
std::vector<v1::Criticality> CriticalitiesFor(absl::string_view mission) {
  if (mission == "low") return {v1::CRITICALITY_LOW};
  if (mission == "medium") return {v1::CRITICALITY_MEDIUM};
  if (mission == "high")
    return {v1::CRITICALITY_HIGH, v1::CRITICALITY_CRITICAL};
  ADD_FAILURE() << "unknown mission impact '" << mission << "'";
  return {};
}

std::string MissionOf(v1::Criticality criticality) {
  switch (criticality) {
    case v1::CRITICALITY_LOW:
      return "low";
    case v1::CRITICALITY_MEDIUM:
      return "medium";
    default:
      return "high";
  }
}

std::string Describe(const VulnFacts& facts) {
  return absl::StrCat("exploitation=", facts.exploitation,
                      facts.kev ? " (KEV)" : "",
                      " automatable=", facts.automatable,
                      " technical_impact=", facts.technical_impact,
                      " criticality=", v1::Criticality_Name(facts.criticality),
                      " exposure=", v1::Exposure_Name(facts.exposure));
}

// Checks the consequences docs/default-policy.md promises for a golden
// finding whose table outcomes are `ssvc` and `bod`.
void ExpectPromisedConsequences(const VulnFacts& facts, const Decision& d,
                                absl::string_view ssvc, absl::string_view bod) {
  SCOPED_TRACE(Describe(facts));
  const absl::Duration timeline = BodTimeline(bod);
  const std::string ssvc_priority = SsvcPriority(ssvc);
  const std::string bod_priority = PriorityWithin(timeline);
  const std::string priority = std::min(ssvc_priority, bod_priority);
  const bool exploited = facts.exploitation == "active";
  const bool internet = facts.exposure == v1::EXPOSURE_INTERNET;

  // The priority is the more urgent of SSVC and BOD 26-04.
  EXPECT_EQ(d.priority(), priority) << "ssvc=" << ssvc << " bod=" << bod;
  // Treatment: SSVC act, or exploited and exposed, mitigate first;
  // otherwise remediation is the default.
  if (ssvc == "act") {
    EXPECT_EQ(d.treatment(), v1::TREATMENT_MITIGATE_THEN_REMEDIATE);
    EXPECT_EQ(d.priority(), "P1");
    EXPECT_EQ(d.matched_rule(), "ssvc-act");
  } else if (exploited && internet) {
    EXPECT_EQ(d.treatment(), v1::TREATMENT_MITIGATE_THEN_REMEDIATE);
    EXPECT_EQ(d.matched_rule(), "exploited-and-exposed");
  } else {
    EXPECT_EQ(d.treatment(), v1::TREATMENT_REMEDIATE);
    EXPECT_EQ(d.match_kind(), v1::MATCH_KIND_DEFAULT);
  }

  // Deadlines from first_seen; the BOD 26-04 timeline is never exceeded.
  auto sla = PromisedSlas().find(priority);
  ASSERT_NE(sla, PromisedSlas().end());
  ASSERT_TRUE(d.has_remediate_by());
  EXPECT_EQ(ToTime(d.remediate_by()),
            kFirstSeen + sla->second.remediate_within);
  EXPECT_LE(ToTime(d.remediate_by()), kFirstSeen + timeline);
  if (bod_priority <= ssvc_priority) {
    EXPECT_EQ(ToTime(d.remediate_by()), kFirstSeen + timeline)
        << "BOD 26-04 '" << bod << "' decides the deadline";
  }
  if (d.treatment() == v1::TREATMENT_MITIGATE_THEN_REMEDIATE) {
    ASSERT_TRUE(d.has_mitigate_by());
    EXPECT_EQ(ToTime(d.mitigate_by()),
              kFirstSeen + sla->second.mitigate_within);
    EXPECT_LT(ToTime(d.mitigate_by()), ToTime(d.remediate_by()));
  } else {
    EXPECT_FALSE(d.has_mitigate_by());
  }

  // "3 days & forensic investigation" adds an investigation; nothing else
  // in these findings calls for one.
  const v1::Action* forensics = FindAction(d, "forensic-investigation");
  if (BodWantsForensics(bod)) {
    ASSERT_NE(forensics, nullptr) << "BOD 26-04 says '" << bod << "'";
    EXPECT_EQ(forensics->category(), v1::ACTION_CATEGORY_INVESTIGATION);
    EXPECT_FALSE(forensics->text().empty());
  } else {
    EXPECT_EQ(forensics, nullptr) << "BOD 26-04 says '" << bod << "'";
  }
  // The fix is always part of the plan.
  const v1::Action* upgrade = FindAction(d, "upgrade-package");
  ASSERT_NE(upgrade, nullptr);
  EXPECT_EQ(upgrade->category(), v1::ACTION_CATEGORY_REMEDIATION);
  EXPECT_TRUE(absl::StrContains(upgrade->text(), "libgolden 1.0.0 → 1.0.1"))
      << upgrade->text();
}

// ---------------------------------------------------------------------------
// Tests.

TEST(DefaultPolicyTest, CompilesWithoutErrorsOrWarnings) {
  ASSERT_DEFAULT_POLICY_LOADED();
  for (const v1::PolicyIssue& issue : DefaultPolicy().issues) {
    ADD_FAILURE() << issue.file() << ":" << issue.line() << ":"
                  << issue.column() << ": [" << issue.element() << "] "
                  << issue.path() << ": " << issue.message();
  }
  EXPECT_EQ(policy.ref().name(), "default");
  EXPECT_TRUE(absl::StartsWith(policy.ref().digest(), "sha256:"));
}

TEST(DefaultPolicyTest, EveryRuleHasIdDescriptionAndReason) {
  ASSERT_DEFAULT_POLICY_LOADED();
  std::set<std::string> ids;
  for (const v1::Rule& rule : policy.policy().rules()) {
    EXPECT_FALSE(rule.id().empty());
    EXPECT_TRUE(ids.insert(rule.id()).second) << "duplicate " << rule.id();
    EXPECT_FALSE(rule.description().empty()) << rule.id();
    EXPECT_FALSE(rule.reason().empty()) << rule.id();
    EXPECT_NE(rule.treatment(), v1::TREATMENT_UNSPECIFIED) << rule.id();
  }
  EXPECT_FALSE(policy.policy().default_().description().empty());
  EXPECT_FALSE(policy.policy().default_().reason().empty());
  EXPECT_EQ(policy.policy().default_().treatment(), v1::TREATMENT_REMEDIATE)
      << "remediation is the default";
}

TEST(DefaultPolicyTest, PrioritiesMatchDocumentedSlas) {
  ASSERT_DEFAULT_POLICY_LOADED();
  std::vector<std::string> names;
  for (const v1::Priority& priority : policy.policy().priorities()) {
    names.push_back(priority.name());
    auto sla = PromisedSlas().find(priority.name());
    ASSERT_NE(sla, PromisedSlas().end()) << priority.name();
    EXPECT_EQ(ToDuration(priority.mitigate_within()),
              sla->second.mitigate_within)
        << priority.name();
    EXPECT_EQ(ToDuration(priority.remediate_within()),
              sla->second.remediate_within)
        << priority.name();
    EXPECT_GT(ToDuration(priority.review_within()), absl::ZeroDuration())
        << priority.name() << ": mitigations and acceptances need a review";
  }
  EXPECT_EQ(names, (std::vector<std::string>{"P0", "P1", "P2", "P3", "P4"}));
}

TEST(DefaultPolicyTest, TablesHaveEveryCsvRowInOrder) {
  ASSERT_DEFAULT_POLICY_LOADED();
  const std::map<std::string, std::string> files = {{"ssvc", kCoordinatorCsv},
                                                    {"bod_26_04", kBodCsv}};
  for (const auto& [name, file] : files) {
    absl::StatusOr<Csv> csv = ReadCsv(file);
    ASSERT_TRUE(csv.ok()) << csv.status();
    const v1::DecisionTable* table = nullptr;
    for (const v1::DecisionTable& t : policy.policy().tables()) {
      if (t.name() == name) table = &t;
    }
    ASSERT_NE(table, nullptr) << name;
    // The default only guards against a let producing a value the CSV does
    // not name; the row checks below make sure it is never what decides.
    std::vector<TableRow> rows = Rows(*csv);
    ASSERT_EQ(table->rows_size(), static_cast<int>(rows.size())) << name;
    ASSERT_EQ(table->inputs_size(), static_cast<int>(rows[0].values.size()));
    for (size_t i = 0; i < rows.size(); ++i) {
      const v1::TableRow& policy_row = table->rows(static_cast<int>(i));
      EXPECT_EQ(rows[i].row, static_cast<int>(i)) << file;
      EXPECT_EQ(std::vector<std::string>(policy_row.when().begin(),
                                         policy_row.when().end()),
                rows[i].values)
          << name << " row " << i;
      EXPECT_EQ(policy_row.then(), rows[i].outcome) << name << " row " << i;
    }
  }
}

TEST(DefaultPolicyTest, SsvcCoordinatorRowsMatchCisaTable) {
  ASSERT_DEFAULT_POLICY_LOADED();
  absl::StatusOr<Csv> coordinator = ReadCsv(kCoordinatorCsv);
  ASSERT_TRUE(coordinator.ok()) << coordinator.status();
  absl::StatusOr<Csv> bod = ReadCsv(kBodCsv);
  ASSERT_TRUE(bod.ok()) << bod.status();
  ASSERT_EQ(coordinator->rows.size(), 36u);
  const int exploitation = coordinator->Column("Exploitation") - 1;
  const int automatable = coordinator->Column("Automatable") - 1;
  const int impact = coordinator->Column("Technical Impact") - 1;
  const int mission = coordinator->Column("Mission and Well-Being") - 1;
  const std::vector<TableRow> bod_rows = Rows(*bod);

  int checked = 0;
  for (const TableRow& row : Rows(*coordinator)) {
    for (v1::Exposure exposure :
         {v1::EXPOSURE_INTERNAL, v1::EXPOSURE_INTERNET}) {
      for (v1::Criticality criticality :
           CriticalitiesFor(row.values[mission])) {
        // KEV listing alone must count as active exploitation.
        const bool active = row.values[exploitation] == "active";
        for (bool kev : active ? std::vector<bool>{false, true}
                               : std::vector<bool>{false}) {
          VulnFacts facts;
          facts.exploitation = row.values[exploitation];
          facts.kev = kev;
          facts.automatable = row.values[automatable];
          facts.technical_impact = row.values[impact];
          facts.criticality = criticality;
          facts.exposure = exposure;
          SCOPED_TRACE(
              absl::StrCat("coordinator row ", row.row, ": ", Describe(facts)));
          absl::StatusOr<Decision> d = Decide(policy, GoldenFinding(facts));
          ASSERT_TRUE(d.ok()) << d.status();
          const v1::TableOutcome* ssvc = FindTable(*d, "ssvc");
          ASSERT_NE(ssvc, nullptr);
          EXPECT_EQ(ssvc->outcome(), row.outcome);
          EXPECT_EQ(ssvc->row(), row.row);
          // The BOD 26-04 outcome these facts give, from its own CSV.
          const TableRow* bod_row = Lookup(
              bod_rows, {active ? "yes" : "no",
                         exposure == v1::EXPOSURE_INTERNET ? "yes" : "no",
                         facts.automatable, facts.technical_impact});
          ASSERT_NE(bod_row, nullptr);
          EXPECT_EQ(TableOutcome(*d, "bod_26_04"), bod_row->outcome);
          ExpectPromisedConsequences(facts, *d, row.outcome, bod_row->outcome);
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 72);
}

TEST(DefaultPolicyTest, BodRemediationTimelinesMatchCisaTable) {
  ASSERT_DEFAULT_POLICY_LOADED();
  absl::StatusOr<Csv> bod = ReadCsv(kBodCsv);
  ASSERT_TRUE(bod.ok()) << bod.status();
  absl::StatusOr<Csv> coordinator = ReadCsv(kCoordinatorCsv);
  ASSERT_TRUE(coordinator.ok()) << coordinator.status();
  ASSERT_EQ(bod->rows.size(), 16u);
  const int in_kev = bod->Column("In KEV") - 1;
  const int exposed = bod->Column("Publicly Exposed") - 1;
  const int automatable = bod->Column("Automatable") - 1;
  const int impact = bod->Column("Technical Impact") - 1;
  const std::vector<TableRow> coordinator_rows = Rows(*coordinator);

  int checked = 0;
  for (const TableRow& row : Rows(*bod)) {
    const bool kev = row.values[in_kev] == "yes";
    const std::vector<v1::Exposure> exposures =
        row.values[exposed] == "yes"
            ? std::vector<v1::Exposure>{v1::EXPOSURE_INTERNET}
            : std::vector<v1::Exposure>{v1::EXPOSURE_ISOLATED,
                                        v1::EXPOSURE_INTERNAL,
                                        v1::EXPOSURE_CONTROLLED};
    for (v1::Exposure exposure : exposures) {
      for (v1::Criticality criticality :
           {v1::CRITICALITY_LOW, v1::CRITICALITY_MEDIUM,
            v1::CRITICALITY_HIGH}) {
        VulnFacts facts;
        facts.exploitation = kev ? "active" : "none";
        facts.kev = kev;
        facts.automatable = row.values[automatable];
        facts.technical_impact = row.values[impact];
        facts.criticality = criticality;
        facts.exposure = exposure;
        SCOPED_TRACE(
            absl::StrCat("BOD 26-04 row ", row.row, ": ", Describe(facts)));
        absl::StatusOr<Decision> d = Decide(policy, GoldenFinding(facts));
        ASSERT_TRUE(d.ok()) << d.status();
        const v1::TableOutcome* outcome = FindTable(*d, "bod_26_04");
        ASSERT_NE(outcome, nullptr);
        EXPECT_EQ(outcome->outcome(), row.outcome);
        EXPECT_EQ(outcome->row(), row.row);
        const TableRow* ssvc_row = Lookup(
            coordinator_rows, {facts.exploitation, facts.automatable,
                               facts.technical_impact, MissionOf(criticality)});
        ASSERT_NE(ssvc_row, nullptr);
        EXPECT_EQ(TableOutcome(*d, "ssvc"), ssvc_row->outcome);
        ExpectPromisedConsequences(facts, *d, ssvc_row->outcome, row.outcome);
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 8 * 1 * 3 + 8 * 3 * 3);
}

// Unknown inputs take the conservative value: the decision tables see the
// same values as for the explicit worst case.
TEST(DefaultPolicyTest, UnknownInputsTakeTheConservativeValue) {
  ASSERT_DEFAULT_POLICY_LOADED();
  absl::StatusOr<Csv> coordinator = ReadCsv(kCoordinatorCsv);
  ASSERT_TRUE(coordinator.ok()) << coordinator.status();
  struct Variant {
    const char* name;
    void (*unknown)(Finding*);
    void (*conservative)(Finding*);
  };
  const Variant variants[] = {
      {"exposure", [](Finding* f) { f->mutable_asset()->clear_exposure(); },
       [](Finding* f) {
         f->mutable_asset()->set_exposure(v1::EXPOSURE_INTERNET);
       }},
      {"criticality",
       [](Finding* f) { f->mutable_asset()->clear_criticality(); },
       [](Finding* f) {
         f->mutable_asset()->set_criticality(v1::CRITICALITY_HIGH);
       }},
      {"automatable without CVSS vector",
       [](Finding* f) { f->mutable_vulnerability()->clear_automatable(); },
       [](Finding* f) {
         f->mutable_vulnerability()->set_automatable(v1::AUTOMATABLE_YES);
       }},
      {"technical impact without CVSS vector",
       [](Finding* f) { f->mutable_vulnerability()->clear_technical_impact(); },
       [](Finding* f) {
         f->mutable_vulnerability()->set_technical_impact(
             v1::TECHNICAL_IMPACT_TOTAL);
       }},
  };
  for (const TableRow& row : Rows(*coordinator)) {
    VulnFacts facts;
    facts.exploitation = row.values[0];
    facts.automatable = row.values[1];
    facts.technical_impact = row.values[2];
    facts.criticality = CriticalitiesFor(row.values[3]).front();
    for (const Variant& variant : variants) {
      SCOPED_TRACE(absl::StrCat("row ", row.row, ", unknown ", variant.name));
      Finding unknown = GoldenFinding(facts);
      variant.unknown(&unknown);
      Finding conservative = GoldenFinding(facts);
      variant.conservative(&conservative);
      absl::StatusOr<Decision> a = Decide(policy, unknown);
      absl::StatusOr<Decision> b = Decide(policy, conservative);
      ASSERT_TRUE(a.ok()) << a.status();
      ASSERT_TRUE(b.ok()) << b.status();
      EXPECT_EQ(TableOutcome(*a, "ssvc"), TableOutcome(*b, "ssvc"));
      EXPECT_EQ(TableOutcome(*a, "bod_26_04"), TableOutcome(*b, "bod_26_04"));
      EXPECT_EQ(a->treatment(), b->treatment());
      EXPECT_EQ(a->priority(), b->priority());
    }
  }
}

// Without explicit SSVC facts, the CVSS vector and EPSS decide them.
TEST(DefaultPolicyTest, CvssVectorAndEpssStandInForMissingSsvcFacts) {
  ASSERT_DEFAULT_POLICY_LOADED();
  struct Case {
    const char* vector;
    double epss;  // < 0: unset.
    // Explicit facts the vector/EPSS must be read as.
    v1::Automatable automatable;
    v1::TechnicalImpact impact;
    v1::ExploitMaturity maturity;
  };
  const Case cases[] = {
      {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 0.5, v1::AUTOMATABLE_YES,
       v1::TECHNICAL_IMPACT_TOTAL, v1::EXPLOIT_MATURITY_POC},
      {"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 0.01, v1::AUTOMATABLE_NO,
       v1::TECHNICAL_IMPACT_TOTAL, v1::EXPLOIT_MATURITY_NONE},
      {"CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N", -1, v1::AUTOMATABLE_NO,
       v1::TECHNICAL_IMPACT_PARTIAL, v1::EXPLOIT_MATURITY_NONE},
      {"CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:H/A:N", -1, v1::AUTOMATABLE_YES,
       v1::TECHNICAL_IMPACT_PARTIAL, v1::EXPLOIT_MATURITY_NONE},
      {"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 0.2,
       v1::AUTOMATABLE_YES, v1::TECHNICAL_IMPACT_TOTAL,
       v1::EXPLOIT_MATURITY_POC},
  };
  for (const Case& c : cases) {
    for (v1::Criticality criticality :
         {v1::CRITICALITY_LOW, v1::CRITICALITY_MEDIUM, v1::CRITICALITY_HIGH}) {
      SCOPED_TRACE(absl::StrCat(c.vector, " epss=", c.epss, " ",
                                v1::Criticality_Name(criticality)));
      VulnFacts facts{"none",    false,       "no",
                      "partial", criticality, v1::EXPOSURE_INTERNET};
      Finding derived = GoldenFinding(facts);
      v1::Vulnerability* vuln = derived.mutable_vulnerability();
      vuln->clear_automatable();
      vuln->clear_technical_impact();
      vuln->clear_exploit_maturity();
      vuln->mutable_cvss()->set_vector(c.vector);
      if (c.epss >= 0) vuln->mutable_epss()->set_score(c.epss);
      Finding explicit_facts = derived;
      vuln = explicit_facts.mutable_vulnerability();
      vuln->set_automatable(c.automatable);
      vuln->set_technical_impact(c.impact);
      vuln->set_exploit_maturity(c.maturity);
      absl::StatusOr<Decision> a = Decide(policy, derived);
      absl::StatusOr<Decision> b = Decide(policy, explicit_facts);
      ASSERT_TRUE(a.ok()) << a.status();
      ASSERT_TRUE(b.ok()) << b.status();
      const v1::TableOutcome* ta = FindTable(*a, "ssvc");
      const v1::TableOutcome* tb = FindTable(*b, "ssvc");
      ASSERT_NE(ta, nullptr);
      ASSERT_NE(tb, nullptr);
      EXPECT_EQ(ta->row(), tb->row());
      EXPECT_EQ(TableOutcome(*a, "bod_26_04"), TableOutcome(*b, "bod_26_04"));
    }
  }
}

// ---------------------------------------------------------------------------
// Examples.

constexpr char kAsOfExamples[] = "2026-11-27T12:00:00Z";

struct PromisedDecision {
  std::string id;
  std::string kind;
  std::string treatment;
  std::string priority;
  std::string decided_by;  // Rule id, "default" or an exception id.
  std::string exception;   // Exception named by the decision, or "".
  bool exception_applied = false;
};

std::string Unquote(absl::string_view cell) {
  cell = absl::StripAsciiWhitespace(cell);
  cell = absl::StripPrefix(cell, "`");
  const size_t end = cell.find('`');
  return std::string(end == absl::string_view::npos ? cell
                                                    : cell.substr(0, end));
}

// Reads the table of examples/README.md.
absl::StatusOr<std::vector<PromisedDecision>> ReadPromises() {
  absl::StatusOr<std::string> readme =
      ReadFile(SourcePath("examples/README.md"));
  if (!readme.ok()) return readme.status();
  std::vector<PromisedDecision> promises;
  for (absl::string_view line : absl::StrSplit(*readme, '\n')) {
    if (!absl::StartsWith(line, "| `ex-")) continue;
    std::vector<absl::string_view> cells = absl::StrSplit(line, '|');
    // "", finding, kind, treatment, priority, decided by, exception, text, "".
    if (cells.size() < 9) {
      return absl::InvalidArgumentError(absl::StrCat("bad row: ", line));
    }
    PromisedDecision p;
    p.id = Unquote(cells[1]);
    p.kind = Unquote(cells[2]);
    p.treatment = Unquote(cells[3]);
    p.priority = Unquote(cells[4]);
    p.decided_by = Unquote(cells[5]);
    absl::string_view exception = absl::StripAsciiWhitespace(cells[6]);
    if (absl::StartsWith(exception, "`")) {
      p.exception = Unquote(exception);
      p.exception_applied = absl::EndsWith(exception, "applied");
      if (!p.exception_applied && !absl::EndsWith(exception, "expired")) {
        return absl::InvalidArgumentError(absl::StrCat(
            p.id, ": exception column must end in applied or expired"));
      }
    }
    promises.push_back(std::move(p));
  }
  return promises;
}

absl::StatusOr<std::vector<Finding>> ReadExamples() {
  absl::StatusOr<std::string> text =
      ReadFile(SourcePath("examples/findings.jsonl"));
  if (!text.ok()) return text.status();
  std::vector<Finding> findings;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    ++line_number;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    Finding finding;
    auto status = google::protobuf::util::JsonStringToMessage(std::string(line),
                                                              &finding);
    if (!status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "examples/findings.jsonl:", line_number, ": ", status.ToString()));
    }
    findings.push_back(std::move(finding));
  }
  return findings;
}

TEST(DefaultPolicyTest, ExamplesGetTheDecisionsTheReadmePromises) {
  ASSERT_DEFAULT_POLICY_LOADED();
  absl::StatusOr<std::vector<Finding>> findings = ReadExamples();
  ASSERT_TRUE(findings.ok()) << findings.status();
  absl::StatusOr<std::vector<PromisedDecision>> promises = ReadPromises();
  ASSERT_TRUE(promises.ok()) << promises.status();
  ASSERT_GE(findings->size(), 12u);

  std::map<std::string, const Finding*> by_id;
  for (const Finding& f : *findings) {
    EXPECT_TRUE(by_id.emplace(f.id(), &f).second) << "duplicate " << f.id();
  }
  std::set<std::string> promised;
  for (const PromisedDecision& p : *promises) {
    SCOPED_TRACE(p.id);
    promised.insert(p.id);
    auto it = by_id.find(p.id);
    ASSERT_NE(it, by_id.end()) << "README names a finding that is not in "
                                  "findings.jsonl";
    const Finding& finding = *it->second;
    EXPECT_EQ(v1::FindingKind_Name(finding.kind()),
              absl::StrCat("FINDING_KIND_", p.kind));
    absl::StatusOr<Decision> d =
        Decide(policy, finding, ParseRfc3339(kAsOfExamples));
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(v1::Treatment_Name(d->treatment()),
              absl::StrCat("TREATMENT_", p.treatment));
    EXPECT_EQ(d->priority(), p.priority);
    if (absl::StartsWith(p.decided_by, "EXC-")) {
      EXPECT_EQ(d->match_kind(), v1::MATCH_KIND_EXCEPTION);
      EXPECT_EQ(d->exception().id(), p.decided_by);
      EXPECT_TRUE(d->exception().applied());
    } else {
      EXPECT_EQ(d->matched_rule(), p.decided_by);
      EXPECT_EQ(d->match_kind(), p.decided_by == "default"
                                     ? v1::MATCH_KIND_DEFAULT
                                     : v1::MATCH_KIND_RULE);
    }
    if (p.exception.empty()) {
      EXPECT_FALSE(d->has_exception()) << d->exception().id();
    } else {
      EXPECT_EQ(d->exception().id(), p.exception);
      EXPECT_EQ(d->exception().applied(), p.exception_applied);
      EXPECT_FALSE(d->reasons().empty());
    }
  }
  for (const auto& [id, finding] : by_id) {
    EXPECT_TRUE(promised.count(id)) << id << " is missing from the README";
  }
}

TEST(DefaultPolicyTest, ExamplesCoverEveryTreatmentAndKind) {
  ASSERT_DEFAULT_POLICY_LOADED();
  absl::StatusOr<std::vector<Finding>> findings = ReadExamples();
  ASSERT_TRUE(findings.ok()) << findings.status();
  std::set<int> treatments;
  std::set<int> kinds;
  for (const Finding& finding : *findings) {
    absl::StatusOr<Decision> d =
        Decide(policy, finding, ParseRfc3339(kAsOfExamples));
    ASSERT_TRUE(d.ok()) << finding.id() << ": " << d.status();
    treatments.insert(d->treatment());
    kinds.insert(finding.kind());
  }
  for (int t = v1::Treatment_MIN + 1; t <= v1::Treatment_MAX; ++t) {
    EXPECT_TRUE(treatments.count(t))
        << "no example is decided " << v1::Treatment_Name(t);
  }
  for (int k = v1::FindingKind_MIN + 1; k <= v1::FindingKind_MAX; ++k) {
    EXPECT_TRUE(kinds.count(k)) << "no example of " << v1::FindingKind_Name(k);
  }
}

// What every decision of the default policy carries, over the examples.
TEST(DefaultPolicyTest, ExampleDecisionsCarryDeadlinesReasonsAndActions) {
  ASSERT_DEFAULT_POLICY_LOADED();
  absl::StatusOr<std::vector<Finding>> findings = ReadExamples();
  ASSERT_TRUE(findings.ok()) << findings.status();
  const absl::Time as_of = ParseRfc3339(kAsOfExamples);
  for (const Finding& finding : *findings) {
    SCOPED_TRACE(finding.id());
    absl::StatusOr<Decision> d = Decide(policy, finding, as_of);
    ASSERT_TRUE(d.ok()) << d.status();
    switch (d->treatment()) {
      case v1::TREATMENT_REMEDIATE:
        EXPECT_TRUE(d->has_remediate_by());
        break;
      case v1::TREATMENT_MITIGATE:
        EXPECT_TRUE(d->has_mitigate_by());
        ASSERT_TRUE(d->has_review_by()) << "a mitigation is temporary";
        EXPECT_GT(ToTime(d->review_by()), as_of);
        break;
      case v1::TREATMENT_MITIGATE_THEN_REMEDIATE:
        ASSERT_TRUE(d->has_mitigate_by());
        ASSERT_TRUE(d->has_remediate_by());
        EXPECT_LT(ToTime(d->mitigate_by()), ToTime(d->remediate_by()));
        break;
      case v1::TREATMENT_ACCEPT:
        ASSERT_TRUE(d->has_review_by()) << "an acceptance expires";
        EXPECT_GT(ToTime(d->review_by()), as_of);
        break;
      default:
        ADD_FAILURE() << "treatment " << d->treatment();
    }
    ASSERT_FALSE(d->reasons().empty());
    for (const std::string& reason : d->reasons()) {
      // A placeholder that failed renders as "?"; none of the texts of the
      // default policy contains one otherwise.
      EXPECT_FALSE(absl::StrContains(reason, "?")) << reason;
      EXPECT_FALSE(absl::StrContains(reason, "{{")) << reason;
    }
    if (d->treatment() != v1::TREATMENT_ACCEPT) {
      EXPECT_FALSE(d->actions().empty());
    }
    for (const v1::Action& action : d->actions()) {
      EXPECT_NE(action.category(), v1::ACTION_CATEGORY_UNSPECIFIED)
          << action.id();
      EXPECT_FALSE(action.text().empty()) << action.id();
      EXPECT_FALSE(absl::StrContains(action.text(), "?")) << action.text();
      EXPECT_FALSE(absl::StrContains(action.text(), "{{")) << action.text();
    }
    const bool mitigates =
        d->treatment() == v1::TREATMENT_MITIGATE ||
        d->treatment() == v1::TREATMENT_MITIGATE_THEN_REMEDIATE;
    const bool has_mitigation = std::any_of(
        d->actions().begin(), d->actions().end(), [](const v1::Action& a) {
          return a.category() == v1::ACTION_CATEGORY_MITIGATION ||
                 a.category() == v1::ACTION_CATEGORY_MONITORING;
        });
    if (mitigates) {
      EXPECT_TRUE(has_mitigation);
    }
  }
}

TEST(DefaultPolicyTest, UpgradeActionNamesPackageAndFixedVersion) {
  ASSERT_DEFAULT_POLICY_LOADED();
  absl::StatusOr<std::vector<Finding>> findings = ReadExamples();
  ASSERT_TRUE(findings.ok()) << findings.status();
  int checked = 0;
  for (const Finding& finding : *findings) {
    absl::StatusOr<Decision> d =
        Decide(policy, finding, ParseRfc3339(kAsOfExamples));
    ASSERT_TRUE(d.ok()) << d.status();
    const v1::Action* upgrade = FindAction(*d, "upgrade-package");
    if (upgrade == nullptr) continue;
    ASSERT_GT(finding.package().fixed_versions_size(), 0) << finding.id();
    EXPECT_EQ(upgrade->text(),
              absl::StrCat("Upgrade ", finding.package().name(), " ",
                           finding.package().installed_version(), " → ",
                           finding.package().fixed_versions(0), " on ",
                           finding.asset().id()));
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

// The engine decides only validated findings (the server and treatctl
// validate first), so the examples must pass validation.
TEST(DefaultPolicyTest, ExamplesAreValidFindings) {
  absl::StatusOr<std::vector<Finding>> findings = ReadExamples();
  ASSERT_TRUE(findings.ok()) << findings.status();
  for (const Finding& finding : *findings) {
    EXPECT_TRUE(ValidateFinding(finding, FindingLimits(), finding.id()).ok())
        << ValidateFinding(finding, FindingLimits(), finding.id());
  }
}

// ---------------------------------------------------------------------------
// Policy test cases (the same file `treatctl policy test` runs).

TEST(DefaultPolicyTest, DefaultCasesPass) {
  ASSERT_DEFAULT_POLICY_LOADED();
  const std::string path =
      SourcePath("tests/testdata/policy_tests/default_cases.yaml");
  absl::StatusOr<std::string> yaml = ReadFile(path);
  ASSERT_TRUE(yaml.ok()) << yaml.status();
  v1::PolicyTestSuite suite;
  std::vector<v1::PolicyIssue> issues;
  absl::Status status = YamlToMessage(*yaml, path, &suite, nullptr, &issues);
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_GE(suite.cases_size(), 20);
  for (const v1::PolicyTestCase& c : suite.cases()) {
    SCOPED_TRACE(c.name());
    ASSERT_TRUE(ValidateFinding(c.finding(), FindingLimits()).ok())
        << ValidateFinding(c.finding(), FindingLimits());
    const absl::Time as_of = ToTime(c.has_as_of() ? c.as_of() : suite.as_of());
    absl::StatusOr<Decision> d = Decide(policy, c.finding(), as_of);
    ASSERT_TRUE(d.ok()) << d.status();
    const v1::PolicyTestExpectation& e = c.expect();
    if (e.treatment() != v1::TREATMENT_UNSPECIFIED) {
      EXPECT_EQ(v1::Treatment_Name(d->treatment()),
                v1::Treatment_Name(e.treatment()));
    }
    if (!e.priority().empty()) {
      EXPECT_EQ(d->priority(), e.priority());
    }
    if (!e.matched_rule().empty()) {
      EXPECT_EQ(d->matched_rule(), e.matched_rule());
    }
    if (!e.exception().empty()) {
      EXPECT_EQ(d->exception().id(), e.exception());
      EXPECT_TRUE(d->exception().applied());
    }
    if (e.actions_size() > 0) {
      std::vector<std::string> actual;
      for (const v1::Action& a : d->actions()) actual.push_back(a.id());
      EXPECT_EQ(absl::StrJoin(actual, ", "), absl::StrJoin(e.actions(), ", "));
    }
    for (const auto& [table, outcome] : e.tables()) {
      EXPECT_EQ(TableOutcome(*d, table), outcome) << table;
    }
    if (e.has_remediate_by()) {
      EXPECT_EQ(ToTime(d->remediate_by()), ToTime(e.remediate_by()));
    }
    if (e.has_mitigate_by()) {
      EXPECT_EQ(ToTime(d->mitigate_by()), ToTime(e.mitigate_by()));
    }
    if (e.has_review_by()) {
      EXPECT_EQ(ToTime(d->review_by()), ToTime(e.review_by()));
    }
    if (e.match_kind() != v1::MATCH_KIND_UNSPECIFIED) {
      EXPECT_EQ(v1::MatchKind_Name(d->match_kind()),
                v1::MatchKind_Name(e.match_kind()));
    }
  }
}

}  // namespace
}  // namespace treatd
