// The whole-document exporters behind WriteDecisions() and the streaming
// writers behind NewDecisionWriter(). Internal to common/exporters; callers
// use exporter.h and sarif.h. Stateless functions, thread-safe; a writer is
// for one stream and one thread.
#ifndef TREATD_COMMON_EXPORTERS_DOCUMENT_WRITERS_H_
#define TREATD_COMMON_EXPORTERS_DOCUMENT_WRITERS_H_

#include <memory>
#include <ostream>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "common/exporters/exporter.h"

namespace treatd::exporters::internal {

std::unique_ptr<DecisionWriter> NewJsonlWriter(std::ostream* out);
std::unique_ptr<DecisionWriter> NewCsvWriter(std::ostream* out);
// Fits widths to the first `fit_rows` rows (at least 1).
std::unique_ptr<DecisionWriter> NewTableWriter(const ExportOptions& options,
                                               size_t fit_rows,
                                               std::ostream* out);

absl::Status WriteOpenVex(absl::Span<const DecidedFinding> decisions,
                          const ExportOptions& options, std::ostream* out);
absl::Status WriteSarif(absl::Span<const DecidedFinding> decisions,
                        const ExportOptions& options, std::ostream* out);

// UNAVAILABLE when `out` has failed, OK otherwise.
absl::Status StreamStatus(const std::ostream& out);

}  // namespace treatd::exporters::internal

#endif  // TREATD_COMMON_EXPORTERS_DOCUMENT_WRITERS_H_
