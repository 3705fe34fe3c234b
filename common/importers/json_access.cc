#include "common/importers/json_access.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/memory/memory.h"
#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "common/status/status_macros.h"
#include "nlohmann/json.hpp"
#include "simdjson.h"

// JsonNode reads simdjson's DOM tape (simdjson's doc/tape.md): one 64-bit
// word per value, the type character in the top 8 bits and a 56-bit payload.
//   '"' string: payload = offset into the string buffer, which holds a
//       32-bit little-endian length, the bytes and a NUL;
//   'l' int64, 'u' uint64, 'd' double: the value is the next word;
//   't', 'f', 'n': true, false, null (one word);
//   '{', '[': the low 32 bits are the index just past the matching '}' or
//       ']'; bits 32-55 the number of members/elements (saturated);
//   object members are a key (a '"' word) followed by its value;
//   word 0 is the 'r' root word, the root value starts at word 1.
// The dom::element API hides the tape index, which is what lets a node be
// two words and its path be found only when asked for. The layout is that
// of simdjson 3 (Debian 12 ships 3.0.1).
static_assert(simdjson::SIMDJSON_VERSION_MAJOR == 3,
              "json_access.cc reads the simdjson 3 DOM tape layout");

namespace treatd::importers {
namespace {

constexpr absl::string_view kJsonPathPayload = "treatd.importers/json_path";
constexpr uint32_t kRootIndex = 1;
// Containers with more children than this get their child offsets cached
// the first time a path goes through them, so a path per entry of a large
// array costs a binary search, not a walk over the entries before it.
constexpr uint32_t kCacheChildrenAbove = 32;

char TypeAt(const uint64_t* tape, uint32_t index) {
  return static_cast<char>(tape[index] >> 56);
}

// The tape index just past the value at `index`.
uint32_t After(const uint64_t* tape, uint32_t index) {
  switch (TypeAt(tape, index)) {
    case '{':
    case '[':
      return static_cast<uint32_t>(tape[index]);
    case 'l':
    case 'u':
    case 'd':
      return index + 2;
    default:
      return index + 1;
  }
}

// The string (or key) at `index`.
absl::string_view StringAt(const uint64_t* tape, const uint8_t* strings,
                           uint32_t index) {
  const uint64_t offset = tape[index] & ((uint64_t{1} << 56) - 1);
  uint32_t length;
  std::memcpy(&length, strings + offset, sizeof(length));
  return absl::string_view(
      reinterpret_cast<const char*>(strings + offset + sizeof(length)), length);
}

template <typename T>
T NextWord(const uint64_t* tape, uint32_t index) {
  T value;
  std::memcpy(&value, &tape[index + 1], sizeof(value));
  return value;
}

// The value a number word holds, as nlohmann's get<double>() gives it.
double NumberAt(const uint64_t* tape, uint32_t index) {
  switch (TypeAt(tape, index)) {
    case 'l':
      return static_cast<double>(NextWord<int64_t>(tape, index));
    case 'u':
      return static_cast<double>(NextWord<uint64_t>(tape, index));
    default:
      return NextWord<double>(tape, index);
  }
}

// True when `key` can follow a dot in a path without quoting.
bool IsPlainKey(absl::string_view key) {
  if (key.empty()) return false;
  for (char c : key) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' &&
        c != '-' && c != '@' && c != '$') {
      return false;
    }
  }
  return true;
}

// `text` as a JSON string literal, escaped as nlohmann's dump() does (the
// path and message format the importers have always produced).
std::string QuotedJson(absl::string_view text) {
  return nlohmann::json(std::string(text))
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Appends the path step for member `key` to `path`: ".key", or
// `["odd key"]`.
void AppendKeyStep(absl::string_view key, std::string* path) {
  if (IsPlainKey(key)) {
    absl::StrAppend(path, ".", key);
  } else {
    absl::StrAppend(path, "[", QuotedJson(key), "]");
  }
}

absl::Status NotJson(absl::string_view why) {
  return JsonPathError("$", absl::StrCat("not a JSON document: ", why));
}

}  // namespace

struct JsonDocument::Impl {
  simdjson::dom::parser parser;
  // For containers with many children: the tape index of each child value,
  // in order (see kCacheChildrenAbove). Filled by paths, hence the lock.
  absl::Mutex mutex;
  absl::flat_hash_map<uint32_t, std::vector<uint32_t>> children
      ABSL_GUARDED_BY(mutex);
};

JsonDocument::JsonDocument() : impl_(std::make_unique<Impl>()) {}
JsonDocument::~JsonDocument() = default;

JsonNode JsonDocument::Root() const { return JsonNode(this, kRootIndex); }

std::string JsonDocument::PathOf(uint32_t index) const {
  std::string path = "$";
  uint32_t current = kRootIndex;
  while (current != index) {
    const bool object = TypeAt(tape_, current) == '{';
    // Find the child of `current` whose value holds `index`, and its
    // position. A member's value starts one word after its key.
    uint32_t child = 0;
    size_t position = 0;
    const uint32_t count = (tape_[current] >> 32) & 0xFFFFFF;
    if (count > kCacheChildrenAbove) {
      absl::MutexLock lock(&impl_->mutex);
      std::vector<uint32_t>& starts = impl_->children[current];
      if (starts.empty()) {
        const uint32_t end = After(tape_, current) - 1;
        for (uint32_t k = current + 1; k < end;) {
          const uint32_t value = object ? k + 1 : k;
          starts.push_back(value);
          k = After(tape_, value);
        }
      }
      auto it = std::upper_bound(starts.begin(), starts.end(), index);
      position = static_cast<size_t>(it - starts.begin()) - 1;
      child = starts[position];
    } else {
      for (uint32_t k = current + 1;; ++position) {
        const uint32_t value = object ? k + 1 : k;
        k = After(tape_, value);
        if (index < k) {
          child = value;
          break;
        }
      }
    }
    if (object) {
      AppendKeyStep(StringAt(tape_, strings_, child - 1), &path);
    } else {
      absl::StrAppend(&path, "[", position, "]");
    }
    current = child;
  }
  return path;
}

absl::StatusOr<std::unique_ptr<JsonDocument>> ParseJsonDocument(
    absl::string_view text) {
  // nlohmann skipped a UTF-8 byte order mark; simdjson does not.
  absl::string_view body = text;
  absl::ConsumePrefix(&body, "\xEF\xBB\xBF");
  auto document = absl::WrapUnique(new JsonDocument());
  simdjson::dom::parser& parser = document->impl_->parser;
  simdjson::error_code error =
      parser.parse(body.data(), body.size(), /*realloc_if_needed=*/true)
          .error();
  if (error != simdjson::SUCCESS) {
    if (error == simdjson::MEMALLOC) {
      return absl::ResourceExhaustedError(
          "no memory to parse the JSON document");
    }
    if (error == simdjson::DEPTH_ERROR || error == simdjson::CAPACITY) {
      return NotJson(simdjson::error_message(error));
    }
    // simdjson says neither where the error is nor what it is in a user's
    // terms, and rejects integers beyond 64 bits, which nlohmann (and so
    // the importers, always) read as doubles. Errors are rare: let nlohmann
    // read the document once more, for its message with line and column,
    // or for a document simdjson can read (big integers as doubles).
    std::string normalized;
    try {
      normalized = nlohmann::json::parse(text.begin(), text.end()).dump();
    } catch (const nlohmann::json::exception& e) {
      // parse_error for bad syntax, out_of_range for a number no double
      // holds ("1e400"): both are the document's fault.
      return NotJson(e.what());
    }
    error = parser.parse(normalized).error();
    if (error != simdjson::SUCCESS) {
      return NotJson(simdjson::error_message(error));
    }
  }
  document->tape_ = parser.doc.tape.get();
  document->strings_ = parser.doc.string_buf.get();
  return document;
}

absl::Status JsonPathError(absl::string_view path, absl::string_view message) {
  absl::Status status =
      absl::InvalidArgumentError(absl::StrCat(path, ": ", message));
  status.SetPayload(kJsonPathPayload, absl::Cord(path));
  return status;
}

std::string JsonPathOf(const absl::Status& status) {
  auto path = status.GetPayload(kJsonPathPayload);
  return path.has_value() ? std::string(*path) : std::string("$");
}

std::string MessageWithoutPath(const absl::Status& status) {
  absl::string_view message = status.message();
  auto path = status.GetPayload(kJsonPathPayload);
  if (path.has_value()) {
    absl::ConsumePrefix(&message, absl::StrCat(std::string(*path), ": "));
  }
  return std::string(message);
}

JsonNode JsonNode::MissingChild(Step step, absl::string_view key,
                                size_t index) const {
  JsonNode child;
  child.doc_ = doc_;
  if (present()) {
    child.anchor_ = index_;
    child.step_ = step;
    child.step_index_ = index;
    if (step == Step::kKey) child.step_text_ = std::string(key);
    return child;
  }
  child.anchor_ = anchor_;
  child.step_ = Step::kRendered;
  child.step_text_ = RenderedStep();
  if (step == Step::kKey) {
    AppendKeyStep(key, &child.step_text_);
  } else {
    absl::StrAppend(&child.step_text_, "[", index, "]");
  }
  return child;
}

std::string JsonNode::RenderedStep() const {
  switch (step_) {
    case Step::kNone:
      return "";
    case Step::kKey: {
      std::string step;
      AppendKeyStep(step_text_, &step);
      return step;
    }
    case Step::kIndex:
      return absl::StrCat("[", step_index_, "]");
    case Step::kRendered:
      return step_text_;
  }
  return "";
}

std::string JsonNode::path() const {
  if (present()) return doc_->PathOf(index_);
  if (anchor_ == kAbsent) return RenderedStep();
  return absl::StrCat(doc_->PathOf(anchor_), RenderedStep());
}

JsonNode JsonNode::operator[](absl::string_view key) const {
  if (!IsObject()) return MissingChild(Step::kKey, key, 0);
  const uint64_t* tape = doc_->tape_;
  const uint8_t* strings = doc_->strings_;
  const uint32_t end = After(tape, index_) - 1;
  // Every key is compared, not just up to the first match: the last of
  // repeated keys wins, as in nlohmann::json.
  uint32_t found = kAbsent;
  for (uint32_t k = index_ + 1; k < end; k = After(tape, k + 1)) {
    const uint64_t offset = tape[k] & ((uint64_t{1} << 56) - 1);
    uint32_t length;
    std::memcpy(&length, strings + offset, sizeof(length));
    if (length == key.size() && std::memcmp(strings + offset + sizeof(length),
                                            key.data(), length) == 0) {
      found = k + 1;
    }
  }
  if (found == kAbsent) return MissingChild(Step::kKey, key, 0);
  return JsonNode(doc_, found);
}

JsonNode JsonNode::operator[](size_t index) const {
  if (IsArray()) {
    const uint64_t* tape = doc_->tape_;
    const uint32_t end = After(tape, index_) - 1;
    size_t position = 0;
    for (uint32_t k = index_ + 1; k < end; k = After(tape, k), ++position) {
      if (position == index) return JsonNode(doc_, k);
    }
  }
  return MissingChild(Step::kIndex, "", index);
}

JsonMembers::JsonMembers(const JsonNode& object) : object_(object) {
  if (!object_.IsObject()) return;
  const uint64_t* tape = object_.doc_->tape_;
  const uint8_t* strings = object_.doc_->strings_;
  const uint32_t end = After(tape, object_.index_) - 1;
  for (uint32_t k = object_.index_ + 1; k < end; k = After(tape, k + 1)) {
    const absl::string_view key = StringAt(tape, strings, k);
    members_.push_back({key.data(), static_cast<uint32_t>(key.size()), k + 1});
  }
}

JsonNode JsonMembers::operator[](absl::string_view key) const {
  // From the end: the first match is the last of repeated keys.
  for (auto it = members_.rbegin(); it != members_.rend(); ++it) {
    // Length and first byte before memcmp: most members differ there.
    if (it->key_size == key.size() && (key.empty() || it->key[0] == key[0]) &&
        std::memcmp(it->key, key.data(), key.size()) == 0) {
      return JsonNode(object_.doc_, it->value);
    }
  }
  return object_.MissingChild(JsonNode::Step::kKey, key, 0);
}

std::string JsonElementPaths::operator[](size_t index) const {
  return absl::StrCat(prefix_, "[", index, "]");
}

absl::string_view JsonNode::StringView() const {
  return StringAt(doc_->tape_, doc_->strings_, index_);
}

std::optional<uint64_t> JsonNode::UnsignedInteger() const {
  if (!present()) return std::nullopt;
  switch (TapeType()) {
    case 'l': {
      const int64_t value = NextWord<int64_t>(doc_->tape_, index_);
      if (value < 0) return std::nullopt;
      return static_cast<uint64_t>(value);
    }
    case 'u':
      return NextWord<uint64_t>(doc_->tape_, index_);
    default:
      return std::nullopt;
  }
}

size_t JsonNode::size() const {
  if (!IsArray()) return 0;
  const uint64_t* tape = doc_->tape_;
  const uint32_t end = After(tape, index_) - 1;
  size_t count = 0;
  for (uint32_t k = index_ + 1; k < end; k = After(tape, k)) ++count;
  return count;
}

std::vector<absl::string_view> JsonNode::MemberNames() const {
  std::vector<absl::string_view> names;
  if (!IsObject()) return names;
  const uint64_t* tape = doc_->tape_;
  const uint32_t end = After(tape, index_) - 1;
  for (uint32_t k = index_ + 1; k < end; k = After(tape, k + 1)) {
    names.push_back(StringAt(tape, doc_->strings_, k));
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

absl::string_view JsonNode::TypeName() const {
  if (!present()) return "missing";
  switch (TapeType()) {
    case '{':
      return "object";
    case '[':
      return "array";
    case '"':
      return "string";
    case 't':
    case 'f':
      return "boolean";
    case 'n':
      return "null";
    default:
      return "number";
  }
}

std::string JsonNode::TypeWithArticle() const {
  if (!present()) return "missing";
  return absl::StrCat("a", IsObject() || IsArray() ? "n" : "", " ", TypeName());
}

absl::Status JsonNode::Error(absl::string_view message) const {
  return JsonPathError(path(), message);
}

absl::Status JsonNode::ExpectObject() const {
  if (IsObject()) return absl::OkStatus();
  return Error(absl::StrCat("expected an object, got ", TypeWithArticle()));
}

absl::StatusOr<std::string> JsonNode::RequiredString() const {
  TREATD_ASSIGN_OR_RETURN(absl::string_view value, RequiredStringView());
  return std::string(value);
}

absl::StatusOr<absl::string_view> JsonNode::RequiredStringView() const {
  if (IsMissing()) return Error("required string is missing");
  if (!IsString()) {
    return Error(absl::StrCat("expected a string, got ", TypeWithArticle()));
  }
  absl::string_view value = StringView();
  if (value.empty()) return Error("required string is empty");
  return value;
}

absl::StatusOr<std::string> JsonNode::OptionalString() const {
  TREATD_ASSIGN_OR_RETURN(absl::string_view value, OptionalStringView());
  return std::string(value);
}

absl::StatusOr<absl::string_view> JsonNode::OptionalStringView() const {
  // "" rather than a null view: callers pass it on to memcpy (StrJoin).
  if (IsMissing()) return absl::string_view("");
  if (!IsString()) {
    return Error(absl::StrCat("expected a string, got ", TypeWithArticle()));
  }
  return StringView();
}

absl::StatusOr<std::optional<double>> JsonNode::OptionalNumber(
    bool allow_numeric_string) const {
  if (IsMissing()) return std::optional<double>();
  const char type = TapeType();
  if (type == 'l' || type == 'u' || type == 'd') {
    return std::optional<double>(NumberAt(doc_->tape_, index_));
  }
  if (allow_numeric_string && type == '"') {
    double number = 0;
    if (absl::SimpleAtod(StringView(), &number)) {
      return std::optional<double>(number);
    }
    return Error(absl::StrCat("expected a number, got the string ",
                              QuotedJson(StringView())));
  }
  return Error(absl::StrCat("expected a number, got ", TypeWithArticle()));
}

absl::StatusOr<std::optional<bool>> JsonNode::OptionalBool() const {
  if (IsMissing()) return std::optional<bool>();
  const char type = TapeType();
  if (type == 't' || type == 'f') return std::optional<bool>(type == 't');
  return Error(absl::StrCat("expected a boolean, got ", TypeWithArticle()));
}

absl::StatusOr<std::vector<JsonNode>> JsonNode::OptionalArray() const {
  std::vector<JsonNode> elements;
  if (IsMissing()) return elements;
  if (!IsArray()) {
    return Error(absl::StrCat("expected an array, got ", TypeWithArticle()));
  }
  const uint64_t* tape = doc_->tape_;
  const uint32_t end = After(tape, index_) - 1;
  // The element count the tape states (saturated at 2^24 - 1): one
  // allocation instead of a JsonNode vector regrown and moved.
  elements.reserve(static_cast<size_t>((tape[index_] >> 32) & 0xFFFFFF));
  for (uint32_t k = index_ + 1; k < end; k = After(tape, k)) {
    elements.push_back(JsonNode(doc_, k));
  }
  return elements;
}

absl::StatusOr<std::vector<JsonNode>> JsonNode::RequiredArray() const {
  if (IsMissing()) return Error("required array is missing");
  return OptionalArray();
}

absl::StatusOr<std::vector<std::string>> JsonNode::OptionalStringArray() const {
  TREATD_ASSIGN_OR_RETURN(std::vector<absl::string_view> views,
                          OptionalStringViewArray());
  return std::vector<std::string>(views.begin(), views.end());
}

absl::StatusOr<std::vector<absl::string_view>>
JsonNode::OptionalStringViewArray() const {
  std::vector<absl::string_view> strings;
  if (IsMissing()) return strings;
  if (!IsArray()) {
    return Error(absl::StrCat("expected an array, got ", TypeWithArticle()));
  }
  const uint64_t* tape = doc_->tape_;
  const uint32_t end = After(tape, index_) - 1;
  strings.reserve(static_cast<size_t>((tape[index_] >> 32) & 0xFFFFFF));
  for (uint32_t k = index_ + 1; k < end; k = After(tape, k)) {
    if (TypeAt(tape, k) != '"') {
      const JsonNode element(doc_, k);
      return element.Error(
          absl::StrCat("expected a string, got ", element.TypeWithArticle()));
    }
    strings.push_back(StringAt(tape, doc_->strings_, k));
  }
  return strings;
}

}  // namespace treatd::importers
