// The findings a treatctl run decides, from any mix of files (or stdin):
//   - findings in the protobuf JSON mapping (one object, an array, or JSON
//     Lines), read and handed out one at a time, so an input of any size
//     runs in bounded memory;
//   - scanner documents (Trivy, Grype, SARIF, CycloneDX, OpenVEX; see
//     docs/importers.md), which are parsed whole and imported with
//     common/importers.
// The kind of each input is detected from its first JSON value unless the
// input format is given. The VEX statements (--vex) and the asset inventory,
// when given, are applied to every finding; findings imported from scanner
// documents are de-duplicated across all of them (common/assets) unless
// disabled.
//
// Order: the findings of every scanner document come first (the documents
// are read when the input is opened, so that duplicates across them merge),
// then the findings of the JSON inputs, in argument order.
//
// Not thread-safe, except fraction(), which may be read from any thread.
#ifndef TREATD_CLIENT_TREATCTL_FINDING_INPUT_H_
#define TREATD_CLIENT_TREATCTL_FINDING_INPUT_H_

#include <atomic>
#include <cstdint>
#include <fstream>
#include <functional>
#include <istream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/treatctl/finding_reader.h"
#include "common/assets/inventory.h"
#include "common/importers/importer.h"
#include "common/importers/vex_statements.h"
#include "treatd/v1/finding.pb.h"

namespace treatd {

// What --input-format asks for.
struct InputFormat {
  // Detect per input (findings vs scanner documents).
  bool automatic = true;
  // When not automatic: findings in the protobuf JSON mapping when
  // nullopt, else this scanner format.
  std::optional<importers::ScannerFormat> scanner;
};

// "auto", "json" or "jsonl" (findings), or a scanner format name
// ("trivy", "grype", "sarif", "cyclonedx", "openvex"). INVALID_ARGUMENT
// listing the accepted names otherwise.
absl::StatusOr<InputFormat> ParseInputFormat(absl::string_view name);

struct FindingInputOptions {
  InputFormat format;
  // Applied to every finding when set (borrowed; must outlive the input).
  const assets::AssetInventory* inventory = nullptr;
  // VEX statements matched to every finding when set (borrowed; must
  // outlive the input): a match sets the finding's `vex`.
  const importers::VexStatements* vex = nullptr;
  // Merge duplicates among the findings of scanner documents.
  bool dedup = true;
  // Keep the text of a SARIF input, for --annotate-sarif.
  bool keep_sarif = false;
};

// Counts of what the input did, for the summary.
struct FindingInputStats {
  // Findings imported from scanner documents, before de-duplication.
  int64_t imported = 0;
  // Findings removed by merging them into a duplicate.
  int64_t merged = 0;
  // Scanner entries skipped (with their JSON paths reported).
  int64_t skipped = 0;
  // Findings the inventory gave an asset context.
  int64_t inventory_matched = 0;
  // Findings a --vex statement was matched to.
  int64_t vex_matched = 0;
  // JSON records that were not valid findings (reported).
  int64_t unreadable = 0;
};

class FindingInput {
 public:
  // Receives one diagnostic line (a skipped scanner entry, an unreadable
  // record); may be called from Open() and Next().
  using Reporter = std::function<void(absl::string_view line)>;

  // Opens `paths` ("-" is `stdin_stream`), reads and imports the scanner
  // documents among them. NOT_FOUND when a file cannot be read;
  // INVALID_ARGUMENT (with the file name and the JSON path) when a scanner
  // document is broken as a whole or of no known format.
  static absl::StatusOr<std::unique_ptr<FindingInput>> Open(
      const std::vector<std::string>& paths, std::istream& stdin_stream,
      const FindingInputOptions& options, Reporter reporter);

  // The next finding, or false at the end. Unreadable JSON records are
  // reported and skipped.
  bool Next(v1::Finding* finding);
  // Next() that also gives, when it has them, wire bytes that parse to
  // exactly `*finding` (see FindingReader::Record::wire), to send instead
  // of serializing the finding; `*wire` is left empty when the finding must
  // be serialized (imported, changed by VEX or the inventory, or read by
  // protobuf's parser).
  bool Next(v1::Finding* finding, std::string* wire);

  // With `on`, Next(finding, wire) that gives wire bytes sets only the id
  // and vulnerability.cve_id of `*finding` (and with `labels` the fields a
  // CSV row reads; FindingReader::set_identity_only), for a caller that
  // sends the bytes and reads no other field. Without VEX and inventory
  // only (which read and change the finding); Next(finding) still gives
  // whole findings.
  void set_identity_only(bool on, bool labels = false);

  // The number of findings Next() will return in all, when known (only
  // scanner documents); -1 otherwise.
  int64_t total() const { return total_; }
  // The share of the input consumed so far (0..1), from the byte sizes of
  // the files; -1 when unknown (stdin, a pipe).
  double fraction() const;
  const FindingInputStats& stats() const { return stats_; }

  // The SARIF document read, when `keep_sarif` and the only input is a
  // SARIF document; empty otherwise.
  const std::string& sarif_document() const { return sarif_document_; }
  // True when every input was a scanner document.
  bool all_scanner() const { return json_inputs_.empty(); }

 private:
  struct JsonInput {
    std::string name;
    std::unique_ptr<std::ifstream> file;  // null for stdin
    std::unique_ptr<FindingReader> reader;
    // The first record, read to detect the input's kind.
    std::optional<FindingReader::Record> pending;
    // Bytes of the inputs before this one (sizes of regular files).
    int64_t base = 0;
  };

  FindingInput(const FindingInputOptions& options, Reporter reporter)
      : options_(options), reporter_(std::move(reporter)) {}

  void Apply(v1::Finding* finding);

  const FindingInputOptions options_;
  const Reporter reporter_;
  FindingInputStats stats_;
  // set_identity_only(); false with VEX or the inventory.
  bool identity_only_ = false;
  std::vector<v1::Finding> imported_;
  size_t next_imported_ = 0;
  std::vector<JsonInput> json_inputs_;
  size_t current_ = 0;
  int64_t total_ = -1;
  // Sum of the sizes of the JSON inputs, -1 when one is not a regular file.
  int64_t total_bytes_ = -1;
  std::atomic<int64_t> consumed_bytes_{0};
  std::string sarif_document_;
  // The record Next() reads into, kept so its buffers are reused.
  FindingReader::Record record_;
};

}  // namespace treatd

#endif  // TREATD_CLIENT_TREATCTL_FINDING_INPUT_H_
