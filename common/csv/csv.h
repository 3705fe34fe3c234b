// RFC 4180 comma-separated values: a writer that quotes only the fields that
// need it, and a streaming reader that reports where a malformed record sits.
// Used by the decision CSV exporter and by the asset inventory loader.
//
// Both classes hold a borrowed stream and per-stream state: one instance per
// stream and thread. The stream must outlive the instance.
#ifndef TREATD_COMMON_CSV_CSV_H_
#define TREATD_COMMON_CSV_CSV_H_

#include <istream>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace treatd::csv {

// Returns `field` as one RFC 4180 field: unchanged when it holds no comma,
// double quote, CR or LF, otherwise wrapped in double quotes with inner
// quotes doubled.
std::string QuoteField(absl::string_view field);

// Writes records, one per call, each ended by CRLF as RFC 4180 asks.
class CsvWriter {
 public:
  // `out` is borrowed and must outlive the writer.
  explicit CsvWriter(std::ostream* out) : out_(out) {}

  // Writes one record. Returns OK, or UNAVAILABLE when the stream failed.
  absl::Status WriteRecord(absl::Span<const std::string> fields);
  absl::Status WriteRecordViews(absl::Span<const absl::string_view> fields);

 private:
  template <typename Field>
  absl::Status Write(absl::Span<const Field> fields);

  std::ostream* out_;
  // The record being written, reused from record to record.
  std::string record_;
};

// Reads records one at a time, so a large file never sits in memory whole.
// Accepts CRLF and bare LF record ends, quoted fields with embedded commas,
// quotes ("") and line breaks, and a final record without a line end. A
// UTF-8 byte order mark at the very start is skipped.
class CsvReader {
 public:
  // `in` is borrowed and must outlive the reader. `filename` only labels
  // error messages.
  CsvReader(std::istream* in, absl::string_view filename)
      : in_(in), filename_(filename) {}

  // Reads the next record into `fields` (replacing its contents). Returns
  // true when a record was read, false at end of input, or INVALID_ARGUMENT
  // "file:line:column: ..." for a stray quote inside an unquoted field, text
  // after a closing quote, or a quoted field left open at end of input.
  // A blank line reads as a record with one empty field.
  absl::StatusOr<bool> ReadRecord(std::vector<std::string>* fields);

  // The 1-based line on which the last record read starts.
  int record_line() const { return record_line_; }

  // The file name given at construction.
  const std::string& filename() const { return filename_; }

 private:
  absl::Status Error(int line, int column, absl::string_view what) const;

  std::istream* in_;
  std::string filename_;
  int line_ = 1;    // Line of the next character to read.
  int column_ = 1;  // Column (in bytes) of the next character to read.
  int record_line_ = 0;
  bool at_start_ = true;
};

}  // namespace treatd::csv

#endif  // TREATD_COMMON_CSV_CSV_H_
