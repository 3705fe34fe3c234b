#include "client/treatctl/finding_reader.h"

#include <cctype>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"

namespace treatd {

FindingReader::FindingReader(std::istream* in, std::string name)
    : in_(in), name_(std::move(name)) {}

int FindingReader::Get() {
  const int c = in_->rdbuf()->sbumpc();
  if (c == EOF) return c;
  ++offset_;
  if (c == '\n') ++line_;
  return c;
}

int FindingReader::SkipSeparators() {
  while (true) {
    const int c = in_->rdbuf()->sgetc();
    if (c == EOF) return EOF;
    if (std::isspace(c) || (in_array_ && c == ',')) {
      Get();
      continue;
    }
    return c;
  }
}

bool FindingReader::Fail(Record* record, int line, absl::string_view what) {
  done_ = true;
  text_.clear();
  record->line = line;
  record->finding.Clear();
  record->status =
      absl::InvalidArgumentError(absl::StrCat(name_, ":", line, ": ", what));
  return true;
}

bool FindingReader::Next(Record* record) {
  if (done_ || in_->rdbuf() == nullptr) return false;
  int c = SkipSeparators();
  if (!started_) {
    started_ = true;
    if (c == '[') {
      in_array_ = true;
      Get();
      c = SkipSeparators();
    }
  }
  if (c == EOF) {
    done_ = true;
    if (in_array_) return Fail(record, line_, "the array is not closed");
    return false;
  }
  if (in_array_ && c == ']') {
    Get();
    in_array_ = false;
    done_ = true;
    if (SkipSeparators() != EOF) {
      return Fail(record, line_, "unexpected text after the array");
    }
    return false;
  }
  if (c != '{') {
    return Fail(record, line_,
                absl::StrCat("expected a JSON object (a finding), found '",
                             std::string(1, static_cast<char>(c)), "'"));
  }

  // Frame one object: count braces outside strings.
  const int start_line = line_;
  text_.clear();
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  do {
    c = Get();
    if (c == EOF) {
      return Fail(record, start_line, "the object starting here is not closed");
    }
    text_.push_back(static_cast<char>(c));
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  } while (depth > 0);

  record->line = start_line;
  record->finding.Clear();
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto parsed = google::protobuf::util::JsonStringToMessage(
      text_, &record->finding, options);
  if (parsed.ok()) {
    record->status = absl::OkStatus();
  } else {
    record->status = absl::InvalidArgumentError(absl::StrCat(
        name_, ":", start_line, ": not a valid Finding: ",
        absl::string_view(parsed.message().data(), parsed.message().size())));
  }
  return true;
}

}  // namespace treatd
