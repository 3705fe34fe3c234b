#include "common/csv/csv.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace treatd::csv {

namespace {

// The bytes that make a field quoted: comma, quote and line breaks.
struct QuotedBytes {
  bool of[256];
  constexpr QuotedBytes() : of() {
    of[static_cast<unsigned char>(',')] = true;
    of[static_cast<unsigned char>('"')] = true;
    of[static_cast<unsigned char>('\r')] = true;
    of[static_cast<unsigned char>('\n')] = true;
  }
};
constexpr QuotedBytes kQuoted;

bool NeedsQuotes(absl::string_view field) {
  // A constant table: string_view::find_first_of builds one per call.
  for (char c : field) {
    if (kQuoted.of[static_cast<unsigned char>(c)]) return true;
  }
  return false;
}

// Appends `field` to `out`, quoted when it holds a comma, a quote or a line
// break (quotes doubled).
void AppendField(absl::string_view field, std::string* out) {
  if (!NeedsQuotes(field)) {
    out->append(field.data(), field.size());
    return;
  }
  // Runs between quotes are copied whole: a byte at a time, quoting was
  // 2,500 instructions of a FULL decision's CSV row (its reasons and
  // errors hold commas and line breaks; callgrind, issue 15).
  out->push_back('"');
  size_t copied = 0;
  for (size_t quote = field.find('"'); quote != absl::string_view::npos;
       quote = field.find('"', quote + 1)) {
    // Through the quote, then the quote again.
    out->append(field.data() + copied, quote + 1 - copied);
    out->push_back('"');
    copied = quote + 1;
  }
  out->append(field.data() + copied, field.size() - copied);
  out->push_back('"');
}

}  // namespace

std::string QuoteField(absl::string_view field) {
  std::string quoted;
  quoted.reserve(field.size() + 2);
  AppendField(field, &quoted);
  return quoted;
}

absl::Status CsvWriter::WriteRecord(absl::Span<const std::string> fields) {
  return Write(fields);
}

absl::Status CsvWriter::WriteRecordViews(
    absl::Span<const absl::string_view> fields) {
  return Write(fields);
}

template <typename Field>
absl::Status CsvWriter::Write(absl::Span<const Field> fields) {
  // One write per record: a stream insertion and a temporary per field
  // were half of treatctl's CSV output (callgrind, issue 15).
  record_.clear();
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) record_.push_back(',');
    AppendField(fields[i], &record_);
  }
  record_.append("\r\n");
  out_->write(record_.data(), static_cast<std::streamsize>(record_.size()));
  if (!out_->good()) {
    return absl::UnavailableError("CSV output stream failed");
  }
  return absl::OkStatus();
}

absl::Status CsvReader::Error(int line, int column,
                              absl::string_view what) const {
  return absl::InvalidArgumentError(
      absl::StrCat(filename_, ":", line, ":", column, ": ", what));
}

absl::StatusOr<bool> CsvReader::ReadRecord(std::vector<std::string>* fields) {
  using Traits = std::char_traits<char>;
  std::streambuf* buffer = in_->rdbuf();
  fields->clear();
  if (buffer == nullptr) return false;
  if (at_start_) {
    at_start_ = false;
    // Spreadsheets often save UTF-8 with a byte order mark.
    static constexpr char kBom[] = "\xEF\xBB\xBF";
    int matched = 0;
    while (matched < 3 && buffer->sgetc() != Traits::eof() &&
           Traits::to_char_type(buffer->sgetc()) == kBom[matched]) {
      buffer->sbumpc();
      ++matched;
    }
    if (matched != 0 && matched != 3) {
      return Error(1, 1, "truncated UTF-8 byte order mark");
    }
  }
  if (buffer->sgetc() == Traits::eof()) return false;

  record_line_ = line_;
  std::string field;
  // States: at the start of a field, inside an unquoted field, inside a
  // quoted field, just after the closing quote of a quoted field.
  enum class State { kFieldStart, kUnquoted, kQuoted, kAfterQuote };
  State state = State::kFieldStart;
  int quote_line = 0;
  int quote_column = 0;
  while (true) {
    int next = buffer->sbumpc();
    if (next == Traits::eof()) {
      if (state == State::kQuoted) {
        return Error(quote_line, quote_column,
                     "quoted field is never closed (missing '\"')");
      }
      fields->push_back(std::move(field));
      return true;
    }
    char c = Traits::to_char_type(next);
    int line = line_;
    int column = column_;
    if (c == '\n') {
      ++line_;
      column_ = 1;
    } else {
      ++column_;
    }
    switch (state) {
      case State::kQuoted:
        if (c == '"') {
          if (buffer->sgetc() != Traits::eof() &&
              Traits::to_char_type(buffer->sgetc()) == '"') {
            buffer->sbumpc();
            ++column_;
            field.push_back('"');
          } else {
            state = State::kAfterQuote;
          }
        } else {
          field.push_back(c);
        }
        continue;
      case State::kFieldStart:
        if (c == '"') {
          state = State::kQuoted;
          quote_line = line;
          quote_column = column;
          continue;
        }
        state = State::kUnquoted;
        break;
      case State::kUnquoted:
      case State::kAfterQuote:
        break;
    }
    // Unquoted text, or the character after a closing quote.
    if (c == ',') {
      fields->push_back(std::move(field));
      field.clear();
      state = State::kFieldStart;
    } else if (c == '\r' || c == '\n') {
      if (c == '\r' && buffer->sgetc() != Traits::eof() &&
          Traits::to_char_type(buffer->sgetc()) == '\n') {
        buffer->sbumpc();
        ++line_;
        column_ = 1;
      } else if (c == '\r') {
        ++line_;
        column_ = 1;
      }
      fields->push_back(std::move(field));
      return true;
    } else if (state == State::kAfterQuote) {
      return Error(line, column,
                   "unexpected character after a closing quote; a quote "
                   "inside a quoted field is written as \"\"");
    } else if (c == '"') {
      return Error(line, column,
                   "quote inside an unquoted field; quote the whole field "
                   "and write the quote as \"\"");
    } else {
      field.push_back(c);
    }
  }
}

}  // namespace treatd::csv
