#include "common/policy/pipeline/decision_pipeline.h"

#include <string>
#include <utility>

#include "absl/base/optimization.h"
#include "absl/strings/str_cat.h"
#include "common/intel/enrich.h"
#include "common/time/time_text.h"

namespace treatd {
namespace {

std::string StaleLine(const intel::FeedFreshness& feed,
                      absl::Duration max_age) {
  return absl::StrCat(feed.feed, " is ", FormatDurationText(feed.age), " old, ",
                      FormatDurationText(feed.stale_by),
                      " past the maximum age of ", FormatDurationText(max_age));
}

// The revisit analysis's status. A decision it failed on is no answer: it
// is cleared, as the engine clears one it could not finish.
absl::Status ClearedOnError(absl::Status status, v1::Decision* decision) {
  if (ABSL_PREDICT_FALSE(!status.ok())) decision->Clear();
  return status;
}

}  // namespace

DecisionPipeline::DecisionPipeline(
    std::shared_ptr<const CompiledPolicy> policy,
    std::shared_ptr<const RevisitAnalyzer> revisit,
    std::shared_ptr<const intel::IntelSnapshot> intel, IntelSettings settings)
    : policy_(std::move(policy)),
      revisit_(std::move(revisit)),
      intel_(std::move(intel)),
      settings_(settings) {}

absl::StatusOr<std::shared_ptr<const DecisionPipeline>>
DecisionPipeline::Create(std::shared_ptr<const CompiledPolicy> policy,
                         std::shared_ptr<const intel::IntelSnapshot> intel,
                         IntelSettings settings) {
  if (policy == nullptr) {
    return absl::InvalidArgumentError("a decision pipeline needs a policy");
  }
  absl::StatusOr<std::shared_ptr<const RevisitAnalyzer>> revisit =
      RevisitAnalyzer::Create(policy);
  if (!revisit.ok()) return revisit.status();
  return std::shared_ptr<const DecisionPipeline>(new DecisionPipeline(
      std::move(policy), *std::move(revisit), std::move(intel), settings));
}

absl::Status DecisionPipeline::Decide(const v1::Finding& finding,
                                      const EvalOptions& options,
                                      v1::Decision* decision) const {
  // What the evaluation computed, for the revisit analysis to reuse.
  thread_local EvaluationMemo thread_memo;
  // Only the revisit analysis (FULL) reads the memo.
  EvaluationMemo* memo = options.full() ? &thread_memo : nullptr;
  if (intel_ == nullptr) {
    absl::Status status = policy_->Evaluate(finding, options, decision, memo);
    if (!status.ok() || !options.full()) return status;
    return ClearedOnError(
        revisit_->AddConditions(finding, options, decision, memo), decision);
  }
  // Enrichment writes into a copy, made only when a feed supplies a fact;
  // one per thread, reused, so that copying reuses its memory. The copy
  // borrows from `finding`: it is given back before this returns.
  thread_local intel::FindingOverlay scratch;
  struct GiveBack {
    intel::FindingOverlay* overlay;
    ~GiveBack() { overlay->Return(); }
  } give_back{&scratch};
  intel::EnrichOptions enrich;
  enrich.feed_wins = settings_.feed_wins;
  enrich.max_age = settings_.max_age;
  enrich.as_of = options.as_of;
  // The BASIC view drops the report's texts (below): not building them
  // halves the enrichment's cost.
  enrich.texts = options.full();
  bool copied = false;
  intel::EnrichmentReport report =
      intel::EnrichFindingCopy(*intel_, enrich, finding, &scratch, &copied);
  const v1::Finding& enriched = copied ? scratch.finding() : finding;
  EvalOptions with_intel = options;
  with_intel.intel_stale = report.freshness.stale;
  if (report.freshness.kev.present) {
    with_intel.intel_kev_age = report.freshness.kev.age;
  }
  if (report.freshness.epss.present) {
    with_intel.intel_epss_age = report.freshness.epss.age;
  }
  absl::Status status = policy_->Evaluate(enriched, with_intel, decision, memo);
  // The BASIC view has neither intel nor revisit conditions.
  if (!status.ok() || !options.full()) return status;

  v1::IntelRef* ref = decision->mutable_intel();
  for (std::string& v : report.feed_versions)
    ref->add_feed_versions(std::move(v));
  for (std::string& f : report.facts) ref->add_facts(std::move(f));
  for (std::string& f : report.caller_facts_kept) {
    ref->add_caller_facts_kept(std::move(f));
  }
  ref->set_stale(report.freshness.stale);
  for (const intel::FeedFreshness* feed :
       {&report.freshness.kev, &report.freshness.epss}) {
    if (feed->present && feed->stale) {
      ref->add_stale_feeds(StaleLine(*feed, settings_.max_age));
    }
  }
  if (report.freshness.stale) {
    decision->add_reasons(
        absl::StrCat("Threat-intel feeds are stale (", ref->stale_feeds(0),
                     "): facts from them may be out of date"));
  }
  return ClearedOnError(
      revisit_->AddConditions(enriched, with_intel, decision, memo), decision);
}

}  // namespace treatd
