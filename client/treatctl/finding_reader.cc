#include "client/treatctl/finding_reader.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace treatd {
namespace {

// What the framer looks at: inside a string, the quote that ends it, a
// backslash and newlines (for line numbers); outside, quotes, brackets and
// newlines.
struct FramingBytes {
  bool in_string[256];
  bool outside[256];
  constexpr FramingBytes() : in_string(), outside() {
    for (int c = 0; c < 256; ++c) {
      in_string[c] = c == '"' || c == '\\' || c == '\n';
      outside[c] =
          c == '"' || c == '{' || c == '}' || c == '[' || c == ']' || c == '\n';
    }
  }
};
constexpr FramingBytes kFraming;

constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHighs = 0x8080808080808080ULL;

// Nonzero when one of the eight bytes of `v` is `byte` (the classic
// zero-byte test: exact as to whether any byte matches).
inline uint64_t MatchByte(uint64_t v, unsigned char byte) {
  const uint64_t x = v ^ (kOnes * byte);
  return (x - kOnes) & ~x & kHighs;
}

// The first quote, backslash or newline in [p, end), or end.
const char* SkipStringContents(const char* p, const char* end) {
  while (end - p >= 8) {
    uint64_t v;
    std::memcpy(&v, p, sizeof(v));
    if ((MatchByte(v, '"') | MatchByte(v, '\\') | MatchByte(v, '\n')) != 0) {
      break;
    }
    p += 8;
  }
  while (p < end && !kFraming.in_string[static_cast<unsigned char>(*p)]) ++p;
  return p;
}

// The first quote, bracket or newline in [p, end), or end.
const char* SkipStructure(const char* p, const char* end) {
  while (p < end && !kFraming.outside[static_cast<unsigned char>(*p)]) ++p;
  return p;
}

}  // namespace

FindingReader::FindingReader(std::istream* in, std::string name)
    : in_(in), name_(std::move(name)) {}

bool FindingReader::Fill() {
  if (pos_ < buffer_.size()) return true;
  // Reading more than the stream holds would wait for a pipe to fill up;
  // an object typed or trickling in must be framed as soon as it is whole.
  constexpr std::streamsize kBlock = 64 * 1024;
  std::streambuf* buf = in_->rdbuf();
  const std::streamsize available = buf->in_avail();
  const std::streamsize want =
      available > 0 ? std::min(available, kBlock) : std::streamsize{1};
  buffer_.resize(static_cast<size_t>(want));
  const std::streamsize got = buf->sgetn(buffer_.data(), want);
  buffer_.resize(static_cast<size_t>(std::max<std::streamsize>(got, 0)));
  pos_ = 0;
  return !buffer_.empty();
}

int FindingReader::Peek() {
  if (!Fill()) return EOF;
  return static_cast<unsigned char>(buffer_[pos_]);
}

int FindingReader::Get() {
  const int c = Peek();
  if (c == EOF) return c;
  ++pos_;
  ++offset_;
  if (c == '\n') ++line_;
  return c;
}

int FindingReader::SkipSeparators() {
  while (true) {
    const int c = Peek();
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

  // Frame one object: count braces outside strings, a buffer at a time.
  const int start_line = line_;
  text_.clear();
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  bool closed = false;
  while (!closed) {
    if (!Fill()) {
      return Fail(record, start_line, "the object starting here is not closed");
    }
    const char* const begin = buffer_.data() + pos_;
    const char* const end = buffer_.data() + buffer_.size();
    const char* p = begin;
    while (p < end) {
      if (escaped) {
        escaped = false;
      } else if (in_string) {
        // Most of a finding is string contents: skip to the next byte
        // that matters, eight at a time.
        p = SkipStringContents(p, end);
        if (p == end) break;
        if (*p == '"') {
          in_string = false;
        } else if (*p == '\\') {
          escaped = true;
        }
      } else {
        p = SkipStructure(p, end);
        if (p == end) break;
        const char c = *p;
        if (c == '"') {
          in_string = true;
        } else if (c == '{' || c == '[') {
          ++depth;
        } else if ((c == '}' || c == ']') && --depth == 0) {
          ++p;
          closed = true;
          break;
        }
      }
      if (*p == '\n') ++line_;
      ++p;
    }
    text_.append(begin, static_cast<size_t>(p - begin));
    offset_ += p - begin;
    pos_ += static_cast<size_t>(p - begin);
  }

  record->line = start_line;
  const absl::Status parsed = json_.Read(text_, &record->finding);
  if (parsed.ok()) {
    record->status = absl::OkStatus();
  } else {
    record->status = absl::InvalidArgumentError(absl::StrCat(
        name_, ":", start_line, ": not a valid Finding: ", parsed.message()));
  }
  return true;
}

}  // namespace treatd
