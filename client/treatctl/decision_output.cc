#include "client/treatctl/decision_output.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/exporters/document_writers.h"
#include "common/exporters/sarif.h"
#include "common/json/decision_json_writer.h"

namespace treatd {

absl::StatusOr<std::unique_ptr<DecisionOutput>> DecisionOutput::Open(
    const DecisionOutputOptions& options, std::ostream* stdout_stream) {
  auto output = std::unique_ptr<DecisionOutput>(
      new DecisionOutput(options, stdout_stream));
  if (!options.path.empty() && options.path != "-") {
    // A device or a pipe (/dev/null, a FIFO) is written directly.
    struct stat info;
    const bool special =
        stat(options.path.c_str(), &info) == 0 && !S_ISREG(info.st_mode);
    if (!special) {
      output->temp_path_ = absl::StrCat(options.path, ".tmp-", getpid());
    }
    output->file_.open(special ? options.path : output->temp_path_,
                       std::ios::binary | std::ios::trunc);
    if (!output->file_) {
      output->temp_path_.clear();
      return absl::NotFoundError(
          absl::StrCat("-o: cannot create ", options.path));
    }
    output->out_ = &output->file_;
  }
  if (!output->IsDocument()) {
    absl::StatusOr<std::unique_ptr<exporters::DecisionWriter>> writer =
        exporters::NewDecisionWriter(options.format, options.export_options,
                                     output->out_);
    if (!writer.ok()) return writer.status();
    output->writer_ = *std::move(writer);
  }
  return output;
}

DecisionOutput::~DecisionOutput() {
  if (!temp_path_.empty() && !finished_) {
    file_.close();
    std::remove(temp_path_.c_str());
  }
}

absl::Status DecisionOutput::Write(const v1::Finding* finding,
                                   const v1::DecisionResult& result) {
  if (writer_ != nullptr) return writer_->Write({finding, &result});
  findings_.push_back(finding != nullptr ? *finding : v1::Finding());
  has_finding_.push_back(finding != nullptr);
  results_.push_back(result);
  return absl::OkStatus();
}

absl::Status DecisionOutput::WriteFromWire(const v1::Finding* finding,
                                           absl::string_view result,
                                           std::optional<int32_t> index,
                                           v1::DecisionResult* notes) {
  if (options_.format == exporters::ExportFormat::kCsv) {
    // Only the fields the row reads: parsing each answer whole cost
    // ~20,000 instructions of a FULL decision (callgrind, issue 15).
    if (json::ReadDecisionResultNotesFromWire(result, index, notes).ok()) {
      return Write(finding, *notes);
    }
  } else {
    line_.clear();
    if (json::AppendDecisionResultJsonFromWire(result, index, &line_, notes)
            .ok()) {
      line_.push_back('\n');
      out_->write(line_.data(), static_cast<std::streamsize>(line_.size()));
      return exporters::internal::StreamStatus(*out_);
    }
  }
  // What the writer says of the parsed result, word for word, or that it
  // does not parse.
  notes->Clear();
  if (!notes->ParseFromArray(result.data(), static_cast<int>(result.size()))) {
    return absl::InternalError(absl::StrCat("the server's answer for finding ",
                                            notes->finding_id(),
                                            " does not parse"));
  }
  if (index.has_value()) notes->set_index(*index);
  return Write(finding, *notes);
}

absl::Status DecisionOutput::Finish(const std::string& sarif_document,
                                    std::string* note) {
  note->clear();
  if (writer_ != nullptr) {
    if (absl::Status status = writer_->Finish(); !status.ok()) return status;
  } else {
    std::vector<exporters::DecidedFinding> decided(results_.size());
    for (size_t i = 0; i < results_.size(); ++i) {
      decided[i].finding = has_finding_[i] ? &findings_[i] : nullptr;
      decided[i].result = &results_[i];
    }
    if (options_.annotate_sarif) {
      absl::StatusOr<exporters::SarifAnnotationStats> stats =
          exporters::AnnotateSarif(sarif_document, decided, out_);
      if (!stats.ok()) return stats.status();
      *note = absl::StrCat("annotated ", stats->annotated, " of ",
                           stats->results, " SARIF results");
    } else {
      if (absl::Status status = exporters::WriteDecisions(
              options_.format, decided, options_.export_options, out_);
          !status.ok()) {
        return status;
      }
    }
  }
  out_->flush();
  if (!*out_) return absl::UnavailableError("cannot write the output");
  if (!temp_path_.empty()) {
    file_.close();
    if (!file_ || std::rename(temp_path_.c_str(), options_.path.c_str()) != 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot write ", options_.path));
    }
  }
  finished_ = true;
  return absl::OkStatus();
}

}  // namespace treatd
