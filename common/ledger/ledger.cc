#include "common/ledger/ledger.h"

#include <utility>

#include "common/ledger/store.h"

namespace treatd::ledger {

// The group-commit thread (written in the next step).
class Committer {};

namespace {
absl::Status NotYet() {
  return absl::UnimplementedError("ledger: not implemented yet");
}
}  // namespace

Ledger::Ledger(LedgerOptions options, std::unique_ptr<Store> store)
    : options_(std::move(options)), store_(std::move(store)) {}

Ledger::~Ledger() = default;

absl::StatusOr<std::unique_ptr<Ledger>> Ledger::Open(LedgerOptions options) {
  (void)options;
  return NotYet();
}

std::vector<absl::StatusOr<Appended>> Ledger::Append(
    std::vector<Event> events) {
  return std::vector<absl::StatusOr<Appended>>(events.size(), NotYet());
}

absl::StatusOr<ScanResult> Ledger::RecordScan(ScanObservation) {
  return NotYet();
}
absl::StatusOr<FindingHistory> Ledger::GetFinding(const std::string&) const {
  return NotYet();
}
absl::StatusOr<FindingPage> Ledger::ListFindings(const FindingFilter&,
                                                 const PageRequest&) const {
  return NotYet();
}
absl::StatusOr<std::vector<Event>> Ledger::ListEvents(
    int64_t, int, const std::string&) const {
  return NotYet();
}
absl::StatusOr<std::vector<FindingRecord>> Ledger::SweepCandidates(absl::Time,
                                                                   int) const {
  return NotYet();
}
absl::StatusOr<std::string> Ledger::FindingSnapshot(const std::string&) const {
  return NotYet();
}
absl::StatusOr<bool> Ledger::AcquireLease(const std::string&,
                                          const std::string&, absl::Duration) {
  return NotYet();
}
absl::Status Ledger::ReleaseLease(const std::string&, const std::string&) {
  return NotYet();
}
absl::StatusOr<KpiReport> Ledger::Kpis(const KpiQuery&) const {
  return NotYet();
}
absl::StatusOr<LedgerGauges> Ledger::Gauges(absl::Time) const {
  return NotYet();
}
absl::StatusOr<VerifyReport> Ledger::Verify() const { return NotYet(); }
int64_t Ledger::WaitForEvents(int64_t after_seq, absl::Duration) const {
  return after_seq;
}
LedgerStats Ledger::Stats() const { return {}; }
const char* Ledger::backend() const { return store_->backend(); }

}  // namespace treatd::ledger
