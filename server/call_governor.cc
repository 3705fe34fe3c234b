#include "server/call_governor.h"

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"

namespace treatd {

std::unique_ptr<CallGovernor> CallGovernor::Create(const CallLimits& limits,
                                                   ServerMetrics* metrics) {
  return absl::WrapUnique(new CallGovernor(limits, metrics));
}

absl::Status CallGovernor::Admit(bool stream) {
  if (calls_.fetch_add(1, std::memory_order_relaxed) >=
      limits_.max_concurrent_calls) {
    calls_.fetch_sub(1, std::memory_order_relaxed);
    return absl::ResourceExhaustedError(absl::StrCat(
        "server is handling its limit of ", limits_.max_concurrent_calls,
        " concurrent calls (--max-concurrent-calls); retry with backoff"));
  }
  if (stream && streams_.fetch_add(1, std::memory_order_relaxed) >=
                    limits_.max_concurrent_streams) {
    streams_.fetch_sub(1, std::memory_order_relaxed);
    calls_.fetch_sub(1, std::memory_order_relaxed);
    return absl::ResourceExhaustedError(absl::StrCat(
        "server has its limit of ", limits_.max_concurrent_streams,
        " streams open (--max-concurrent-streams); retry with backoff"));
  }
  return absl::OkStatus();
}

void CallGovernor::Release(bool stream) {
  calls_.fetch_sub(1, std::memory_order_relaxed);
  if (stream) streams_.fetch_sub(1, std::memory_order_relaxed);
}

bool CallGovernor::HandlesInline(absl::string_view method) {
  return method == kDecideMethod || method == kBatchDecideMethod;
}

}  // namespace treatd
