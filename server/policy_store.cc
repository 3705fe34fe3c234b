#include "server/policy_store.h"

#include <utility>

#include "server/logging.h"

namespace treatd {

std::shared_ptr<const ActivePolicy> PolicyStore::Get() const {
  absl::MutexLock lock(&mu_);
  return active_;
}

void PolicyStore::Set(std::shared_ptr<const CompiledPolicy> policy,
                      std::string source, absl::Time loaded_at) {
  std::shared_ptr<const ActivePolicy> current = Get();
  std::shared_ptr<const intel::IntelSnapshot> intel;
  IntelSettings settings;
  auto next = std::make_shared<ActivePolicy>();
  if (current != nullptr) {
    intel = current->pipeline->intel();
    settings = current->pipeline->settings();
    next->shadow = current->shadow;
    next->shadow_source = current->shadow_source;
  }
  absl::StatusOr<std::shared_ptr<const DecisionPipeline>> pipeline =
      DecisionPipeline::Create(policy, std::move(intel), settings);
  if (!pipeline.ok()) {
    // Only a bug in the revisit analysis gets here; keep serving.
    LogError("cannot activate policy",
             {{"source", source}, {"error", pipeline.status().message()}});
    return;
  }
  next->policy = std::move(policy);
  next->source = std::move(source);
  next->loaded_at = loaded_at;
  next->pipeline = *std::move(pipeline);
  SetSnapshot(std::move(next));
}

void PolicyStore::SetSnapshot(std::shared_ptr<const ActivePolicy> active) {
  Swap(std::move(active), /*result=*/nullptr);
}

void PolicyStore::Publish(std::shared_ptr<const ActivePolicy> snapshot,
                          const v1::ReloadResult& result) {
  Swap(std::move(snapshot), &result);
}

void PolicyStore::Swap(std::shared_ptr<const ActivePolicy> active,
                       const v1::ReloadResult* result) {
  absl::MutexLock write_lock(&write_mu_);
  std::vector<Listener> listeners;
  std::shared_ptr<const ActivePolicy> previous;
  {
    absl::MutexLock lock(&mu_);
    if (result != nullptr) {
      history_.last = *result;
      ++history_.reloads;
      if (!result->ok()) {
        history_.last_rejected = *result;
        ++history_.rejected;
      }
    }
    if (active == nullptr) return;
    // The previous snapshot is released outside the lock: its destructor may
    // be expensive when this was the last reference.
    previous = std::exchange(active_, active);
    listeners = listeners_;
  }
  for (const Listener& listener : listeners) listener(*active);
}

absl::Status PolicyStore::LoadFile(const std::string& path,
                                   std::vector<v1::PolicyIssue>* issues) {
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> compiled =
      CompiledPolicy::CompileFile(path, issues);
  if (!compiled.ok()) return compiled.status();
  Set(*std::move(compiled), path, absl::Now());
  return absl::OkStatus();
}

void PolicyStore::AddListener(Listener listener) {
  absl::MutexLock lock(&mu_);
  listeners_.push_back(std::move(listener));
}

void PolicyStore::RecordReload(const v1::ReloadResult& result) {
  Swap(/*active=*/nullptr, &result);
}

ReloadHistory PolicyStore::History() const {
  absl::MutexLock lock(&mu_);
  return history_;
}

PolicyStoreState PolicyStore::GetWithHistory() const {
  absl::MutexLock lock(&mu_);
  return PolicyStoreState{active_, history_};
}

}  // namespace treatd
