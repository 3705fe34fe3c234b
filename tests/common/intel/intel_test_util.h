// Helpers shared by the threat-intel tests: paths to the project's shipped
// feed snapshot and scratch files. Not thread-safe; tests call them from the
// test thread only.
#ifndef TREATD_TESTS_COMMON_INTEL_INTEL_TEST_UTIL_H_
#define TREATD_TESTS_COMMON_INTEL_INTEL_TEST_UTIL_H_

#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace treatd::intel::testing {

// The shipped default snapshot: intel/ at the repository root.
inline std::string ShippedKevPath() {
  return absl::StrCat(TREATD_SOURCE_DIR,
                      "/intel/known_exploited_vulnerabilities.json");
}
inline std::string ShippedEpssPath() {
  return absl::StrCat(TREATD_SOURCE_DIR, "/intel/epss_scores_sample.csv");
}

// Writes `contents` to a file named `name` in the test's scratch directory
// and returns its path.
inline std::string WriteScratchFile(absl::string_view name,
                                    absl::string_view contents) {
  const std::string path = absl::StrCat(::testing::TempDir(), "/", name);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  out.close();
  EXPECT_TRUE(out.good()) << "cannot write " << path;
  return path;
}

}  // namespace treatd::intel::testing

#endif  // TREATD_TESTS_COMMON_INTEL_INTEL_TEST_UTIL_H_
