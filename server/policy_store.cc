#include "server/policy_store.h"

#include <utility>

namespace treatd {

std::shared_ptr<const ActivePolicy> PolicyStore::Get() const {
  absl::MutexLock lock(&mu_);
  return active_;
}

void PolicyStore::Set(std::shared_ptr<const CompiledPolicy> policy,
                      std::string source, absl::Time loaded_at) {
  auto active = std::make_shared<const ActivePolicy>(
      ActivePolicy{std::move(policy), std::move(source), loaded_at});
  absl::MutexLock write_lock(&write_mu_);
  std::vector<Listener> listeners;
  std::shared_ptr<const ActivePolicy> previous;
  {
    absl::MutexLock lock(&mu_);
    // The previous policy is released outside the lock: its destructor may
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

}  // namespace treatd
