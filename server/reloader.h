// Reloader: loads the server's sources (policy, KEV and EPSS feeds, shadow
// policy) into a new snapshot and swaps it into the PolicyStore. Triggered
// at start, by file changes (a polling thread compares each file's mtime,
// size and inode every interval), by SIGHUP (main calls Reload) and by
// AdminService.Reload.
//
// Each source loads on its own: one that fails to read, parse or check is
// rejected with every error (logged, and recorded in the store's
// ReloadHistory, which GetPolicy and GetStatus report) and its previous
// version keeps serving; the others are taken. In-flight calls keep the
// snapshot they started with; the swap itself is one pointer exchange.
//
// Thread-safe: Reload() may be called from any thread; reloads run one at a
// time. The polling thread stops in Stop() or the destructor.
#ifndef TREATD_SERVER_RELOADER_H_
#define TREATD_SERVER_RELOADER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/intel/epss_feed.h"
#include "common/intel/kev_feed.h"
#include "common/policy/engine/compiled_policy.h"
#include "common/policy/pipeline/decision_pipeline.h"
#include "server/policy_store.h"
#include "treatd/v1/treatment_service.pb.h"

namespace treatd {

// The files a server serves from. Empty feed or shadow paths mean "none".
struct ReloadSources {
  std::string policy_path;
  std::string kev_path;
  std::string epss_path;
  std::string shadow_policy_path;
  IntelSettings intel;
};

class Reloader {
 public:
  // Loads every source and activates the result in `store` (not owned; must
  // outlive the reloader). Fails when any source cannot be loaded at start
  // (the error names the source and lists every problem): a server must not
  // start half-configured.
  static absl::StatusOr<std::unique_ptr<Reloader>> Create(ReloadSources sources,
                                                          PolicyStore* store);

  ~Reloader();
  Reloader(const Reloader&) = delete;
  Reloader& operator=(const Reloader&) = delete;

  // Reloads now. With `force` every source is loaded again; without, only
  // files whose fingerprint (mtime, size, inode) changed since they were
  // last read, and a policy whose bytes did not change is not recompiled.
  // Returns (and records in the store) what happened to each source.
  v1::ReloadResult Reload(absl::string_view trigger, bool force)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Starts a thread that checks the files every `interval` and reloads the
  // changed ones. No-op for a zero or negative interval or when already
  // polling.
  void StartPolling(absl::Duration interval) ABSL_LOCKS_EXCLUDED(poll_mu_);
  // Stops the polling thread (if any) and waits for it.
  void Stop() ABSL_LOCKS_EXCLUDED(poll_mu_);

  const ReloadSources& sources() const { return sources_; }

 private:
  // Identifies a file version without reading it.
  struct Fingerprint {
    bool exists = false;
    int64_t mtime_ns = 0;
    int64_t size = 0;
    uint64_t inode = 0;
    friend bool operator==(const Fingerprint& a, const Fingerprint& b) {
      return a.exists == b.exists && a.mtime_ns == b.mtime_ns &&
             a.size == b.size && a.inode == b.inode;
    }
    friend bool operator!=(const Fingerprint& a, const Fingerprint& b) {
      return !(a == b);
    }
  };
  struct PolicySource {
    std::string path;
    Fingerprint seen;
    std::string content_hash;
    std::shared_ptr<const CompiledPolicy> policy;
    absl::Time loaded_at;
  };
  struct FeedSource {
    std::string path;
    Fingerprint seen;
  };

  Reloader(ReloadSources sources, PolicyStore* store);

  static Fingerprint Stat(const std::string& path);
  // Loads `source` unless unchanged; fills `out`. Returns true when a new
  // policy was loaded.
  bool LoadPolicy(const char* name, bool force, PolicySource* source,
                  v1::SourceReload* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Loads a feed (intel::KevFeed or intel::EpssFeed) named `name` from
  // `source` into `*feed` unless unchanged; fills `out`. Returns true when
  // a new feed was loaded; a failed load keeps the old one.
  template <typename Feed>
  bool LoadFeed(const char* name, bool force, FeedSource* source,
                std::shared_ptr<const Feed>* feed, v1::SourceReload* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // True when any source file's fingerprint differs from the last read.
  bool AnyChanged() ABSL_LOCKS_EXCLUDED(mu_);
  void PollLoop(absl::Duration interval) ABSL_LOCKS_EXCLUDED(poll_mu_);

  // Constant after construction.
  const ReloadSources sources_;
  PolicyStore* const store_;

  absl::Mutex mu_;  // Serialises reloads.
  PolicySource policy_ ABSL_GUARDED_BY(mu_);
  PolicySource shadow_ ABSL_GUARDED_BY(mu_);
  FeedSource kev_source_ ABSL_GUARDED_BY(mu_);
  FeedSource epss_source_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const intel::KevFeed> kev_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const intel::EpssFeed> epss_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const intel::IntelSnapshot> intel_ ABSL_GUARDED_BY(mu_);

  absl::Mutex poll_mu_;
  bool stopping_ ABSL_GUARDED_BY(poll_mu_) = false;
  std::thread poller_ ABSL_GUARDED_BY(poll_mu_);
};

}  // namespace treatd

#endif  // TREATD_SERVER_RELOADER_H_
