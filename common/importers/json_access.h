// Typed, non-throwing access to a parsed JSON document that remembers where
// each value sits, so every error an importer reports names the JSON path of
// the problem (e.g. "$.Results[2].Vulnerabilities[5].CVSS").
//
// A JsonNode is a cheap view: a pointer into a document owned by the caller
// plus the path from the document root. It never owns or copies the JSON, so
// the document must outlive every node taken from it. Nodes are immutable;
// concurrent reads of the same document are safe.
#ifndef TREATD_COMMON_IMPORTERS_JSON_ACCESS_H_
#define TREATD_COMMON_IMPORTERS_JSON_ACCESS_H_

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace treatd::importers {

// Parses `text` as one JSON document. Returns the document, or
// INVALID_ARGUMENT naming the line and column of the first syntax error.
// nlohmann::json reports parse errors by throwing; this is the one place the
// importers catch a library exception and turn it into a Status.
absl::StatusOr<nlohmann::json> ParseJsonDocument(absl::string_view text);

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
class JsonNode {
 public:
  // The root of `document`, with path "$".
  static JsonNode Root(const nlohmann::json& document);
  // A node for a value that is absent, located at `path`.
  static JsonNode Missing(std::string path) {
    return JsonNode(nullptr, std::move(path));
  }

  // The member `key` of this object. When this node is not an object or has
  // no such member, the result is a missing node (with the would-be path).
  JsonNode operator[](absl::string_view key) const;
  // Element `index` of this array, or a missing node.
  JsonNode operator[](size_t index) const;

  // True when the value is absent or JSON null.
  bool IsMissing() const { return value_ == nullptr || value_->is_null(); }
  bool IsObject() const { return value_ != nullptr && value_->is_object(); }
  bool IsArray() const { return value_ != nullptr && value_->is_array(); }
  bool IsString() const { return value_ != nullptr && value_->is_string(); }

  // The JSON path from the document root, e.g. "$.matches[3].artifact".
  const std::string& path() const { return path_; }
  // The underlying value; only valid when !IsMissing().
  const nlohmann::json& json() const { return *value_; }

  // Returns OK when the value is an object, otherwise INVALID_ARGUMENT with
  // this node's path (also when missing).
  absl::Status ExpectObject() const;

  // Returns the string value, or INVALID_ARGUMENT when missing, not a string
  // or empty.
  absl::StatusOr<std::string> RequiredString() const;
  // Returns the string value, "" when missing, or INVALID_ARGUMENT when the
  // value has another type.
  absl::StatusOr<std::string> OptionalString() const;
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

  // Returns INVALID_ARGUMENT at this node's path: "<path>: <message>".
  absl::Status Error(absl::string_view message) const;

 private:
  JsonNode(const nlohmann::json* value, std::string path)
      : value_(value), path_(std::move(path)) {}

  // A short name of the value's JSON type for messages ("a number", ...).
  std::string TypeName() const;

  const nlohmann::json* value_;  // Not owned; null when missing.
  std::string path_;
};

}  // namespace treatd::importers

#endif  // TREATD_COMMON_IMPORTERS_JSON_ACCESS_H_
