// ShadowRecorder: counts how the shadow policy's decisions diverge from the
// active policy's on live traffic, by (active rule, shadow rule) pair, with
// the first few finding ids of each pair as samples. Counters start over
// when the shadow policy (its digest) changes, e.g. after a reload.
//
// Thread-safe: Record() and Status() may be called from any thread.
#ifndef TREATD_SERVER_SHADOW_H_
#define TREATD_SERVER_SHADOW_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "treatd/v1/admin_service.pb.h"
#include "treatd/v1/decision.pb.h"

namespace treatd {

class ShadowRecorder {
 public:
  // Sample finding ids kept per rule pair.
  static constexpr int kSamplesPerPair = 5;

  ShadowRecorder() = default;
  ShadowRecorder(const ShadowRecorder&) = delete;
  ShadowRecorder& operator=(const ShadowRecorder&) = delete;

  // Records one finding decided by the active policy (`active`) and by the
  // shadow policy `shadow_policy` (`shadow`, or null when the shadow policy
  // could not decide it).
  void Record(const v1::Decision& active, const v1::PolicyRef& shadow_policy,
              const v1::Decision* shadow, const std::string& shadow_source)
      ABSL_LOCKS_EXCLUDED(mu_);

  // The counters for the current shadow policy; `policy` unset when nothing
  // was recorded yet.
  v1::ShadowStatus Status() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Pair {
    int64_t count = 0;
    std::vector<std::string> samples;
    v1::Treatment active_treatment = v1::TREATMENT_UNSPECIFIED;
    v1::Treatment shadow_treatment = v1::TREATMENT_UNSPECIFIED;
  };

  mutable absl::Mutex mu_;
  v1::PolicyRef policy_ ABSL_GUARDED_BY(mu_);
  std::string source_ ABSL_GUARDED_BY(mu_);
  int64_t evaluated_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t diverged_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t errors_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::pair<std::string, std::string>, Pair> pairs_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace treatd

#endif  // TREATD_SERVER_SHADOW_H_
