// The summary a treatctl run prints on stderr when it ends: how many
// findings were decided and failed, counts by treatment and by priority,
// the findings with the earliest remediate_by and mitigate_by deadlines,
// and the --fail-on gate's result with the findings that tripped it.
//
// Memory is bounded whatever the number of findings: a few counters per
// treatment and priority, and at most `max_listed` findings per list.
//
// Not thread-safe: one thread adds.
#ifndef TREATD_CLIENT_TREATCTL_RUN_SUMMARY_H_
#define TREATD_CLIENT_TREATCTL_RUN_SUMMARY_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "treatd/v1/finding.pb.h"
#include "treatd/v1/treatment_service.pb.h"

namespace treatd {

class RunSummary {
 public:
  // Lists at most `max_deadlines` findings per deadline kind and
  // `max_tripped` findings that tripped the gate.
  explicit RunSummary(size_t max_deadlines = 5, size_t max_tripped = 20)
      : max_deadlines_(max_deadlines), max_tripped_(max_tripped) {}

  // Counts one result; `finding` (may be null) names its vulnerability.
  void Add(const v1::Finding* finding, const v1::DecisionResult& result,
           bool tripped);

  int64_t decided() const { return decided_; }
  int64_t failed() const { return failed_; }
  int64_t tripped() const { return tripped_; }

  // Writes the summary. `unreadable` input records count as failed;
  // `gate` is the --fail-on expression, empty when there is none.
  void Print(int64_t unreadable, const std::string& gate,
             std::ostream& out) const;

 private:
  // One listed finding.
  struct Listed {
    absl::Time at;
    int64_t order = 0;  // Arrival, to keep the earliest-first list stable.
    std::string text;
  };
  struct Later {
    bool operator()(const Listed& a, const Listed& b) const {
      return a.at != b.at ? a.at < b.at : a.order < b.order;
    }
  };
  void Keep(std::vector<Listed>* heap, Listed listed) const;
  static void PrintDeadlines(const char* title, std::vector<Listed> heap,
                             std::ostream& out);

  const size_t max_deadlines_;
  const size_t max_tripped_;
  int64_t decided_ = 0;
  int64_t failed_ = 0;
  int64_t tripped_ = 0;
  int64_t order_ = 0;
  absl::flat_hash_map<int, int64_t> by_treatment_;
  // Priority name -> (rank, count).
  absl::flat_hash_map<std::string, std::pair<int, int64_t>> by_priority_;
  // Max-heaps on the deadline: the latest of the kept ones is on top.
  std::vector<Listed> earliest_remediate_;
  std::vector<Listed> earliest_mitigate_;
  std::vector<std::string> tripped_list_;
};

}  // namespace treatd

#endif  // TREATD_CLIENT_TREATCTL_RUN_SUMMARY_H_
