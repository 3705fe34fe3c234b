// The per-format importers behind ImportFindings(). Internal to
// common/importers. Each reads a parsed document and adds its findings,
// skipped entries and warnings to `context`. Each returns OK, or
// INVALID_ARGUMENT (a JsonPathError) when the document as a whole does not
// have the format's shape; a broken entry inside is skipped, not fatal.
// Stateless and thread-safe apart from the context they are given.
#ifndef TREATD_COMMON_IMPORTERS_FORMAT_IMPORTERS_H_
#define TREATD_COMMON_IMPORTERS_FORMAT_IMPORTERS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/importers/import_util.h"
#include "common/importers/json_access.h"

namespace treatd::importers {

// Reads a Trivy report: schema 2, the legacy list, or a Kubernetes cluster
// report (IsTrivyClusterReport), one asset per cluster resource.
absl::Status ImportTrivy(const JsonNode& root, ImportContext& context);
// True for a `trivy k8s --format json` report: an object with a string
// ClusterName and a Vulnerabilities or Misconfigurations list.
bool IsTrivyClusterReport(const JsonNode& document);
absl::Status ImportGrype(const JsonNode& root, ImportContext& context);
absl::Status ImportSarif(const JsonNode& root, ImportContext& context);
absl::Status ImportCycloneDx(const JsonNode& root, ImportContext& context);
absl::Status ImportOpenVex(const JsonNode& root, ImportContext& context);
absl::Status ImportCsaf(const JsonNode& root, ImportContext& context);

// A title for formats that carry none: "CVE-2021-32626 in redis 4.0.2",
// or just the id when there is no package.
std::string DefaultTitle(absl::string_view id, absl::string_view package,
                         absl::string_view version);

}  // namespace treatd::importers

#endif  // TREATD_COMMON_IMPORTERS_FORMAT_IMPORTERS_H_
