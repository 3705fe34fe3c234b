#include "server/ledger/revisit_sweep.h"

#include <unistd.h>

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/digest/sha256.h"
#include "common/ledger_wire/ledger_wire.h"
#include "common/status/status_macros.h"
#include "server/logging.h"

namespace treatd {
namespace {

constexpr char kLeaseName[] = "sweep";
// Ledger marks (Ledger::GetMark) the sweep keeps across restarts.
constexpr char kFeedsMark[] = "sweep.feeds";
constexpr char kOverdueMark[] = "sweep.overdue_through";
// Where the next review pass continues: "<review_by µs> <finding key>" of
// the last candidate handled, "" to start from the oldest review date.
constexpr char kReviewMark[] = "sweep.review_after";
constexpr absl::Duration kMarkSlack = absl::Minutes(5);
// Findings read per page by the overdue and feed passes.
constexpr int kPassPage = 500;
// The ledger's idempotency key limit (ledger::Event).
constexpr size_t kMaxIdempotencyKeyBytes = 200;
constexpr char kSweepActor[] = "revisit-sweep";

bool CarriesRevisitConditions(v1::Treatment treatment) {
  return treatment == v1::TREATMENT_MITIGATE ||
         treatment == v1::TREATMENT_ACCEPT;
}

// "<what>:<finding key>#<episode>:<date>": once per finding, episode and
// date. A finding key too long for the ledger's limit is replaced by its
// SHA-256.
std::string NoticeKey(absl::string_view what,
                      const ledger::FindingRecord& record, absl::Time date) {
  const std::string date_text =
      absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", date, absl::UTCTimeZone());
  std::string key =
      absl::StrCat(what, ":", record.key, "#", record.episode, ":", date_text);
  if (key.size() <= kMaxIdempotencyKeyBytes) return key;
  return absl::StrCat(what, ":sha256=", Sha256Hex(record.key), "#",
                      record.episode, ":", date_text);
}

// A notice (review_due / overdue) that `date` has come for `record`, seen
// at `as_of`.
ledger::Event NoticeEvent(ledger::EventKind kind,
                          const ledger::FindingRecord& record, absl::Time date,
                          absl::Time as_of, std::string note) {
  ledger::Event event;
  event.kind = kind;
  event.finding_key = record.key;
  event.occurred_at = as_of;
  event.until = date;
  event.actor = kSweepActor;
  event.note = std::move(note);
  event.idempotency_key = NoticeKey(
      kind == ledger::EventKind::kReviewDue ? "review-due" : "overdue", record,
      date);
  return event;
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
  counts.review_due_notices = review_due_notices_.load();
  counts.overdue_notices = overdue_notices_.load();
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
      } else if (report->changed > 0 || report->skipped > 0 ||
                 report->review_due_notices > 0 ||
                 report->overdue_notices > 0) {
        LogInfo("revisit sweep",
                {{"review_due", report->review_due},
                 {"review_due_notices", report->review_due_notices},
                 {"overdue_notices", report->overdue_notices},
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

absl::Status RevisitSweep::Append(
    std::vector<ledger::Event> events,
    std::map<ledger::EventKind, int64_t>* appended) {
  if (events.empty()) return absl::OkStatus();
  std::vector<ledger::EventKind> kinds;
  kinds.reserve(events.size());
  for (const ledger::Event& event : events) kinds.push_back(event.kind);
  std::vector<absl::StatusOr<ledger::Appended>> results =
      ledger_->Append(std::move(events));
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].ok()) {
      if (!results[i]->duplicate) ++(*appended)[kinds[i]];
      continue;
    }
    if (results[i].status().code() == absl::StatusCode::kUnavailable) {
      return results[i].status();
    }
    // A finding whose state forbids the event (remediated since it was
    // read) is left for the next run.
    skipped_.fetch_add(1);
  }
  return absl::OkStatus();
}

absl::Status RevisitSweep::AppendPages(
    const ledger::FindingFilter& filter,
    const std::function<void(const ledger::FindingRecord&,
                             std::vector<ledger::Event>*)>& make,
    std::map<ledger::EventKind, int64_t>* appended) {
  ledger::PageRequest page;
  page.page_size = kPassPage;
  do {
    absl::StatusOr<ledger::FindingPage> found =
        ledger_->ListFindings(filter, page);
    if (!found.ok()) return found.status();
    std::vector<ledger::Event> events;
    for (const ledger::FindingRecord& record : found->findings) {
      make(record, &events);
    }
    TREATD_RETURN_IF_ERROR(Append(std::move(events), appended));
    page.page_token = found->next_page_token;
  } while (!page.page_token.empty());
  return absl::OkStatus();
}

absl::Status RevisitSweep::FeedPass(const ActivePolicy& active,
                                    ledger::FindingState state,
                                    absl::Time as_of, SweepReport* report) {
  ledger::FindingFilter filter;
  filter.state = state;
  filter.as_of = as_of;
  v1::Decision decision;
  std::map<ledger::EventKind, int64_t> appended;
  absl::Status status = AppendPages(
      filter,
      [&](const ledger::FindingRecord& record,
          std::vector<ledger::Event>* events) {
        if (!CarriesRevisitConditions(record.treatment)) return;
        ++report->feed_checked;
        ledger::Event event;
        if (!Redecide(active, record.key, as_of, &decision, &event)) {
          ++report->skipped;
          return;
        }
        if (decision.treatment() == record.treatment &&
            decision.priority() == record.priority) {
          return;  // No revisit condition fired.
        }
        event.note = absl::StrCat(
            "feeds reloaded: ", v1::Treatment_Name(record.treatment), " ",
            record.priority, " -> ", v1::Treatment_Name(decision.treatment()),
            " ", decision.priority());
        events->push_back(std::move(event));
      },
      &appended);
  report->changed += appended[ledger::EventKind::kSweepDecision];
  feed_changed_.fetch_add(appended[ledger::EventKind::kSweepDecision]);
  return status;
}

absl::Status RevisitSweep::ReviewPass(const ActivePolicy& active,
                                      absl::Time as_of, SweepReport* report) {
  // A run takes at most max_review_due candidates, continuing after the
  // last one the previous run handled: expired acceptances stay candidates
  // (a decision does not move their review date), and without the cursor
  // the same oldest ones would come back every run while the rest were
  // never reached.
  absl::StatusOr<std::optional<std::string>> mark =
      ledger_->GetMark(kReviewMark);
  if (!mark.ok()) return mark.status();
  std::optional<ledger::SweepPosition> after;
  if (mark->has_value()) {
    const std::string& value = **mark;
    const size_t space = value.find(' ');
    int64_t review_us = 0;
    if (space != std::string::npos &&
        absl::SimpleAtoi(absl::string_view(value).substr(0, space),
                         &review_us)) {
      after = ledger::SweepPosition{absl::FromUnixMicros(review_us),
                                    value.substr(space + 1)};
    }
  }
  absl::StatusOr<std::vector<ledger::FindingRecord>> due =
      ledger_->SweepCandidates(as_of, options_.max_review_due, after);
  if (due.ok() && due->empty() && after.has_value()) {
    // Past the last candidate: start over from the oldest.
    after.reset();
    due = ledger_->SweepCandidates(as_of, options_.max_review_due);
  }
  if (!due.ok()) return due.status();
  // A full page: the next run continues after it. A short one reached the
  // end: the next run starts over, and finds candidates whose review date
  // lies before this run's (set in the past, or moved back).
  std::string next;
  if (static_cast<int>(due->size()) == options_.max_review_due &&
      due->back().review_by.has_value()) {
    next = absl::StrCat(absl::ToUnixMicros(*due->back().review_by), " ",
                        due->back().key);
  }
  std::vector<ledger::Event> events;
  v1::Decision decision;
  for (const ledger::FindingRecord& record : *due) {
    if (!record.review_by.has_value()) continue;
    // The notice's `until` carries the review date; the decision's note
    // names it.
    const std::string what =
        absl::StrCat("review due: ", ledger::FindingStateName(record.state),
                     " since ", absl::FormatTime(record.state_since));
    events.push_back(NoticeEvent(ledger::EventKind::kReviewDue, record,
                                 *record.review_by, as_of, what));
    ledger::Event event;
    if (!Redecide(active, record.key, as_of, &decision, &event)) {
      ++report->skipped;
      continue;
    }
    event.note =
        absl::StrCat(what, ", review_by ", absl::FormatTime(*record.review_by));
    event.idempotency_key =
        NoticeKey("sweep:review", record, *record.review_by);
    events.push_back(std::move(event));
  }
  std::map<ledger::EventKind, int64_t> appended;
  absl::Status status = Append(std::move(events), &appended);
  const int64_t decided = appended[ledger::EventKind::kSweepDecision];
  const int64_t notices = appended[ledger::EventKind::kReviewDue];
  report->review_due += decided;
  report->review_due_notices += notices;
  report->changed += decided;
  review_due_.fetch_add(decided);
  review_due_notices_.fetch_add(notices);
  TREATD_RETURN_IF_ERROR(status);
  // Moved only after the page is recorded: a failed run is repeated.
  if (next == mark->value_or("")) return absl::OkStatus();
  return ledger_->PutMark(kReviewMark, next);
}

absl::Status RevisitSweep::OverduePass(absl::Time as_of, SweepReport* report) {
  absl::StatusOr<std::optional<std::string>> mark =
      ledger_->GetMark(kOverdueMark);
  if (!mark.ok()) return mark.status();
  int64_t through_us = 0;
  const bool resumed =
      mark->has_value() && absl::SimpleAtoi(**mark, &through_us);
  // Without a watermark every overdue finding is read once; after that only
  // those whose deadline passed since (remediate_by > watermark) or that
  // changed since (a new decision may set a deadline already past). The
  // slack covers clock differences between replicas; the idempotency keys
  // absorb the overlap.
  std::vector<ledger::FindingFilter> filters(1);
  filters[0].overdue = true;
  filters[0].as_of = as_of;
  if (resumed) {
    const absl::Time since = absl::FromUnixMicros(through_us) - kMarkSlack;
    filters.push_back(filters[0]);
    filters[0].due_after = since;
    filters[1].changed_since = since;
  }
  std::map<ledger::EventKind, int64_t> appended;
  absl::Status status;
  for (const ledger::FindingFilter& filter : filters) {
    status = AppendPages(
        filter,
        [as_of](const ledger::FindingRecord& record,
                std::vector<ledger::Event>* events) {
          if (!record.remediate_by.has_value()) return;
          events->push_back(NoticeEvent(
              ledger::EventKind::kOverdue, record, *record.remediate_by, as_of,
              absl::StrCat("overdue: ", ledger::FindingStateName(record.state),
                           " ", record.priority)));
        },
        &appended);
    if (!status.ok()) break;
  }
  report->overdue_notices += appended[ledger::EventKind::kOverdue];
  overdue_notices_.fetch_add(appended[ledger::EventKind::kOverdue]);
  TREATD_RETURN_IF_ERROR(status);
  // Moved only after a complete pass: a failed one is repeated.
  return ledger_->PutMark(kOverdueMark,
                          absl::StrCat(absl::ToUnixMicros(as_of)));
}

absl::Status RevisitSweep::FeedsPass(const ActivePolicy& active,
                                     absl::Time as_of, SweepReport* report) {
  const std::shared_ptr<const intel::IntelSnapshot>& feeds =
      active.pipeline->intel();
  const std::string baseline =
      feeds == nullptr ? "" : absl::StrJoin(feeds->FeedVersions(), "\n");
  absl::StatusOr<std::optional<std::string>> stored =
      ledger_->GetMark(kFeedsMark);
  if (!stored.ok()) return stored.status();
  // No stored baseline: a new ledger (or one from before the mark), nothing
  // to compare with; this run sets it.
  const bool versions_changed = stored->has_value() && **stored != baseline;
  report->feeds_changed = versions_changed || (ran_ && feeds != last_feeds_);
  if (report->feeds_changed) {
    for (ledger::FindingState state :
         {ledger::FindingState::kOpen, ledger::FindingState::kMitigated,
          ledger::FindingState::kAccepted}) {
      TREATD_RETURN_IF_ERROR(FeedPass(active, state, as_of, report));
    }
  }
  // Stored only after a complete pass: a failed one is repeated.
  if (!stored->has_value() || versions_changed) {
    TREATD_RETURN_IF_ERROR(ledger_->PutMark(kFeedsMark, baseline));
  }
  last_feeds_ = feeds;
  ran_ = true;
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
  absl::Status status = ReviewPass(*active, as_of, &report);
  if (status.ok()) status = OverduePass(as_of, &report);
  if (status.ok()) status = FeedsPass(*active, as_of, &report);
  skipped_.fetch_add(report.skipped);
  if (!status.ok()) return status;
  return report;
}

}  // namespace treatd
