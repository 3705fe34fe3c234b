#include "client/faults/resetting_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

#include "absl/strings/str_cat.h"

namespace treatd {
namespace {

struct Pair {
  int client;
  int server;
};

sockaddr_in Loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  return address;
}

void Reset(int fd) {
  const linger hard{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
  close(fd);
}

// Copies what `from` has to `to`; false when `from` ended or either failed.
bool Pump(int from, int to) {
  char buffer[64 * 1024];
  const ssize_t n = read(from, buffer, sizeof(buffer));
  if (n <= 0) return false;
  for (ssize_t sent = 0; sent < n;) {
    const ssize_t m = send(to, buffer + sent, n - sent, MSG_NOSIGNAL);
    if (m <= 0) return false;
    sent += m;
  }
  return true;
}

}  // namespace

ResettingProxy::ResettingProxy(int target_port) : target_port_(target_port) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address = Loopback(0);
  socklen_t length = sizeof(address);
  if (listen_fd_ < 0 ||
      bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      listen(listen_fd_, 64) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) !=
          0 ||
      pipe(wake_) != 0) {
    return;
  }
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this] { Loop(); });
}

ResettingProxy::~ResettingProxy() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  Wake();
  if (thread_.joinable()) thread_.join();
  for (int fd : {listen_fd_, wake_[0], wake_[1]}) {
    if (fd >= 0) close(fd);
  }
}

std::string ResettingProxy::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

int ResettingProxy::ResetAll() {
  if (!thread_.joinable()) return 0;
  {
    absl::MutexLock lock(&mu_);
    reset_requested_ = true;
  }
  Wake();
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](bool* requested) { return !*requested; }, &reset_requested_));
  return last_reset_count_;
}

void ResettingProxy::Wake() {
  const char byte = 1;
  // A full pipe already wakes the loop; it also polls with a timeout.
  if (write(wake_[1], &byte, 1) < 0) return;
}

int ResettingProxy::Connect() const {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  const sockaddr_in address = Loopback(target_port_);
  if (fd >= 0 && connect(fd, reinterpret_cast<const sockaddr*>(&address),
                         sizeof(address)) == 0) {
    return fd;
  }
  if (fd >= 0) close(fd);
  return -1;
}

void ResettingProxy::Loop() {
  std::vector<Pair> pairs;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stop_) break;
      if (reset_requested_) {
        for (const Pair& pair : pairs) {
          Reset(pair.client);
          Reset(pair.server);
        }
        last_reset_count_ = static_cast<int>(pairs.size());
        pairs.clear();
        reset_requested_ = false;
      }
    }
    std::vector<pollfd> fds = {{wake_[0], POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    for (const Pair& pair : pairs) {
      fds.push_back({pair.client, POLLIN, 0});
      fds.push_back({pair.server, POLLIN, 0});
    }
    if (poll(fds.data(), fds.size(), 100) <= 0) continue;
    if (fds[0].revents != 0) {
      char drain[64];
      if (read(wake_[0], drain, sizeof(drain)) < 0) continue;
    }
    std::vector<Pair> open;
    for (size_t i = 0; i < pairs.size(); ++i) {
      const pollfd& c = fds[2 + 2 * i];
      const pollfd& s = fds[3 + 2 * i];
      bool alive = true;
      if (c.revents != 0) alive = Pump(pairs[i].client, pairs[i].server);
      if (alive && s.revents != 0) {
        alive = Pump(pairs[i].server, pairs[i].client);
      }
      if (alive) {
        open.push_back(pairs[i]);
      } else {
        close(pairs[i].client);
        close(pairs[i].server);
      }
    }
    if (fds[1].revents & POLLIN) {
      const int client = accept(listen_fd_, nullptr, nullptr);
      const int server = client >= 0 ? Connect() : -1;
      if (server >= 0) {
        open.push_back({client, server});
      } else if (client >= 0) {
        close(client);
      }
    }
    pairs.swap(open);
  }
  for (const Pair& pair : pairs) {
    close(pair.client);
    close(pair.server);
  }
}

}  // namespace treatd
