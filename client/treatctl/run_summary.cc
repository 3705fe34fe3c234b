#include "client/treatctl/run_summary.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/text/treatment_name.h"
#include "common/time/proto_time.h"
#include "google/protobuf/timestamp.pb.h"

namespace treatd {
namespace {

std::string Day(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%MZ", t, absl::UTCTimeZone());
}

// "ID (CVE) TREATMENT PRIORITY rule RULE".
std::string Describe(const v1::Finding* finding,
                     const v1::DecisionResult& result) {
  std::string text =
      result.finding_id().empty() ? "(no id)" : result.finding_id();
  if (finding != nullptr && !finding->vulnerability().cve_id().empty()) {
    absl::StrAppend(&text, " (", finding->vulnerability().cve_id(), ")");
  }
  if (result.has_error()) {
    absl::StrAppend(&text, " error: ", result.error().message());
    return text;
  }
  const v1::Decision& decision = result.decision();
  absl::StrAppend(&text, " ", TreatmentName(decision.treatment()), " ",
                  decision.priority(), " rule ", decision.matched_rule());
  return text;
}

}  // namespace

void RunSummary::Keep(std::vector<Listed>* heap, Listed listed) const {
  if (max_deadlines_ == 0) return;
  if (heap->size() == max_deadlines_) {
    if (!Later()(listed, heap->front())) return;
    std::pop_heap(heap->begin(), heap->end(), Later());
    heap->pop_back();
  }
  heap->push_back(std::move(listed));
  std::push_heap(heap->begin(), heap->end(), Later());
}

void RunSummary::Add(const v1::Finding* finding,
                     const v1::DecisionResult& result, bool tripped) {
  ++order_;
  if (tripped) {
    ++tripped_;
    if (tripped_list_.size() < max_tripped_) {
      tripped_list_.push_back(Describe(finding, result));
    }
  }
  if (result.has_error()) {
    ++failed_;
    return;
  }
  ++decided_;
  const v1::Decision& decision = result.decision();
  ++by_treatment_[decision.treatment()];
  auto& priority = by_priority_[decision.priority()];
  priority.first = decision.priority_rank();
  ++priority.second;
  if (decision.has_remediate_by()) {
    const absl::Time at = FromProtoTime(decision.remediate_by());
    if (earliest_remediate_.size() < max_deadlines_ ||
        at < earliest_remediate_.front().at) {
      Keep(&earliest_remediate_, {at, order_, Describe(finding, result)});
    }
  }
  if (decision.has_mitigate_by()) {
    const absl::Time at = FromProtoTime(decision.mitigate_by());
    if (earliest_mitigate_.size() < max_deadlines_ ||
        at < earliest_mitigate_.front().at) {
      Keep(&earliest_mitigate_, {at, order_, Describe(finding, result)});
    }
  }
}

void RunSummary::PrintDeadlines(const char* title, std::vector<Listed> heap,
                                std::ostream& out) {
  if (heap.empty()) return;
  std::sort_heap(heap.begin(), heap.end(), Later());
  out << "  earliest " << title << ":\n";
  for (const Listed& listed : heap) {
    out << "    " << Day(listed.at) << "  " << listed.text << "\n";
  }
}

void RunSummary::Print(int64_t unreadable, const std::string& gate,
                       std::ostream& out) const {
  out << decided_ << " decided, " << failed_ + unreadable << " failed";
  if (unreadable > 0) out << " (" << unreadable << " unreadable)";
  out << "\n";
  if (!by_treatment_.empty()) {
    std::vector<std::pair<int, int64_t>> treatments(by_treatment_.begin(),
                                                    by_treatment_.end());
    std::sort(treatments.begin(), treatments.end());
    out << "  by treatment:";
    for (const auto& [treatment, count] : treatments) {
      out << " " << TreatmentName(static_cast<v1::Treatment>(treatment)) << " "
          << count << ";";
    }
    out << "\n  by priority:";
    std::vector<std::pair<std::pair<int, std::string>, int64_t>> priorities;
    for (const auto& [name, rank_count] : by_priority_) {
      priorities.push_back({{rank_count.first, name}, rank_count.second});
    }
    std::sort(priorities.begin(), priorities.end());
    for (const auto& [rank_name, count] : priorities) {
      out << " " << (rank_name.second.empty() ? "(none)" : rank_name.second)
          << " " << count << ";";
    }
    out << "\n";
  }
  PrintDeadlines("remediate_by", earliest_remediate_, out);
  PrintDeadlines("mitigate_by", earliest_mitigate_, out);
  if (gate.empty()) return;
  if (tripped_ == 0) {
    out << "fail-on: passed (no decision matched `" << gate << "`)\n";
    return;
  }
  out << "fail-on: FAILED: " << tripped_ << " finding"
      << (tripped_ == 1 ? "" : "s") << " matched `" << gate << "`:\n";
  for (const std::string& text : tripped_list_) out << "  " << text << "\n";
  if (tripped_ > static_cast<int64_t>(tripped_list_.size())) {
    out << "  ... and " << tripped_ - static_cast<int64_t>(tripped_list_.size())
        << " more\n";
  }
}

}  // namespace treatd
