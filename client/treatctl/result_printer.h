// ResultPrinter: writes DecisionResults as a human-readable table or as JSON
// Lines (the protobuf JSON mapping of DecisionResult, one per line), as they
// arrive.
//
// Not thread-safe: print from one thread at a time.
#ifndef TREATD_CLIENT_TREATCTL_RESULT_PRINTER_H_
#define TREATD_CLIENT_TREATCTL_RESULT_PRINTER_H_

#include <cstdint>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "treatd/v1/treatment_service.pb.h"

namespace treatd {

enum class OutputFormat { kTable, kJsonl };

// "table" or "jsonl"; INVALID_ARGUMENT otherwise.
absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view name);

class ResultPrinter {
 public:
  // `out` is not owned and must outlive the printer.
  ResultPrinter(OutputFormat format, std::ostream* out);

  // Prints one result (the table header before the first row).
  void Print(const v1::DecisionResult& result);

  int64_t decided() const { return decided_; }
  int64_t failed() const { return failed_; }

 private:
  void PrintTableRow(const v1::DecisionResult& result);

  const OutputFormat format_;
  std::ostream* const out_;
  bool header_printed_ = false;
  int64_t decided_ = 0;
  int64_t failed_ = 0;
  std::string line_;
};

}  // namespace treatd

#endif  // TREATD_CLIENT_TREATCTL_RESULT_PRINTER_H_
