#include "common/policy/revisit/revisit.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

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
  // The finding with one fact changed at a time, each change undone before
  // the next. Reused across calls on this thread: copying into it reuses
  // its memory, where a fresh copy per flip allocated every string again.
  thread_local v1::Finding changed;
  changed.CopyFrom(finding);
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
    absl::Status status =
        policy_->DecideTreatment(changed, opts, &flipped, memo, fact);
    if (!status.ok()) return status;
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
  if (!temporary) return absl::OkStatus();

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
  return absl::OkStatus();
}

}  // namespace treatd
