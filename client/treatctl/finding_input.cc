#include "client/treatctl/finding_input.h"

#include <sys/stat.h>

#include <iterator>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/assets/asset_context.h"
#include "common/assets/dedup.h"

namespace treatd {
namespace {

// The size of the regular file at `path`, or -1.
int64_t RegularFileSize(const std::string& path) {
  struct stat info;
  if (stat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) return -1;
  return static_cast<int64_t>(info.st_size);
}

std::string ReadRest(std::istream& in) {
  return std::string(std::istreambuf_iterator<char>(in),
                     std::istreambuf_iterator<char>());
}

}  // namespace

absl::StatusOr<InputFormat> ParseInputFormat(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  InputFormat format;
  if (lower == "auto") return format;
  format.automatic = false;
  if (lower == "json" || lower == "jsonl") return format;
  absl::StatusOr<importers::ScannerFormat> scanner =
      importers::ParseScannerFormat(lower);
  if (!scanner.ok() || *scanner == importers::ScannerFormat::kAuto) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--input-format: must be auto, json, jsonl, trivy, grype, sarif, "
        "cyclonedx, openvex or csaf, got \"",
        name, "\""));
  }
  format.scanner = *scanner;
  return format;
}

absl::StatusOr<std::unique_ptr<FindingInput>> FindingInput::Open(
    const std::vector<std::string>& paths, std::istream& stdin_stream,
    const FindingInputOptions& options, Reporter reporter) {
  auto input = std::unique_ptr<FindingInput>(
      new FindingInput(options, std::move(reporter)));
  int64_t json_bytes = 0;
  int scanner_documents = 0;
  std::string last_sarif;
  for (const std::string& path : paths) {
    JsonInput json;
    std::istream* stream = &stdin_stream;
    json.name = "<stdin>";
    if (path != "-") {
      json.name = path;
      // A directory opens as a stream but throws on the first read.
      struct stat info;
      if (stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode)) {
        return absl::FailedPreconditionError(absl::StrCat(
            path,
            " is a directory; give a findings file (JSON, JSON Lines or a "
            "scanner report) or - for stdin"));
      }
      json.file = std::make_unique<std::ifstream>(path, std::ios::binary);
      if (!*json.file) {
        return absl::NotFoundError(absl::StrCat("cannot read ", path));
      }
      stream = json.file.get();
    }
    const int64_t size = path == "-" ? -1 : RegularFileSize(path);

    // Decide what the input holds and, for a scanner document, its text.
    std::optional<importers::ScannerFormat> scanner = options.format.scanner;
    std::string document;
    if (options.format.automatic) {
      json.reader = std::make_unique<FindingReader>(stream, json.name);
      FindingReader::Record first;
      if (json.reader->Next(&first) && !json.reader->text().empty()) {
        std::string candidate =
            json.reader->in_array()
                ? absl::StrCat("[", json.reader->text(), "]")
                : json.reader->text();
        absl::StatusOr<importers::ScannerFormat> detected =
            importers::DetectFormat(candidate);
        if (detected.ok()) {
          scanner = *detected;
          // What the reader framed, what it read ahead, then the rest.
          document = absl::StrCat(json.reader->in_array() ? "[" : "",
                                  json.reader->text(), json.reader->buffered(),
                                  ReadRest(*stream));
        }
      }
      if (!scanner.has_value()) json.pending = std::move(first);
    } else if (scanner.has_value()) {
      document = ReadRest(*stream);
    } else {
      json.reader = std::make_unique<FindingReader>(stream, json.name);
    }

    if (!scanner.has_value()) {
      json.base = json_bytes;
      json_bytes = (size < 0 || json_bytes < 0) ? -1 : json_bytes + size;
      input->json_inputs_.push_back(std::move(json));
      continue;
    }
    importers::ImportOptions import_options;
    import_options.format = *scanner;
    absl::StatusOr<importers::ImportResult> imported =
        importers::ImportFindings(document, import_options);
    if (!imported.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(json.name, ": not a readable ",
                       importers::ScannerFormatName(*scanner),
                       " document: ", imported.status().message()));
    }
    ++scanner_documents;
    const absl::string_view format_name =
        importers::ScannerFormatName(imported->format);
    for (const importers::ImportIssue& issue : imported->skipped) {
      input->reporter_(absl::StrCat(json.name, ": ", issue.json_path, ": ",
                                    issue.message, " (entry skipped)"));
    }
    for (const importers::ImportIssue& issue : imported->warnings) {
      input->reporter_(absl::StrCat(json.name, ": ", issue.json_path, ": ",
                                    issue.message, " (fact ignored)"));
    }
    input->reporter_(absl::StrCat(json.name, ": ", format_name, ": ",
                                  imported->findings.size(), " findings, ",
                                  imported->skipped.size(), " skipped"));
    input->stats_.imported += imported->findings.size();
    input->stats_.skipped += imported->skipped.size();
    input->imported_.insert(input->imported_.end(),
                            std::make_move_iterator(imported->findings.begin()),
                            std::make_move_iterator(imported->findings.end()));
    if (imported->format == importers::ScannerFormat::kSarif) {
      last_sarif = std::move(document);
    }
  }
  if (options.keep_sarif && paths.size() == 1 && scanner_documents == 1) {
    input->sarif_document_ = std::move(last_sarif);
  }
  if (options.dedup && !input->imported_.empty()) {
    input->stats_.merged =
        static_cast<int64_t>(assets::DeduplicateFindings(&input->imported_));
  }
  for (v1::Finding& finding : input->imported_) input->Apply(&finding);
  input->total_bytes_ = json_bytes;
  if (input->json_inputs_.empty()) {
    input->total_ = static_cast<int64_t>(input->imported_.size());
  }
  return input;
}

void FindingInput::Apply(v1::Finding* finding) {
  if (options_.vex != nullptr && options_.vex->Apply(finding)) {
    ++stats_.vex_matched;
  }
  if (options_.inventory != nullptr &&
      assets::ApplyAssetContext(*options_.inventory, finding)) {
    ++stats_.inventory_matched;
  }
}

bool FindingInput::Next(v1::Finding* finding) { return Next(finding, nullptr); }

void FindingInput::set_identity_only(bool on, bool labels) {
  identity_only_ =
      on && options_.vex == nullptr && options_.inventory == nullptr;
  for (JsonInput& json : json_inputs_) {
    if (json.reader != nullptr) {
      json.reader->set_identity_only(identity_only_, labels);
    }
  }
}

bool FindingInput::Next(v1::Finding* finding, std::string* wire) {
  if (wire != nullptr) wire->clear();
  if (next_imported_ < imported_.size()) {
    // Handed out once: move instead of copying.
    *finding = std::move(imported_[next_imported_++]);
    if (next_imported_ == imported_.size()) {
      std::vector<v1::Finding>().swap(imported_);
      next_imported_ = 0;
    }
    return true;
  }
  FindingReader::Record& record = record_;
  while (current_ < json_inputs_.size()) {
    JsonInput& json = json_inputs_[current_];
    bool have = false;
    if (json.pending.has_value()) {
      record = std::move(*json.pending);
      json.pending.reset();
      have = record.line > 0;
    } else {
      have = json.reader->Next(&record);
    }
    consumed_bytes_.store(json.base + json.reader->offset(),
                          std::memory_order_relaxed);
    if (!have) {
      json.reader.reset();
      json.file.reset();
      ++current_;
      continue;
    }
    if (!record.status.ok()) {
      ++stats_.unreadable;
      reporter_(record.status.message());
      continue;
    }
    *finding = std::move(record.finding);
    if (identity_only_ && !record.wire.empty() && wire == nullptr) {
      // The reader left the finding thin; this caller wants all of it.
      finding->ParseFromString(record.wire);
    }
    Apply(finding);
    // The reader's bytes are the finding only while nothing changed it
    // (VEX and the inventory may).
    if (wire != nullptr && options_.vex == nullptr &&
        options_.inventory == nullptr) {
      wire->swap(record.wire);
    }
    return true;
  }
  return false;
}

double FindingInput::fraction() const {
  if (total_bytes_ <= 0) return -1;
  return static_cast<double>(consumed_bytes_.load(std::memory_order_relaxed)) /
         static_cast<double>(total_bytes_);
}

}  // namespace treatd
