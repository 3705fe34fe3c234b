#include "common/policy/revisit/revisit.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/expr/parser/ast.h"
#include "common/expr/parser/parser.h"
#include "common/text/treatment_name.h"
#include "common/time/proto_time.h"

namespace treatd {
namespace {

using expr::Expr;
using expr::ExprKind;

// `x.epss.score` for any x.
bool IsEpssScore(const Expr& e) {
  return e.kind == ExprKind::kSelect && e.text == "score" && !e.args.empty() &&
         e.args[0]->kind == ExprKind::kSelect && e.args[0]->text == "epss";
}

class ThresholdCollector {
 public:
  // Lets whose whole expression is the EPSS score stand for it.
  void AddAlias(std::string name) { aliases_.insert(std::move(name)); }

  void Walk(const Expr& e) {
    if (e.kind == ExprKind::kBinary && e.args.size() == 2) {
      Visit(*e.args[0], *e.args[1], e.text, /*score_left=*/true);
      Visit(*e.args[1], *e.args[0], e.text, /*score_left=*/false);
    }
    for (const auto& arg : e.args) Walk(*arg);
  }

  std::vector<EpssThreshold> Take() {
    std::sort(found_.begin(), found_.end(),
              [](const EpssThreshold& a, const EpssThreshold& b) {
                if (a.value != b.value) return a.value < b.value;
                return a.inclusive && !b.inclusive;
              });
    found_.erase(std::unique(found_.begin(), found_.end()), found_.end());
    return std::move(found_);
  }

 private:
  bool IsScore(const Expr& e) const {
    return IsEpssScore(e) ||
           (e.kind == ExprKind::kIdent && aliases_.contains(e.text));
  }

  void Visit(const Expr& score, const Expr& literal, const std::string& op,
             bool score_left) {
    if (!IsScore(score) || literal.kind != ExprKind::kLiteral) return;
    double value = 0;
    if (literal.literal == expr::LiteralKind::kDouble) {
      value = literal.double_value;
    } else if (literal.literal == expr::LiteralKind::kInt) {
      value = static_cast<double>(literal.int_value);
    } else {
      return;
    }
    if (!(value >= 0 && value <= 1)) return;
    // Normalise to "score OP value".
    std::string o = op;
    if (!score_left) {
      if (o == "<")
        o = ">";
      else if (o == ">")
        o = "<";
      else if (o == "<=")
        o = ">=";
      else if (o == ">=")
        o = "<=";
    }
    if (o == ">=" || o == "<") {
      found_.push_back({value, true});
    } else if (o == ">" || o == "<=" || o == "==" || o == "!=") {
      found_.push_back({value, o == "=="});
    }
  }

  absl::flat_hash_set<std::string> aliases_;
  std::vector<EpssThreshold> found_;
};

// Every expression of `policy`, with let names alongside their text.
void CollectExpressions(const v1::Policy& policy,
                        std::vector<std::pair<std::string, std::string>>* out) {
  for (const auto& [name, text] : policy.let()) out->emplace_back(name, text);
  for (const auto& table : policy.tables()) {
    for (const auto& input : table.inputs())
      out->emplace_back("", input.expr());
  }
  out->emplace_back("", policy.risk().inherent());
  out->emplace_back("", policy.risk().residual());
  for (const auto& rule : policy.rules()) {
    out->emplace_back("", rule.when());
    out->emplace_back("", rule.priority_expr());
  }
  out->emplace_back("", policy.default_().priority_expr());
  for (const auto& e : policy.exceptions()) out->emplace_back("", e.when());
  for (const auto& a : policy.actions()) out->emplace_back("", a.when());
}

// "not_affected", "affected", "fixed", "under_investigation": the status
// as VEX documents spell it.
std::string VexStatusText(v1::VexStatus status) {
  std::string name = v1::VexStatus_Name(status);
  constexpr absl::string_view kPrefix = "VEX_STATUS_";
  if (absl::string_view(name).substr(0, kPrefix.size()) == kPrefix) {
    name.erase(0, kPrefix.size());
  }
  return absl::AsciiStrToLower(name);
}

// The DecideTreatment() outcomes of one AddConditions(), in call order,
// replayed for the next finding with the same RevisitKey(): which
// variations are tried and what each decides follow from that key alone
// (see RevisitKey()), so only the conditions' texts, which quote the
// finding (its CVE id, the VEX author), are built per finding.
struct Replay {
  std::string key;
  uint64_t hash = 0;
  bool valid = false;
  // Their priority and rule names point into the policy, which lives as
  // long as any key naming its process-wide id can be looked up.
  std::vector<TreatmentOutcome> outcomes;
};

// A per-thread, direct-mapped store of Replays. Only threads whose
// decisions carry a core key (at most CoreCache::kMaxThreads at a time)
// ever allocate one: kEntries of about 1 KB each for the default policy.
// An entry is valid until the thread's next Insert().
class ReplayCache {
 public:
  static constexpr size_t kEntries = 256;

  static ReplayCache& ForThisThread() {
    static thread_local ReplayCache cache;
    return cache;
  }

  const Replay* Find(absl::string_view key, uint64_t hash) {
    if (entries_ == nullptr) return nullptr;
    const Replay& e = entries_[hash % kEntries];
    return e.valid && e.hash == hash && e.key == key ? &e : nullptr;
  }
  // The entry to record `key` into, reset; the caller sets `valid` once
  // every outcome is in.
  Replay* Insert(absl::string_view key, uint64_t hash) {
    if (entries_ == nullptr) entries_ = std::make_unique<Replay[]>(kEntries);
    Replay& e = entries_[hash % kEntries];
    e.valid = false;
    e.key.assign(key.data(), key.size());
    e.hash = hash;
    e.outcomes.clear();
    return &e;
  }

 private:
  std::unique_ptr<Replay[]> entries_;
};

thread_local uint64_t thread_replays = 0;

template <typename T>
void PutFixed(T v, std::string* key) {
  key->append(reinterpret_cast<const char*>(&v), sizeof(v));
}

// What AddConditions() decides its variations from, as bytes: the
// evaluation's core key (every fact the rules, exceptions, risk scores
// and tables read, so that the key of each variation follows from it and
// the change), the as_of and the decision's treatment and exception
// (expiry is a variation at another as_of), and every fact of the finding
// that chooses which variations are tried or what they change (some are
// in the core key too, but perhaps only as "equals one of the policy's
// constants"). Empty without a core key.
absl::string_view RevisitKey(const v1::Finding& finding,
                             const EvalOptions& options,
                             const v1::Decision& decision,
                             absl::string_view core_key, std::string* key) {
  key->clear();
  if (core_key.empty()) return {};
  const int64_t seconds = absl::ToUnixSeconds(options.as_of);
  PutFixed(seconds, key);
  PutFixed(
      absl::ToInt64Nanoseconds(options.as_of - absl::FromUnixSeconds(seconds)),
      key);
  PutFixed<char>(options.as_of == absl::InfiniteFuture(), key);
  PutFixed<int32_t>(decision.treatment(), key);
  PutFixed<int32_t>(decision.match_kind(), key);
  PutFixed<char>(decision.exception().applied(), key);
  PutFixed<int64_t>(decision.exception().expires().seconds(), key);
  PutFixed<int32_t>(decision.exception().expires().nanos(), key);
  const v1::Vex& vex = finding.vex();
  PutFixed<char>(finding.has_vex(), key);
  PutFixed<int32_t>(vex.status(), key);
  PutFixed<int32_t>(vex.justification(), key);
  PutFixed<char>(vex.justification_label().empty(), key);
  PutFixed<char>(vex.impact_statement().empty(), key);
  PutFixed<int32_t>(finding.fix().availability(), key);
  PutFixed<int32_t>(finding.kind(), key);
  const v1::Vulnerability& vuln = finding.vulnerability();
  PutFixed<char>(vuln.cve_id().empty(), key);
  PutFixed<char>(vuln.kev().listed(), key);
  PutFixed<char>(vuln.epss().has_score(), key);
  PutFixed<double>(vuln.epss().score(), key);
  PutFixed<int32_t>(finding.asset().exposure(), key);
  key->append(core_key.data(), core_key.size());
  return *key;
}

}  // namespace

RevisitAnalyzer::RevisitAnalyzer(std::shared_ptr<const CompiledPolicy> policy,
                                 std::vector<EpssThreshold> thresholds)
    : policy_(std::move(policy)), epss_thresholds_(std::move(thresholds)) {}

absl::StatusOr<std::shared_ptr<const RevisitAnalyzer>> RevisitAnalyzer::Create(
    std::shared_ptr<const CompiledPolicy> policy) {
  if (policy == nullptr) {
    return absl::InvalidArgumentError("RevisitAnalyzer needs a policy");
  }
  std::vector<std::pair<std::string, std::string>> sources;
  CollectExpressions(policy->policy(), &sources);
  std::vector<std::pair<std::string, std::unique_ptr<Expr>>> parsed;
  ThresholdCollector collector;
  for (auto& [let, text] : sources) {
    if (text.empty()) continue;
    absl::StatusOr<std::unique_ptr<Expr>> e = expr::Parse(text, nullptr);
    if (!e.ok()) {
      return absl::InternalError(absl::StrCat(
          "expression of a compiled policy does not parse: ", text));
    }
    if (!let.empty() && IsEpssScore(**e)) collector.AddAlias(let);
    parsed.emplace_back(let, *std::move(e));
  }
  for (const auto& entry : parsed) collector.Walk(*entry.second);
  return std::shared_ptr<const RevisitAnalyzer>(
      new RevisitAnalyzer(std::move(policy), collector.Take()));
}

uint64_t RevisitAnalyzer::ThreadReplays() { return thread_replays; }

absl::Status RevisitAnalyzer::AddConditions(const v1::Finding& finding,
                                            const EvalOptions& options,
                                            v1::Decision* decision,
                                            const EvaluationMemo* base) const {
  const v1::Treatment treatment = decision->treatment();
  const bool temporary =
      treatment == v1::TREATMENT_MITIGATE || treatment == v1::TREATMENT_ACCEPT;
  // A statement still under investigation will change: whatever the
  // treatment, say what each final status would make of it.
  const bool investigating =
      finding.vex().status() == v1::VEX_STATUS_UNDER_INVESTIGATION;
  if (!temporary && !investigating) return absl::OkStatus();
  EvalOptions flipped_options = options;
  flipped_options.trace = false;
  // A finding with the same RevisitKey() was analysed before on this
  // thread: its variations' outcomes are replayed (`replay`) instead of
  // decided; else they are recorded (`record`) for the next one.
  thread_local std::string key_buffer;
  const absl::string_view key = RevisitKey(
      finding, options, *decision,
      base != nullptr ? base->core_key() : absl::string_view(), &key_buffer);
  const Replay* replay = nullptr;
  Replay* record = nullptr;
  if (!key.empty()) {
    ReplayCache& cache = ReplayCache::ForThisThread();
    const uint64_t hash =
        std::hash<std::string_view>()(std::string_view(key.data(), key.size()));
    replay = cache.Find(key, hash);
    if (replay == nullptr) {
      record = cache.Insert(key, hash);
    } else {
      ++thread_replays;
    }
  }
  size_t replayed = 0;
  // The finding with one fact changed at a time, each change undone before
  // the next. Reused across calls on this thread: copying into it reuses
  // its memory, where a fresh copy per flip allocated every string again.
  // Not needed when replaying (the changes are then made to a stale copy
  // and never read).
  thread_local v1::Finding changed;
  if (replay == nullptr) changed.CopyFrom(finding);
  TreatmentOutcome flipped;
  // What each variation may reuse: `base`, except where the changed fact
  // is one the memo does not track (the VEX statement).
  const EvaluationMemo* memo = base;
  // Decides `changed` and, when its treatment differs, adds a condition.
  // Returns whether it did.
  // `what` renders the change's description, only when it alters the
  // treatment (most variations do not).
  auto try_flip = [&](const EvalOptions& opts, uint32_t fact,
                      v1::RevisitKind kind,
                      const auto& what) -> absl::StatusOr<bool> {
    if (replay != nullptr) {
      if (replayed >= replay->outcomes.size()) {
        return absl::InternalError(
            "revisit analysis: a replayed finding tried more variations "
            "than the one recorded under its key");
      }
      flipped = replay->outcomes[replayed++];
    } else {
      absl::Status status =
          policy_->DecideTreatment(changed, opts, &flipped, memo, fact);
      if (!status.ok()) return status;
      if (record != nullptr) record->outcomes.push_back(flipped);
    }
    if (flipped.treatment == treatment) return false;
    v1::RevisitCondition* c = decision->add_revisit_conditions();
    c->set_kind(kind);
    c->set_new_treatment(flipped.treatment);
    c->set_new_priority(std::string(flipped.priority));
    c->set_text(absl::StrCat(
        what(), ": the treatment becomes ", TreatmentName(flipped.treatment),
        " (", flipped.priority, ", rule ", flipped.matched_rule, ")"));
    return true;
  };

  if (finding.has_vex()) {
    // Each other status the statement could be revised to. A revision to
    // not_affected comes with a reason (the policy may ignore a bare one).
    const v1::Vex& vex = finding.vex();
    const bool says_why =
        vex.justification() != v1::VEX_JUSTIFICATION_UNSPECIFIED ||
        !vex.justification_label().empty() || !vex.impact_statement().empty();
    bool any = false;
    memo = nullptr;  // The memo tracks no VEX field: evaluate afresh.
    for (v1::VexStatus status :
         {v1::VEX_STATUS_NOT_AFFECTED, v1::VEX_STATUS_AFFECTED,
          v1::VEX_STATUS_FIXED, v1::VEX_STATUS_UNDER_INVESTIGATION}) {
      if (status == vex.status()) continue;
      changed.mutable_vex()->set_status(status);
      if (status == v1::VEX_STATUS_NOT_AFFECTED && !says_why) {
        changed.mutable_vex()->set_justification(
            v1::VEX_JUSTIFICATION_VULNERABLE_CODE_NOT_PRESENT);
      }
      const std::string& name = v1::VexStatus_Name(status);
      absl::StatusOr<bool> added = try_flip(
          flipped_options, kAllFacts, v1::REVISIT_KIND_VEX_STATUS_CHANGED, [&] {
            return absl::StrCat(
                "The VEX statement", vex.author().empty() ? "" : " of ",
                vex.author(), " is revised to ", VexStatusText(status),
                status == v1::VEX_STATUS_NOT_AFFECTED && !says_why
                    ? " (with a justification)"
                    : "");
          });
      *changed.mutable_vex() = vex;
      if (!added.ok()) return added.status();
      if (*added) {
        any = true;
        decision
            ->mutable_revisit_conditions(decision->revisit_conditions_size() -
                                         1)
            ->set_value(name);
      }
    }
    memo = base;
    if (investigating && !any) {
      // No final status alters the treatment, but its deadlines, actions
      // and reasons still follow the statement: decide again then.
      v1::RevisitCondition* c = decision->add_revisit_conditions();
      c->set_kind(v1::REVISIT_KIND_VEX_STATUS_CHANGED);
      c->set_new_treatment(treatment);
      c->set_new_priority(decision->priority());
      c->set_text(
          "The VEX statement under investigation gets its final status: "
          "decide again");
    }
  }
  if (!temporary) {
    if (record != nullptr) record->valid = true;
    return absl::OkStatus();
  }

  const v1::Vulnerability& vuln = finding.vulnerability();
  const bool names_cve = !vuln.cve_id().empty() ||
                         finding.kind() == v1::FINDING_KIND_VULNERABILITY;

  if (finding.fix().availability() != v1::FIX_AVAILABILITY_AVAILABLE) {
    changed.mutable_fix()->set_availability(v1::FIX_AVAILABILITY_AVAILABLE);
    absl::StatusOr<bool> added = try_flip(
        flipped_options, kFactFixAvailability, v1::REVISIT_KIND_FIX_AVAILABLE,
        [] { return "A fix becomes available"; });
    if (finding.has_fix()) {
      changed.mutable_fix()->set_availability(finding.fix().availability());
    } else {
      changed.clear_fix();
    }
    if (!added.ok()) return added.status();
  }

  if (names_cve && !vuln.kev().listed()) {
    changed.mutable_vulnerability()->mutable_kev()->set_listed(true);
    absl::StatusOr<bool> added = try_flip(
        flipped_options, kFactKevListed, v1::REVISIT_KIND_KEV_LISTED, [&] {
          return absl::StrCat(vuln.cve_id().empty() ? "The CVE" : vuln.cve_id(),
                              " is added to the CISA KEV catalog");
        });
    // Back to exactly what the finding had, presence included.
    if (!finding.has_vulnerability()) {
      changed.clear_vulnerability();
    } else if (!vuln.has_kev()) {
      changed.mutable_vulnerability()->clear_kev();
    } else {
      changed.mutable_vulnerability()->mutable_kev()->set_listed(false);
    }
    if (!added.ok()) return added.status();
  }

  if (names_cve) {
    const double current = vuln.epss().has_score() ? vuln.epss().score() : -1;
    for (const EpssThreshold& t : epss_thresholds_) {
      const double raised =
          t.inclusive ? t.value : std::nextafter(t.value, 2.0);
      if (raised <= current || raised > 1.0) continue;
      changed.mutable_vulnerability()->mutable_epss()->set_score(raised);
      absl::StatusOr<bool> added = try_flip(
          flipped_options, kFactEpssScore, v1::REVISIT_KIND_EPSS_ABOVE, [&] {
            return absl::StrFormat("The EPSS score %s %g",
                                   t.inclusive ? "reaches" : "exceeds",
                                   t.value);
          });
      // Back to exactly what the finding had, presence included.
      if (!finding.has_vulnerability()) {
        changed.clear_vulnerability();
      } else if (!vuln.has_epss()) {
        changed.mutable_vulnerability()->clear_epss();
      } else if (!vuln.epss().has_score()) {
        changed.mutable_vulnerability()->mutable_epss()->clear_score();
      } else {
        changed.mutable_vulnerability()->mutable_epss()->set_score(
            vuln.epss().score());
      }
      if (!added.ok()) return added.status();
      if (*added) {
        v1::RevisitCondition* c = decision->mutable_revisit_conditions(
            decision->revisit_conditions_size() - 1);
        c->set_threshold(t.value);
        break;
      }
    }
  }

  for (v1::Exposure exposure : {v1::EXPOSURE_INTERNET, v1::EXPOSURE_CONTROLLED,
                                v1::EXPOSURE_INTERNAL, v1::EXPOSURE_ISOLATED}) {
    if (exposure == finding.asset().exposure()) continue;
    changed.mutable_asset()->set_exposure(exposure);
    const std::string& name = v1::Exposure_Name(exposure);
    absl::StatusOr<bool> added = try_flip(
        flipped_options, kFactExposure, v1::REVISIT_KIND_EXPOSURE_CHANGED,
        [&] { return absl::StrCat("The asset's exposure becomes ", name); });
    if (finding.has_asset()) {
      changed.mutable_asset()->set_exposure(finding.asset().exposure());
    } else {
      changed.clear_asset();
    }
    if (!added.ok()) return added.status();
    if (*added) {
      decision
          ->mutable_revisit_conditions(decision->revisit_conditions_size() - 1)
          ->set_value(name);
    }
  }

  if (decision->match_kind() == v1::MATCH_KIND_EXCEPTION &&
      decision->exception().applied()) {
    EvalOptions later = flipped_options;
    later.as_of = FromProtoTime(decision->exception().expires());
    absl::StatusOr<bool> added =
        try_flip(later, kFactAsOf, v1::REVISIT_KIND_EXCEPTION_EXPIRES, [&] {
          return absl::StrCat("Exception ", decision->exception().id(),
                              " expires");
        });
    if (!added.ok()) return added.status();
    if (!*added) {
      // Same treatment without the exception: still worth a re-decision,
      // the priority and deadlines come from the rule then.
      v1::RevisitCondition* c = decision->add_revisit_conditions();
      c->set_kind(v1::REVISIT_KIND_EXCEPTION_EXPIRES);
      c->set_new_treatment(flipped.treatment);
      c->set_new_priority(std::string(flipped.priority));
      c->set_text(absl::StrCat("Exception ", decision->exception().id(),
                               " expires: the rule ", flipped.matched_rule,
                               " decides again"));
    }
    *decision
         ->mutable_revisit_conditions(decision->revisit_conditions_size() - 1)
         ->mutable_at() = decision->exception().expires();
  }

  if (decision->has_review_by()) {
    v1::RevisitCondition* c = decision->add_revisit_conditions();
    c->set_kind(v1::REVISIT_KIND_REVIEW_DUE);
    *c->mutable_at() = decision->review_by();
    c->set_text("The review date is reached: decide the finding again");
  }
  if (record != nullptr) record->valid = true;
  return absl::OkStatus();
}

}  // namespace treatd
