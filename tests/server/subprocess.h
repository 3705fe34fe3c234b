// Runs a program as a child process for tests that check binaries (treatd,
// treatctl) from the outside: exit codes, stdout, stderr, signals. Every
// wait is bounded; a child that outlives its deadline is killed.
//
// Not thread-safe: one Subprocess per thread.
#ifndef TREATD_TESTS_SERVER_SUBPROCESS_H_
#define TREATD_TESTS_SERVER_SUBPROCESS_H_

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace treatd::testing {

class Subprocess {
 public:
  // Starts `argv` (argv[0] is a path) with stdin, stdout and stderr on
  // pipes, in `working_directory` when not empty (else in this process's).
  // Returns nullptr if fork or exec fails.
  static std::unique_ptr<Subprocess> Start(
      const std::vector<std::string>& argv,
      const std::string& working_directory = "") {
    int in[2], out[2], err[2];
    if (pipe(in) != 0 || pipe(out) != 0 || pipe(err) != 0) return nullptr;
    std::vector<char*> args;
    for (const std::string& arg : argv)
      args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    const pid_t pid = fork();
    if (pid < 0) return nullptr;
    if (pid == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      dup2(err[1], 2);
      for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]}) close(fd);
      if (!working_directory.empty() && chdir(working_directory.c_str()) != 0) {
        _exit(126);
      }
      execv(args[0], args.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    auto process = std::unique_ptr<Subprocess>(new Subprocess);
    process->pid_ = pid;
    process->stdin_ = in[1];
    process->stdout_ = out[0];
    process->stderr_ = err[0];
    return process;
  }

  ~Subprocess() {
    CloseStdin();
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    for (int fd : {stdout_, stderr_}) {
      if (fd >= 0) close(fd);
    }
  }

  // Writes `text` to the child's stdin and closes it.
  void WriteStdinAndClose(const std::string& text) {
    size_t written = 0;
    while (stdin_ >= 0 && written < text.size()) {
      const ssize_t n =
          write(stdin_, text.data() + written, text.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      written += static_cast<size_t>(n);
    }
    CloseStdin();
  }

  void CloseStdin() {
    if (stdin_ >= 0) close(stdin_);
    stdin_ = -1;
  }

  // Reads stdout until a newline; false on EOF or after `timeout`.
  bool ReadStdoutLine(std::string* line, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (true) {
      const size_t newline = stdout_text_.find('\n');
      if (newline != std::string::npos) {
        *line = stdout_text_.substr(0, newline);
        stdout_text_.erase(0, newline + 1);
        return true;
      }
      if (!ReadSome(deadline)) return false;
    }
  }

  void Signal(int signal_number) { kill(pid_, signal_number); }
  pid_t pid() const { return pid_; }

  // Collects what the child has written so far without waiting. A test
  // that runs the child for long calls it now and then: a pipe nobody
  // reads fills at 64 KiB and then blocks every thread of the child that
  // logs.
  void Drain() {
    // (ReadSome polls for whole milliseconds: 2 ms from now is 1.)
    while (ReadSome(absl::Now() + absl::Milliseconds(2))) {
    }
  }

  // Collects the rest of stdout and stderr and waits for the exit. Returns
  // the exit code, 128 + signal when killed by a signal, or -1 when the
  // child was still running at `timeout` (it is then killed).
  int Wait(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    CloseStdin();
    while (stdout_ >= 0 || stderr_ >= 0) {
      if (!ReadSome(deadline) && absl::Now() >= deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        pid_ = -1;
        return -1;
      }
    }
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
  }

  const std::string& stdout_text() const { return stdout_text_; }
  const std::string& stderr_text() const { return stderr_text_; }

 private:
  Subprocess() = default;

  // Reads what is available from stdout/stderr, waiting at most until
  // `deadline`. Returns false on timeout or when both are closed.
  bool ReadSome(absl::Time deadline) {
    pollfd fds[2];
    int count = 0;
    for (int fd : {stdout_, stderr_}) {
      if (fd >= 0) fds[count++] = pollfd{fd, POLLIN, 0};
    }
    if (count == 0) return false;
    const int wait_ms =
        static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (wait_ms <= 0) return false;
    const int ready = poll(fds, count, wait_ms);
    if (ready <= 0) return false;
    for (int i = 0; i < count; ++i) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      char buffer[65536];
      const ssize_t n = read(fds[i].fd, buffer, sizeof(buffer));
      const bool is_stdout = fds[i].fd == stdout_;
      if (n <= 0) {
        close(fds[i].fd);
        (is_stdout ? stdout_ : stderr_) = -1;
      } else {
        (is_stdout ? stdout_text_ : stderr_text_).append(buffer, n);
      }
    }
    return true;
  }

  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  int stderr_ = -1;
  std::string stdout_text_;
  std::string stderr_text_;
};

}  // namespace treatd::testing

#endif  // TREATD_TESTS_SERVER_SUBPROCESS_H_
