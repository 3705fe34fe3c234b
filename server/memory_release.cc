#include "server/memory_release.h"

#include <dlfcn.h>
#include <malloc.h>

namespace treatd {
namespace {

// tcmalloc's C entry points (gperftools/malloc_extension_c.h), or null
// when the process does not run on tcmalloc.
struct Tcmalloc {
  void (*release_free_memory)() = nullptr;
  void (*release_to_system)(size_t) = nullptr;
  int (*get_numeric_property)(const char*, size_t*) = nullptr;
};

const Tcmalloc& TcmallocEntryPoints() {
  static const Tcmalloc* const entry_points = [] {
    auto* t = new Tcmalloc;
    t->release_free_memory = reinterpret_cast<void (*)()>(
        dlsym(RTLD_DEFAULT, "MallocExtension_ReleaseFreeMemory"));
    t->release_to_system = reinterpret_cast<void (*)(size_t)>(
        dlsym(RTLD_DEFAULT, "MallocExtension_ReleaseToSystem"));
    t->get_numeric_property = reinterpret_cast<int (*)(const char*, size_t*)>(
        dlsym(RTLD_DEFAULT, "MallocExtension_GetNumericProperty"));
    return t;
  }();
  return *entry_points;
}

}  // namespace

void ReleaseFreeMemory() {
  const Tcmalloc& tcmalloc = TcmallocEntryPoints();
  if (tcmalloc.release_free_memory != nullptr) {
    tcmalloc.release_free_memory();
    return;
  }
  malloc_trim(0);
}

std::optional<size_t> AllocatorFreeBytes() {
  const Tcmalloc& tcmalloc = TcmallocEntryPoints();
  size_t free_bytes = 0;
  if (tcmalloc.get_numeric_property == nullptr ||
      !tcmalloc.get_numeric_property("tcmalloc.pageheap_free_bytes",
                                     &free_bytes)) {
    return std::nullopt;
  }
  return free_bytes;
}

size_t ReleaseFreeMemoryAbove(size_t keep_bytes) {
  const Tcmalloc& tcmalloc = TcmallocEntryPoints();
  const std::optional<size_t> free_bytes = AllocatorFreeBytes();
  if (!free_bytes.has_value() || tcmalloc.release_to_system == nullptr ||
      *free_bytes <= keep_bytes) {
    return 0;
  }
  tcmalloc.release_to_system(*free_bytes - keep_bytes);
  const std::optional<size_t> after = AllocatorFreeBytes();
  return after.has_value() && *after < *free_bytes ? *free_bytes - *after : 0;
}

FreeMemoryReleaser::FreeMemoryReleaser(absl::Duration interval,
                                       size_t keep_bytes)
    : interval_(interval), keep_bytes_(keep_bytes) {
  if (interval_ > absl::ZeroDuration()) {
    thread_ = std::thread([this] { Loop(); });
  }
}

FreeMemoryReleaser::~FreeMemoryReleaser() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

int64_t FreeMemoryReleaser::released_bytes() const {
  absl::MutexLock lock(&mu_);
  return released_bytes_;
}

void FreeMemoryReleaser::Loop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stop_), interval_);
      if (stop_) return;
    }
    const size_t released = ReleaseFreeMemoryAbove(keep_bytes_);
    if (released > 0) {
      absl::MutexLock lock(&mu_);
      released_bytes_ += static_cast<int64_t>(released);
    }
  }
}

}  // namespace treatd
