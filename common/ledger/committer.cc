#include "common/ledger/committer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/ledger/thread_name.h"

namespace treatd::ledger {

Committer::Committer(Appender* appender, Store* store, int max_batch_items,
                     int64_t head_seq)
    : appender_(appender),
      store_(store),
      max_batch_items_(static_cast<size_t>(std::max(1, max_batch_items))),
      defers_sync_(store->DefersSync()),
      last_seq_(head_seq) {
  thread_ = std::thread([this] {
    NameCurrentThread(kCommitterThreadName);
    Loop();
  });
  if (defers_sync_) {
    for (int i = 0; i < kSyncThreads; ++i) {
      sync_threads_.emplace_back([this] {
        NameCurrentThread(kSyncThreadName);
        SyncLoop();
      });
    }
  }
}

Committer::~Committer() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
  {
    absl::MutexLock lock(&mu_);
    committer_done_ = true;
  }
  for (std::thread& sync_thread : sync_threads_) sync_thread.join();
}

void Committer::Submit(const std::vector<WorkItem*>& items) {
  if (items.empty()) return;
  // Large submissions go in chunks so one transaction stays bounded; the
  // chunks are queued together, so they commit in order.
  std::vector<Request> requests;
  for (size_t i = 0; i < items.size(); i += max_batch_items_) {
    size_t end = std::min(items.size(), i + max_batch_items_);
    requests.push_back(Request{
        std::vector<WorkItem*>(items.begin() + i, items.begin() + end)});
  }
  absl::MutexLock lock(&mu_);
  for (Request& request : requests) queue_.push_back(&request);
  for (Request& request : requests) {
    mu_.Await(absl::Condition(&request.done));
  }
}

void Committer::SubmitAsync(const std::vector<WorkItem*>& items,
                            std::function<void()> done) {
  if (items.empty()) {
    done();
    return;
  }
  // Chunked as in Submit. A chunk may fail at once while an earlier one
  // still waits for its sync, so the group counts them down.
  const size_t chunks =
      (items.size() + max_batch_items_ - 1) / max_batch_items_;
  auto* group = new AsyncGroup{static_cast<int>(chunks), std::move(done)};
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < items.size(); i += max_batch_items_) {
    const size_t end = std::min(items.size(), i + max_batch_items_);
    queue_.push_back(new Request{
        std::vector<WorkItem*>(items.begin() + i, items.begin() + end),
        /*done=*/false, group});
  }
}

void Committer::Finish(const std::vector<Request*>& batch,
                       const absl::StatusOr<BatchOutcome>& outcome,
                       absl::Duration took,
                       std::vector<std::function<void()>>* callbacks) {
  stats_.commit_time += took;
  if (outcome.ok()) {
    ++stats_.commits;
    stats_.events += outcome->events_written;
    stats_.duplicates += outcome->duplicates;
    stats_.largest_batch =
        std::max(stats_.largest_batch, outcome->events_written);
    last_seq_ = std::max(last_seq_, outcome->last_seq);
  } else {
    ++stats_.failed_commits;
  }
  for (Request* request : batch) {
    AsyncGroup* group = request->group;
    if (group == nullptr) {
      request->done = true;
      continue;
    }
    delete request;
    if (--group->remaining == 0) {
      callbacks->push_back(std::move(group->done));
      delete group;
    }
  }
}

void Committer::Loop() {
  while (true) {
    std::vector<Request*> batch;
    std::vector<WorkItem*> items;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Committer* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu_) {
            return c->stopping_ || !c->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // stopping, nothing left
      while (!queue_.empty() &&
             (items.empty() || items.size() + queue_.front()->items.size() <=
                                   max_batch_items_)) {
        Request* request = queue_.front();
        queue_.pop_front();
        batch.push_back(request);
        items.insert(items.end(), request->items.begin(), request->items.end());
      }
    }

    absl::Time start = absl::Now();
    absl::StatusOr<BatchOutcome> outcome = appender_->Apply(items);
    absl::Duration took = absl::Now() - start;

    std::vector<std::function<void()>> callbacks;
    {
      absl::MutexLock lock(&mu_);
      if (defers_sync_ && outcome.ok()) {
        // Durable only once synced: the sync thread wakes these callers.
        unsynced_.push_back(
            Committed{++committed_id_, std::move(batch), *outcome, took});
        continue;
      }
      Finish(batch, outcome, took, &callbacks);
      // A failed outcome's status is shared with the items' copies, which
      // the callers read once they wake: this thread drops its reference
      // before they can, so the last one, which frees the message, is
      // theirs. (Dropping it later is as safe, but the ordering is inside
      // the prebuilt Abseil, where ThreadSanitizer cannot see it.)
      outcome = BatchOutcome();
    }
    for (std::function<void()>& callback : callbacks) callback();
  }
}

void Committer::SyncLoop() {
  while (true) {
    int64_t target;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Committer* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu_) {
            return c->committer_done_ || c->committed_id_ > c->sync_claimed_id_;
          },
          this));
      // The committer stopped and every transaction has its sync.
      if (committed_id_ == sync_claimed_id_) return;
      target = committed_id_;
      sync_claimed_id_ = target;
    }
    // Every transaction up to `target` committed before this sync starts,
    // so this one sync makes all of them durable. Another sync may be
    // running and finish later: it covers only earlier transactions, and
    // the kernel's fdatasync also waits for the writeback that one started.
    const absl::Time start = absl::Now();
    const absl::Status synced = store_->SyncCommitted();
    const absl::Duration took = absl::Now() - start;

    std::vector<std::function<void()>> callbacks;
    absl::ReleasableMutexLock lock(&mu_);
    stats_.sync_time += took;
    ++stats_.syncs;
    // Those up to `target` not already answered by a later sync that
    // finished first.
    while (!unsynced_.empty() && unsynced_.front().id <= target) {
      Committed one = std::move(unsynced_.front());
      unsynced_.pop_front();
      if (synced.ok()) {
        Finish(one.batch, one.outcome, one.took, &callbacks);
        continue;
      }
      // Committed but not known to be durable: the callers are told to
      // retry; their idempotency keys make a retry record nothing twice.
      const absl::Status failed = absl::UnavailableError(absl::StrCat(
          "the transaction committed but could not be made durable (",
          synced.message(),
          "); retry: a retry with the same idempotency key is recorded once"));
      for (Request* request : one.batch) {
        for (WorkItem* item : request->items) {
          item->appended = failed;
          item->scanned = failed;
        }
      }
      Finish(one.batch, failed, one.took, &callbacks);
    }
    lock.Release();
    for (std::function<void()>& callback : callbacks) callback();
  }
}

int64_t Committer::WaitForCommit(int64_t after_seq,
                                 absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto newer = [this, after_seq]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return last_seq_ > after_seq;
  };
  mu_.AwaitWithTimeout(absl::Condition(&newer), timeout);
  return last_seq_;
}

LedgerStats Committer::Stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace treatd::ledger
