#include "common/io/read_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace treatd {
namespace {

absl::Status ErrnoStatus(int error, absl::string_view what,
                         const std::string& path) {
  return absl::ErrnoToStatus(error,
                             absl::StrCat("cannot read ", what, " ", path));
}

}  // namespace

absl::StatusOr<std::string> ReadFileToString(const std::string& path,
                                             absl::string_view what) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, what, path);
  struct stat info;
  if (::fstat(fd, &info) != 0) {
    const int error = errno;
    ::close(fd);
    return ErrnoStatus(error, what, path);
  }
  // Pipes and devices (`<(...)`, /dev/stdin) are read to their end; a
  // directory opens but cannot be read.
  if (S_ISDIR(info.st_mode)) {
    ::close(fd);
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read ", what, " ", path, ": is a directory"));
  }
  std::string data;
  // The size is a hint (the file may change while we read it); one spare
  // byte lets the common case see end-of-file without growing the buffer.
  data.resize(static_cast<size_t>(info.st_size) + 1);
  size_t filled = 0;
  while (true) {
    if (filled == data.size()) data.resize(data.size() * 2 + 4096);
    const ssize_t n = ::read(fd, data.data() + filled, data.size() - filled);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      ::close(fd);
      return ErrnoStatus(error, what, path);
    }
    if (n == 0) break;
    filled += static_cast<size_t>(n);
  }
  ::close(fd);
  data.resize(filled);
  return data;
}

}  // namespace treatd
