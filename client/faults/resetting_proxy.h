// ResettingProxy: a loopback TCP proxy in front of a server whose
// connections can be reset on demand. Both sockets of every open connection
// are closed with SO_LINGER {on, 0}, so each peer gets an RST (not a FIN)
// in the middle of whatever it was doing: the server sees its client vanish
// mid-call, the client sees its server vanish.
//
// For fault tests and the soak (client/faults/mixed_load.h); one thread
// pumps every connection, so keep the traffic through it small.
//
// Thread-safe: ResetAll() may be called from any thread.
#ifndef TREATD_CLIENT_FAULTS_RESETTING_PROXY_H_
#define TREATD_CLIENT_FAULTS_RESETTING_PROXY_H_

#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace treatd {

class ResettingProxy {
 public:
  // Listens on 127.0.0.1 (a free port) and forwards each connection to
  // 127.0.0.1:`target_port`. port() is 0 when it could not listen.
  explicit ResettingProxy(int target_port);
  // Closes every connection (FIN) and stops.
  ~ResettingProxy();
  ResettingProxy(const ResettingProxy&) = delete;
  ResettingProxy& operator=(const ResettingProxy&) = delete;

  int port() const { return port_; }
  // "127.0.0.1:<port>".
  std::string address() const;

  // Resets every open connection (both sides); returns how many.
  int ResetAll() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Wake();
  int Connect() const;
  void Loop() ABSL_LOCKS_EXCLUDED(mu_);

  // Constant after construction.
  const int target_port_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  int port_ = 0;
  std::thread thread_;

  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool reset_requested_ ABSL_GUARDED_BY(mu_) = false;
  int last_reset_count_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace treatd

#endif  // TREATD_CLIENT_FAULTS_RESETTING_PROXY_H_
