// ThreadSanitizer annotations for Debian's prebuilt absl::Mutex.
//
// Linked only into TREATD_SANITIZE=thread builds (see the top-level
// CMakeLists.txt). Debian's libabsl_synchronization is not built with
// -fsanitize=thread, so its Mutex locks with atomics and futexes that TSan
// never sees: every member guarded by an absl::Mutex would be reported as a
// data race. Abseil's own TSan build annotates its Mutex with the
// __tsan_mutex_* interface; this file does the same from the outside. It
// defines the public lock, unlock, wait and condition entry points of
// absl::Mutex and absl::CondVar, so that the dynamic linker binds every
// caller (our code, gRPC's gpr_mu and grpc_core::Mutex, Abseil itself) to
// these definitions; each one tells TSan what happens and calls the real
// function, found with dlsym(RTLD_NEXT).
//
// Memory accesses inside the real calls are ignored (between the pre_ and
// post_ annotations), as in Abseil's own annotations: a Condition that the
// unlocking thread evaluates for a waiter is not checked.
//
// Thread-safe: the real functions are looked up once, before main() or at
// the first call, and never change.
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/base/options.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace {

#define TREATD_STRINGIFY_INNER(x) #x
#define TREATD_STRINGIFY(x) TREATD_STRINGIFY_INNER(x)

// The real function whose Itanium-mangled name is "_ZN4absl" <inline
// namespace> `suffix` (every suffix below refers to absl::<inline> as NS0_).
template <typename Fn>
Fn Real(const char* suffix) {
  const char* ns = TREATD_STRINGIFY(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  const std::string name =
      std::string("_ZN4absl") + std::to_string(std::strlen(ns)) + ns + suffix;
  void* fn = dlsym(RTLD_NEXT, name.c_str());
  if (fn == nullptr) {
    std::fprintf(stderr, "tsan_absl_mutex: %s not found\n", name.c_str());
    std::abort();
  }
  return reinterpret_cast<Fn>(fn);
}

using VoidFn = void (*)(absl::Mutex*);
using BoolFn = bool (*)(absl::Mutex*);
using CondFn = void (*)(absl::Mutex*, const absl::Condition&);
using CondTimeoutFn = bool (*)(absl::Mutex*, const absl::Condition&,
                               absl::Duration);
using CondDeadlineFn = bool (*)(absl::Mutex*, const absl::Condition&,
                                absl::Time);
using WaitFn = void (*)(absl::CondVar*, absl::Mutex*);
using WaitTimeoutFn = bool (*)(absl::CondVar*, absl::Mutex*, absl::Duration);
using WaitDeadlineFn = bool (*)(absl::CondVar*, absl::Mutex*, absl::Time);

// The real functions call public ones too (AwaitWithTimeout calls
// AwaitWithDeadline, waits call Lock and Unlock), which the dynamic linker
// binds to the definitions below as well: only the outermost call on a
// thread is annotated, the nested ones are part of it.
thread_local int nesting = 0;

class Outermost {
 public:
  Outermost() : outermost_(nesting++ == 0) {}
  ~Outermost() { --nesting; }
  explicit operator bool() const { return outermost_; }

 private:
  const bool outermost_;
};

// Annotated acquisition around `call` (which returns whether it locked).
template <typename Call>
bool Acquire(absl::Mutex* mu, unsigned flags, Call call) {
  Outermost outermost;
  if (!outermost) return call();
  __tsan_mutex_pre_lock(mu, flags);
  const bool locked = call();
  __tsan_mutex_post_lock(
      mu, locked ? flags : flags | __tsan_mutex_try_lock_failed, 0);
  return locked;
}

void Release(absl::Mutex* mu, unsigned flags, VoidFn real) {
  Outermost outermost;
  if (!outermost) return real(mu);
  __tsan_mutex_pre_unlock(mu, flags);
  real(mu);
  __tsan_mutex_post_unlock(mu, flags);
}

// Await and CondVar waits give the mutex up and take it back: a release
// before the real call, an acquisition after it.
template <typename Call>
auto ReleaseAndReacquire(absl::Mutex* mu, Call call) {
  Outermost outermost;
  if (!outermost) return call();
  __tsan_mutex_pre_unlock(mu, 0);
  __tsan_mutex_post_unlock(mu, 0);
  __tsan_mutex_pre_lock(mu, 0);
  auto result = call();
  __tsan_mutex_post_lock(mu, 0, 0);
  return result;
}

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

void Mutex::Lock() {
  static const auto real = Real<VoidFn>("5Mutex4LockEv");
  Acquire(this, 0, [&] { return real(this), true; });
}

bool Mutex::TryLock() {
  static const auto real = Real<BoolFn>("5Mutex7TryLockEv");
  return Acquire(this, __tsan_mutex_try_lock, [&] { return real(this); });
}

void Mutex::Unlock() {
  static const auto real = Real<VoidFn>("5Mutex6UnlockEv");
  Release(this, 0, real);
}

void Mutex::ReaderLock() {
  static const auto real = Real<VoidFn>("5Mutex10ReaderLockEv");
  Acquire(this, __tsan_mutex_read_lock, [&] { return real(this), true; });
}

bool Mutex::ReaderTryLock() {
  static const auto real = Real<BoolFn>("5Mutex13ReaderTryLockEv");
  return Acquire(this, __tsan_mutex_try_read_lock, [&] { return real(this); });
}

void Mutex::ReaderUnlock() {
  static const auto real = Real<VoidFn>("5Mutex12ReaderUnlockEv");
  Release(this, __tsan_mutex_read_lock, real);
}

void Mutex::LockWhen(const Condition& cond) {
  static const auto real = Real<CondFn>("5Mutex8LockWhenERKNS0_9ConditionE");
  Acquire(this, 0, [&] { return real(this, cond), true; });
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  static const auto real =
      Real<CondFn>("5Mutex14ReaderLockWhenERKNS0_9ConditionE");
  Acquire(this, __tsan_mutex_read_lock, [&] { return real(this, cond), true; });
}

// The timed forms hold the lock on return whatever they return.
bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static const auto real = Real<CondTimeoutFn>(
      "5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  bool result = false;
  Acquire(this, 0, [&] { return result = real(this, cond, timeout), true; });
  return result;
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  static const auto real = Real<CondDeadlineFn>(
      "5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  bool result = false;
  Acquire(this, 0, [&] { return result = real(this, cond, deadline), true; });
  return result;
}

bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static const auto real = Real<CondTimeoutFn>(
      "5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  bool result = false;
  Acquire(this, __tsan_mutex_read_lock,
          [&] { return result = real(this, cond, timeout), true; });
  return result;
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, Time deadline) {
  static const auto real = Real<CondDeadlineFn>(
      "5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  bool result = false;
  Acquire(this, __tsan_mutex_read_lock,
          [&] { return result = real(this, cond, deadline), true; });
  return result;
}

void Mutex::Await(const Condition& cond) {
  static const auto real = Real<CondFn>("5Mutex5AwaitERKNS0_9ConditionE");
  ReleaseAndReacquire(this, [&] { return real(this, cond), true; });
}

bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  static const auto real = Real<CondTimeoutFn>(
      "5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  return ReleaseAndReacquire(this, [&] { return real(this, cond, timeout); });
}

bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  static const auto real = Real<CondDeadlineFn>(
      "5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  return ReleaseAndReacquire(this, [&] { return real(this, cond, deadline); });
}

void CondVar::Wait(Mutex* mu) {
  static const auto real = Real<WaitFn>("7CondVar4WaitEPNS0_5MutexE");
  ReleaseAndReacquire(mu, [&] { return real(this, mu), true; });
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  static const auto real = Real<WaitTimeoutFn>(
      "7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  return ReleaseAndReacquire(mu, [&] { return real(this, mu, timeout); });
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  static const auto real =
      Real<WaitDeadlineFn>("7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  return ReleaseAndReacquire(mu, [&] { return real(this, mu, deadline); });
}

ABSL_NAMESPACE_END
}  // namespace absl
