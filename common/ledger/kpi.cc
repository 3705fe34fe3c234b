#include "common/ledger/kpi.h"

#include "absl/status/status.h"

namespace treatd::ledger {

absl::StatusOr<KpiReport> ComputeKpis(const KpiQuery&,
                                      const std::vector<EpisodeRow>&) {
  return absl::UnimplementedError("ledger KPIs: not implemented yet");
}

const char* KpiGroupByName(KpiGroupBy group_by) {
  switch (group_by) {
    case KpiGroupBy::kPriority:
      return "priority";
    case KpiGroupBy::kKind:
      return "kind";
    case KpiGroupBy::kOwner:
      return "owner";
  }
  return "unknown";
}

}  // namespace treatd::ledger
