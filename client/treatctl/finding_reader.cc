#include "client/treatctl/finding_reader.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <utility>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"

namespace treatd {
namespace {

using google::protobuf::internal::WireFormatLite;

constexpr uint32_t StringTag(int field) {
  return WireFormatLite::MakeTag(field,
                                 WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
}

// Reads the submessage that starts at `in` (its length first): each field
// whose tag `target` maps to a string is read into it, the others are
// skipped. False when the bytes end early.
template <typename Target>
bool ReadStrings(google::protobuf::io::CodedInputStream* in, Target target) {
  uint32_t size;
  if (!in->ReadVarint32(&size)) return false;
  const auto limit = in->PushLimit(static_cast<int>(size));
  while (const uint32_t tag = in->ReadTag()) {
    std::string* const to = target(tag);
    if (to != nullptr ? !WireFormatLite::ReadString(in, to)
                      : !WireFormatLite::SkipField(in, tag)) {
      return false;
    }
  }
  in->PopLimit(limit);
  return true;
}

// Sets the id and vulnerability.cve_id of `finding` from `wire`, a
// Finding's bytes as the JSON reader wrote them (well formed; a field
// given again would win, as in protobuf's parser), and with `labels` also
// its kind, vulnerability.aliases, package.name and installed_version and
// asset.id and name.
void ReadIdentity(absl::string_view wire, bool labels, v1::Finding* finding) {
  google::protobuf::io::CodedInputStream in(
      reinterpret_cast<const uint8_t*>(wire.data()),
      static_cast<int>(wire.size()));
  constexpr uint32_t kKind = WireFormatLite::MakeTag(
      v1::Finding::kKindFieldNumber, WireFormatLite::WIRETYPE_VARINT);
  bool ok = true;
  while (ok) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) return;
    if (tag == StringTag(v1::Finding::kIdFieldNumber)) {
      ok = WireFormatLite::ReadString(&in, finding->mutable_id());
    } else if (tag == StringTag(v1::Finding::kVulnerabilityFieldNumber)) {
      ok = ReadStrings(&in, [&](uint32_t inner) -> std::string* {
        if (inner == StringTag(v1::Vulnerability::kCveIdFieldNumber)) {
          return finding->mutable_vulnerability()->mutable_cve_id();
        }
        if (labels &&
            inner == StringTag(v1::Vulnerability::kAliasesFieldNumber)) {
          return finding->mutable_vulnerability()->add_aliases();
        }
        return nullptr;
      });
    } else if (!labels) {
      ok = WireFormatLite::SkipField(&in, tag);
    } else if (tag == kKind) {
      uint32_t kind;
      ok = in.ReadVarint32(&kind);
      finding->set_kind(static_cast<v1::FindingKind>(kind));
    } else if (tag == StringTag(v1::Finding::kPackageFieldNumber)) {
      ok = ReadStrings(&in, [&](uint32_t inner) -> std::string* {
        if (inner == StringTag(v1::Package::kNameFieldNumber)) {
          return finding->mutable_package()->mutable_name();
        }
        if (inner == StringTag(v1::Package::kInstalledVersionFieldNumber)) {
          return finding->mutable_package()->mutable_installed_version();
        }
        return nullptr;
      });
    } else if (tag == StringTag(v1::Finding::kAssetFieldNumber)) {
      ok = ReadStrings(&in, [&](uint32_t inner) -> std::string* {
        if (inner == StringTag(v1::Asset::kIdFieldNumber)) {
          return finding->mutable_asset()->mutable_id();
        }
        if (inner == StringTag(v1::Asset::kNameFieldNumber)) {
          return finding->mutable_asset()->mutable_name();
        }
        return nullptr;
      });
    } else {
      ok = WireFormatLite::SkipField(&in, tag);
    }
  }
}

// Where framing an object stands between blocks of text.
struct FrameState {
  // Brackets open outside strings.
  int depth = 0;
  bool in_string = false;
  // The last block ended with the backslash of an escape.
  bool escaped = false;
  // The object's closing bracket was found.
  bool closed = false;
};

// What the framer stops at outside escapes: quotes (which open and close
// strings) and brackets (which count only outside strings). Newlines are
// counted apart, wherever they are.
struct FramingBytes {
  bool stop[256];
  constexpr FramingBytes() : stop() {
    for (int c = 0; c < 256; ++c) {
      stop[c] =
          c == '"' || c == '\\' || c == '{' || c == '}' || c == '[' || c == ']';
    }
  }
};
constexpr FramingBytes kFraming;

// The byte at `i` (one the framer stops at); true when it closed the
// object. In a string, a backslash makes the scan skip the byte after it
// (`*skip_until`).
inline bool Step(char c, size_t i, FrameState* state, size_t* skip_until) {
  if (state->in_string) {
    if (c == '"') {
      state->in_string = false;
    } else if (c == '\\') {
      *skip_until = i + 2;
    }
    return false;
  }
  if (c == '"') {
    state->in_string = true;
  } else if (c == '{' || c == '[') {
    ++state->depth;
  } else if ((c == '}' || c == ']') && --state->depth == 0) {
    return true;
  }
  return false;
}

// Frames on through the `n` bytes at `text`: returns how many belong to
// the object (through its closing bracket, `state->closed` then set), or
// `n`. Adds the newlines it passes to `*lines`.
size_t ScanObject(const char* text, size_t n, FrameState* state, int* lines) {
  size_t skip_until = 0;
  if (state->escaped && n > 0) {
    // The byte after a backslash that ended the last block of text.
    state->escaped = false;
    skip_until = 1;
  }
  size_t i = 0;
#ifdef __SSE2__
  // Sixteen bytes at a time, visiting only the quotes, backslashes and
  // brackets among them: the byte-at-a-time framer was 8,300 instructions
  // of a ~930-byte finding (callgrind of treatctl decide, issue 15).
  for (; n - i >= 16; i += 16) {
    const __m128i block =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(text + i));
    const __m128i stops = _mm_or_si128(
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(block, _mm_set1_epi8('"')),
                                  _mm_cmpeq_epi8(block, _mm_set1_epi8('\\'))),
                     _mm_or_si128(_mm_cmpeq_epi8(block, _mm_set1_epi8('{')),
                                  _mm_cmpeq_epi8(block, _mm_set1_epi8('}')))),
        _mm_or_si128(_mm_cmpeq_epi8(block, _mm_set1_epi8('[')),
                     _mm_cmpeq_epi8(block, _mm_set1_epi8(']'))));
    const unsigned newlines = static_cast<unsigned>(
        _mm_movemask_epi8(_mm_cmpeq_epi8(block, _mm_set1_epi8('\n'))));
    unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(stops));
    while (mask != 0) {
      const int bit = __builtin_ctz(mask);
      mask &= mask - 1;
      const size_t at = i + static_cast<size_t>(bit);
      if (at < skip_until) continue;
      if (Step(text[at], at, state, &skip_until)) {
        // The newlines up to the closing bracket.
        const unsigned passed = newlines & ((2u << bit) - 1);
        if (passed != 0) *lines += __builtin_popcount(passed);
        state->closed = true;
        return at + 1;
      }
    }
    // Rare inside an object; without -mpopcnt the count is a call.
    if (newlines != 0) *lines += __builtin_popcount(newlines);
  }
#endif
  for (; i < n; ++i) {
    const char c = text[i];
    if (c == '\n') ++*lines;
    if (i < skip_until || !kFraming.stop[static_cast<unsigned char>(c)]) {
      continue;
    }
    if (Step(c, i, state, &skip_until)) {
      state->closed = true;
      return i + 1;
    }
  }
  // A backslash that was the last byte escapes the first of the next text.
  state->escaped = skip_until > n;
  return n;
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
  record->wire.clear();
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

  // Frame one object: count brackets outside strings, a buffer at a time.
  const int start_line = line_;
  text_.clear();
  FrameState state;
  while (!state.closed) {
    if (!Fill()) {
      return Fail(record, start_line, "the object starting here is not closed");
    }
    const char* const begin = buffer_.data() + pos_;
    const size_t framed =
        ScanObject(begin, buffer_.size() - pos_, &state, &line_);
    text_.append(begin, framed);
    offset_ += static_cast<int64_t>(framed);
    pos_ += framed;
  }

  record->line = start_line;
  const absl::Status parsed =
      identity_only_
          ? json_.ReadWireOnly(text_, &record->finding, &record->wire)
          : json_.Read(text_, &record->finding, &record->wire);
  if (parsed.ok()) {
    if (identity_only_ && !record->wire.empty()) {
      ReadIdentity(record->wire, labels_, &record->finding);
    }
    record->status = absl::OkStatus();
  } else {
    record->status = absl::InvalidArgumentError(absl::StrCat(
        name_, ":", start_line, ": not a valid Finding: ", parsed.message()));
  }
  return true;
}

}  // namespace treatd
