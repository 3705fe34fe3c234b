#include "common/intel/epss_feed.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/io/read_file.h"
#include "common/status/status_macros.h"

namespace treatd::intel {
namespace {

constexpr double kFixedScale = 1e9;

using Fields = absl::InlinedVector<absl::string_view, 4>;

std::string Quote(absl::string_view text) {
  constexpr size_t kMax = 60;
  if (text.size() > kMax)
    return absl::StrCat("\"", text.substr(0, kMax), "...\"");
  return absl::StrCat("\"", text, "\"");
}

// Walks the text line by line, numbering lines from 1 and dropping the "\r"
// of CRLF endings.
class LineReader {
 public:
  explicit LineReader(absl::string_view text) : rest_(text) {
    constexpr absl::string_view kBom = "\xEF\xBB\xBF";
    if (absl::StartsWith(rest_, kBom)) rest_.remove_prefix(kBom.size());
  }

  bool Next(absl::string_view* line) {
    if (done_) return false;
    const size_t end = rest_.find('\n');
    if (end == absl::string_view::npos) {
      *line = rest_;
      done_ = true;
      // A final newline does not start another (empty) line.
      if (rest_.empty()) return false;
    } else {
      *line = rest_.substr(0, end);
      rest_.remove_prefix(end + 1);
      if (rest_.empty()) done_ = true;
    }
    if (!line->empty() && line->back() == '\r') line->remove_suffix(1);
    ++line_number_;
    return true;
  }

  int64_t line_number() const { return line_number_; }

 private:
  absl::string_view rest_;
  int64_t line_number_ = 0;
  bool done_ = false;
};

// Splits a CSV line at commas. FIRST never quotes fields, but a quoted field
// ("a,b") is honoured rather than split; its content is returned without the
// quotes (a doubled "" stays doubled, which no CVE id or number contains, so
// such a row is rejected later). Returns false for an unterminated quote or
// text after a closing quote.
bool SplitFields(absl::string_view line, Fields* fields) {
  fields->clear();
  if (line.find('"') == absl::string_view::npos) {
    for (absl::string_view field : absl::StrSplit(line, ',')) {
      fields->push_back(field);
    }
    return true;
  }
  size_t pos = 0;
  while (true) {
    if (pos < line.size() && line[pos] == '"') {
      size_t close = pos + 1;
      while (true) {
        close = line.find('"', close);
        if (close == absl::string_view::npos) return false;
        if (close + 1 < line.size() && line[close + 1] == '"') {
          close += 2;
          continue;
        }
        break;
      }
      fields->push_back(line.substr(pos + 1, close - pos - 1));
      pos = close + 1;
      if (pos == line.size()) return true;
      if (line[pos] != ',') return false;
      ++pos;
    } else {
      const size_t comma = line.find(',', pos);
      if (comma == absl::string_view::npos) {
        fields->push_back(line.substr(pos));
        return true;
      }
      fields->push_back(line.substr(pos, comma - pos));
      pos = comma + 1;
    }
  }
}

// Parses a probability in [0, 1] into 1e-9 fixed point.
bool ParseUnit(absl::string_view text, uint32_t* out) {
  double value;
  if (!absl::SimpleAtod(text, &value)) return false;
  if (!(value >= 0.0 && value <= 1.0)) return false;  // Also rejects NaN.
  *out = static_cast<uint32_t>(std::llround(value * kFixedScale));
  return true;
}

absl::Status LineError(absl::string_view source, int64_t line,
                       absl::string_view message) {
  return absl::InvalidArgumentError(
      absl::StrCat(source, ":", line, ": not an EPSS file: ", message));
}

// "score_date" is written as 2024-01-13T00:00:00+0000 (no colon in the
// offset, so not RFC 3339); accept that, RFC 3339 and a bare date.
bool ParseScoreDate(absl::string_view text, absl::Time* out) {
  std::string error;
  for (const char* format :
       {"%Y-%m-%dT%H:%M:%S%z", absl::RFC3339_full, "%Y-%m-%d"}) {
    if (absl::ParseTime(format, text, absl::UTCTimeZone(), out, &error)) {
      return true;
    }
  }
  return false;
}

struct Row {
  uint64_t key;
  uint32_t score;
  uint32_t percentile;
  int64_t line;
};

size_t StringHeap(const std::string& s) {
  return s.capacity() > 15 ? s.capacity() + 1 : 0;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const EpssFeed>> EpssFeed::LoadFile(
    const std::string& path) {
  TREATD_ASSIGN_OR_RETURN(std::string text,
                          ReadFileToString(path, "EPSS file"));
  return Parse(text, path);
}

absl::StatusOr<std::shared_ptr<const EpssFeed>> EpssFeed::Parse(
    absl::string_view csv, std::string source) {
  const absl::Time start = absl::Now();
  std::shared_ptr<EpssFeed> feed(new EpssFeed());
  feed->source_ = std::move(source);
  const std::string& src = feed->source_;
  LineReader lines(csv);
  absl::string_view line;

  // Line 1: #model_version:v2023.03.01,score_date:2024-01-13T00:00:00+0000
  if (!lines.Next(&line)) return LineError(src, 1, "the file is empty");
  if (!absl::StartsWith(line, "#")) {
    return LineError(src, 1,
                     absl::StrCat("expected \"#model_version:...,score_date:"
                                  "...\", got ",
                                  Quote(line)));
  }
  bool have_date = false;
  for (absl::string_view item : absl::StrSplit(line.substr(1), ',')) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(item, absl::MaxSplits(':', 1));
    const absl::string_view key = absl::StripAsciiWhitespace(kv.first);
    const absl::string_view value = absl::StripAsciiWhitespace(kv.second);
    if (key == "model_version") {
      feed->model_version_ = std::string(value);
    } else if (key == "score_date") {
      if (!ParseScoreDate(value, &feed->score_date_)) {
        return LineError(
            src, 1,
            absl::StrCat("score_date ", Quote(value), " is not a date-time"));
      }
      have_date = true;
    }
  }
  if (feed->model_version_.empty() || !have_date) {
    return LineError(src, 1,
                     absl::StrCat("the first line must give model_version and "
                                  "score_date, got ",
                                  Quote(line)));
  }

  // The header, after any blank lines: column positions by name.
  Fields fields;
  do {
    if (!lines.Next(&line)) {
      return LineError(src, lines.line_number() + 1,
                       "missing header \"cve,epss,percentile\"");
    }
  } while (absl::StripAsciiWhitespace(line).empty());
  int cve_col = -1, epss_col = -1, percentile_col = -1;
  if (SplitFields(line, &fields)) {
    for (size_t i = 0; i < fields.size(); ++i) {
      const std::string name =
          absl::AsciiStrToLower(absl::StripAsciiWhitespace(fields[i]));
      int* col = name == "cve"          ? &cve_col
                 : name == "epss"       ? &epss_col
                 : name == "percentile" ? &percentile_col
                                        : nullptr;
      if (col != nullptr && *col < 0) *col = static_cast<int>(i);
    }
  }
  if (cve_col < 0 || epss_col < 0 || percentile_col < 0) {
    return LineError(src, lines.line_number(),
                     absl::StrCat("expected header \"cve,epss,percentile\", "
                                  "got ",
                                  Quote(line)));
  }
  const size_t columns = fields.size();

  // Rows. The full file is ~250,000 lines of ~32 bytes.
  std::vector<Row> rows;
  rows.reserve(csv.size() / 30 + 16);
  int64_t data_lines = 0;
  while (lines.Next(&line)) {
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    ++data_lines;
    const int64_t n = lines.line_number();
    if (!SplitFields(line, &fields)) {
      feed->malformed_.Add(absl::StrCat("line ", n),
                           absl::StrCat("unbalanced quotes in ", Quote(line)));
      continue;
    }
    if (fields.size() != columns) {
      feed->malformed_.Add(absl::StrCat("line ", n),
                           absl::StrCat("expected ", columns, " fields, got ",
                                        fields.size(), " in ", Quote(line)));
      continue;
    }
    const absl::string_view cve_text =
        absl::StripAsciiWhitespace(fields[cve_col]);
    std::optional<CveId> cve = CveId::Parse(cve_text);
    if (!cve.has_value()) {
      feed->malformed_.Add(
          absl::StrCat("line ", n),
          absl::StrCat("cve ", Quote(cve_text), " is not a CVE id"));
      continue;
    }
    Row row{cve->key(), 0, 0, n};
    if (!ParseUnit(fields[epss_col], &row.score)) {
      feed->malformed_.Add(absl::StrCat("line ", n),
                           absl::StrCat("epss ", Quote(fields[epss_col]),
                                        " is not a number in [0, 1]"));
      continue;
    }
    if (!ParseUnit(fields[percentile_col], &row.percentile)) {
      feed->malformed_.Add(
          absl::StrCat("line ", n),
          absl::StrCat("percentile ", Quote(fields[percentile_col]),
                       " is not a number in [0, 1]"));
      continue;
    }
    rows.push_back(row);
  }
  if (rows.empty() && data_lines > 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        src, ": none of the ", data_lines, " data rows is usable; first: ",
        feed->malformed_.detailed().front().ToString()));
  }

  // FIRST sorts by CVE text, where CVE-2021-10000 precedes CVE-2021-9999,
  // so sort by key; ties stay in line order so the first row wins.
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return a.key != b.key ? a.key < b.key : a.line < b.line;
  });
  feed->keys_.reserve(rows.size());
  feed->values_.reserve(rows.size());
  int64_t kept_line = 0;
  for (const Row& row : rows) {
    if (!feed->keys_.empty() && feed->keys_.back() == row.key) {
      // Reported after the rows they follow; the count is what matters.
      feed->malformed_.Add(
          absl::StrCat("line ", row.line),
          absl::StrCat("duplicate of line ", kept_line, " for ",
                       CveId::FromKey(row.key).ToString(), "; first kept"));
      continue;
    }
    kept_line = row.line;
    feed->keys_.push_back(row.key);
    feed->values_.push_back({row.score, row.percentile});
  }
  rows = std::vector<Row>();
  feed->keys_.shrink_to_fit();
  feed->values_.shrink_to_fit();

  feed->description_ = absl::StrCat(
      "FIRST EPSS ", feed->model_version_, " (",
      absl::FormatTime("%Y-%m-%d", feed->score_date_, absl::UTCTimeZone()),
      ")");
  feed->loaded_at_ = absl::Now();
  feed->load_duration_ = feed->loaded_at_ - start;
  return std::shared_ptr<const EpssFeed>(std::move(feed));
}

std::optional<EpssScore> EpssFeed::Find(CveId cve) const {
  auto it = std::lower_bound(keys_.begin(), keys_.end(), cve.key());
  if (it == keys_.end() || *it != cve.key()) return std::nullopt;
  const Fixed& value = values_[static_cast<size_t>(it - keys_.begin())];
  return EpssScore{value.score / kFixedScale, value.percentile / kFixedScale};
}

size_t EpssFeed::MemoryBytes() const {
  return sizeof(*this) + keys_.capacity() * sizeof(uint64_t) +
         values_.capacity() * sizeof(Fixed) + StringHeap(model_version_) +
         StringHeap(description_) + StringHeap(source_) +
         malformed_.HeapBytes();
}

}  // namespace treatd::intel
