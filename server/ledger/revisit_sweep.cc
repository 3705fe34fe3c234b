#include "server/ledger/revisit_sweep.h"

#include <unistd.h>

#include <utility>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "common/ledger_wire/ledger_wire.h"
#include "server/logging.h"

namespace treatd {
namespace {

constexpr char kLeaseName[] = "sweep";
constexpr int kFeedPassPage = 500;

bool CarriesRevisitConditions(v1::Treatment treatment) {
  return treatment == v1::TREATMENT_MITIGATE ||
         treatment == v1::TREATMENT_ACCEPT;
}

}  // namespace

std::string SweepHolderId() {
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  absl::BitGen gen;
  return absl::StrCat(host, ":", getpid(), ":", absl::Uniform<uint32_t>(gen));
}

RevisitSweep::RevisitSweep(ledger::Ledger* ledger, const PolicyStore* store,
                           SweepOptions options)
    : ledger_(ledger), store_(store), options_(std::move(options)) {}

RevisitSweep::~RevisitSweep() { Stop(); }

SweepCounts RevisitSweep::Counts() const {
  SweepCounts counts;
  counts.runs = runs_.load();
  counts.review_due = review_due_.load();
  counts.feed_changed = feed_changed_.load();
  counts.skipped = skipped_.load();
  counts.failed_runs = failed_runs_.load();
  return counts;
}

void RevisitSweep::Start() {
  absl::MutexLock lock(&thread_mu_);
  if (stop_ != nullptr) return;
  stop_ = std::make_unique<absl::Notification>();
  absl::Notification* stop = stop_.get();
  thread_ = std::thread([this, stop] {
    while (!stop->WaitForNotificationWithTimeout(options_.interval)) {
      absl::StatusOr<SweepReport> report = RunOnce();
      if (!report.ok()) {
        failed_runs_.fetch_add(1);
        LogWarning("revisit sweep failed",
                   {{"error", report.status().message()}});
      } else if (report->changed > 0 || report->skipped > 0) {
        LogInfo("revisit sweep", {{"review_due", report->review_due},
                                  {"feeds_changed", report->feeds_changed},
                                  {"feed_checked", report->feed_checked},
                                  {"changed", report->changed},
                                  {"skipped", report->skipped}});
      }
    }
  });
}

void RevisitSweep::Stop() {
  absl::MutexLock lock(&thread_mu_);
  if (stop_ == nullptr || !thread_.joinable()) return;
  stop_->Notify();
  thread_.join();
  ledger_->ReleaseLease(kLeaseName, options_.holder).IgnoreError();
}

bool RevisitSweep::Redecide(const ActivePolicy& active, const std::string& key,
                            absl::Time as_of, v1::Decision* decision,
                            ledger::Event* event) const {
  absl::StatusOr<std::string> snapshot = ledger_->FindingSnapshot(key);
  v1::Finding finding;
  if (!snapshot.ok() || !finding.ParseFromString(*snapshot)) return false;
  EvalOptions options;
  options.as_of = as_of;
  decision->Clear();
  if (!active.pipeline->Decide(finding, options, decision).ok()) return false;
  absl::StatusOr<ledger::Event> made = ledger::DecisionEvent(
      finding, *decision, /*snapshot=*/true, /*sweep=*/true);
  if (!made.ok()) return false;
  // The key the ledger knows the finding by wins (the snapshot's computed
  // key could differ only if the identity rules changed since).
  made->finding_key = key;
  *event = *std::move(made);
  return true;
}

absl::Status RevisitSweep::Append(std::vector<ledger::Event> events,
                                  int64_t* appended) {
  if (events.empty()) return absl::OkStatus();
  for (absl::StatusOr<ledger::Appended>& one :
       ledger_->Append(std::move(events))) {
    if (one.ok()) {
      if (!one->duplicate) ++*appended;
      continue;
    }
    if (one.status().code() == absl::StatusCode::kUnavailable) {
      return one.status();
    }
    // A finding whose state forbids the event is left for the next run.
    skipped_.fetch_add(1);
  }
  return absl::OkStatus();
}

absl::Status RevisitSweep::FeedPass(const ActivePolicy& active,
                                    ledger::FindingState state,
                                    absl::Time as_of, SweepReport* report) {
  ledger::FindingFilter filter;
  filter.state = state;
  filter.as_of = as_of;
  ledger::PageRequest page;
  page.page_size = kFeedPassPage;
  v1::Decision decision;
  do {
    absl::StatusOr<ledger::FindingPage> found =
        ledger_->ListFindings(filter, page);
    if (!found.ok()) return found.status();
    std::vector<ledger::Event> events;
    for (const ledger::FindingRecord& record : found->findings) {
      if (!CarriesRevisitConditions(record.treatment)) continue;
      ++report->feed_checked;
      ledger::Event event;
      if (!Redecide(active, record.key, as_of, &decision, &event)) {
        ++report->skipped;
        continue;
      }
      if (decision.treatment() == record.treatment &&
          decision.priority() == record.priority) {
        continue;  // No revisit condition fired.
      }
      event.note = absl::StrCat(
          "feeds reloaded: ", v1::Treatment_Name(record.treatment), " ",
          record.priority, " -> ", v1::Treatment_Name(decision.treatment()),
          " ", decision.priority());
      events.push_back(std::move(event));
    }
    int64_t appended = 0;
    absl::Status status = Append(std::move(events), &appended);
    report->changed += appended;
    feed_changed_.fetch_add(appended);
    if (!status.ok()) return status;
    page.page_token = found->next_page_token;
  } while (!page.page_token.empty());
  return absl::OkStatus();
}

absl::StatusOr<SweepReport> RevisitSweep::RunOnce() {
  absl::MutexLock lock(&mu_);
  SweepReport report;
  absl::StatusOr<bool> leader =
      ledger_->AcquireLease(kLeaseName, options_.holder, options_.lease_ttl);
  if (!leader.ok()) return leader.status();
  if (!*leader) return report;
  report.leader = true;
  runs_.fetch_add(1);
  std::shared_ptr<const ActivePolicy> active = store_->Get();
  if (active == nullptr) {
    return absl::FailedPreconditionError(
        "no policy is loaded; the sweep decides nothing");
  }
  const absl::Time as_of = options_.clock();

  // 1. Mitigations and acceptances past review.
  absl::StatusOr<std::vector<ledger::FindingRecord>> due =
      ledger_->SweepCandidates(as_of, options_.max_review_due);
  if (!due.ok()) return due.status();
  std::vector<ledger::Event> events;
  v1::Decision decision;
  for (const ledger::FindingRecord& record : *due) {
    ledger::Event event;
    if (!Redecide(*active, record.key, as_of, &decision, &event)) {
      ++report.skipped;
      continue;
    }
    event.note = absl::StrCat(
        "review due: ", ledger::FindingStateName(record.state), " since ",
        absl::FormatTime(record.state_since), ", review_by ",
        record.review_by.has_value() ? absl::FormatTime(*record.review_by)
                                     : "unset");
    events.push_back(std::move(event));
  }
  int64_t appended = 0;
  absl::Status status = Append(std::move(events), &appended);
  report.review_due = appended;
  report.changed += appended;
  review_due_.fetch_add(appended);
  if (!status.ok()) return status;

  // 2. After a feed reload, the decisions whose revisit conditions may
  // have fired.
  const std::shared_ptr<const intel::IntelSnapshot>& feeds =
      active->pipeline->intel();
  report.feeds_changed = ran_ && feeds != last_feeds_;
  if (report.feeds_changed) {
    for (ledger::FindingState state :
         {ledger::FindingState::kOpen, ledger::FindingState::kMitigated,
          ledger::FindingState::kAccepted}) {
      status = FeedPass(*active, state, as_of, &report);
      if (!status.ok()) return status;
    }
  }
  last_feeds_ = feeds;
  ran_ = true;
  skipped_.fetch_add(report.skipped);
  return report;
}

}  // namespace treatd
