#include "server/shadow.h"

#include <algorithm>

#include "common/policy/simulate/simulate.h"

namespace treatd {

void ShadowRecorder::Record(const v1::Decision& active,
                            const v1::PolicyRef& shadow_policy,
                            const v1::Decision* shadow,
                            const std::string& shadow_source) {
  absl::MutexLock lock(&mu_);
  if (policy_.digest() != shadow_policy.digest()) {
    policy_ = shadow_policy;
    source_ = shadow_source;
    evaluated_ = diverged_ = errors_ = 0;
    pairs_.clear();
  }
  ++evaluated_;
  if (shadow == nullptr) {
    ++errors_;
    return;
  }
  if (!DecisionsDiffer(active, *shadow)) return;
  ++diverged_;
  Pair& pair = pairs_[{active.matched_rule(), shadow->matched_rule()}];
  if (pair.count == 0) {
    pair.active_treatment = active.treatment();
    pair.shadow_treatment = shadow->treatment();
  }
  ++pair.count;
  if (static_cast<int>(pair.samples.size()) < kSamplesPerPair) {
    pair.samples.push_back(active.finding_id());
  }
}

v1::ShadowStatus ShadowRecorder::Status() const {
  absl::MutexLock lock(&mu_);
  v1::ShadowStatus status;
  *status.mutable_policy() = policy_;
  status.set_source(source_);
  status.set_evaluated(evaluated_);
  status.set_diverged(diverged_);
  status.set_errors(errors_);
  std::vector<const std::pair<const std::pair<std::string, std::string>, Pair>*>
      sorted;
  for (const auto& entry : pairs_) sorted.push_back(&entry);
  std::stable_sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) {
    return a->second.count > b->second.count;
  });
  for (const auto* entry : sorted) {
    v1::ShadowDivergence* d = status.add_divergences();
    d->set_active_rule(entry->first.first);
    d->set_shadow_rule(entry->first.second);
    d->set_count(entry->second.count);
    for (const std::string& id : entry->second.samples) {
      d->add_sample_finding_ids(id);
    }
    d->set_active_treatment(entry->second.active_treatment);
    d->set_shadow_treatment(entry->second.shadow_treatment);
  }
  return status;
}

}  // namespace treatd
