// The engine's reuse of decision cores (EvalOptions::use_core_cache,
// core_cache.h): decisions through the cache must equal those of the plain
// interpreter byte for byte, for the shipped policies and one that reads
// `now`, intel.*, maps, lists and regexes, for random and example
// findings, in both views, across as_of values that move deadlines and
// expire exceptions, across feed reloads and across policy reloads.
#include "common/policy/engine/core_cache.h"

#include <atomic>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/intel/intel_snapshot.h"
#include "common/policy/engine/compiled_policy.h"
#include "common/policy/pipeline/decision_pipeline.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/common/fill_message.h"
#include "tests/common/policy/pipeline_test_util.h"
#include "tests/common/random_finding.h"
#include "treatd/v1/decision.pb.h"
#include "treatd/v1/finding.pb.h"

namespace treatd {
namespace {

std::string Source(const std::string& path) {
  std::ifstream in(absl::StrCat(TREATD_SOURCE_DIR, "/", path));
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_FALSE(text.str().empty()) << path;
  return text.str();
}

using testing_util::MustCompile;

absl::Time Day(int y, int m, int d) {
  return absl::FromCivil(absl::CivilDay(y, m, d), absl::UTCTimeZone());
}

// Reads `now`, intel.*, a map, a list-valued let, a regex, `in` a
// constant list, has() and a timestamp, with exceptions that expire.
constexpr char kWidePolicy[] = R"yaml(name: wide
version: "1"
priorities:
  - {name: P1, mitigate_within: 24h, remediate_within: 3d, review_within: 7d}
  - {name: P2, mitigate_within: 3d, remediate_within: 30d, review_within: 30d}
let:
  env: 'asset.labels["env"]'
  tagged: 'asset.tags.exists(t, t == "pci")'
  fixes: 'package.fixed_versions'
  young: 'has(first_seen) && now - first_seen < duration("100d")'
tables:
  - name: t
    inputs:
      - {name: exposure, expr: asset.exposure}
      - {name: stale, expr: intel.stale}
    rows:
      - {when: [INTERNET, "*"], then: hot}
      - {when: ["*", yes], then: unsure}
    default: cold
risk:
  # `fixes` is a list: a core that computed it is not stored.
  inherent: 'kind == "MALWARE" && size(fixes) > 0 ? 6.0 : (vulnerability.cvss.score + (tagged ? 1.0 : 0.0))'
rules:
  - id: prod-young
    when: 'env == "pci" && young'
    treatment: MITIGATE_THEN_REMEDIATE
    priority_expr: 'tables.t == "hot" ? "P1" : "P2"'
  - id: titled
    when: 'title.matches("^a") || source in ["xz", "web-1"]'
    treatment: REMEDIATE
    priority: P2
  - id: stale
    when: 'intel.stale || intel.epss_age > duration("1000d")'
    treatment: MITIGATE
    priority: P1
default:
  treatment: REMEDIATE
  priority: P2
exceptions:
  - id: EXC-1
    when: 'vulnerability.cve_id == "CVE-2024-3094" && asset.id == "web-1"'
    approver: a@example.com
    reason: r
    expires: 2026-12-15T00:00:00Z
  - id: EXC-2
    when: 'asset.id in ["web-1", "xz"]'
    approver: b@example.com
    reason: r
    expires: 2027-06-01T00:00:00Z
)yaml";

std::string Bytes(const absl::Status& status, const v1::Decision& decision) {
  std::string out = status.ToString();
  out.push_back('\0');
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  decision.SerializeToCodedStream(&coded);
  return out;
}

// CVE ids of the shipped feeds, so that enrichment has something to add.
std::vector<std::string> FeedCves() {
  std::vector<std::string> cves;
  int n = 0;
  for (absl::string_view line :
       absl::StrSplit(Source("intel/epss_scores_sample.csv"), '\n')) {
    if (absl::StartsWith(line, "CVE-") && n++ % 40 == 0) {
      cves.emplace_back(line.substr(0, line.find(',')));
    }
  }
  google::protobuf::Struct kev;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(
                  Source("intel/known_exploited_vulnerabilities.json"), &kev)
                  .ok());
  const auto& list = kev.fields().at("vulnerabilities").list_value();
  for (int i = 0; i < list.values_size(); i += 25) {
    cves.push_back(
        list.values(i).struct_value().fields().at("cveID").string_value());
  }
  return cves;
}

// A second version of the feeds, as a reload would bring: half the KEV
// catalog with later due dates, every EPSS score changed.
std::shared_ptr<const intel::IntelSnapshot> ReloadedFeeds() {
  google::protobuf::Struct kev;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(
                  Source("intel/known_exploited_vulnerabilities.json"), &kev)
                  .ok());
  auto* list = (*kev.mutable_fields())["vulnerabilities"].mutable_list_value();
  google::protobuf::ListValue kept;
  for (int i = 0; i < list->values_size(); i += 2) {
    auto* entry = kept.add_values();
    *entry = list->values(i);
    (*entry->mutable_struct_value()->mutable_fields())["dueDate"]
        .set_string_value("2027-02-01");
  }
  *list = kept;
  (*kev.mutable_fields())["catalogVersion"].set_string_value("2026.12.01");
  std::string kev_json;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(kev, &kev_json).ok());
  std::string epss;
  for (absl::string_view line :
       absl::StrSplit(Source("intel/epss_scores_sample.csv"), '\n')) {
    if (!absl::StartsWith(line, "CVE-")) {
      absl::StrAppend(&epss, line, "\n");
      continue;
    }
    std::vector<std::string> cells = absl::StrSplit(line, ',');
    double score = 0;
    EXPECT_TRUE(absl::SimpleAtod(cells[1], &score));
    absl::StrAppend(&epss, cells[0], ",", 1.0 - score, ",", cells[2], "\n");
  }
  const std::string dir = ::testing::TempDir();
  const std::string kev_path = dir + "/core_cache_kev.json";
  const std::string epss_path = dir + "/core_cache_epss.csv";
  std::ofstream(kev_path) << kev_json;
  std::ofstream(epss_path) << epss;
  auto loaded = intel::IntelSnapshot::Load({kev_path, epss_path});
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  return loaded.ok() ? *loaded : nullptr;
}

std::vector<v1::Finding> ExampleFindings() {
  std::vector<v1::Finding> out;
  for (absl::string_view line :
       absl::StrSplit(Source("examples/findings.jsonl"), '\n')) {
    if (line.empty()) continue;
    v1::Finding finding;
    EXPECT_TRUE(
        google::protobuf::util::JsonStringToMessage(std::string(line), &finding)
            .ok());
    out.push_back(std::move(finding));
  }
  return out;
}

// Random findings, example findings, and for each a variant that differs
// only where the default policy's core does not look (id, title, asset
// id), so that it is decided from the cache.
std::vector<v1::Finding> Findings(int random) {
  std::vector<v1::Finding> out = ExampleFindings();
  const std::vector<std::string> cves = FeedCves();
  testing::RandomFindingOptions options;
  options.set_percent = 35;
  testing::RandomFindings gen(20261206, options);
  for (int i = 0; i < random; ++i) {
    v1::Finding f = gen.Next();
    if (gen.Chance(50)) {
      f.mutable_vulnerability()->set_cve_id(cves[gen.Uniform(cves.size())]);
      if (gen.Chance(50)) f.mutable_vulnerability()->clear_kev();
      if (gen.Chance(50)) f.mutable_vulnerability()->clear_epss();
    }
    if (gen.Chance(30)) (*f.mutable_asset()->mutable_labels())["env"] = "pci";
    if (gen.Chance(10)) {
      f.mutable_vulnerability()->set_cve_id("CVE-2023-48795");
      f.mutable_asset()->set_id("ot-gateway-04");
    }
    out.push_back(std::move(f));
  }
  const size_t n = out.size();
  for (size_t i = 0; i < n; ++i) {
    v1::Finding variant = out[i];
    variant.set_id(absl::StrCat(variant.id(), "-again"));
    variant.set_title(absl::StrCat("another ", variant.title()));
    if (i % 2 == 0) variant.mutable_asset()->set_id(absl::StrCat("host-", i));
    out.push_back(std::move(variant));
  }
  return out;
}

struct Counts {
  uint64_t hits, misses;
};
Counts Now() {
  return {internal::CoreCache::ThreadHits(),
          internal::CoreCache::ThreadMisses()};
}

// A decision's action ids, in order, joined with commas.
std::string ActionIds(const v1::Decision& decision) {
  std::vector<std::string> out;
  for (const auto& a : decision.actions()) out.push_back(a.id());
  return absl::StrJoin(out, ",");
}

// Decides `finding` through the core cache into `*cached` and with the
// plain interpreter; true when the two agree byte for byte (a failure
// otherwise, with both decisions).
bool CachedEqualsPlain(const CompiledPolicy& policy, const v1::Finding& finding,
                       EvalOptions options, v1::Decision* cached) {
  options.use_core_cache = true;
  const std::string fast =
      Bytes(policy.Evaluate(finding, options, cached), *cached);
  options.use_core_cache = false;
  v1::Decision plain;
  const std::string slow =
      Bytes(policy.Evaluate(finding, options, &plain), plain);
  if (fast == slow) return true;
  ADD_FAILURE() << finding.ShortDebugString() << " as_of "
                << absl::FormatTime(options.as_of) << " view " << options.view
                << "\ncached: " << cached->DebugString()
                << "\nplain: " << plain.DebugString();
  return false;
}

// Decides every finding with every pipeline, as_of and view, through the
// cache and without it, in an order where a stale entry would be served
// if keys missed a fact; expects equal bytes. Returns the number compared.
int ExpectSameDecisions(
    const std::vector<std::shared_ptr<const DecisionPipeline>>& pipelines,
    const std::vector<v1::Finding>& findings) {
  const absl::Time as_ofs[] = {Day(2026, 12, 1), Day(2026, 12, 20),
                               Day(2027, 7, 1), Day(2025, 1, 1)};
  int compared = 0;
  // Finding by finding, so that the entry a wrong key would serve is the
  // one the previous as_of, feed or view just stored.
  for (size_t i = 0; i < findings.size(); ++i) {
    for (const auto& pipeline : pipelines) {
      for (const absl::Time as_of : as_ofs) {
        for (const v1::DecisionView view :
             {v1::DECISION_VIEW_BASIC, v1::DECISION_VIEW_FULL}) {
          EvalOptions options;
          options.as_of = as_of;
          options.view = view;
          v1::Decision cached, plain;
          const std::string fast =
              Bytes(pipeline->Decide(findings[i], options, &cached), cached);
          options.use_core_cache = false;
          const std::string slow =
              Bytes(pipeline->Decide(findings[i], options, &plain), plain);
          ++compared;
          if (fast != slow) {
            ADD_FAILURE() << "finding " << i << " as_of "
                          << absl::FormatTime(as_of) << " view " << view
                          << " policy " << pipeline->policy().ref().name()
                          << "\ncached: " << cached.DebugString()
                          << "\nplain: " << plain.DebugString();
            return compared;
          }
        }
      }
    }
  }
  return compared;
}

TEST(CoreCacheTest, DecisionsEqualThePlainInterpretersAcrossFeedsAndAsOf) {
  const std::vector<v1::Finding> findings = Findings(1000);
  const auto shipped = testing_util::ShippedIntel();
  const auto reloaded = ReloadedFeeds();
  ASSERT_NE(shipped, nullptr);
  ASSERT_NE(reloaded, nullptr);
  IntelSettings stale;
  stale.max_age = absl::Hours(1);
  IntelSettings feed_wins;
  feed_wins.feed_wins = true;
  for (const std::string& yaml :
       {Source("policies/default.yaml"),
        Source("bench/policies/cerbos_equivalent.yaml"),
        std::string(kWidePolicy)}) {
    const auto policy = MustCompile(yaml);
    ASSERT_NE(policy, nullptr);
    ASSERT_FALSE(policy->DescribeCoreKey().empty());
    // The feeds as shipped, then reloaded (and stale), then none, then
    // the shipped ones again with feed facts winning.
    std::vector<std::shared_ptr<const DecisionPipeline>> pipelines;
    for (const auto& [feeds, settings] :
         std::vector<std::pair<std::shared_ptr<const intel::IntelSnapshot>,
                               IntelSettings>>{{shipped, {}},
                                               {reloaded, stale},
                                               {nullptr, {}},
                                               {shipped, feed_wins}}) {
      auto pipeline = DecisionPipeline::Create(policy, feeds, settings);
      ASSERT_TRUE(pipeline.ok()) << pipeline.status();
      pipelines.push_back(*pipeline);
    }
    const Counts before = Now();
    const int compared = ExpectSameDecisions(pipelines, findings);
    const Counts after = Now();
    EXPECT_EQ(compared, 4 * 4 * 2 * static_cast<int>(findings.size()));
    // The comparison means something only if both paths ran.
    EXPECT_GT(after.hits - before.hits, compared / 4) << policy->ref().name();
    EXPECT_GT(after.misses - before.misses, 100u) << policy->ref().name();
  }
}

// A server thread decides into one reused Decision (on the heap, or on a
// request's arena), whose actions' and deadlines' Timestamps the engine
// recycles: every decision must equal one made into a fresh message,
// whatever the previous one held.
TEST(CoreCacheTest, AReusedDecisionEqualsAFreshOne) {
  const std::vector<v1::Finding> findings = Findings(300);
  for (const std::string& yaml :
       {Source("policies/default.yaml"), std::string(kWidePolicy)}) {
    const auto policy = MustCompile(yaml);
    ASSERT_NE(policy, nullptr);
    for (const v1::DecisionView view :
         {v1::DECISION_VIEW_FULL, v1::DECISION_VIEW_BASIC}) {
      for (const bool cache : {true, false}) {
        EvalOptions options;
        options.as_of = Day(2026, 12, 1);
        options.view = view;
        options.use_core_cache = cache;
        google::protobuf::Arena arena;
        auto* on_arena =
            google::protobuf::Arena::CreateMessage<v1::Decision>(&arena);
        v1::Decision on_heap;
        // Forward, then backward: each decision follows one with other
        // actions and deadlines.
        for (int pass = 0; pass < 2; ++pass) {
          for (size_t n = 0; n < findings.size(); ++n) {
            const size_t i = pass == 0 ? n : findings.size() - 1 - n;
            v1::Decision fresh;
            const std::string want =
                Bytes(policy->Evaluate(findings[i], options, &fresh), fresh);
            ASSERT_EQ(Bytes(policy->Evaluate(findings[i], options, &on_heap),
                            on_heap),
                      want)
                << "finding " << i << " view " << view << " cache " << cache;
            ASSERT_EQ(Bytes(policy->Evaluate(findings[i], options, on_arena),
                            *on_arena),
                      want)
                << "finding " << i << " view " << view << " cache " << cache;
          }
        }
      }
    }
  }
}

// The engine overwrites a reused decision's strings and table outcomes
// in place and clears the rest field by field (ResetDecision in
// evaluate.cc): whatever the message held before (every field of
// decision.proto set, filled through reflection so that a field added
// there is covered; unknown fields on the decision, its policy or a table
// outcome; the other view's decision), the result must equal a fresh one.
TEST(CoreCacheTest, ADecisionReusedFromAnyStateEqualsAFreshOne) {
  const std::vector<v1::Finding> findings = Findings(60);
  for (const std::string& yaml :
       {Source("policies/default.yaml"), std::string(kWidePolicy)}) {
    const auto policy = MustCompile(yaml);
    ASSERT_NE(policy, nullptr);
    for (const bool cache : {true, false}) {
      v1::Decision reused;
      google::protobuf::Arena arena;
      auto* on_arena =
          google::protobuf::Arena::CreateMessage<v1::Decision>(&arena);
      for (size_t i = 0; i < findings.size(); ++i) {
        EvalOptions options;
        options.as_of = Day(2026, 12, 1);
        // Views alternate, and every third decision starts from a message
        // with everything set.
        options.view =
            i % 2 == 0 ? v1::DECISION_VIEW_BASIC : v1::DECISION_VIEW_FULL;
        options.use_core_cache = cache;
        for (v1::Decision* d : {&reused, on_arena}) {
          switch (i % 6) {
            case 0:
              testing_util::FillAll(d, 4 + i % 3);
              break;
            case 3:
              testing_util::FillAll(d, 3);
              d->GetReflection()->MutableUnknownFields(d)->AddVarint(900, 1);
              break;
            case 4:
              d->mutable_policy()
                  ->GetReflection()
                  ->MutableUnknownFields(d->mutable_policy())
                  ->AddVarint(901, 2);
              if (d->table_outcomes_size() > 0) {
                v1::TableOutcome* t = d->mutable_table_outcomes(0);
                t->GetReflection()->MutableUnknownFields(t)->AddVarint(902, 3);
              }
              break;
            default:
              break;
          }
        }
        v1::Decision fresh;
        const std::string want =
            Bytes(policy->Evaluate(findings[i], options, &fresh), fresh);
        ASSERT_EQ(
            Bytes(policy->Evaluate(findings[i], options, &reused), reused),
            want)
            << "finding " << i << " cache " << cache;
        ASSERT_EQ(
            Bytes(policy->Evaluate(findings[i], options, on_arena), *on_arena),
            want)
            << "finding " << i << " cache " << cache;
      }
    }
  }
}

// The key writes one byte for all the fields under a sub-message the
// finding does not have (the walk's presence byte; CoreProjection::Item::
// group in BuildKey()): findings that
// differ only in having a sub-message (set, empty, or absent), decided
// one after the other so that each may hit the other's core, must
// decide as the plain interpreter does.
TEST(CoreCacheTest, FindingsWithAndWithoutASubMessageDoNotShareACore) {
  std::vector<v1::Finding> findings;
  for (const v1::Finding& f : ExampleFindings()) {
    const auto* d = f.GetDescriptor();
    const auto* r = f.GetReflection();
    for (int i = 0; i < d->field_count(); ++i) {
      const auto* field = d->field(i);
      if (field->cpp_type() !=
              google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE ||
          field->is_repeated() || !r->HasField(f, field)) {
        continue;
      }
      findings.push_back(f);
      v1::Finding absent = f;
      r->ClearField(&absent, field);
      findings.push_back(absent);
      v1::Finding empty = f;
      r->MutableMessage(&empty, field)->Clear();
      findings.push_back(empty);
      findings.push_back(f);
    }
  }
  ASSERT_GT(findings.size(), 100u);
  for (const std::string& yaml :
       {Source("policies/default.yaml"), std::string(kWidePolicy)}) {
    const auto policy = MustCompile(yaml);
    ASSERT_NE(policy, nullptr);
    for (const v1::DecisionView view :
         {v1::DECISION_VIEW_BASIC, v1::DECISION_VIEW_FULL}) {
      for (size_t i = 0; i < findings.size(); ++i) {
        EvalOptions options;
        options.as_of = Day(2026, 12, 1);
        options.view = view;
        v1::Decision cached, plain;
        const std::string fast =
            Bytes(policy->Evaluate(findings[i], options, &cached), cached);
        options.use_core_cache = false;
        ASSERT_EQ(fast,
                  Bytes(policy->Evaluate(findings[i], options, &plain), plain))
            << "finding " << i << " view " << view
            << "\ncached: " << cached.DebugString()
            << "\nplain: " << plain.DebugString();
      }
    }
  }
}

// A finding with unknown fields (a newer client's): through the cache its
// decision id comes from the same walk as the key, which must then hand
// the id's bytes to protobuf (the encoder leaves unknown fields out), and
// its key is BuildKey()'s. Decided between copies without them, so that
// each may meet the other's core, it decides as the plain interpreter
// does, id included.
TEST(CoreCacheTest, FindingsWithUnknownFieldsDecideAsThePlainInterpreter) {
  std::vector<v1::Finding> findings;
  int with_controls = 0;
  for (const v1::Finding& f : ExampleFindings()) {
    findings.push_back(f);
    v1::Finding unknown = f;
    unknown.GetReflection()->MutableUnknownFields(&unknown)->AddVarint(900, 1);
    findings.push_back(unknown);
    if (f.compensating_controls_size() > 0) {
      v1::Finding control = f;
      v1::CompensatingControl* c = control.mutable_compensating_controls(0);
      c->GetReflection()->MutableUnknownFields(c)->AddVarint(901, 2);
      findings.push_back(control);
      ++with_controls;
    }
    findings.push_back(f);
  }
  ASSERT_GT(with_controls, 0);
  const auto policy = MustCompile(Source("policies/default.yaml"));
  ASSERT_NE(policy, nullptr);
  for (const v1::DecisionView view :
       {v1::DECISION_VIEW_BASIC, v1::DECISION_VIEW_FULL}) {
    for (const v1::Finding& f : findings) {
      EvalOptions options;
      options.as_of = Day(2026, 12, 1);
      options.view = view;
      v1::Decision cached;
      ASSERT_TRUE(CachedEqualsPlain(*policy, f, options, &cached));
    }
  }
}

TEST(CoreCacheTest, AReloadedPolicyNeverSeesItsPredecessorsCores) {
  const std::string yaml = Source("policies/default.yaml");
  // The same document with the default rule deciding MITIGATE: a cache
  // keyed on anything but the compiled policy would answer REMEDIATE.
  std::string changed = yaml;
  const std::string from =
      "default:\n  description: Remediation is the default. The deadline is "
      "the more urgent of SSVC and BOD 26-04.\n  treatment: REMEDIATE";
  const size_t at = changed.find(from);
  ASSERT_NE(at, std::string::npos);
  changed.replace(at, from.size(),
                  absl::StrReplaceAll(from, {{"treatment: REMEDIATE",
                                              "treatment: ACCEPT\n"
                                              "  review_within: 30d"}}));
  const auto before = MustCompile(yaml);
  const auto after = MustCompile(changed);
  const auto again = MustCompile(yaml);  // Same text, new policy object.
  ASSERT_TRUE(before && after && again);
  int differ = 0;
  for (const v1::Finding& finding : ExampleFindings()) {
    for (const auto* policy :
         {before.get(), after.get(), again.get(), after.get(), before.get()}) {
      EvalOptions options;
      options.as_of = Day(2026, 12, 1);
      options.view = v1::DECISION_VIEW_BASIC;
      v1::Decision cached, plain;
      const std::string fast =
          Bytes(policy->Evaluate(finding, options, &cached), cached);
      options.use_core_cache = false;
      const std::string slow =
          Bytes(policy->Evaluate(finding, options, &plain), plain);
      EXPECT_EQ(fast, slow) << finding.id();
    }
    v1::Decision a, b;
    EvalOptions options;
    options.as_of = Day(2026, 12, 1);
    ASSERT_TRUE(before->Evaluate(finding, options, &a).ok());
    ASSERT_TRUE(after->Evaluate(finding, options, &b).ok());
    differ += a.treatment() != b.treatment();
  }
  EXPECT_GT(differ, 0);  // The two policies do decide differently.
}

TEST(CoreCacheTest, KeyHoldsWhatTheDefaultPolicysCoreReads) {
  const auto policy = MustCompile(Source("policies/default.yaml"));
  ASSERT_NE(policy, nullptr);
  const std::string key = policy->DescribeCoreKey();
  // Exceptions compare cve_id and asset.id with constants: the key holds
  // which constant they equal, not the text.
  EXPECT_NE(key.find("vulnerability.cve_id (== "), std::string::npos) << key;
  EXPECT_NE(key.find("asset.id (== "), std::string::npos) << key;
  EXPECT_NE(key.find("vulnerability.cvss.vector,"), std::string::npos) << key;
  EXPECT_NE(key.find("now"), std::string::npos) << key;
  EXPECT_NE(key.find("intel"), std::string::npos) << key;
  // Read only by texts (reasons, actions), which are rendered per decision.
  EXPECT_EQ(key.find("title"), std::string::npos) << key;
  EXPECT_EQ(key.find("malware.family"), std::string::npos) << key;
}

TEST(CoreCacheTest, PolicyWhoseRulesReadTheFindingIdIsNotCached) {
  const auto policy = MustCompile(R"yaml(name: by-id
version: "1"
priorities:
  - {name: P1, remediate_within: 3d}
rules:
  - id: one
    when: 'id.startsWith("a")'
    treatment: REMEDIATE
    priority: P1
default:
  treatment: REMEDIATE
  priority: P1
)yaml");
  ASSERT_NE(policy, nullptr);
  EXPECT_EQ(policy->DescribeCoreKey(), "");
  v1::Finding finding;
  finding.set_id("a-1");
  finding.set_kind(v1::FINDING_KIND_VULNERABILITY);
  EvalOptions options;
  options.as_of = Day(2026, 12, 1);
  v1::Decision decision;
  const Counts before = Now();
  ASSERT_TRUE(policy->Evaluate(finding, options, &decision).ok());
  const Counts after = Now();
  EXPECT_EQ(decision.matched_rule(), "one");
  EXPECT_EQ(after.hits + after.misses, before.hits + before.misses);
}

TEST(CoreCacheTest, ThreadsBeyondTheCacheBudgetDecideTheSame) {
  const auto policy = MustCompile(Source("policies/default.yaml"));
  ASSERT_NE(policy, nullptr);
  const std::vector<v1::Finding> findings = Findings(200);
  EvalOptions options;
  options.as_of = Day(2026, 12, 1);
  options.use_core_cache = false;
  std::vector<std::string> expected;
  for (const v1::Finding& f : findings) {
    v1::Decision d;
    expected.push_back(Bytes(policy->Evaluate(f, options, &d), d));
  }
  options.use_core_cache = true;
  // More threads than caches: some decide through a cache, the rest with
  // the plain interpreter, all at once.
  constexpr int kThreads = internal::CoreCache::kMaxThreads + 4;
  std::vector<int> mismatches(kThreads, 0);
  std::vector<uint64_t> hits(kThreads, 0);
  std::atomic<int> finished{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round) {
        for (size_t i = 0; i < findings.size(); ++i) {
          v1::Decision d;
          if (Bytes(policy->Evaluate(findings[i], options, &d), d) !=
              expected[i]) {
            ++mismatches[t];
          }
        }
      }
      hits[t] = internal::CoreCache::ThreadHits();
      // Keep this thread's cache until every thread is done, so that no
      // cache changes hands and the budget is visible.
      finished.fetch_add(1);
      while (finished.load() < kThreads) std::this_thread::yield();
    });
  }
  for (auto& thread : threads) thread.join();
  int cached_threads = 0;
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(mismatches[t], 0) << "thread " << t;
    cached_threads += hits[t] > 0;
  }
  EXPECT_GE(cached_threads, 1);
  EXPECT_LE(cached_threads, internal::CoreCache::kMaxThreads);
}

TEST(CoreCacheTest, AStreamThatNeverHitsStopsPayingForTheCache) {
  const auto policy = MustCompile(Source("policies/default.yaml"));
  ASSERT_NE(policy, nullptr);
  // Cores that all differ: every lookup misses.
  std::vector<v1::Finding> findings;
  const std::vector<v1::Finding> examples = ExampleFindings();
  for (int i = 0; i < internal::CoreCache::kWindow + 200; ++i) {
    v1::Finding f = examples[i % examples.size()];
    f.mutable_vulnerability()->mutable_epss()->set_score(i / 4096.0);
    findings.push_back(std::move(f));
  }
  uint64_t lookups_in_window = 0, lookups_after = 0;
  int mismatches = 0;
  // A thread of its own: a fresh window.
  std::thread([&] {
    EvalOptions options;
    options.as_of = Day(2026, 12, 1);
    options.view = v1::DECISION_VIEW_BASIC;
    for (size_t i = 0; i < findings.size(); ++i) {
      if (i == static_cast<size_t>(internal::CoreCache::kWindow)) {
        lookups_in_window = Now().hits + Now().misses;
      }
      v1::Decision cached, plain;
      options.use_core_cache = true;
      const std::string fast =
          Bytes(policy->Evaluate(findings[i], options, &cached), cached);
      options.use_core_cache = false;
      mismatches +=
          fast != Bytes(policy->Evaluate(findings[i], options, &plain), plain);
    }
    lookups_after = Now().hits + Now().misses;
  }).join();
  EXPECT_EQ(mismatches, 0);
  EXPECT_EQ(lookups_in_window,
            static_cast<uint64_t>(internal::CoreCache::kWindow));
  EXPECT_EQ(lookups_after, lookups_in_window);  // Bypassed since.
}

// FULL decisions keep an action's condition in the core's entry only when
// the key determines it (CompiledAction::when_keyed): findings that share
// a core but differ in a field an action's condition reads outside the
// key (asset.name through a let, asset.id compared with a constant the
// core does not know, `now`) must still get their own actions, and the
// texts must quote each finding.
TEST(CoreCacheTest, ActionConditionsOutsideTheKeyAreDecidedPerFinding) {
  constexpr char kPolicy[] = R"yaml(name: action-memo
version: "1"
priorities:
  - {name: P1, mitigate_within: 24h, remediate_within: 3d, review_within: 7d}
let:
  named_db: 'asset.name == "db"'
rules:
  - id: vuln
    when: 'kind == "VULNERABILITY" && asset.id != "skip"'
    treatment: REMEDIATE
    priority: P1
    actions: [by-kind, by-name, by-other-id, by-same-id, by-now]
default:
  treatment: REMEDIATE
  priority: P1
actions:
  - {id: by-kind, category: REMEDIATION, when: 'kind == "VULNERABILITY"', text: "Fix {{asset.id}} ({{asset.name}})"}
  - {id: by-name, category: REMEDIATION, when: named_db, text: "Database {{asset.name}}"}
  - {id: by-other-id, category: REMEDIATION, when: 'asset.id == "web-1"', text: "Web one"}
  - {id: by-same-id, category: REMEDIATION, when: 'asset.id != "skip"', text: "Not skipped"}
  - {id: by-now, category: MONITORING, when: 'now > timestamp("2027-01-01T00:00:00Z")', text: "Late"}
)yaml";
  const auto policy = MustCompile(kPolicy);
  ASSERT_NE(policy, nullptr);
  int compared = 0;
  for (const absl::Time as_of : {Day(2026, 12, 1), Day(2027, 6, 1)}) {
    // web-2 and web-1 share a core (neither is "skip"), and so do the
    // names: each decision follows one that filled the entry.
    for (const char* id : {"web-2", "web-1", "web-2", "skip", "web-1"}) {
      for (const char* name : {"app", "db", "app"}) {
        v1::Finding f;
        f.set_id(absl::StrCat(id, "/", name));
        f.set_kind(v1::FINDING_KIND_VULNERABILITY);
        f.mutable_asset()->set_id(id);
        f.mutable_asset()->set_name(name);
        EvalOptions options;
        options.as_of = as_of;
        v1::Decision cached, plain;
        const std::string fast =
            Bytes(policy->Evaluate(f, options, &cached), cached);
        options.use_core_cache = false;
        const std::string slow =
            Bytes(policy->Evaluate(f, options, &plain), plain);
        ASSERT_EQ(fast, slow) << f.ShortDebugString() << "\n"
                              << cached.DebugString();
        ++compared;
        if (absl::string_view(id) == "skip") continue;
        std::string want = "by-kind";
        if (absl::string_view(name) == "db") want += ",by-name";
        if (absl::string_view(id) == "web-1") want += ",by-other-id";
        want += ",by-same-id";
        if (as_of > Day(2027, 1, 1)) want += ",by-now";
        EXPECT_EQ(ActionIds(cached), want) << f.ShortDebugString();
        EXPECT_EQ(cached.actions(0).text(),
                  absl::StrCat("Fix ", id, " (", name, ")"));
      }
    }
  }
  EXPECT_EQ(compared, 30);
}

// An action condition that is not keyed as a whole keeps only its keyed
// top-level `&&` operands in the core's entry (CompiledAction::
// keyed_guard) and runs the others per decision; `||` and `!` are not
// split. Placeholders the key determines are rendered once per entry
// (TextTemplate::NumberKeptParts), the others per decision. Findings that
// share a core (the policy's reads only `kind`) and differ in asset.name
// must each get their own actions and texts, from the cache.
TEST(CoreCacheTest, MixedActionConditionsAndTextsFollowFieldsOutsideTheKey) {
  constexpr char kPolicy[] = R"yaml(name: mixed-memo
version: "1"
priorities:
  - {name: P1, mitigate_within: 24h, remediate_within: 3d, review_within: 7d}
rules:
  - id: vuln
    when: 'kind == "VULNERABILITY"'
    treatment: REMEDIATE
    priority: P1
    reason: 'Seen on {{asset.name + "?"}} ({{kind == "VULNERABILITY" ? "v" : "o"}})'
    actions: [and-db, or-malware, or-vuln, not-and]
default:
  treatment: REMEDIATE
  priority: P1
actions:
  - id: and-db
    category: REMEDIATION
    when: 'kind == "VULNERABILITY" && asset.name == "db"'
    text: 'Database {{asset.name + "!"}} {{kind == "VULNERABILITY" ? "v" : "o"}}'
  - id: or-malware
    category: REMEDIATION
    when: 'kind == "MALWARE" || asset.name == "db"'
    text: 'Or {{size(asset.name)}}'
  - id: or-vuln
    category: MONITORING
    when: 'kind == "VULNERABILITY" || asset.name == "db"'
    text: 'Always'
  - id: not-and
    category: MONITORING
    when: '!(kind == "VULNERABILITY" && asset.name == "db")'
    text: 'Not {{asset.name + "!"}}'
)yaml";
  const auto policy = MustCompile(kPolicy);
  ASSERT_NE(policy, nullptr);
  ASSERT_FALSE(policy->DescribeCoreKey().empty());
  ASSERT_EQ(policy->DescribeCoreKey().find("asset.name"), std::string::npos)
      << policy->DescribeCoreKey();
  const Counts before = Now();
  int compared = 0;
  for (const absl::Time as_of : {Day(2026, 12, 1), Day(2027, 6, 1)}) {
    for (const char* name : {"app", "db", "app", "db", "db", "app"}) {
      v1::Finding f;
      f.set_id(name);
      f.set_kind(v1::FINDING_KIND_VULNERABILITY);
      f.mutable_asset()->set_id("host");
      f.mutable_asset()->set_name(name);
      EvalOptions options;
      options.as_of = as_of;
      options.view = v1::DECISION_VIEW_FULL;
      v1::Decision cached;
      ASSERT_TRUE(CachedEqualsPlain(*policy, f, options, &cached));
      ++compared;
      const bool db = absl::string_view(name) == "db";
      EXPECT_EQ(ActionIds(cached),
                db ? "and-db,or-malware,or-vuln" : "or-vuln,not-and")
          << f.ShortDebugString();
      ASSERT_GE(cached.reasons_size(), 1);
      EXPECT_EQ(cached.reasons(0), absl::StrCat("Seen on ", name, "? (v)"));
      EXPECT_EQ(cached.actions(0).text(), db ? "Database db! v" : "Always");
      EXPECT_EQ(cached.actions(1).text(), db ? "Or 2" : "Not app!");
    }
  }
  const Counts after = Now();
  EXPECT_EQ(compared, 12);
  // One core for all: every decision but the first of each as_of (at
  // most) comes from the cache.
  EXPECT_GE(after.hits - before.hits, 10u);
}

// The BASIC view writes a core's last deadlines again when as_of, the
// finding's first_seen and its KEV due date repeat: findings (and as_of
// values) that share a core (this policy's reads only `kind`, not `now`)
// but not those get their own, from the cache.
TEST(CoreCacheTest, BasicDeadlinesFollowFirstSeenAndKevDueDateWithinACore) {
  constexpr char kPolicy[] = R"yaml(name: deadline-memo
version: "1"
priorities:
  - {name: P1, mitigate_within: 24h, remediate_within: 30d, review_within: 7d}
rules:
  - id: vuln
    when: 'kind == "VULNERABILITY"'
    treatment: MITIGATE_THEN_REMEDIATE
    priority: P1
default:
  treatment: REMEDIATE
  priority: P1
)yaml";
  const auto policy = MustCompile(kPolicy);
  ASSERT_NE(policy, nullptr);
  const absl::Time as_of = Day(2026, 12, 1);
  const absl::Time later = Day(2027, 3, 1);
  const absl::Time seen = Day(2026, 11, 1);
  const absl::Duration within = absl::Hours(24 * 30);
  const absl::Time none = absl::InfinitePast();  // Field not set.
  struct Case {
    absl::Time first_seen;
    absl::Time kev_due;
    absl::Time remediate_by;  // What the decision must say.
    absl::Time as_of;
  };
  // Each case follows one that differs from it in one thing only.
  const Case cases[] = {
      {seen, none, seen + within, as_of},
      {seen, none, seen + within, as_of},
      {seen + absl::Seconds(1), none, seen + absl::Seconds(1) + within, as_of},
      {seen, none, seen + within, as_of},
      {seen + absl::Nanoseconds(5), none, seen + absl::Nanoseconds(5) + within,
       as_of},
      {none, none, as_of + within, as_of},
      {absl::UnixEpoch(), none, absl::UnixEpoch() + within, as_of},
      {none, none, as_of + within, as_of},
      {seen, Day(2026, 11, 5), Day(2026, 11, 5), as_of},
      {seen, Day(2026, 11, 5) + absl::Nanoseconds(7),
       Day(2026, 11, 5) + absl::Nanoseconds(7), as_of},
      {seen, Day(2026, 11, 5), Day(2026, 11, 5), as_of},
      {seen, Day(2026, 11, 6), Day(2026, 11, 6), as_of},
      {seen, Day(2027, 1, 1), seen + within, as_of},
      {seen, none, seen + within, as_of},
      {seen, absl::UnixEpoch(), absl::UnixEpoch(), as_of},
      // as_of alone moves a deadline counted from it, and not one counted
      // from first_seen or a KEV due date.
      {none, none, later + within, later},
      {none, none, as_of + within, as_of},
      {none, none, as_of + within + absl::Seconds(1), as_of + absl::Seconds(1)},
      {seen, none, seen + within, later},
      {seen, none, seen + within, as_of},
      {seen, Day(2026, 11, 5), Day(2026, 11, 5), later},
      {none, Day(2026, 11, 5), Day(2026, 11, 5), as_of},
      {none, Day(2027, 6, 1), later + within, later},
      {none, Day(2027, 6, 1), Day(2027, 6, 1), as_of + absl::Hours(24 * 200)},
      {none, none, as_of + within, as_of},
  };
  const auto set = [](absl::Time t, google::protobuf::Timestamp* out) {
    out->set_seconds(absl::ToUnixSeconds(t));
    out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(
        t - absl::FromUnixSeconds(absl::ToUnixSeconds(t)))));
  };
  const Counts before = Now();
  for (const Case& c : cases) {
    v1::Finding f;
    f.set_id("f");
    f.set_kind(v1::FINDING_KIND_VULNERABILITY);
    if (c.first_seen != none) set(c.first_seen, f.mutable_first_seen());
    if (c.kev_due != none) {
      set(c.kev_due,
          f.mutable_vulnerability()->mutable_kev()->mutable_due_date());
    }
    EvalOptions options;
    options.as_of = c.as_of;
    options.view = v1::DECISION_VIEW_BASIC;
    v1::Decision cached;
    ASSERT_TRUE(CachedEqualsPlain(*policy, f, options, &cached));
    EXPECT_EQ(absl::FromUnixSeconds(cached.remediate_by().seconds()) +
                  absl::Nanoseconds(cached.remediate_by().nanos()),
              c.remediate_by)
        << f.ShortDebugString() << " as_of " << absl::FormatTime(c.as_of);
  }
  // One core: every decision but the first is served from its entry.
  EXPECT_EQ(Now().hits - before.hits, std::size(cases) - 1);
}

// A let the rules read but a core skipped (a short-circuit) is computed
// per decision; when it reads `now`, an action condition on it is not kept
// for the next as_of.
TEST(CoreCacheTest, ActionConditionsOnACoreLetThatReadsNowFollowAsOf) {
  constexpr char kPolicy[] = R"yaml(name: action-memo-now
version: "1"
priorities:
  - {name: P1, mitigate_within: 24h, remediate_within: 3d, review_within: 7d}
let:
  late: 'now > timestamp("2027-01-01T00:00:00Z")'
rules:
  - id: special
    when: 'asset.id == "special" && late'
    treatment: MITIGATE
    priority: P1
  - id: vuln
    when: 'kind == "VULNERABILITY"'
    treatment: REMEDIATE
    priority: P1
    actions: [by-late]
default:
  treatment: REMEDIATE
  priority: P1
actions:
  - {id: by-late, category: MONITORING, when: late, text: "Late"}
)yaml";
  const auto policy = MustCompile(kPolicy);
  ASSERT_NE(policy, nullptr);
  v1::Finding f;
  f.set_id("f");
  f.set_kind(v1::FINDING_KIND_VULNERABILITY);
  f.mutable_asset()->set_id("web");
  for (const absl::Time as_of :
       {Day(2026, 12, 1), Day(2027, 6, 1), Day(2026, 12, 1)}) {
    EvalOptions options;
    options.as_of = as_of;
    v1::Decision cached, plain;
    const std::string fast =
        Bytes(policy->Evaluate(f, options, &cached), cached);
    options.use_core_cache = false;
    const std::string slow = Bytes(policy->Evaluate(f, options, &plain), plain);
    EXPECT_EQ(fast, slow) << cached.DebugString();
    EXPECT_EQ(cached.actions_size(), as_of > Day(2027, 1, 1) ? 1 : 0);
  }
}

}  // namespace
}  // namespace treatd
