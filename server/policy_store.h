// PolicyStore: the server's active snapshot (compiled policy, threat-intel
// feeds, shadow policy) and the record of how it got there (reloads).
// Readers take a snapshot (a shared_ptr copy) and decide against it for as
// long as they need; a writer swaps in a new one atomically. A snapshot is
// never torn and never freed under a reader. A failed load keeps the
// current snapshot.
//
// Thread-safe: every method may be called from any thread.
#ifndef TREATD_SERVER_POLICY_STORE_H_
#define TREATD_SERVER_POLICY_STORE_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/intel/intel_snapshot.h"
#include "common/policy/engine/compiled_policy.h"
#include "common/policy/pipeline/decision_pipeline.h"
#include "treatd/v1/treatment_service.pb.h"

namespace treatd {

// The active snapshot: a policy with where and when it was loaded, the
// pipeline that decides with it (policy + feeds), and the shadow policy's
// pipeline. Immutable.
struct ActivePolicy {
  std::shared_ptr<const CompiledPolicy> policy;
  // File path, or another description of where the policy came from.
  std::string source;
  absl::Time loaded_at;
  // Decides with `policy` and the feeds; never null in a stored snapshot.
  std::shared_ptr<const DecisionPipeline> pipeline;
  // The shadow policy (with the same feeds), or null when none.
  std::shared_ptr<const DecisionPipeline> shadow;
  std::string shadow_source;
};

// Reload counters and the last results, as GetStatus reports them.
struct ReloadHistory {
  // Unset (ReloadResult default) until the first reload.
  v1::ReloadResult last;
  v1::ReloadResult last_rejected;
  int64_t reloads = 0;
  int64_t rejected = 0;
};

// The active policy and the reload record, read together (one lock): a
// reader never sees a new snapshot with the previous reload's record.
struct PolicyStoreState {
  // Null when none has been loaded yet.
  std::shared_ptr<const ActivePolicy> active;
  ReloadHistory history;
};

class PolicyStore {
 public:
  // Called after every swap with the new active policy, outside the lock.
  using Listener = std::function<void(const ActivePolicy&)>;

  PolicyStore() = default;
  PolicyStore(const PolicyStore&) = delete;
  PolicyStore& operator=(const PolicyStore&) = delete;

  // The active policy, or nullptr when none has been loaded yet.
  std::shared_ptr<const ActivePolicy> Get() const ABSL_LOCKS_EXCLUDED(mu_);

  // Makes `policy` (non-null) the active policy, keeping the current feeds,
  // intel settings and shadow policy, and notifies listeners.
  void Set(std::shared_ptr<const CompiledPolicy> policy, std::string source,
           absl::Time loaded_at) ABSL_LOCKS_EXCLUDED(mu_);

  // Makes `snapshot` (with non-null policy and pipeline) the active one and
  // notifies listeners.
  void SetSnapshot(std::shared_ptr<const ActivePolicy> snapshot)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Publishes a reload: records `result` (accepted or not) and, when
  // `snapshot` is non-null, makes it the active one in the same step, so
  // that GetWithHistory never returns the new snapshot with the previous
  // reload's record or the record before its snapshot. (A reader calling
  // Get and History one after the other may see a publish between them:
  // read both with GetWithHistory where they must agree.)
  // Listeners are notified after that, outside the lock, when a snapshot
  // was swapped in.
  void Publish(std::shared_ptr<const ActivePolicy> snapshot,
               const v1::ReloadResult& result) ABSL_LOCKS_EXCLUDED(mu_);
  // Records the outcome of a reload attempt that changed no snapshot:
  // Publish(nullptr, result).
  void RecordReload(const v1::ReloadResult& result) ABSL_LOCKS_EXCLUDED(mu_);
  // A copy of the reload record.
  ReloadHistory History() const ABSL_LOCKS_EXCLUDED(mu_);
  // The active policy and a copy of the reload record, from one moment.
  PolicyStoreState GetWithHistory() const ABSL_LOCKS_EXCLUDED(mu_);

  // Compiles the policy file at `path` and activates it. On failure returns
  // the compiler's status (NOT_FOUND, INVALID_ARGUMENT listing every error,
  // ...), appends every issue to `issues` when non-null, and keeps the
  // current policy.
  absl::Status LoadFile(const std::string& path,
                        std::vector<v1::PolicyIssue>* issues = nullptr)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Registers `listener` for later swaps. Listeners live as long as the
  // store; they may read the store but must not write to it (Set,
  // SetSnapshot, Publish, RecordReload, LoadFile).
  void AddListener(Listener listener) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // Records `*result` when non-null and swaps in `active` when non-null,
  // under one lock; then notifies listeners of a swap.
  void Swap(std::shared_ptr<const ActivePolicy> active,
            const v1::ReloadResult* result) ABSL_LOCKS_EXCLUDED(mu_);

  mutable absl::Mutex mu_;
  std::shared_ptr<const ActivePolicy> active_ ABSL_GUARDED_BY(mu_);
  std::vector<Listener> listeners_ ABSL_GUARDED_BY(mu_);
  ReloadHistory history_ ABSL_GUARDED_BY(mu_);
  // Serialises writers so listeners see swaps in order.
  absl::Mutex write_mu_ ABSL_ACQUIRED_BEFORE(mu_);
};

}  // namespace treatd

#endif  // TREATD_SERVER_POLICY_STORE_H_
