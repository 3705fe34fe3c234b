#include "common/install/data_files.h"

#include <limits.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace treatd {
namespace {

struct Names {
  absl::string_view installed;  // Below share/treatd/.
  absl::string_view source;     // Below the source tree.
};

Names NamesOf(DataFile file) {
  switch (file) {
    case DataFile::kDefaultPolicy:
      return {"default.yaml", "policies/default.yaml"};
    case DataFile::kKevSnapshot:
      return {"intel/known_exploited_vulnerabilities.json",
              "intel/known_exploited_vulnerabilities.json"};
    case DataFile::kEpssSnapshot:
      return {"intel/epss_scores_sample.csv", "intel/epss_scores_sample.csv"};
  }
  return {"", ""};
}

bool Exists(const std::string& path) { return access(path.c_str(), R_OK) == 0; }

// The directory that holds `path` ("/opt/treatd/bin/treatd" gives
// "/opt/treatd/bin"), computed by hand so that messages show
// /opt/treatd/share/... rather than /opt/treatd/bin/../share/....
std::string Parent(absl::string_view path) {
  absl::string_view directory = path;
  while (directory.size() > 1 && directory.back() == '/') {
    directory.remove_suffix(1);
  }
  const size_t slash = directory.rfind('/');
  if (slash == absl::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(directory.substr(0, slash));
}

}  // namespace

std::string ExecutableDirectory() {
  char buffer[PATH_MAX];
  const ssize_t length = readlink("/proc/self/exe", buffer, sizeof(buffer) - 1);
  if (length <= 0) return "";
  buffer[length] = '\0';
  return Parent(absl::string_view(buffer, static_cast<size_t>(length)));
}

std::string DataFilePathFrom(DataFile file,
                             absl::string_view executable_directory) {
  const Names names = NamesOf(file);
  std::vector<std::string> candidates;
  if (!executable_directory.empty()) {
    const std::string prefix = Parent(executable_directory);
    candidates.push_back(absl::StrCat(prefix == "/" ? "" : prefix,
                                      "/share/treatd/", names.installed));
  }
#ifdef TREATD_BUILD_SOURCE_DIR
  candidates.push_back(
      absl::StrCat(TREATD_BUILD_SOURCE_DIR, "/", names.source));
#endif
  for (const std::string& candidate : candidates) {
    if (Exists(candidate)) return candidate;
  }
  return candidates.empty() ? std::string(names.source) : candidates.front();
}

std::string DataFilePath(DataFile file) {
  return DataFilePathFrom(file, ExecutableDirectory());
}

}  // namespace treatd
