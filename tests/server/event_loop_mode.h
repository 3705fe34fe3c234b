// The server's threads for tests that run twice: on gRPC's callback API
// and, with TREATD_TEST_EVENT_LOOP_THREADS=N set (tests/server/
// CMakeLists.txt registers such a run, prefixed "event_loop."), on an
// event loop of N threads (ServerConfig::event_loop_threads).
#ifndef TREATD_TESTS_SERVER_EVENT_LOOP_MODE_H_
#define TREATD_TESTS_SERVER_EVENT_LOOP_MODE_H_

#include <cstdlib>
#include <string>
#include <vector>

namespace treatd::testing {

inline int EventLoopThreadsForTest() {
  const char* threads = std::getenv("TREATD_TEST_EVENT_LOOP_THREADS");
  return threads == nullptr ? 0 : std::atoi(threads);
}

// A treatd command line with --event-loop-threads added, as the test runs.
inline std::vector<std::string> WithEventLoopFlag(
    std::vector<std::string> args) {
  args.push_back("--event-loop-threads");
  args.push_back(std::to_string(EventLoopThreadsForTest()));
  return args;
}

}  // namespace treatd::testing

#endif  // TREATD_TESTS_SERVER_EVENT_LOOP_MODE_H_
