#include "common/importers/vex_statements.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/assets/dedup.h"
#include "common/importers/import_util.h"
#include "common/status/status_macros.h"

namespace treatd::importers {
namespace {

// How specifically a statement names the product of a finding; 0 is no
// match. Higher wins.
enum Specificity : int {
  kNoMatch = 0,
  kProduct = 1,
  kPackage = 2,
  kPackageVersion = 3,
  kPurl = 4,
  kPurlVersion = 5,
};

Specificity Match(const v1::Finding& statement, const v1::Finding& finding) {
  const v1::Package& said = statement.package();
  const v1::Package& found = finding.package();
  if (!said.purl().empty()) {
    std::optional<PackageUrl> a = ParsePackageUrl(said.purl());
    std::optional<PackageUrl> b = ParsePackageUrl(found.purl());
    if (!a.has_value() || !b.has_value() || a->type != b->type ||
        !absl::EqualsIgnoreCase(a->name_space, b->name_space) ||
        a->name != b->name) {
      return kNoMatch;
    }
    if (a->version.empty()) return kPurl;
    return a->version == b->version ? kPurlVersion : kNoMatch;
  }
  if (!said.name().empty()) {
    if (!absl::EqualsIgnoreCase(said.name(), found.name())) return kNoMatch;
    if (said.installed_version().empty()) return kPackage;
    return said.installed_version() == found.installed_version()
               ? kPackageVersion
               : kNoMatch;
  }
  if (!statement.asset().name().empty() &&
      statement.asset().name() == finding.asset().name()) {
    return kProduct;
  }
  return kNoMatch;
}

// Whether statement `a` is to be preferred over `b` at the same
// specificity: the later statement time wins; without times, the later
// statement added (the caller passes them in that order).
bool Later(const v1::Vex& a, const v1::Vex& b) {
  if (a.timestamp().seconds() != b.timestamp().seconds()) {
    return a.timestamp().seconds() > b.timestamp().seconds();
  }
  return a.timestamp().nanos() >= b.timestamp().nanos();
}

}  // namespace

absl::StatusOr<ImportResult> VexStatements::AddDocument(
    absl::string_view document, ScannerFormat format) {
  TREATD_ASSIGN_OR_RETURN(ImportResult result,
                          ImportFindings(document, format));
  size_t kept = 0;
  for (const v1::Finding& finding : result.findings) {
    if (!finding.has_vex() ||
        finding.vex().status() == v1::VEX_STATUS_UNSPECIFIED) {
      continue;
    }
    const size_t index = statements_.size();
    statements_.push_back(finding);
    for (const std::string& id : assets::VulnerabilityIds(finding)) {
      std::vector<size_t>& list = by_vulnerability_[id];
      if (list.empty() || list.back() != index) list.push_back(index);
    }
    ++kept;
  }
  if (kept == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "no VEX statement in this ", ScannerFormatName(result.format),
        " document (", result.findings.size(),
        " findings, none with a VEX status): expected an OpenVEX, "
        "CycloneDX VEX (analysis.state) or CSAF document"));
  }
  return result;
}

bool VexStatements::Apply(v1::Finding* finding) const {
  const v1::Finding* best = nullptr;
  Specificity best_specificity = kNoMatch;
  for (const std::string& id : assets::VulnerabilityIds(*finding)) {
    auto it = by_vulnerability_.find(id);
    if (it == by_vulnerability_.end()) continue;
    for (size_t index : it->second) {
      const v1::Finding& statement = statements_[index];
      const Specificity specificity = Match(statement, *finding);
      if (specificity == kNoMatch) continue;
      if (specificity > best_specificity ||
          (specificity == best_specificity &&
           Later(statement.vex(), best->vex()))) {
        best = &statement;
        best_specificity = specificity;
      }
    }
  }
  if (best == nullptr) return false;
  *finding->mutable_vex() = best->vex();
  return true;
}

}  // namespace treatd::importers
