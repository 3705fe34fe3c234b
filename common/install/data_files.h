// Where the files treatd ships with live: the default policy and the
// KEV/EPSS snapshot. `cmake --install` puts them under
// <prefix>/share/treatd/; the binaries find them relative to their own
// location (<prefix>/bin/treatd → <prefix>/share/treatd/...), so treatd and
// treatctl work from any directory. A binary that runs from the build tree
// finds the files of the source tree it was built from instead.
//
// Pure lookups of the file system; thread-safe.
#ifndef TREATD_COMMON_INSTALL_DATA_FILES_H_
#define TREATD_COMMON_INSTALL_DATA_FILES_H_

#include <string>

#include "absl/strings/string_view.h"

namespace treatd {

// A file treatd ships with.
enum class DataFile {
  // policies/default.yaml; installed as share/treatd/default.yaml.
  kDefaultPolicy,
  // intel/known_exploited_vulnerabilities.json; installed as
  // share/treatd/intel/known_exploited_vulnerabilities.json.
  kKevSnapshot,
  // intel/epss_scores_sample.csv; installed as
  // share/treatd/intel/epss_scores_sample.csv.
  kEpssSnapshot,
};

// The directory of the running executable (from /proc/self/exe), or "" when
// it cannot be told.
std::string ExecutableDirectory();

// The absolute path of `file`, looked for in this order:
//   1. <executable directory>/../share/treatd/<installed name>;
//   2. <source tree the binary was built from>/<source name>.
// Returns the first that exists; when none does, the first candidate, so
// that an error message names where the file was expected.
std::string DataFilePath(DataFile file);

// DataFilePath() for an explicit `executable_directory` (tests).
std::string DataFilePathFrom(DataFile file,
                             absl::string_view executable_directory);

}  // namespace treatd

#endif  // TREATD_COMMON_INSTALL_DATA_FILES_H_
