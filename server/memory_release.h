// Handing memory the allocator holds free back to the operating system.
//
// treatd links tcmalloc (server/CMakeLists.txt), which keeps the pages of
// freed objects in its page heap for reuse and, by itself, returns them to
// the system only after gigabytes more have been freed
// (TCMALLOC_RELEASE_RATE scales that, and at 10 still left a BatchDecide
// burst's 80 MiB in place). So a burst of large calls (eight BatchDecide
// calls of 1,000 findings, their responses and ledger events) raised the
// resident size by ~100 MB for good. FreeMemoryReleaser checks the page
// heap's free bytes now and then and returns what exceeds a bound.
//
// tcmalloc is looked up at run time (dlsym), so the server library does
// not depend on it: without it (tests, sanitizer builds) the functions
// fall back to glibc's malloc_trim or do nothing, as documented.
#ifndef TREATD_SERVER_MEMORY_RELEASE_H_
#define TREATD_SERVER_MEMORY_RELEASE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace treatd {

// Returns all the free memory the allocator holds (tcmalloc's page heap;
// glibc: malloc_trim). Takes the allocator's locks for as long as the
// release lasts (milliseconds for ~100 MiB): for after a rare, large event
// (a feed reload), not for a hot path.
void ReleaseFreeMemory();

// The bytes tcmalloc's page heap holds free and still mapped
// (tcmalloc.pageheap_free_bytes); nullopt without tcmalloc.
std::optional<size_t> AllocatorFreeBytes();

// Returns to the system what tcmalloc's page heap holds free beyond
// `keep_bytes`: at least the excess, possibly more (tcmalloc returns whole
// free spans). Returns the bytes released (0 below the bound or without
// tcmalloc).
size_t ReleaseFreeMemoryAbove(size_t keep_bytes);

// A thread that every `interval` calls ReleaseFreeMemoryAbove(keep_bytes).
// Cheap on the hot path: between releases it only reads one counter; a
// release costs page faults later only if a new burst needs the memory
// again, and `keep_bytes` stay mapped for ordinary traffic.
// Thread-safe: released_bytes() may be read from any thread.
class FreeMemoryReleaser {
 public:
  // Starts the thread; a zero `interval` starts none (released_bytes()
  // stays 0).
  FreeMemoryReleaser(absl::Duration interval, size_t keep_bytes);
  // Stops the thread.
  ~FreeMemoryReleaser();
  FreeMemoryReleaser(const FreeMemoryReleaser&) = delete;
  FreeMemoryReleaser& operator=(const FreeMemoryReleaser&) = delete;

  // Bytes returned to the system so far.
  int64_t released_bytes() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Loop() ABSL_LOCKS_EXCLUDED(mu_);

  const absl::Duration interval_;
  const size_t keep_bytes_;
  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  int64_t released_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace treatd

#endif  // TREATD_SERVER_MEMORY_RELEASE_H_
