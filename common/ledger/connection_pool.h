// A pool of read connections for a store: a query takes an idle connection
// or opens a new one, and gives it back afterwards. The pool grows to the
// number of concurrent readers and never shrinks (connections live as long
// as the store).
//
// Thread safety: With() may be called from any thread.
#ifndef TREATD_COMMON_LEDGER_CONNECTION_POOL_H_
#define TREATD_COMMON_LEDGER_CONNECTION_POOL_H_

#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace treatd::ledger {

template <typename Connection>
class ConnectionPool {
 public:
  using Opener = std::function<absl::StatusOr<std::unique_ptr<Connection>>()>;
  // `revive` runs on an idle connection before reuse (e.g. reconnect a
  // connection known to be broken). `reconnect` connects one again,
  // whatever its state (for WithRerun).
  using Reviver = std::function<absl::Status(Connection&)>;

  // `lost` tells whether a connection's last failure was the connection's
  // own (it broke), after which WithRerun runs f again; without it, any
  // UNAVAILABLE is.
  using LostTest = std::function<bool(const Connection&)>;

  explicit ConnectionPool(Opener open, Reviver revive = nullptr,
                          Reviver reconnect = nullptr, LostTest lost = nullptr)
      : open_(std::move(open)),
        revive_(std::move(revive)),
        reconnect_(std::move(reconnect)),
        lost_(std::move(lost)) {}

  // Runs f(Connection&) on a connection of the pool and returns its result
  // (an absl::Status or StatusOr); the error of opening one otherwise.
  template <typename F>
  auto With(F f) const -> decltype(f(std::declval<Connection&>())) {
    return Run(f, /*rerun=*/false);
  }

  // As With, but when f fails UNAVAILABLE on an idle connection of the
  // pool because the connection broke while idle, unnoticed until f used
  // it (the server restarted; `lost` says so), the connection is made
  // again (`reconnect`) and f runs once more. Not on other UNAVAILABLE
  // failures (a timeout, a lock, no resources), which a second run at once
  // would only meet again. For an f that is safe to run twice: a read, an
  // idempotent write; not one that has handed out rows before it fails.
  template <typename F>
  auto WithRerun(F f) const -> decltype(f(std::declval<Connection&>())) {
    return Run(f, /*rerun=*/true);
  }

 private:
  template <typename F>
  auto Run(F& f, bool rerun) const -> decltype(f(std::declval<Connection&>())) {
    std::unique_ptr<Connection> connection;
    bool reused = false;
    {
      absl::MutexLock lock(&mu_);
      if (!idle_.empty()) {
        connection = std::move(idle_.back());
        idle_.pop_back();
        reused = true;
      }
    }
    if (connection == nullptr) {
      absl::StatusOr<std::unique_ptr<Connection>> opened = open_();
      if (!opened.ok()) return opened.status();
      connection = *std::move(opened);
    } else if (revive_) {
      absl::Status revived = revive_(*connection);
      if (!revived.ok()) {
        Give(std::move(connection));
        return revived;
      }
    }
    auto result = f(*connection);
    if (rerun && reused && reconnect_ &&
        absl::IsUnavailable(StatusOf(result)) &&
        (!lost_ || lost_(*connection)) && reconnect_(*connection).ok()) {
      result = f(*connection);
    }
    Give(std::move(connection));
    return result;
  }

  static const absl::Status& StatusOf(const absl::Status& status) {
    return status;
  }
  template <typename T>
  static const absl::Status& StatusOf(const absl::StatusOr<T>& result) {
    return result.status();
  }

  void Give(std::unique_ptr<Connection> connection) const {
    absl::MutexLock lock(&mu_);
    idle_.push_back(std::move(connection));
  }

  const Opener open_;
  const Reviver revive_;
  const Reviver reconnect_;
  const LostTest lost_;
  mutable absl::Mutex mu_;
  mutable std::vector<std::unique_ptr<Connection>> idle_ ABSL_GUARDED_BY(mu_);
};

}  // namespace treatd::ledger

#endif  // TREATD_COMMON_LEDGER_CONNECTION_POOL_H_
