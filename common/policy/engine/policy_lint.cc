// Checks over the whole policy once its parts are compiled: every deadline
// a treatment needs has a source, rule ids are unique, no rule is hidden
// behind an earlier one that always matches, and no let, table or risk
// score depends on itself.
#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/expr/checker/checker.h"
#include "common/expr/parser/parser.h"
#include "common/policy/engine/finding_accessors.h"
#include "common/policy/engine/policy_compiler_internal.h"
#include "common/text/treatment_name.h"
#include "google/protobuf/util/time_util.h"
#include "treatd/v1/finding.pb.h"

namespace treatd::internal {
void PolicyCompiler::CheckSla(const CompiledRule& rule,
                              const std::vector<int>& possible,
                              const std::string& path,
                              const std::string& element) {
  const v1::Treatment t = rule.treatment;
  for (int p : possible) {
    const CompiledPriority& prio = out_->priorities[p];
    std::vector<std::string> missing;
    if ((t == v1::TREATMENT_MITIGATE ||
         t == v1::TREATMENT_MITIGATE_THEN_REMEDIATE) &&
        !prio.mitigate_within.has_value()) {
      missing.push_back("mitigate_within");
    }
    if ((t == v1::TREATMENT_REMEDIATE ||
         t == v1::TREATMENT_MITIGATE_THEN_REMEDIATE) &&
        !prio.remediate_within.has_value()) {
      missing.push_back("remediate_within");
    }
    if ((t == v1::TREATMENT_MITIGATE || t == v1::TREATMENT_ACCEPT) &&
        !prio.review_within.has_value() && !rule.review_within.has_value()) {
      missing.push_back("review_within (on the rule or the priority)");
    }
    if (!missing.empty()) {
      Error(path + ".treatment", element,
            absl::StrCat(TreatmentName(t), " with priority ", prio.name,
                         " needs ", absl::StrJoin(missing, " and "),
                         ", which priority ", prio.name, " does not set"));
    }
  }
}

std::string PolicyCompiler::PriorityNames() const {
  std::vector<std::string> names;
  for (const auto& p : policy_.priorities()) names.push_back(p.name());
  return names.empty() ? "(none)" : absl::StrJoin(names, ", ");
}

void PolicyCompiler::CheckRuleIds() {
  absl::flat_hash_set<std::string> seen;
  for (int i = 0; i < policy_.rules_size(); ++i) {
    const std::string& id = policy_.rules(i).id();
    if (!id.empty() && !seen.insert(id).second) {
      Error(absl::StrCat("rules[", i, "].id"), id,
            absl::StrCat("rule id '", id, "' is used twice"));
    }
  }
}

void PolicyCompiler::CheckUnreachableRules() {
  for (size_t i = 0; i < out_->rules.size(); ++i) {
    const auto& when = out_->rules[i].when;
    if (when == nullptr || !when->IsConstantTrue()) continue;
    for (size_t j = i + 1; j < out_->rules.size(); ++j) {
      Warning(absl::StrCat("rules[", j, "]"), out_->rules[j].id,
              absl::StrCat("rule is never tried: rule '", out_->rules[i].id,
                           "' before it always matches"));
    }
    if (policy_.has_default_()) {
      Warning("default", "default",
              absl::StrCat("the default is never used: rule '",
                           out_->rules[i].id, "' always matches"));
    }
    return;
  }
}

std::string PolicyCompiler::SlotPath(int slot) const {
  const Slot& s = out_->slots[slot];
  switch (s.kind) {
    case Slot::Kind::kLet:
      return absl::StrCat("let.", s.name);
    case Slot::Kind::kTable:
      for (int i = 0; i < policy_.tables_size(); ++i) {
        if (absl::StrCat("tables.", policy_.tables(i).name()) == s.name) {
          return absl::StrCat("tables[", i, "]");
        }
      }
      return "tables";
    default:
      return s.name;
  }
}

void PolicyCompiler::CheckCycles() {
  const int n = static_cast<int>(out_->slots.size());
  std::vector<int> color(n, 0);  // 0 new, 1 on stack, 2 done.
  std::vector<int> stack;
  std::set<std::set<int>> reported;
  std::function<void(int)> visit = [&](int s) {
    color[s] = 1;
    stack.push_back(s);
    auto it = edges_.find(s);
    if (it != edges_.end()) {
      for (int next : it->second) {
        if (color[next] == 1) {
          auto begin = std::find(stack.begin(), stack.end(), next);
          std::vector<int> cycle(begin, stack.end());
          std::set<int> key(cycle.begin(), cycle.end());
          if (reported.insert(key).second) {
            std::vector<std::string> names;
            for (int c : cycle) names.push_back(out_->slots[c].name);
            names.push_back(out_->slots[next].name);
            Error(SlotPath(next), out_->slots[next].name,
                  absl::StrCat("cycle: ", absl::StrJoin(names, " -> "),
                               "; a value cannot depend on itself"));
          }
        } else if (color[next] == 0) {
          visit(next);
        }
      }
    }
    stack.pop_back();
    color[s] = 2;
  };
  for (int s = 0; s < n; ++s) {
    if (color[s] == 0) visit(s);
  }
}

}  // namespace treatd::internal
