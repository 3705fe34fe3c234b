// The revisit sweep on a real ledger, SQLite file and throwaway PostgreSQL
// (tests/support/postgres_server.h) alike: review_due and overdue notices
// are written once per finding, episode and date — also when a second
// "replica" (a second Ledger and sweep on the same database) takes the
// lease over at the same moment — and feed changes made while treatd was
// down are found after a restart and swept once.
#include "server/ledger/revisit_sweep.h"

#include <unistd.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "common/intel/intel_snapshot.h"
#include "common/intel/kev_feed.h"
#include "common/ledger/ledger.h"
#include "common/ledger_wire/ledger_wire.h"
#include "common/policy/engine/compiled_policy.h"
#include "common/policy/pipeline/decision_pipeline.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/policy_store.h"
#include "tests/server/test_policies.h"
#include "tests/support/postgres_server.h"

namespace treatd {
namespace {

using ::testing::HasSubstr;

constexpr const char* kPolicy = testing::kLedgerPolicy;

const absl::Time kStart = absl::FromUnixSeconds(1798761600);  // 2027-01-01

// A KEV catalog of `version` listing `cves`.
std::string Kev(const std::string& version,
                const std::vector<std::string>& cves) {
  std::string entries;
  for (const std::string& cve : cves) {
    if (!entries.empty()) entries += ",";
    absl::StrAppend(&entries, R"({"cveID": ")", cve,
                    R"(", "dateAdded": "2026-12-01", "dueDate": "2026-12-22",
                       "knownRansomwareCampaignUse": "Known",
                       "requiredAction": "Apply updates.",
                       "vendorProject": "V", "product": "P",
                       "vulnerabilityName": "N"})");
  }
  return absl::StrCat(R"({"title": "CISA KEV", "catalogVersion": ")", version,
                      R"(", "dateReleased": "2026-12-31T10:00:00.000Z",
                          "vulnerabilities": [)",
                      entries, "]}");
}

v1::Finding Vulnerability(const std::string& id, const std::string& cve,
                          bool low) {
  v1::Finding finding;
  finding.set_id(id);
  finding.set_kind(v1::FINDING_KIND_VULNERABILITY);
  finding.mutable_asset()->set_id(absl::StrCat("host-", id));
  finding.mutable_asset()->set_owner("team-a");
  if (low) finding.mutable_asset()->set_criticality(v1::CRITICALITY_LOW);
  finding.mutable_vulnerability()->set_cve_id(cve);
  finding.mutable_package()->set_name("openssl");
  return finding;
}

class RevisitSweepTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    now_ = kStart;
    if (GetParam() == "postgresql") {
      std::string why;
      pg_ = testing::PostgresServer::Start(&why);
      if (pg_ == nullptr && why.find("not found") != std::string::npos) {
        GTEST_SKIP() << why;
      }
      ASSERT_NE(pg_, nullptr) << why;
      const std::string conninfo = pg_->CreateDatabase("sweep");
      ASSERT_FALSE(conninfo.empty());
      url_ = absl::StrCat("postgresql:", conninfo);
    } else {
      // The parameterized test's name holds a '/'.
      url_ = absl::StrCat(
          ::testing::TempDir(), "/revisit_sweep_test_", getpid(), "_",
          absl::StrReplaceAll(
              ::testing::UnitTest::GetInstance()->current_test_info()->name(),
              {{"/", "_"}}),
          ".db");
      for (const char* suffix : {"", "-wal", "-shm"}) {
        std::remove(absl::StrCat(url_, suffix).c_str());
      }
    }
  }

  std::unique_ptr<ledger::Ledger> Open() {
    ledger::LedgerOptions options;
    options.url = url_;
    options.clock = [this] { return now_; };
    auto opened = ledger::Ledger::Open(std::move(options));
    EXPECT_TRUE(opened.ok()) << opened.status();
    return opened.ok() ? *std::move(opened) : nullptr;
  }

  // Activates kPolicy in `store` with a KEV feed (none when `kev` is "").
  void Activate(PolicyStore* store, const std::string& kev) {
    auto policy = CompiledPolicy::Compile(kPolicy, "sweep-test.yaml");
    ASSERT_TRUE(policy.ok()) << policy.status();
    std::shared_ptr<const intel::IntelSnapshot> feeds;
    if (!kev.empty()) {
      auto feed = intel::KevFeed::Parse(kev, "kev.json");
      ASSERT_TRUE(feed.ok()) << feed.status();
      auto snapshot = intel::IntelSnapshot::Create(*feed, nullptr);
      ASSERT_TRUE(snapshot.ok()) << snapshot.status();
      feeds = *snapshot;
    }
    auto pipeline = DecisionPipeline::Create(*policy, feeds, IntelSettings());
    ASSERT_TRUE(pipeline.ok()) << pipeline.status();
    auto active = std::make_shared<ActivePolicy>();
    active->policy = *policy;
    active->source = "sweep-test.yaml";
    active->loaded_at = now_;
    active->pipeline = *pipeline;
    store->SetSnapshot(std::move(active));
  }

  std::unique_ptr<RevisitSweep> Sweep(ledger::Ledger* ledger,
                                      const PolicyStore* store,
                                      const std::string& holder,
                                      int max_review_due = 1000) {
    SweepOptions options;
    options.holder = holder;
    options.max_review_due = max_review_due;
    options.clock = [this] { return now_; };
    return std::make_unique<RevisitSweep>(ledger, store, options);
  }

  // Decides `finding` at now_ under `store`'s policy and records it.
  // Returns its identity key.
  std::string Record(ledger::Ledger* ledger, const PolicyStore& store,
                     const v1::Finding& finding) {
    EvalOptions options;
    options.as_of = now_;
    v1::Decision decision;
    EXPECT_TRUE(
        store.Get()->pipeline->Decide(finding, options, &decision).ok());
    auto event = ledger::DecisionEvent(finding, decision, /*snapshot=*/true,
                                       /*sweep=*/false);
    EXPECT_TRUE(event.ok()) << event.status();
    const std::string key = event->finding_key;
    std::vector<ledger::Event> events;
    events.push_back(*std::move(event));
    auto appended = ledger->Append(std::move(events));
    EXPECT_TRUE(appended[0].ok()) << appended[0].status();
    return key;
  }

  void Outcome(ledger::Ledger* ledger, const std::string& key,
               ledger::EventKind kind, std::optional<absl::Time> until) {
    ledger::Event event;
    event.kind = kind;
    event.finding_key = key;
    event.occurred_at = now_;
    event.until = until;
    event.actor = "alice";
    std::vector<ledger::Event> events;
    events.push_back(std::move(event));
    auto appended = ledger->Append(std::move(events));
    ASSERT_TRUE(appended[0].ok()) << appended[0].status();
  }

  // How many events of `kind` each finding has.
  std::map<std::string, int> Count(const ledger::Ledger& ledger,
                                   ledger::EventKind kind) {
    std::map<std::string, int> counts;
    auto events = ledger.ListEvents(0, 10000);
    EXPECT_TRUE(events.ok()) << events.status();
    for (const ledger::Event& event : *events) {
      if (event.kind == kind) ++counts[event.finding_key];
    }
    return counts;
  }

  SweepReport Run(RevisitSweep& sweep) {
    absl::StatusOr<SweepReport> report = sweep.RunOnce();
    EXPECT_TRUE(report.ok()) << report.status();
    return report.ok() ? *report : SweepReport();
  }

  std::unique_ptr<testing::PostgresServer> pg_;
  std::string url_;
  absl::Time now_;
};

TEST_P(RevisitSweepTest, NoticesAreWrittenOncePerFindingAndDateAcrossReplicas) {
  PolicyStore store;
  Activate(&store, "");
  // Two replicas: each its own Ledger (connections, committer) and sweep on
  // the one database.
  std::unique_ptr<ledger::Ledger> ledger_a = Open();
  std::unique_ptr<ledger::Ledger> ledger_b = Open();
  ASSERT_NE(ledger_a, nullptr);
  ASSERT_NE(ledger_b, nullptr);
  auto sweep_a = Sweep(ledger_a.get(), &store, "replica-a");
  auto sweep_b = Sweep(ledger_b.get(), &store, "replica-b");

  // Mitigated (review in 7 days; a MITIGATE decision sets no remediation
  // deadline); accepted until day 2; decided 40 days after it was first seen
  // (overdue already); remediation due in 30 days.
  const std::string mitigated = Record(
      ledger_a.get(), store, Vulnerability("low", "CVE-2027-0001", true));
  const std::string accepted = Record(
      ledger_a.get(), store, Vulnerability("acc", "CVE-2027-0002", true));
  v1::Finding old_one = Vulnerability("old", "CVE-2027-0003", false);
  old_one.mutable_first_seen()->set_seconds(
      absl::ToUnixSeconds(kStart - absl::Hours(24 * 40)));
  const std::string old_key = Record(ledger_a.get(), store, old_one);
  const std::string fresh = Record(
      ledger_a.get(), store, Vulnerability("new", "CVE-2027-0004", false));
  now_ += absl::Hours(1);
  Outcome(ledger_a.get(), mitigated, ledger::EventKind::kMitigated,
          std::nullopt);
  Outcome(ledger_a.get(), accepted, ledger::EventKind::kAccepted,
          kStart + absl::Hours(48));

  // Hour 1: only the old finding is overdue.
  SweepReport first = Run(*sweep_a);
  EXPECT_TRUE(first.leader);
  EXPECT_EQ(first.overdue_notices, 1);
  EXPECT_EQ(first.review_due_notices, 0);
  EXPECT_FALSE(Run(*sweep_b).leader);  // a holds the lease

  // Day 8: the acceptance ended (day 2) and the mitigation's review (day 7)
  // came: a notice and a sweep decision each.
  now_ = kStart + absl::Hours(24 * 8);
  SweepReport day8 = Run(*sweep_a);
  EXPECT_EQ(day8.review_due_notices, 2);
  EXPECT_EQ(day8.review_due, 2);
  EXPECT_EQ(day8.overdue_notices, 0);
  // The same run again, and replica b taking the lease over at the same
  // moment: nothing new. The acceptance is still past its end (a decision
  // does not move it), but its notice and re-decision are recorded already.
  EXPECT_EQ(Run(*sweep_a).review_due_notices, 0);
  ASSERT_TRUE(ledger_a->ReleaseLease("sweep", "replica-a").ok());
  SweepReport handed_over = Run(*sweep_b);
  EXPECT_TRUE(handed_over.leader);
  EXPECT_EQ(handed_over.review_due_notices, 0);
  EXPECT_EQ(handed_over.review_due, 0);
  EXPECT_EQ(handed_over.overdue_notices, 0);

  // Day 31: the fresh finding passed its 30-day deadline; the mitigation's
  // next review (day 15) came.
  now_ = kStart + absl::Hours(24 * 31);
  SweepReport day31 = Run(*sweep_b);
  EXPECT_EQ(day31.overdue_notices, 1);
  EXPECT_EQ(day31.review_due_notices, 1);
  // A finding decided now with a deadline long past (first seen 60 days
  // ago) is caught though its deadline lies before the watermark.
  v1::Finding late = Vulnerability("late", "CVE-2027-0005", false);
  late.mutable_first_seen()->set_seconds(
      absl::ToUnixSeconds(now_ - absl::Hours(24 * 60)));
  const std::string late_key = Record(ledger_b.get(), store, late);
  now_ += absl::Minutes(1);
  EXPECT_EQ(Run(*sweep_b).overdue_notices, 1);
  // A remediated finding is not overdue any more; nothing repeats.
  Outcome(ledger_b.get(), fresh, ledger::EventKind::kRemediated, std::nullopt);
  now_ += absl::Minutes(1);
  SweepReport quiet = Run(*sweep_b);
  EXPECT_EQ(quiet.overdue_notices, 0);
  EXPECT_EQ(quiet.review_due_notices, 0);

  // One notice per finding and date, whichever replica wrote it.
  EXPECT_EQ(
      Count(*ledger_a, ledger::EventKind::kOverdue),
      (std::map<std::string, int>{{old_key, 1}, {fresh, 1}, {late_key, 1}}));
  EXPECT_EQ(Count(*ledger_a, ledger::EventKind::kReviewDue),
            (std::map<std::string, int>{{mitigated, 2}, {accepted, 1}}));
  EXPECT_EQ(Count(*ledger_a, ledger::EventKind::kSweepDecision),
            (std::map<std::string, int>{{mitigated, 2}, {accepted, 1}}));
  // A notice names the date that passed and changes nothing.
  auto history = ledger_a->GetFinding(old_key);
  ASSERT_TRUE(history.ok()) << history.status();
  const ledger::Event& notice = history->events.back();
  EXPECT_EQ(notice.kind, ledger::EventKind::kOverdue);
  EXPECT_EQ(notice.until, history->finding.remediate_by);
  EXPECT_EQ(notice.state_after, ledger::FindingState::kOpen);
  EXPECT_THAT(notice.idempotency_key, HasSubstr("overdue:" + old_key + "#1:"));
  EXPECT_EQ(history->finding.last_seq, history->events.front().seq);
  auto verified = ledger_a->Verify();
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_TRUE(verified->ok) << verified->problem;
  EXPECT_EQ(sweep_a->Counts().review_due_notices +
                sweep_b->Counts().review_due_notices,
            3);
  EXPECT_EQ(
      sweep_a->Counts().overdue_notices + sweep_b->Counts().overdue_notices, 3);
}

// More expired acceptances than a run takes: each run goes on after the
// previous one's last candidate, so all of them get their notice and
// re-decision (before the cursor, the same oldest ones came back every run,
// recording nothing, and the others were never reached).
TEST_P(RevisitSweepTest, CandidatesBeyondTheCapAreReachedByLaterRuns) {
  PolicyStore store;
  Activate(&store, "");
  std::unique_ptr<ledger::Ledger> ledger = Open();
  ASSERT_NE(ledger, nullptr);
  constexpr int kCap = 3;
  auto sweep = Sweep(ledger.get(), &store, "replica-a", kCap);

  // Seven acceptances ending on days 2..8, one apart.
  std::vector<std::string> keys;
  for (int i = 0; i < 7; ++i) {
    keys.push_back(
        Record(ledger.get(), store,
               Vulnerability(absl::StrCat("acc", i), "CVE-2027-0002", true)));
  }
  now_ += absl::Hours(1);
  for (int i = 0; i < 7; ++i) {
    Outcome(ledger.get(), keys[i], ledger::EventKind::kAccepted,
            kStart + absl::Hours(24 * (2 + i)));
  }

  // Day 10: all seven are past their review date; three per run.
  now_ = kStart + absl::Hours(24 * 10);
  EXPECT_EQ(Run(*sweep).review_due_notices, kCap);
  EXPECT_EQ(Run(*sweep).review_due_notices, kCap);
  EXPECT_EQ(Run(*sweep).review_due_notices, 1);
  // Every one has been handled; the next runs start over and record
  // nothing new.
  EXPECT_EQ(Run(*sweep).review_due_notices, 0);
  EXPECT_EQ(Run(*sweep).review_due_notices, 0);
  std::map<std::string, int> once;
  for (const std::string& key : keys) once[key] = 1;
  EXPECT_EQ(Count(*ledger, ledger::EventKind::kReviewDue), once);
  EXPECT_EQ(Count(*ledger, ledger::EventKind::kSweepDecision), once);

  // A new candidate whose review date lies before the cursor's (a late
  // report of an acceptance that already ended) is reached when the pass
  // starts over.
  v1::Finding late_finding = Vulnerability("late", "CVE-2027-0003", true);
  late_finding.mutable_first_seen()->set_seconds(absl::ToUnixSeconds(kStart));
  const std::string late = Record(ledger.get(), store, late_finding);
  ledger::Event accepted;
  accepted.kind = ledger::EventKind::kAccepted;
  accepted.finding_key = late;
  accepted.occurred_at = kStart + absl::Hours(12);
  accepted.until = kStart + absl::Hours(24);
  accepted.actor = "alice";
  std::vector<ledger::Event> events;
  events.push_back(std::move(accepted));
  auto appended = ledger->Append(std::move(events));
  ASSERT_TRUE(appended[0].ok()) << appended[0].status();
  now_ += absl::Minutes(1);
  int64_t late_notices = 0;
  for (int run = 0; run < 4; ++run) {
    late_notices += Run(*sweep).review_due_notices;
  }
  EXPECT_EQ(late_notices, 1);
  EXPECT_EQ(Count(*ledger, ledger::EventKind::kReviewDue)[late], 1);
}

TEST_P(RevisitSweepTest, FeedChangeWhileDownIsFoundAfterRestartAndSweptOnce) {
  const std::string kev_before = Kev("2026.12.31", {"CVE-2026-9999"});
  const std::string kev_after =
      Kev("2027.01.02", {"CVE-2026-9999", "CVE-2027-0001"});
  std::string key;
  {
    PolicyStore store;
    Activate(&store, kev_before);
    std::unique_ptr<ledger::Ledger> ledger = Open();
    ASSERT_NE(ledger, nullptr);
    key = Record(ledger.get(), store,
                 Vulnerability("low", "CVE-2027-0001", true));
    auto sweep = Sweep(ledger.get(), &store, "before");
    SweepReport first = Run(*sweep);
    EXPECT_TRUE(first.leader);
    EXPECT_FALSE(first.feeds_changed);  // the baseline is set
    sweep->Stop();
  }
  // treatd is down; the KEV catalog gains CVE-2027-0001; treatd starts
  // again with it.
  now_ += absl::Hours(1);
  for (int restart = 0; restart < 2; ++restart) {
    SCOPED_TRACE(restart);
    PolicyStore store;
    Activate(&store, kev_after);
    std::unique_ptr<ledger::Ledger> ledger = Open();
    ASSERT_NE(ledger, nullptr);
    auto sweep = Sweep(ledger.get(), &store, absl::StrCat("after-", restart));
    // The previous process's lease (Stop releases only a started sweep).
    ASSERT_TRUE(ledger->ReleaseLease("sweep", "before").ok());
    ASSERT_TRUE(ledger->ReleaseLease("sweep", "after-0").ok());
    SweepReport report = Run(*sweep);
    EXPECT_TRUE(report.leader);
    // Found on the first start only; the second start has the same feeds.
    EXPECT_EQ(report.feeds_changed, restart == 0);
    EXPECT_EQ(report.changed, restart == 0 ? 1 : 0);
    EXPECT_FALSE(Run(*sweep).feeds_changed);
    sweep->Stop();
    auto history = ledger->GetFinding(key);
    ASSERT_TRUE(history.ok()) << history.status();
    EXPECT_EQ(history->finding.treatment,
              v1::TREATMENT_MITIGATE_THEN_REMEDIATE);
    EXPECT_EQ(history->finding.priority, "P1");
    int sweeps = 0;
    for (const ledger::Event& event : history->events) {
      if (event.kind != ledger::EventKind::kSweepDecision) continue;
      ++sweeps;
      EXPECT_THAT(event.note,
                  HasSubstr("feeds reloaded: TREATMENT_MITIGATE P3 -> "
                            "TREATMENT_MITIGATE_THEN_REMEDIATE P1"));
    }
    EXPECT_EQ(sweeps, 1);
  }
}

INSTANTIATE_TEST_SUITE_P(Stores, RevisitSweepTest,
                         ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace treatd
