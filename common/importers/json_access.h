// Typed, non-throwing access to a parsed JSON document that remembers where
// each value sits, so every error an importer reports names the JSON path of
// the problem (e.g. "$.Results[2].Vulnerabilities[5].CVSS").
//
// The document is parsed by simdjson (DOM) and JsonNode reads simdjson's
// tape directly: a node is a document pointer and a tape index, so taking a
// member or an element copies nothing and builds no path. The path of a node
// is worked out from the tape only when asked for (path(), Error()), which
// the importers do for errors and once per imported entry.
//
// Semantics are those of the nlohmann::json DOM the importers read before
// (tests/common/importers/json_access_test.cc pins them):
//   - a duplicate object key: the last one wins (operator[], MemberNames());
//   - an integer beyond int64/uint64 is read as the nearest double;
//   - "-0" is the integer 0, "-0.0" the double -0.0; an exponent no double
//     holds ("1e400") rejects the document;
//   - a leading UTF-8 byte order mark is skipped;
//   - a syntax error names its line and column, in nlohmann's words.
// One deliberate difference: nesting deeper than 1024 arrays/objects is
// rejected (simdjson's depth limit; no scanner writes such documents).
//
// Thread-safety: a JsonDocument and its nodes are immutable to callers;
// concurrent reads (including path()) of one document are safe.
#ifndef TREATD_COMMON_IMPORTERS_JSON_ACCESS_H_
#define TREATD_COMMON_IMPORTERS_JSON_ACCESS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace treatd::importers {

class JsonNode;

// A parsed JSON document. Owns the parsed form (not the input text); every
// JsonNode taken from it points into it, so it must outlive them. Neither
// copyable nor movable, for the same reason.
class JsonDocument {
 public:
  ~JsonDocument();
  JsonDocument(const JsonDocument&) = delete;
  JsonDocument& operator=(const JsonDocument&) = delete;

  // The root value, with path "$".
  JsonNode Root() const;

 private:
  friend class JsonNode;
  friend class JsonMembers;
  friend absl::StatusOr<std::unique_ptr<JsonDocument>> ParseJsonDocument(
      absl::string_view text);
  struct Impl;

  JsonDocument();

  // The JSON path of the value at tape index `index`, e.g. "$.a[3]".
  std::string PathOf(uint32_t index) const;

  std::unique_ptr<Impl> impl_;
  // Copies of impl_'s simdjson tape and string buffer pointers, for the
  // node accessors (see json_access.cc for the tape layout).
  const uint64_t* tape_ = nullptr;
  const uint8_t* strings_ = nullptr;
};

// Parses `text` as one JSON document. Returns the document, or
// INVALID_ARGUMENT ("$: not a JSON document: ...") naming the line and column
// of the first syntax error.
absl::StatusOr<std::unique_ptr<JsonDocument>> ParseJsonDocument(
    absl::string_view text);

// Returns INVALID_ARGUMENT with message "<path>: <message>" and the path
// attached as a payload, so callers can recover it with JsonPathOf().
absl::Status JsonPathError(absl::string_view path, absl::string_view message);

// Returns the JSON path attached by JsonPathError(), or "$" when `status`
// carries none.
std::string JsonPathOf(const absl::Status& status);

// Returns the message of `status` without the "<path>: " prefix that
// JsonPathError() adds.
std::string MessageWithoutPath(const absl::Status& status);

// A read-only view of one value (or of a missing member) in a JSON document.
// Cheap to copy when present (no allocation); a missing node keeps the key
// it was looked up by, to name it in its path.
class JsonNode {
 public:
  // A node for a value that is absent, located at `path`.
  static JsonNode Missing(std::string path) {
    JsonNode node;
    node.step_ = Step::kRendered;
    node.step_text_ = std::move(path);
    return node;
  }

  // The member `key` of this object (the last one when the key repeats).
  // When this node is not an object or has no such member, the result is a
  // missing node (with the would-be path).
  JsonNode operator[](absl::string_view key) const;
  // Element `index` of this array, or a missing node.
  JsonNode operator[](size_t index) const;

  // True when there is a value, JSON null included (nlohmann's contains()).
  bool Exists() const { return present(); }
  // True when the value is absent or JSON null.
  bool IsMissing() const { return !present() || TapeType() == 'n'; }
  bool IsObject() const { return present() && TapeType() == '{'; }
  bool IsArray() const { return present() && TapeType() == '['; }
  bool IsString() const { return present() && TapeType() == '"'; }

  // The JSON path from the document root, e.g. "$.matches[3].artifact".
  // Worked out on each call (walking from the root), so call it for errors
  // and per entry, not per field.
  std::string path() const;

  // The string value without a copy; only valid when IsString(). Points into
  // the document.
  absl::string_view StringView() const;
  // The value when it is an integer from 0 to 2^64-1 (nlohmann's
  // is_number_unsigned(); "-0" counts as 0 here), else nullopt.
  std::optional<uint64_t> UnsignedInteger() const;
  // The number of elements of an array or members of an object (a repeated
  // key counts each time), 0 for anything else.
  size_t size() const;
  // The distinct member names of an object in byte order (a repeated key
  // once), as nlohmann::json iterates; empty for anything else. The views
  // point into the document.
  std::vector<absl::string_view> MemberNames() const;
  // The JSON type as nlohmann::json names it: "null", "boolean", "number",
  // "string", "array" or "object"; "missing" when absent.
  absl::string_view TypeName() const;

  // Returns OK when the value is an object, otherwise INVALID_ARGUMENT with
  // this node's path (also when missing).
  absl::Status ExpectObject() const;

  // Returns the string value, or INVALID_ARGUMENT when missing, not a string
  // or empty.
  absl::StatusOr<std::string> RequiredString() const;
  // RequiredString() without the copy: a view into the document.
  absl::StatusOr<absl::string_view> RequiredStringView() const;
  // Returns the string value, "" when missing, or INVALID_ARGUMENT when the
  // value has another type.
  absl::StatusOr<std::string> OptionalString() const;
  // OptionalString() without the copy: a view into the document ("" when
  // missing).
  absl::StatusOr<absl::string_view> OptionalStringView() const;
  // Returns the number, nullopt when missing, or INVALID_ARGUMENT when the
  // value is neither a number nor (when `allow_numeric_string`) a string
  // holding a number, as SARIF writes "security-severity": "7.5".
  absl::StatusOr<std::optional<double>> OptionalNumber(
      bool allow_numeric_string = false) const;
  // Returns the boolean, nullopt when missing, INVALID_ARGUMENT otherwise.
  absl::StatusOr<std::optional<bool>> OptionalBool() const;
  // Returns the elements of an array, an empty list when missing, or
  // INVALID_ARGUMENT when the value is not an array.
  absl::StatusOr<std::vector<JsonNode>> OptionalArray() const;
  // Like OptionalArray(), but INVALID_ARGUMENT when missing too.
  absl::StatusOr<std::vector<JsonNode>> RequiredArray() const;
  // Returns the strings of an array of strings (empty when missing), or
  // INVALID_ARGUMENT naming the first element that is not a string.
  absl::StatusOr<std::vector<std::string>> OptionalStringArray() const;
  // OptionalStringArray() without the copies: views into the document.
  absl::StatusOr<std::vector<absl::string_view>> OptionalStringViewArray()
      const;

  // Returns INVALID_ARGUMENT at this node's path: "<path>: <message>".
  absl::Status Error(absl::string_view message) const;

 private:
  friend class JsonDocument;
  friend class JsonMembers;
  static constexpr uint32_t kAbsent = UINT32_MAX;

  // How a missing node's path continues after its anchor.
  enum class Step : uint8_t {
    kNone,      // present node: no step
    kKey,       // member step_text_ (a raw key)
    kIndex,     // element step_index_
    kRendered,  // step_text_ is already a path suffix (or a whole path)
  };

  JsonNode() = default;
  JsonNode(const JsonDocument* doc, uint32_t index)
      : doc_(doc), index_(index) {}

  bool present() const { return index_ != kAbsent; }
  // The simdjson tape type character of a present value ('{', '"', 'l', ...).
  char TapeType() const { return static_cast<char>(doc_->tape_[index_] >> 56); }
  // The missing child of this node reached by `step`.
  JsonNode MissingChild(Step step, absl::string_view key, size_t index) const;
  // A missing node's path after its anchor.
  std::string RenderedStep() const;
  // TypeName() with an article: "an object", "a string", "missing".
  std::string TypeWithArticle() const;

  const JsonDocument* doc_ = nullptr;  // Not owned; null for Missing(path).
  uint32_t index_ = kAbsent;           // Tape index; kAbsent when missing.
  // A missing node: the tape index of the value it was looked up from, or
  // kAbsent for Missing(path).
  uint32_t anchor_ = kAbsent;
  Step step_ = Step::kNone;
  size_t step_index_ = 0;
  std::string step_text_;
};

// The members of one object, listed once, for a reader that looks up many
// of them: each lookup scans the list from its end, where the last of
// repeated keys is, instead of walking every member on the tape (member
// lookups were an eighth of a large report's import, callgrind, issue 15).
// members[key] is the node object[key] is, missing nodes and their paths
// included. Holds views into the document, which must outlive it.
class JsonMembers {
 public:
  // Lists the members of `object`; when it is not an object, every lookup
  // gives the missing node `object[key]` gives.
  explicit JsonMembers(const JsonNode& object);

  // The member `key` (the last one when the key repeats), or a missing node.
  JsonNode operator[](absl::string_view key) const;

 private:
  struct Member {
    const char* key;
    uint32_t key_size;
    uint32_t value;  // Tape index.
  };

  JsonNode object_;
  absl::InlinedVector<Member, 24> members_;
};

// The paths of the elements of an array, "<array path>[i]": what
// array[i].path() gives, without walking from the document root for each
// element (a tenth of a large report's walk, callgrind, issue 15).
class JsonElementPaths {
 public:
  explicit JsonElementPaths(const JsonNode& array) : prefix_(array.path()) {}

  std::string operator[](size_t index) const;

 private:
  std::string prefix_;
};

}  // namespace treatd::importers

#endif  // TREATD_COMMON_IMPORTERS_JSON_ACCESS_H_
