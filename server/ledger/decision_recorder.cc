#include "server/ledger/decision_recorder.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/ledger/thread_name.h"
#include "common/ledger_wire/ledger_wire.h"
#include "common/policy/pipeline/decide_item.h"
#include "server/logging.h"

namespace treatd {

DecisionRecorder::DecisionRecorder(ledger::Ledger* ledger,
                                   LedgerDownPolicy down_policy)
    : ledger_(ledger), down_policy_(down_policy) {
  for (int i = 0; i < kRecorderThreads; ++i) {
    threads_.emplace_back([this] {
      ledger::NameCurrentThread(ledger::kRecorderThreadName);
      Run();
    });
  }
}

DecisionRecorder::~DecisionRecorder() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& thread : threads_) thread.join();
}

void DecisionRecorder::RecordAsync(std::vector<ledger::Event> events,
                                   Done done) {
  if (events.empty()) {
    done({});
    return;
  }
  absl::MutexLock lock(&mu_);
  pending_.push_back(Pending{std::move(events), std::move(done)});
}

std::vector<absl::Status> DecisionRecorder::Record(
    std::vector<ledger::Event> events) {
  absl::Mutex mu;
  bool finished = false;
  std::vector<absl::Status> result;
  RecordAsync(std::move(events), [&](std::vector<absl::Status> statuses) {
    absl::MutexLock lock(&mu);
    result = std::move(statuses);
    finished = true;
  });
  absl::MutexLock lock(&mu);
  mu.Await(absl::Condition(&finished));
  return result;
}

RecorderCounts DecisionRecorder::Counts() const {
  RecorderCounts counts;
  counts.recorded = recorded_.load();
  counts.unrecorded = unrecorded_.load();
  counts.refused = refused_.load();
  counts.rejected = rejected_.load();
  counts.commits = commits_.load();
  return counts;
}

void DecisionRecorder::Run() {
  while (true) {
    std::vector<Pending> batch;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !pending_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (pending_.empty()) return;  // Stopping, nothing left.
      batch.swap(pending_);
    }
    Commit(std::move(batch));
  }
}

void DecisionRecorder::RecordAsyncDirect(std::vector<ledger::Event> events,
                                         Done done) {
  if (events.empty()) {
    done({});
    return;
  }
  commits_.fetch_add(1);
  ledger_->AppendAsync(
      std::move(events),
      [this, done = std::move(done)](
          std::vector<absl::StatusOr<ledger::Appended>> appended) {
        Tally tally;
        std::vector<absl::Status> statuses;
        statuses.reserve(appended.size());
        for (const absl::StatusOr<ledger::Appended>& one : appended) {
          statuses.push_back(StatusOf(one, tally));
        }
        Count(tally);
        done(std::move(statuses));
      });
}

absl::Status DecisionRecorder::StatusOf(
    const absl::StatusOr<ledger::Appended>& appended, Tally& tally) const {
  if (appended.ok()) {
    ++tally.recorded;
    return absl::OkStatus();
  }
  if (appended.status().code() != absl::StatusCode::kUnavailable) {
    ++tally.rejected;
    return appended.status();
  }
  if (tally.first_down.ok()) tally.first_down = appended.status();
  if (down_policy_ == LedgerDownPolicy::kAnswerAndCount) {
    ++tally.unrecorded;
    return absl::OkStatus();
  }
  ++tally.refused;
  return absl::UnavailableError(
      absl::StrCat("the ledger could not record the decision, so it is not "
                   "answered (--ledger-down fail-closed); retry: ",
                   appended.status().message()));
}

void DecisionRecorder::Count(const Tally& tally) {
  recorded_.fetch_add(tally.recorded);
  unrecorded_.fetch_add(tally.unrecorded);
  refused_.fetch_add(tally.refused);
  rejected_.fetch_add(tally.rejected);
  if (!tally.first_down.ok()) {
    LogError("ledger commit failed", {{"error", tally.first_down.message()},
                                      {"unrecorded_answered", tally.unrecorded},
                                      {"refused", tally.refused}});
  }
}

void DecisionRecorder::Commit(std::vector<Pending> batch) {
  std::vector<std::vector<ledger::Event>> groups;
  groups.reserve(batch.size());
  for (Pending& pending : batch) groups.push_back(std::move(pending.events));
  commits_.fetch_add(1);
  const std::vector<std::vector<absl::StatusOr<ledger::Appended>>> appended =
      ledger_->AppendGroups(std::move(groups));
  Tally tally;
  std::vector<std::vector<absl::Status>> outcomes(batch.size());
  for (size_t p = 0; p < batch.size(); ++p) {
    std::vector<absl::Status>& statuses = outcomes[p];
    statuses.reserve(appended[p].size());
    for (const absl::StatusOr<ledger::Appended>& one : appended[p]) {
      statuses.push_back(StatusOf(one, tally));
    }
  }
  Count(tally);
  for (size_t p = 0; p < batch.size(); ++p) {
    batch[p].done(std::move(outcomes[p]));
  }
}

absl::Status UnidentifiedFindingError(const absl::Status& identity_error) {
  return absl::InvalidArgumentError(absl::StrCat(
      "the decision cannot be recorded in the ledger: ",
      identity_error.message(),
      "; set finding.identity_key, or skip_record for a what-if call"));
}

BatchEventCollector::BatchEventCollector(DecisionRecorder* recorder,
                                         int expected)
    : recorder_(recorder) {
  batch_.events.reserve(expected);
  batch_.result_index.reserve(expected);
}

bool BatchEventCollector::Add(const v1::Finding& finding, int index,
                              v1::DecisionResult* result) {
  if (!result->has_decision()) return false;
  // Built in place: no move of the event's strings.
  ledger::Event& event = batch_.events.emplace_back();
  const absl::Status made =
      ledger::DecisionEventInto(finding, result->decision(),
                                /*snapshot=*/false, /*sweep=*/false, &event);
  if (!made.ok()) {
    batch_.events.pop_back();
    ++rejected_;
    SetItemError(UnidentifiedFindingError(made), result);
    return false;
  }
  // Serialized by the ledger only if it stores it; the request outlives
  // the recording (the class's contract).
  event.decision.snapshot_source = &finding;
  batch_.result_index.push_back(index);
  return true;
}

BatchEvents BatchEventCollector::Take() {
  if (rejected_ > 0) recorder_->CountRejected(rejected_);
  rejected_ = 0;
  return std::move(batch_);
}

BatchEvents CollectBatchEvents(
    const google::protobuf::RepeatedPtrField<v1::Finding>& findings,
    google::protobuf::RepeatedPtrField<v1::DecisionResult>* results,
    DecisionRecorder* recorder) {
  BatchEventCollector collector(recorder, results->size());
  for (int i = 0; i < results->size(); ++i) {
    collector.Add(findings.Get(i), i, results->Mutable(i));
  }
  return collector.Take();
}

absl::Status ApplyRecordStatuses(
    const BatchEvents& batch, const std::vector<absl::Status>& statuses,
    google::protobuf::RepeatedPtrField<v1::DecisionResult>* results) {
  absl::Status call_status;
  for (size_t i = 0; i < statuses.size(); ++i) {
    if (statuses[i].ok()) continue;
    if (statuses[i].code() == absl::StatusCode::kUnavailable) {
      if (call_status.ok()) call_status = statuses[i];
      continue;
    }
    SetItemError(statuses[i], results->Mutable(batch.result_index[i]));
  }
  return call_status;
}

void SetRecordErrors(
    const BatchEvents& batch, const std::vector<absl::Status>& statuses,
    google::protobuf::RepeatedPtrField<v1::DecisionResult>* results) {
  for (size_t i = 0; i < statuses.size(); ++i) {
    if (!statuses[i].ok()) {
      SetItemError(statuses[i], results->Mutable(batch.result_index[i]));
    }
  }
}

}  // namespace treatd
