// What the services served on treatd's event loop (--event-loop-threads N,
// EventLoopTreatmentService) share: the tags on its completion queues and
// the count of calls alive, by which the loop knows when its queues may
// close.
//
// Each queue has one thread, which takes its events one at a time: the
// events of a call asked for on a queue never run at once.
#ifndef TREATD_SERVER_EVENT_LOOP_H_
#define TREATD_SERVER_EVENT_LOOP_H_

#include <atomic>

#include "grpcpp/grpcpp.h"

namespace treatd {

// A tag given to gRPC with a loop's queue: the queue's thread calls
// Proceed with each event of it. The object owns itself (deletes itself
// after its last event).
class LoopTag {
 public:
  // `ok` as the queue gave it.
  virtual void Proceed(bool ok) = 0;

  // The tag to give gRPC: this object's LoopTag part, which is what the
  // loop's threads take it for (in a class with other bases it need not
  // be at the object's own address).
  void* tag() { return this; }

 protected:
  ~LoopTag() = default;
};

// The calls of an event loop's services. Thread-safe.
class LoopCalls {
 public:
  // Counts a call among the live ones from before its request to after
  // the last of its members is gone: make it the call's first member.
  class Live {
   public:
    explicit Live(LoopCalls* calls) : calls_(calls) {
      calls_->live_.fetch_add(1, std::memory_order_relaxed);
    }
    ~Live() { calls_->live_.fetch_sub(1, std::memory_order_release); }
    Live(const Live&) = delete;
    Live& operator=(const Live&) = delete;

    LoopCalls* calls() const { return calls_; }

   private:
    LoopCalls* const calls_;
  };

  // False once the loop is stopping: a call that has been matched asks for
  // its successor only while this is true.
  bool asking() const { return !stopping_.load(std::memory_order_acquire); }
  void StopAsking() { stopping_.store(true, std::memory_order_release); }
  bool any_live() const { return live_.load(std::memory_order_acquire) > 0; }

 private:
  std::atomic<int> live_{0};
  std::atomic<bool> stopping_{false};
};

// A service (besides TreatmentService's Decide) whose calls the loop's
// queues serve.
class LoopService {
 public:
  // Asks gRPC for this service's first calls on `queue`, before its thread
  // starts; each call is counted in `calls` and, once matched, asks for
  // its successor while calls->asking().
  virtual void RequestCalls(grpc::ServerCompletionQueue* queue,
                            LoopCalls* calls) = 0;

 protected:
  ~LoopService() = default;
};

}  // namespace treatd

#endif  // TREATD_SERVER_EVENT_LOOP_H_
