#include "server/call_watchdog.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace treatd {

CallWatchdog::CallWatchdog(const CallLimits& limits, ServerMetrics* metrics)
    : limits_(limits), metrics_(metrics) {
  thread_ = std::thread([this] { Loop(); });
}

CallWatchdog::~CallWatchdog() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
  absl::MutexLock lock(&mu_);
  for (auto& [id, watched] : watched_) grpc_call_unref(watched.call);
  watched_.clear();
}

uint64_t CallWatchdog::Watch(grpc_call* call, bool stream, absl::Time now,
                             absl::Time hard_deadline, absl::Duration idle) {
  grpc_call_ref(call);
  absl::MutexLock lock(&mu_);
  const uint64_t id = next_id_++;
  watched_.emplace(id, Watched{call, hard_deadline, idle, now, stream});
  return id;
}

void CallWatchdog::Touch(uint64_t id) {
  absl::MutexLock lock(&mu_);
  if (auto it = watched_.find(id); it != watched_.end()) {
    it->second.last_activity = absl::Now();
  }
}

bool CallWatchdog::Unwatch(uint64_t id) {
  grpc_call* call = nullptr;
  bool fired = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = watched_.find(id);
    if (it == watched_.end()) return false;
    call = it->second.call;
    fired = it->second.fired;
    watched_.erase(it);
  }
  grpc_call_unref(call);
  return fired;
}

uint64_t CallWatchdog::watches_started() {
  absl::MutexLock lock(&mu_);
  return next_id_ - 1;
}

void CallWatchdog::Loop() {
  struct Cut {
    grpc_call* call;
    std::string message;
  };
  while (true) {
    std::vector<Cut> cuts;
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stop_), absl::Milliseconds(100));
      if (stop_) return;
      const absl::Time now = absl::Now();
      for (auto& [id, watched] : watched_) {
        if (watched.fired) continue;
        std::string message;
        if (now >= watched.hard_deadline) {
          message = absl::StrCat(
              "call ran longer than the server allows (",
              watched.stream ? "--max-stream-seconds " : "--max-call-seconds ",
              absl::ToDoubleSeconds(watched.stream ? limits_.max_stream_duration
                                                   : limits_.max_call_duration),
              ")");
        } else if (watched.idle != absl::InfiniteDuration() &&
                   now - watched.last_activity >= watched.idle) {
          message = absl::StrCat(
              "stream sent nothing for ", absl::ToDoubleSeconds(watched.idle),
              "s (--stream-idle-seconds); the server closed it");
        } else {
          continue;
        }
        watched.fired = true;
        grpc_call_ref(watched.call);
        cuts.push_back({watched.call, std::move(message)});
      }
    }
    // Outside the lock: cancelling may run gRPC callbacks inline.
    for (Cut& cut : cuts) {
      grpc_call_cancel_with_status(cut.call, GRPC_STATUS_DEADLINE_EXCEEDED,
                                   cut.message.c_str(), nullptr);
      grpc_call_unref(cut.call);
      if (metrics_ != nullptr) metrics_->CallRejected("time_limit");
    }
  }
}

}  // namespace treatd
