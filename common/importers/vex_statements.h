// VexStatements: the statements of VEX documents (OpenVEX, CycloneDX VEX,
// CSAF) applied to the findings of a scan, the way `trivy --vex` and
// `grype --vex` use them: a finding that a statement speaks about gets that
// statement as its `vex` part, so the policy decides with the vendor's (or
// the organisation's) word on it.
//
// A statement speaks about a finding when
//   1. they name the same vulnerability: the statement's CVE id or one of
//      its aliases equals the finding's CVE id or one of its aliases
//      (case-insensitive), and
//   2. they name the same product, the most specific way the statement
//      allows:
//        - the statement names a package URL (OpenVEX subcomponent or
//          product purl, CycloneDX component purl, CSAF purl helper): the
//          finding's package purl has the same type, namespace and name, and
//          the same version when the statement gives one (qualifiers and
//          subpath are ignored);
//        - else the statement names a package (CSAF product name and
//          version branches, CycloneDX component): same package name
//          (case-insensitive), and the same installed version when the
//          statement gives one;
//        - else the statement names only a product: same asset name.
// When several statements match, the most specific wins (purl with version,
// purl, package with version, package, product), then the latest statement
// timestamp, then the last one added (a later document revises an earlier).
//
// Immutable after the documents are added; Apply() is const and safe to
// call from any number of threads.
#ifndef TREATD_COMMON_IMPORTERS_VEX_STATEMENTS_H_
#define TREATD_COMMON_IMPORTERS_VEX_STATEMENTS_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/importers/importer.h"
#include "treatd/v1/finding.pb.h"

namespace treatd::importers {

class VexStatements {
 public:
  VexStatements() = default;

  // Imports `document` (format detected unless `format` says otherwise) and
  // keeps every imported finding that carries a VEX statement. Returns the
  // import result (its skipped entries and warnings are the caller's to
  // report), or INVALID_ARGUMENT when the document cannot be imported or
  // holds no VEX statement at all (a plain scanner report given as --vex).
  absl::StatusOr<ImportResult> AddDocument(
      absl::string_view document, ScannerFormat format = ScannerFormat::kAuto);

  // When a statement speaks about `finding` (see above), sets finding->vex
  // to it and returns true; otherwise leaves the finding alone and returns
  // false.
  bool Apply(v1::Finding* finding) const;

  // The number of statements kept (one per vulnerability and product).
  size_t size() const { return statements_.size(); }

 private:
  // Statements in the order added; the index maps an upper-cased
  // vulnerability id to the statements that name it.
  std::vector<v1::Finding> statements_;
  absl::flat_hash_map<std::string, std::vector<size_t>> by_vulnerability_;
};

}  // namespace treatd::importers

#endif  // TREATD_COMMON_IMPORTERS_VEX_STATEMENTS_H_
