// Test helpers for the importer tests: reading the scanner samples in
// tests/testdata/scanners/ and finding a finding in a result.
#ifndef TREATD_TESTS_COMMON_IMPORTERS_TEST_DATA_H_
#define TREATD_TESTS_COMMON_IMPORTERS_TEST_DATA_H_

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/string_view.h"
#include "common/importers/importer.h"
#include "gtest/gtest.h"
#include "treatd/v1/finding.pb.h"

namespace treatd::importers::testing {

// Returns the contents of tests/testdata/scanners/<relative_path>; fails the
// test (and returns "") when it cannot be read.
inline std::string ReadScannerSample(absl::string_view relative_path) {
  std::string path = std::string(TREATD_SCANNER_TESTDATA_DIR) + "/" +
                     std::string(relative_path);
  std::ifstream file(path, std::ios::binary);
  EXPECT_TRUE(file.good()) << "cannot open " << path;
  std::stringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

// Returns the first finding with `cve_id` and package `package_name` (any
// package when empty), or nullptr.
inline const v1::Finding* FindFinding(const ImportResult& result,
                                      absl::string_view cve_id,
                                      absl::string_view package_name = "") {
  for (const v1::Finding& finding : result.findings) {
    if (finding.vulnerability().cve_id() == cve_id &&
        (package_name.empty() || finding.package().name() == package_name)) {
      return &finding;
    }
  }
  return nullptr;
}

// Returns attribute `key` of `finding`, or "" when absent.
inline std::string Attribute(const v1::Finding& finding,
                             const std::string& key) {
  auto it = finding.attributes().find(key);
  return it == finding.attributes().end() ? "" : it->second;
}

}  // namespace treatd::importers::testing

#endif  // TREATD_TESTS_COMMON_IMPORTERS_TEST_DATA_H_
