#include "common/intel/enrich.h"

#include <cstddef>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/common/intel/intel_test_util.h"

namespace treatd::intel {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kKev[] = "CISA KEV 2025.08.25";
constexpr char kEpss[] = "FIRST EPSS v2023.03.01 (2024-01-13)";

int64_t UnixDay(int y, int m, int d) {
  return absl::ToUnixSeconds(
      absl::FromCivil(absl::CivilDay(y, m, d), absl::UTCTimeZone()));
}

class EnrichFindingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::shared_ptr<const IntelSnapshot>> loaded =
        IntelSnapshot::Load(
            {testing::ShippedKevPath(), testing::ShippedEpssPath()});
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    snapshot_ = new std::shared_ptr<const IntelSnapshot>(*std::move(loaded));
  }
  static void TearDownTestSuite() {
    delete snapshot_;
    snapshot_ = nullptr;
  }

  static const IntelSnapshot& intel() { return **snapshot_; }

  static v1::Finding WithCve(absl::string_view cve) {
    v1::Finding finding;
    finding.set_id("f1");
    finding.set_kind(v1::FINDING_KIND_VULNERABILITY);
    finding.mutable_vulnerability()->set_cve_id(std::string(cve));
    return finding;
  }

  static std::shared_ptr<const IntelSnapshot>* snapshot_;
};

std::shared_ptr<const IntelSnapshot>* EnrichFindingTest::snapshot_ = nullptr;

TEST_F(EnrichFindingTest, FillsKevAndEpssForAListedCve) {
  v1::Finding finding = WithCve("CVE-2021-44228");
  EnrichmentReport report = EnrichFinding(intel(), {}, &finding);

  const v1::Kev& kev = finding.vulnerability().kev();
  EXPECT_TRUE(kev.listed());
  EXPECT_EQ(kev.date_added().seconds(), UnixDay(2021, 12, 10));
  EXPECT_EQ(kev.due_date().seconds(), UnixDay(2021, 12, 24));
  EXPECT_TRUE(kev.known_ransomware_use());
  EXPECT_THAT(kev.required_action(),
              HasSubstr("the only acceptable remediation actions"));
  const v1::Epss& epss = finding.vulnerability().epss();
  EXPECT_DOUBLE_EQ(epss.score(), 0.97466);
  EXPECT_DOUBLE_EQ(epss.percentile(), 0.99957);
  EXPECT_EQ(epss.model_version(), "v2023.03.01");
  EXPECT_EQ(epss.score_date().seconds(), UnixDay(2024, 1, 13));

  EXPECT_TRUE(report.kev_from_feed);
  EXPECT_TRUE(report.epss_from_feed);
  EXPECT_THAT(report.cve_ids, ElementsAre("CVE-2021-44228"));
  EXPECT_THAT(report.facts,
              ElementsAre(absl::StrCat("vulnerability.kev from ", kKev,
                                       " for CVE-2021-44228"),
                          absl::StrCat("vulnerability.epss from ", kEpss,
                                       " for CVE-2021-44228")));
  EXPECT_THAT(report.feed_versions, ElementsAre(kKev, kEpss));
  EXPECT_THAT(report.caller_facts_kept, IsEmpty());
}

TEST_F(EnrichFindingTest, KeepsFactsTheCallerSent) {
  v1::Finding finding = WithCve("CVE-2021-44228");
  finding.mutable_vulnerability()->mutable_kev()->set_listed(false);
  finding.mutable_vulnerability()->mutable_epss()->set_score(0.1);
  const v1::Finding sent = finding;

  EnrichmentReport report = EnrichFinding(intel(), {}, &finding);
  EXPECT_TRUE(MessageDifferencer::Equals(finding, sent))
      << finding.DebugString();
  EXPECT_FALSE(report.kev_from_feed);
  EXPECT_FALSE(report.epss_from_feed);
  EXPECT_THAT(report.facts, IsEmpty());
  EXPECT_THAT(
      report.caller_facts_kept,
      ElementsAre(HasSubstr("vulnerability.kev kept from the caller"),
                  HasSubstr("FIRST EPSS v2023.03.01 (2024-01-13) scores "
                            "CVE-2021-44228 0.97466")));
  // The due date as absl::FormatCivilTime writes it (enrich.cc formats it
  // by hand).
  EXPECT_THAT(report.caller_facts_kept[0],
              HasSubstr(absl::StrCat(
                  " lists CVE-2021-44228 due ",
                  absl::FormatCivilTime(absl::CivilDay(2021, 12, 24)))));
  EXPECT_THAT(report.feed_versions, ElementsAre(kKev, kEpss));
}

// The copy-on-write form the decision pipeline uses: the caller's finding
// is never modified; a copy is made exactly when a feed supplies a fact,
// and then equals what in-place enrichment gives.
TEST_F(EnrichFindingTest, CopyFormCopiesOnlyWhenAFeedSuppliesAFact) {
  struct Case {
    const char* name;
    v1::Finding finding;
    bool expect_copy;
  };
  v1::Finding kept = WithCve("CVE-2021-44228");
  kept.mutable_vulnerability()->mutable_kev()->set_listed(false);
  kept.mutable_vulnerability()->mutable_epss()->set_score(0.1);
  v1::Finding no_cve;
  no_cve.set_id("m1");
  no_cve.set_kind(v1::FINDING_KIND_MALWARE);
  v1::Finding epss_only = kept;
  epss_only.mutable_vulnerability()->clear_epss();
  const Case cases[] = {
      {"listed, no caller facts", WithCve("CVE-2021-44228"), true},
      {"caller sent both facts", kept, false},
      {"no CVE id", no_cve, false},
      {"caller sent KEV only", epss_only, true},
      {"unknown CVE", WithCve("CVE-1999-99999"), true},
  };
  v1::Finding earlier;
  earlier.set_id("left from an earlier finding");
  earlier.mutable_package()->set_name("lent by the earlier finding");
  FindingOverlay scratch;
  scratch.Assign(earlier);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const v1::Finding sent = c.finding;
    bool copied = !c.expect_copy;
    const v1::Finding before = scratch.finding();
    EnrichmentReport report =
        EnrichFindingCopy(intel(), {}, c.finding, &scratch, &copied);
    EXPECT_EQ(copied, c.expect_copy);
    EXPECT_TRUE(MessageDifferencer::Equals(c.finding, sent));
    v1::Finding in_place = c.finding;
    EnrichmentReport expected = EnrichFinding(intel(), {}, &in_place);
    EXPECT_EQ(report.facts, expected.facts);
    EXPECT_EQ(report.caller_facts_kept, expected.caller_facts_kept);
    if (copied) {
      EXPECT_TRUE(MessageDifferencer::Equals(scratch.finding(), in_place))
          << scratch.finding().DebugString();
    } else {
      EXPECT_TRUE(MessageDifferencer::Equals(scratch.finding(), before));
      EXPECT_TRUE(MessageDifferencer::Equals(in_place, sent));
    }
  }
}

TEST_F(EnrichFindingTest, FeedWinsReplacesCallerFacts) {
  v1::Finding finding = WithCve("CVE-2021-44228");
  v1::Kev* kev = finding.mutable_vulnerability()->mutable_kev();
  kev->set_listed(false);
  kev->set_required_action("caller text");
  v1::Epss* epss = finding.mutable_vulnerability()->mutable_epss();
  epss->set_score(0.1);
  epss->set_model_version("caller");

  EnrichOptions options;
  options.feed_wins = true;
  EnrichmentReport report = EnrichFinding(intel(), options, &finding);
  EXPECT_TRUE(finding.vulnerability().kev().listed());
  EXPECT_NE(finding.vulnerability().kev().required_action(), "caller text");
  EXPECT_DOUBLE_EQ(finding.vulnerability().epss().score(), 0.97466);
  EXPECT_EQ(finding.vulnerability().epss().model_version(), "v2023.03.01");
  EXPECT_EQ(report.facts.size(), 2u);
  EXPECT_THAT(report.caller_facts_kept, IsEmpty());
}

TEST_F(EnrichFindingTest, FeedAbsenceNeverOverridesCallerListing) {
  // CVE-2015-0235 is scored by EPSS but not in the KEV catalog.
  v1::Finding finding = WithCve("CVE-2015-0235");
  finding.mutable_vulnerability()->mutable_kev()->set_listed(true);
  EnrichOptions options;
  options.feed_wins = true;
  EnrichmentReport report = EnrichFinding(intel(), options, &finding);
  EXPECT_TRUE(finding.vulnerability().kev().listed());
  EXPECT_FALSE(report.kev_from_feed);
  EXPECT_TRUE(report.epss_from_feed);
  EXPECT_DOUBLE_EQ(finding.vulnerability().epss().score(), 0.97536);
}

TEST_F(EnrichFindingTest, FillsEpssWhenTheCallerSentNoScore) {
  v1::Finding finding = WithCve("CVE-2021-44228");
  finding.mutable_vulnerability()->mutable_epss()->set_model_version("x");
  EnrichmentReport report = EnrichFinding(intel(), {}, &finding);
  EXPECT_TRUE(report.epss_from_feed);
  EXPECT_DOUBLE_EQ(finding.vulnerability().epss().score(), 0.97466);
  EXPECT_EQ(finding.vulnerability().epss().model_version(), "v2023.03.01");
}

TEST_F(EnrichFindingTest, CombinesSeveralCveIdsIncludingAliases) {
  // CVE-2021-44228: KEV due 2021-12-24, ransomware Known, EPSS 0.97466.
  // CVE-2020-0601:  KEV due 2020-01-29 (earliest), ransomware Unknown,
  //                 EPSS 0.96685.
  // CVE-2015-0235:  not in KEV, EPSS 0.97536 (highest).
  v1::Finding finding = WithCve("CVE-2021-44228");
  v1::Vulnerability* vulnerability = finding.mutable_vulnerability();
  vulnerability->add_aliases("GHSA-jfh8-c2jp-5v3q");
  vulnerability->add_aliases("cve-2020-0601");
  vulnerability->add_aliases("CVE-2015-0235");
  vulnerability->add_aliases("CVE-2021-44228");

  EnrichmentReport report = EnrichFinding(intel(), {}, &finding);
  EXPECT_THAT(report.cve_ids,
              ElementsAre("CVE-2021-44228", "CVE-2020-0601", "CVE-2015-0235"));
  const v1::Kev& kev = finding.vulnerability().kev();
  EXPECT_TRUE(kev.listed());
  EXPECT_EQ(kev.due_date().seconds(), UnixDay(2020, 1, 29));
  EXPECT_EQ(kev.required_action(),
            intel().FindKev("CVE-2020-0601")->required_action);
  EXPECT_TRUE(kev.known_ransomware_use());
  EXPECT_DOUBLE_EQ(finding.vulnerability().epss().score(), 0.97536);
  EXPECT_DOUBLE_EQ(finding.vulnerability().epss().percentile(), 0.99994);
  EXPECT_THAT(report.facts, ElementsAre(HasSubstr("for CVE-2020-0601"),
                                        HasSubstr("for CVE-2015-0235")));
}

TEST_F(EnrichFindingTest, LeavesFindingWithoutCveUntouched) {
  v1::Finding no_vulnerability;
  no_vulnerability.set_id("m1");
  no_vulnerability.set_kind(v1::FINDING_KIND_MISCONFIGURATION);
  v1::Finding ghsa_only;
  ghsa_only.set_id("g1");
  ghsa_only.mutable_vulnerability()->add_aliases("GHSA-jfh8-c2jp-5v3q");
  ghsa_only.mutable_vulnerability()->set_cve_id("not-a-cve");

  for (const v1::Finding& original : {no_vulnerability, ghsa_only}) {
    v1::Finding finding = original;
    EnrichmentReport report = EnrichFinding(intel(), {}, &finding);
    EXPECT_TRUE(MessageDifferencer::Equals(finding, original))
        << finding.DebugString();
    EXPECT_THAT(report.cve_ids, IsEmpty());
    EXPECT_THAT(report.facts, IsEmpty());
    EXPECT_THAT(report.feed_versions, IsEmpty());
  }
  EXPECT_FALSE(no_vulnerability.has_vulnerability());
}

TEST_F(EnrichFindingTest, MarksUnknownCveAsNotListed) {
  v1::Finding finding = WithCve("CVE-2024-3094");
  EnrichmentReport report = EnrichFinding(intel(), {}, &finding);
  ASSERT_TRUE(finding.vulnerability().has_kev());
  EXPECT_FALSE(finding.vulnerability().kev().listed());
  EXPECT_FALSE(finding.vulnerability().has_epss());
  EXPECT_TRUE(report.kev_from_feed);
  EXPECT_FALSE(report.epss_from_feed);
  EXPECT_THAT(report.facts, ElementsAre(absl::StrCat("vulnerability.kev from ",
                                                     kKev, ": not listed")));
  EXPECT_THAT(report.feed_versions, ElementsAre(kKev, kEpss));
}

TEST_F(EnrichFindingTest, ReportsStaleFeedsAndByHowMuch) {
  const absl::Time kev_released =
      absl::FromCivil(absl::CivilSecond(2025, 8, 25, 17, 4, 19),
                      absl::UTCTimeZone()) +
      absl::Microseconds(979600);
  const absl::Time epss_scored =
      absl::FromCivil(absl::CivilDay(2024, 1, 13), absl::UTCTimeZone());
  EnrichOptions options;
  options.max_age = absl::Hours(24 * 30);
  options.as_of =
      absl::FromCivil(absl::CivilDay(2025, 9, 30), absl::UTCTimeZone());

  v1::Finding finding = WithCve("CVE-2021-44228");
  EnrichmentReport report = EnrichFinding(intel(), options, &finding);
  const IntelFreshness& fresh = report.freshness;
  EXPECT_TRUE(fresh.stale);
  EXPECT_TRUE(fresh.kev.present);
  EXPECT_EQ(fresh.kev.feed, kKev);
  EXPECT_EQ(fresh.kev.published, kev_released);
  EXPECT_EQ(fresh.kev.age, options.as_of - kev_released);
  EXPECT_TRUE(fresh.kev.stale);
  EXPECT_EQ(fresh.kev.stale_by,
            options.as_of - kev_released - absl::Hours(24 * 30));
  EXPECT_TRUE(fresh.epss.stale);
  EXPECT_EQ(fresh.epss.stale_by,
            options.as_of - epss_scored - absl::Hours(24 * 30));
  // Stale feeds still enrich; the policy decides what staleness means.
  EXPECT_TRUE(report.kev_from_feed);

  // Ten days after the catalog: KEV is fresh, the 2024 EPSS scores are not.
  options.as_of = kev_released + absl::Hours(24 * 10);
  IntelFreshness later =
      CheckFreshness(intel(), options.max_age, options.as_of);
  EXPECT_FALSE(later.kev.stale);
  EXPECT_EQ(later.kev.stale_by, absl::ZeroDuration());
  EXPECT_TRUE(later.epss.stale);
  EXPECT_TRUE(later.stale);
}

TEST_F(EnrichFindingTest, NoMaxAgeMeansNeverStale) {
  EnrichOptions options;
  options.as_of =
      absl::FromCivil(absl::CivilDay(2030, 1, 1), absl::UTCTimeZone());
  v1::Finding finding = WithCve("CVE-2021-44228");
  EnrichmentReport report = EnrichFinding(intel(), options, &finding);
  EXPECT_FALSE(report.freshness.stale);
  EXPECT_FALSE(report.freshness.kev.stale);
  EXPECT_FALSE(report.freshness.epss.stale);
  EXPECT_GT(report.freshness.epss.age, absl::Hours(24 * 365 * 5));
}

TEST_F(EnrichFindingTest, MissingAsOfErrsOnTheStaleSide) {
  EnrichOptions options;
  options.max_age = absl::Hours(24 * 365 * 100);
  v1::Finding finding;  // No CVE: freshness is reported all the same.
  EnrichmentReport report = EnrichFinding(intel(), options, &finding);
  EXPECT_TRUE(report.freshness.kev.stale);
  EXPECT_TRUE(report.freshness.stale);
}

// Without texts (a BASIC decision) the finding gets the same facts and the
// report the same flags and freshness figures, with every text left empty.
TEST_F(EnrichFindingTest, WithoutTextsWritesTheSameFactsAndNoTexts) {
  std::vector<v1::Finding> findings = {
      WithCve("CVE-2021-44228"),  // Listed in KEV, scored by EPSS.
      WithCve("CVE-1999-0001"),   // Not listed.
      WithCve("not-a-cve"),
      v1::Finding(),
  };
  v1::Finding caller = WithCve("CVE-2021-44228");  // Facts the caller sent.
  caller.mutable_vulnerability()->mutable_kev()->set_listed(false);
  caller.mutable_vulnerability()->mutable_epss()->set_score(0.5);
  caller.mutable_vulnerability()->add_aliases("CVE-2023-4966");
  findings.push_back(caller);
  for (bool feed_wins : {false, true}) {
    for (const v1::Finding& original : findings) {
      SCOPED_TRACE(
          absl::StrCat(original.ShortDebugString(), " feed_wins=", feed_wins));
      EnrichOptions options;
      options.feed_wins = feed_wins;
      options.max_age = absl::Hours(24);
      options.as_of =
          absl::FromCivil(absl::CivilDay(2025, 9, 30), absl::UTCTimeZone());
      v1::Finding with_texts = original;
      const EnrichmentReport full =
          EnrichFinding(intel(), options, &with_texts);
      options.texts = false;
      FindingOverlay scratch;
      bool copied = false;
      const EnrichmentReport lean =
          EnrichFindingCopy(intel(), options, original, &scratch, &copied);
      const v1::Finding& enriched = copied ? scratch.finding() : original;
      EXPECT_TRUE(MessageDifferencer::Equals(enriched, with_texts))
          << enriched.ShortDebugString();
      EXPECT_EQ(lean.kev_from_feed, full.kev_from_feed);
      EXPECT_EQ(lean.epss_from_feed, full.epss_from_feed);
      EXPECT_THAT(lean.cve_ids, IsEmpty());
      EXPECT_THAT(lean.facts, IsEmpty());
      EXPECT_THAT(lean.caller_facts_kept, IsEmpty());
      EXPECT_THAT(lean.feed_versions, IsEmpty());
      EXPECT_EQ(lean.freshness.stale, full.freshness.stale);
      for (auto [l, f] :
           {std::pair{&lean.freshness.kev, &full.freshness.kev},
            std::pair{&lean.freshness.epss, &full.freshness.epss}}) {
        EXPECT_EQ(l->present, f->present);
        EXPECT_THAT(l->feed, IsEmpty());
        EXPECT_EQ(l->published, f->published);
        EXPECT_EQ(l->age, f->age);
        EXPECT_EQ(l->stale, f->stale);
        EXPECT_EQ(l->stale_by, f->stale_by);
      }
    }
  }
}

// A one-entry KEV catalog and EPSS file for CVE-2021-44228 with the given
// due date and score, under fixed descriptions ("CISA KEV 2025.08.25",
// "FIRST EPSS v2023.03.01 (2024-01-13)"): two loads differ in their facts
// but not in their names.
std::shared_ptr<const IntelSnapshot> OneCveSnapshot(absl::string_view due,
                                                    absl::string_view score) {
  absl::StatusOr<std::shared_ptr<const KevFeed>> kev =
      KevFeed::Parse(absl::StrCat(R"({"catalogVersion": "2025.08.25",
          "dateReleased": "2025-08-25T17:04:19.9796Z",
          "vulnerabilities": [{"cveID": "CVE-2021-44228",
            "dateAdded": "2021-12-10", "dueDate": ")",
                                  due, R"(", "requiredAction": "Patch.",
            "knownRansomwareCampaignUse": "Known"}]})"),
                     "kev.json");
  EXPECT_TRUE(kev.ok()) << kev.status();
  absl::StatusOr<std::shared_ptr<const EpssFeed>> epss = EpssFeed::Parse(
      absl::StrCat(
          "#model_version:v2023.03.01,score_date:2024-01-13T00:00:00+0000\n"
          "cve,epss,percentile\nCVE-2021-44228,",
          score, ",0.9\n"),
      "epss.csv");
  EXPECT_TRUE(epss.ok()) << epss.status();
  if (!kev.ok() || !epss.ok()) return nullptr;
  absl::StatusOr<std::shared_ptr<const IntelSnapshot>> snapshot =
      IntelSnapshot::Create(*std::move(kev), *std::move(epss));
  EXPECT_TRUE(snapshot.ok()) << snapshot.status();
  return snapshot.ok() ? *std::move(snapshot) : nullptr;
}

// The report's texts are memoized per thread (enrich.cc): a reload must
// never be answered with its predecessor's texts, although the new feeds
// have the same descriptions and (freed first) may get the same addresses.
TEST_F(EnrichFindingTest, TextsFollowAFeedReload) {
  v1::Finding kept = WithCve("CVE-2021-44228");  // Caller facts kept.
  kept.mutable_vulnerability()->mutable_kev()->set_listed(false);
  kept.mutable_vulnerability()->mutable_epss()->set_score(0.1);
  v1::Finding filled = WithCve("CVE-2021-44228");  // Facts from the feeds.
  struct Load {
    const char* due;
    const char* score;
  };
  for (const Load& load :
       {Load{"2021-12-24", "0.5"}, Load{"2022-01-07", "0.25"},
        Load{"2021-12-24", "0.5"}}) {
    SCOPED_TRACE(absl::StrCat(load.due, " ", load.score));
    std::shared_ptr<const IntelSnapshot> snapshot =
        OneCveSnapshot(load.due, load.score);
    ASSERT_NE(snapshot, nullptr);
    for (int round = 0; round < 2; ++round) {  // The second one hits.
      v1::Finding finding = kept;
      EnrichmentReport report = EnrichFinding(*snapshot, {}, &finding);
      EXPECT_THAT(
          report.caller_facts_kept,
          ElementsAre(
              absl::StrCat("vulnerability.kev kept from the caller; ", kKev,
                           " lists CVE-2021-44228 due ", load.due),
              absl::StrCat("vulnerability.epss kept from the caller; ", kEpss,
                           " scores CVE-2021-44228 ",
                           absl::StrFormat("%.5f", std::stod(load.score)))));
      finding = filled;
      report = EnrichFinding(*snapshot, {}, &finding);
      EXPECT_EQ(absl::FormatCivilTime(absl::ToCivilDay(
                    absl::FromUnixSeconds(
                        finding.vulnerability().kev().due_date().seconds()),
                    absl::UTCTimeZone())),
                load.due);
      EXPECT_THAT(report.facts,
                  ElementsAre(absl::StrCat("vulnerability.kev from ", kKev,
                                           " for CVE-2021-44228"),
                              absl::StrCat("vulnerability.epss from ", kEpss,
                                           " for CVE-2021-44228")));
    }
  }
}

// Everything EnrichFindingCopy returns and writes, as comparable text.
std::string Outcome(const IntelSnapshot& snapshot, const EnrichOptions& options,
                    const v1::Finding& finding) {
  FindingOverlay scratch;
  bool copied = false;
  const EnrichmentReport r =
      EnrichFindingCopy(snapshot, options, finding, &scratch, &copied);
  std::string out = absl::StrCat(
      "copied=", copied, " kev=", r.kev_from_feed, " epss=", r.epss_from_feed,
      " cves=", absl::StrJoin(r.cve_ids, "|"),
      " facts=", absl::StrJoin(r.facts, "|"),
      " kept=", absl::StrJoin(r.caller_facts_kept, "|"),
      " feeds=", absl::StrJoin(r.feed_versions, "|"),
      " stale=", r.freshness.stale);
  for (const FeedFreshness* f : {&r.freshness.kev, &r.freshness.epss}) {
    absl::StrAppend(&out, " ", f->present, f->feed, " ",
                    absl::FormatTime(f->published), " ",
                    absl::FormatDuration(f->age), " ", f->stale, " ",
                    absl::FormatDuration(f->stale_by));
  }
  absl::StrAppend(&out, " finding=",
                  (copied ? scratch.finding() : finding).ShortDebugString());
  return out;
}

// Memoized texts equal freshly formatted ones: every finding is enriched
// once on a thread of its own (an empty memo) and twice on this thread,
// whose memo sees more distinct texts than it has slots (evictions and
// collisions), across CVE ids listed in both feeds, in one, in neither,
// with aliases, caller facts, feed_wins, texts on and off, and as_of.
TEST_F(EnrichFindingTest, MemoizedTextsEqualFreshOnes) {
  std::vector<std::string> pool;
  const std::vector<KevEntry>& listed = intel().kev()->entries();
  for (size_t i = 0; i < listed.size() && pool.size() < 300; i += 3) {
    pool.push_back(listed[i].cve.ToString());
  }
  for (const char* other : {"CVE-1999-0001", "CVE-1999-0062", "CVE-1999-0123",
                            "CVE-1999-99999", "CVE-2030-123456", "not-a-cve"}) {
    pool.push_back(other);
  }
  std::mt19937 rng(15);
  auto pick = [&](size_t n) {
    return std::uniform_int_distribution<size_t>(0, n - 1)(rng);
  };
  struct Case {
    v1::Finding finding;
    EnrichOptions options;
  };
  std::vector<Case> cases;
  for (int i = 0; i < 600; ++i) {
    Case c;
    v1::Vulnerability* v = c.finding.mutable_vulnerability();
    c.finding.set_id(absl::StrCat("f", i));
    v->set_cve_id(pool[pick(pool.size())]);
    for (size_t a = pick(3); a > 0; --a)
      v->add_aliases(pool[pick(pool.size())]);
    if (pick(3) == 0) v->mutable_kev()->set_listed(pick(2) == 0);
    if (pick(3) == 0) v->mutable_epss()->set_score(0.125);
    c.options.feed_wins = pick(4) == 0;
    c.options.texts = pick(5) != 0;
    c.options.max_age = absl::Hours(24 * static_cast<int>(pick(400)));
    c.options.as_of = absl::FromCivil(
        absl::CivilDay(2025, 1, 1) + static_cast<int>(pick(365)),
        absl::UTCTimeZone());
    cases.push_back(std::move(c));
  }
  for (const Case& c : cases) {
    std::string fresh;
    std::thread([&] { fresh = Outcome(intel(), c.options, c.finding); }).join();
    SCOPED_TRACE(c.finding.ShortDebugString());
    EXPECT_EQ(Outcome(intel(), c.options, c.finding), fresh);
  }
  for (const Case& c : cases) {  // Again, with the memo warm.
    std::string fresh;
    std::thread([&] { fresh = Outcome(intel(), c.options, c.finding); }).join();
    EXPECT_EQ(Outcome(intel(), c.options, c.finding), fresh)
        << c.finding.ShortDebugString();
  }
}

// A finding with every field of treatd.v1.Finding set, and an unknown
// field: what the overlay must reproduce.
v1::Finding EveryField() {
  v1::Finding f;
  const google::protobuf::Descriptor* d = v1::Finding::descriptor();
  f.set_id("every-field");
  f.set_kind(v1::FINDING_KIND_VULNERABILITY);
  f.set_source("test");
  f.set_title("a title long enough to live on the heap");
  f.set_description("a description");
  f.set_severity(v1::SEVERITY_HIGH);
  f.mutable_vulnerability()->set_cve_id("CVE-2021-44228");
  f.mutable_vulnerability()->mutable_cvss()->set_score(9.8);
  f.mutable_package()->set_name("log4j-core");
  f.mutable_fix()->set_restart_required(true);
  f.mutable_asset()->set_id("asset-1");
  (*f.mutable_asset()->mutable_labels())["team"] = "payments";
  f.mutable_misconfiguration()->set_check_id("rule-1");
  f.mutable_secret()->set_secret_type("secret-1");
  f.mutable_malware()->set_family("malware-1");
  f.add_compensating_controls()->set_description("waf");
  f.set_active_incident(true);
  f.mutable_first_seen()->set_seconds(1700000000);
  f.mutable_last_seen()->set_seconds(1700086400);
  (*f.mutable_attributes())["k"] = "v";
  f.set_identity_key("identity");
  f.mutable_vex()->set_impact_statement("not reachable");
  f.GetReflection()->MutableUnknownFields(&f)->AddVarint(999, 7);
  // Every field is set (so a field added later fails here first).
  std::vector<const google::protobuf::FieldDescriptor*> set;
  f.GetReflection()->ListFields(f, &set);
  EXPECT_EQ(static_cast<int>(set.size()), d->field_count());
  return f;
}

TEST(FindingOverlayTest, LendsEveryFieldItKnows) {
  // Fails when treatd.v1.Finding gains a field: add it to Assign() (lent
  // or copied) and to LendsFields().
  EXPECT_TRUE(FindingOverlay::LendsFields());
}

TEST(FindingOverlayTest, EqualsTheSourceAndGivesItBackUntouched) {
  const v1::Finding full = EveryField();
  const v1::Finding sparse = [] {
    v1::Finding f;
    f.set_id("sparse");
    f.mutable_vulnerability()->set_cve_id("CVE-2021-44228");
    return f;
  }();
  FindingOverlay overlay;
  // Full after sparse after full: fields are lent, copied and cleared in
  // turn.
  for (const v1::Finding* source : {&full, &sparse, &full, &sparse}) {
    const v1::Finding before = *source;
    overlay.Assign(*source);
    EXPECT_TRUE(MessageDifferencer::Equals(overlay.finding(), *source))
        << overlay.finding().DebugString();
    EXPECT_EQ(overlay.finding().SerializeAsString(),
              source->SerializeAsString());
    // The vulnerability is the overlay's own: writing it leaves the
    // source as it was.
    overlay.mutable_vulnerability()->mutable_kev()->set_listed(true);
    EXPECT_TRUE(MessageDifferencer::Equals(*source, before));
    if (source->has_package()) {
      EXPECT_EQ(&overlay.finding().package(), &source->package());  // Lent.
    }
  }
  overlay.Return();
  EXPECT_FALSE(overlay.finding().has_package());
  EXPECT_TRUE(MessageDifferencer::Equals(full, EveryField()));
}

TEST(CheckFreshnessTest, OmitsAbsentFeed) {
  absl::StatusOr<std::shared_ptr<const IntelSnapshot>> snapshot =
      IntelSnapshot::Load({"", testing::ShippedEpssPath()});
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  IntelFreshness fresh = CheckFreshness(
      **snapshot, absl::Hours(24),
      absl::FromCivil(absl::CivilDay(2024, 1, 13), absl::UTCTimeZone()) +
          absl::Hours(12));
  EXPECT_FALSE(fresh.kev.present);
  EXPECT_FALSE(fresh.kev.stale);
  EXPECT_TRUE(fresh.epss.present);
  EXPECT_FALSE(fresh.epss.stale);
  EXPECT_EQ(fresh.epss.age, absl::Hours(12));
  EXPECT_FALSE(fresh.stale);
}

}  // namespace
}  // namespace treatd::intel
