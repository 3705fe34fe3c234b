// NewFeedId: a number no other feed object of this process has had, for
// whatever keeps something derived from a feed beyond one call (the
// enrichment's per-thread text memo): a feed's address can be reused by
// its successor once a reload frees it, and two loads of different files
// can share a description, but never an id. Thread-safe.
#ifndef TREATD_COMMON_INTEL_FEED_ID_H_
#define TREATD_COMMON_INTEL_FEED_ID_H_

#include <atomic>
#include <cstdint>

namespace treatd::intel {

// Never 0 (free for "no feed"); increasing.
inline uint64_t NewFeedId() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace treatd::intel

#endif  // TREATD_COMMON_INTEL_FEED_ID_H_
