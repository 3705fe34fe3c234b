#include "common/importers/json_access.h"

#include <cctype>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace treatd::importers {
namespace {

constexpr absl::string_view kJsonPathPayload = "treatd.importers/json_path";

// True when `key` can follow a dot in a path without quoting.
bool IsPlainKey(absl::string_view key) {
  if (key.empty()) return false;
  for (char c : key) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' &&
        c != '@' && c != '$') {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<nlohmann::json> ParseJsonDocument(absl::string_view text) {
  // The sax parser would avoid the exception, but only the exception carries
  // the position of the error, which is what a user needs to fix the file.
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    // parse_error for bad syntax, out_of_range for a number no double holds
    // ("1e400"): both are the document's fault.
    return JsonPathError("$", absl::StrCat("not a JSON document: ", e.what()));
  }
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

JsonNode JsonNode::Root(const nlohmann::json& document) {
  return JsonNode(&document, "$");
}

JsonNode JsonNode::operator[](absl::string_view key) const {
  std::string path =
      IsPlainKey(key)
          ? absl::StrCat(path_, ".", key)
          : absl::StrCat(path_, "[", nlohmann::json(std::string(key)).dump(),
                         "]");
  if (!IsObject()) return JsonNode(nullptr, std::move(path));
  auto it = value_->find(std::string(key));
  if (it == value_->end()) return JsonNode(nullptr, std::move(path));
  return JsonNode(&*it, std::move(path));
}

JsonNode JsonNode::operator[](size_t index) const {
  std::string path = absl::StrCat(path_, "[", index, "]");
  if (!IsArray() || index >= value_->size()) {
    return JsonNode(nullptr, std::move(path));
  }
  return JsonNode(&(*value_)[index], std::move(path));
}

absl::Status JsonNode::Error(absl::string_view message) const {
  return JsonPathError(path_, message);
}

std::string JsonNode::TypeName() const {
  if (value_ == nullptr) return "missing";
  return absl::StrCat("a", value_->is_object() || value_->is_array() ? "n" : "",
                      " ", value_->type_name());
}

absl::Status JsonNode::ExpectObject() const {
  if (IsObject()) return absl::OkStatus();
  return Error(absl::StrCat("expected an object, got ", TypeName()));
}

absl::StatusOr<std::string> JsonNode::RequiredString() const {
  if (IsMissing()) return Error("required string is missing");
  if (!IsString()) {
    return Error(absl::StrCat("expected a string, got ", TypeName()));
  }
  const std::string& value = value_->get_ref<const std::string&>();
  if (value.empty()) return Error("required string is empty");
  return value;
}

absl::StatusOr<std::string> JsonNode::OptionalString() const {
  if (IsMissing()) return std::string();
  if (!IsString()) {
    return Error(absl::StrCat("expected a string, got ", TypeName()));
  }
  return value_->get_ref<const std::string&>();
}

absl::StatusOr<std::optional<double>> JsonNode::OptionalNumber(
    bool allow_numeric_string) const {
  if (IsMissing()) return std::optional<double>();
  if (value_->is_number()) return std::optional<double>(value_->get<double>());
  if (allow_numeric_string && IsString()) {
    double number = 0;
    if (absl::SimpleAtod(value_->get_ref<const std::string&>(), &number)) {
      return std::optional<double>(number);
    }
    return Error(
        absl::StrCat("expected a number, got the string ", value_->dump()));
  }
  return Error(absl::StrCat("expected a number, got ", TypeName()));
}

absl::StatusOr<std::optional<bool>> JsonNode::OptionalBool() const {
  if (IsMissing()) return std::optional<bool>();
  if (value_->is_boolean()) return std::optional<bool>(value_->get<bool>());
  return Error(absl::StrCat("expected a boolean, got ", TypeName()));
}

absl::StatusOr<std::vector<JsonNode>> JsonNode::OptionalArray() const {
  std::vector<JsonNode> elements;
  if (IsMissing()) return elements;
  if (!IsArray()) {
    return Error(absl::StrCat("expected an array, got ", TypeName()));
  }
  elements.reserve(value_->size());
  for (size_t i = 0; i < value_->size(); ++i) {
    elements.push_back((*this)[i]);
  }
  return elements;
}

absl::StatusOr<std::vector<JsonNode>> JsonNode::RequiredArray() const {
  if (IsMissing()) return Error("required array is missing");
  return OptionalArray();
}

absl::StatusOr<std::vector<std::string>> JsonNode::OptionalStringArray() const {
  absl::StatusOr<std::vector<JsonNode>> elements = OptionalArray();
  if (!elements.ok()) return elements.status();
  std::vector<std::string> strings;
  strings.reserve(elements->size());
  for (const JsonNode& element : *elements) {
    if (!element.IsString()) {
      return element.Error(
          absl::StrCat("expected a string, got ", element.TypeName()));
    }
    strings.push_back(element.json().get_ref<const std::string&>());
  }
  return strings;
}

}  // namespace treatd::importers
