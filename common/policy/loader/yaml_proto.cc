#include "common/policy/loader/yaml_proto.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/time/time_text.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/reflection.h"
#include "google/protobuf/timestamp.pb.h"

namespace treatd {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::EnumValueDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

constexpr absl::string_view kDurationType = "google.protobuf.Duration";
constexpr absl::string_view kTimestampType = "google.protobuf.Timestamp";

std::string NodeKindName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

// "TREATMENT_UNSPECIFIED" -> "TREATMENT_": the prefix every value of a
// buf-STANDARD enum carries, so policies may write REMEDIATE.
std::string EnumPrefix(const EnumDescriptor* type) {
  const std::string& first = type->value(0)->name();
  constexpr absl::string_view kUnspecified = "UNSPECIFIED";
  if (absl::EndsWith(first, kUnspecified)) {
    return first.substr(0, first.size() - kUnspecified.size());
  }
  return "";
}

std::string AllowedEnumValues(const EnumDescriptor* type) {
  const std::string prefix = EnumPrefix(type);
  std::vector<std::string> names;
  for (int i = 0; i < type->value_count(); ++i) {
    const std::string& name = type->value(i)->name();
    if (absl::EndsWith(name, "_UNSPECIFIED")) continue;
    names.push_back(absl::StartsWith(name, prefix) && !prefix.empty()
                        ? name.substr(prefix.size())
                        : name);
  }
  return absl::StrJoin(names, ", ");
}

std::string AllowedKeys(const Descriptor* type) {
  std::vector<std::string> names;
  for (int i = 0; i < type->field_count(); ++i) {
    names.push_back(type->field(i)->name());
  }
  return absl::StrJoin(names, ", ");
}

class Converter {
 public:
  Converter(absl::string_view source, absl::string_view filename,
            SourceMap* source_map, std::vector<v1::PolicyIssue>* issues)
      : source_(source),
        filename_(filename),
        source_map_(source_map),
        issues_(issues) {}

  void ConvertMessage(const YAML::Node& node, Message* message,
                      const std::string& path) {
    Record(node, path);
    if (node.IsNull()) return;
    if (!node.IsMap()) {
      Error(node, path,
            absl::StrCat("expected a mapping (", message->GetTypeName(),
                         "), got ", NodeKindName(node)));
      return;
    }
    const Descriptor* type = message->GetDescriptor();
    // Issues below name the element they are in: its `id` or `name`.
    std::string saved_element = element_;
    for (const char* key : {"id", "name"}) {
      const YAML::Node id = node[key];
      if (id && id.IsScalar() && type->FindFieldByName(key) != nullptr) {
        element_ = id.Scalar();
        break;
      }
    }
    std::set<std::string> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      // Copies, not references: yaml-cpp's map iterator returns its pair in
      // a temporary proxy, so `const YAML::Node& key = it->first` dangles
      // at the end of the statement (ASan: stack-use-after-scope). A Node
      // is a handle to the document's shared node, so a copy is cheap.
      const YAML::Node key = it->first;
      const YAML::Node value = it->second;
      if (!key.IsScalar()) {
        Error(key, path, "keys must be plain names");
        continue;
      }
      const std::string& name = key.Scalar();
      const std::string child =
          path.empty() ? name : absl::StrCat(path, ".", name);
      const FieldDescriptor* field = type->FindFieldByName(name);
      for (int i = 0; field == nullptr && i < type->field_count(); ++i) {
        if (type->field(i)->json_name() == name) field = type->field(i);
      }
      if (field == nullptr) {
        Error(key, child,
              absl::StrCat("unknown key '", name, "' in ", type->name(),
                           "; allowed: ", AllowedKeys(type)));
        continue;
      }
      if (!seen.insert(field->name()).second) {
        Error(key, child, absl::StrCat("duplicate key '", name, "'"));
        continue;
      }
      ConvertField(value, message, field, child);
    }
    element_ = std::move(saved_element);
  }

 private:
  void ConvertField(const YAML::Node& node, Message* message,
                    const FieldDescriptor* field, const std::string& path) {
    if (field->is_map()) {
      Record(node, path);
      if (node.IsNull()) return;
      if (!node.IsMap()) {
        Error(node, path,
              absl::StrCat("expected a mapping, got ", NodeKindName(node)));
        return;
      }
      const Descriptor* entry = field->message_type();
      const FieldDescriptor* key_field = entry->map_key();
      const FieldDescriptor* value_field = entry->map_value();
      std::set<std::string> seen;
      for (auto it = node.begin(); it != node.end(); ++it) {
        if (!it->first.IsScalar()) {
          Error(it->first, path, "map keys must be scalars");
          continue;
        }
        const std::string& key = it->first.Scalar();
        const std::string child = absl::StrCat(path, ".", key);
        if (!seen.insert(key).second) {
          Error(it->first, child, absl::StrCat("duplicate key '", key, "'"));
          continue;
        }
        Message* item = message->GetReflection()->AddMessage(message, field);
        SetScalar(it->first, item, key_field, child);
        ConvertSingular(it->second, item, value_field, child);
      }
      return;
    }
    if (field->is_repeated()) {
      Record(node, path);
      if (node.IsNull()) return;
      if (!node.IsSequence()) {
        Error(node, path,
              absl::StrCat("expected a list, got ", NodeKindName(node)));
        return;
      }
      for (size_t i = 0; i < node.size(); ++i) {
        const std::string child = absl::StrCat(path, "[", i, "]");
        if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
          Message* item = message->GetReflection()->AddMessage(message, field);
          ConvertMessageValue(node[i], item, child);
        } else {
          AddScalar(node[i], message, field, child);
        }
      }
      return;
    }
    ConvertSingular(node, message, field, path);
  }

  void ConvertSingular(const YAML::Node& node, Message* message,
                       const FieldDescriptor* field, const std::string& path) {
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (node.IsNull() && !IsWellKnownScalar(field->message_type())) {
        Record(node, path);
        return;
      }
      ConvertMessageValue(
          node, message->GetReflection()->MutableMessage(message, field), path);
      return;
    }
    SetScalar(node, message, field, path);
  }

  static bool IsWellKnownScalar(const Descriptor* type) {
    return type->full_name() == kDurationType ||
           type->full_name() == kTimestampType;
  }

  void ConvertMessageValue(const YAML::Node& node, Message* message,
                           const std::string& path) {
    const std::string& type = message->GetDescriptor()->full_name();
    if (type == kDurationType || type == kTimestampType) {
      Record(node, path);
      if (!node.IsScalar()) {
        Error(node, path,
              absl::StrCat("expected a ",
                           type == kDurationType
                               ? "duration such as 90s, 15m, 72h, 14d or 2w"
                               : "timestamp in RFC 3339 or YYYY-MM-DD",
                           ", got ", NodeKindName(node)));
        return;
      }
      if (type == kDurationType) {
        absl::StatusOr<absl::Duration> d = ParseDurationText(node.Scalar());
        if (!d.ok()) {
          Error(node, path, std::string(d.status().message()));
          return;
        }
        auto* out = static_cast<google::protobuf::Duration*>(message);
        const int64_t seconds = absl::IDivDuration(*d, absl::Seconds(1), &*d);
        out->set_seconds(seconds);
        out->set_nanos(static_cast<int32_t>(*d / absl::Nanoseconds(1)));
      } else {
        absl::StatusOr<absl::Time> t = ParseTimestampText(node.Scalar());
        if (!t.ok()) {
          Error(node, path, std::string(t.status().message()));
          return;
        }
        auto* out = static_cast<google::protobuf::Timestamp*>(message);
        const absl::Duration since_epoch = *t - absl::UnixEpoch();
        absl::Duration rem;
        const int64_t seconds =
            absl::IDivDuration(since_epoch, absl::Seconds(1), &rem);
        out->set_seconds(seconds);
        out->set_nanos(static_cast<int32_t>(rem / absl::Nanoseconds(1)));
      }
      return;
    }
    ConvertMessage(node, message, path);
  }

  // Parses a scalar node for `field`; on failure records an issue and
  // returns false.
  struct ScalarValue {
    int64_t i = 0;
    uint64_t u = 0;
    double d = 0;
    bool b = false;
    std::string s;
    const EnumValueDescriptor* e = nullptr;
  };

  bool ParseScalar(const YAML::Node& node, const FieldDescriptor* field,
                   const std::string& path, ScalarValue* out) {
    Record(node, path);
    if (!node.IsScalar()) {
      Error(node, path,
            absl::StrCat("expected a ", field->cpp_type_name(), ", got ",
                         NodeKindName(node)));
      return false;
    }
    const std::string& text = node.Scalar();
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        out->s = text;
        return true;
      case FieldDescriptor::CPPTYPE_BOOL: {
        const std::string lower = absl::AsciiStrToLower(text);
        if (lower == "true" || lower == "yes") {
          out->b = true;
          return true;
        }
        if (lower == "false" || lower == "no") {
          out->b = false;
          return true;
        }
        Error(node, path,
              absl::StrCat("expected true or false, got '", text, "'"));
        return false;
      }
      case FieldDescriptor::CPPTYPE_INT32:
      case FieldDescriptor::CPPTYPE_INT64: {
        int64_t v;
        const bool ok = absl::SimpleAtoi(text, &v) &&
                        (field->cpp_type() == FieldDescriptor::CPPTYPE_INT64 ||
                         (v >= std::numeric_limits<int32_t>::min() &&
                          v <= std::numeric_limits<int32_t>::max()));
        if (!ok) {
          Error(node, path,
                absl::StrCat("expected an integer, got '", text, "'"));
          return false;
        }
        out->i = v;
        return true;
      }
      case FieldDescriptor::CPPTYPE_UINT32:
      case FieldDescriptor::CPPTYPE_UINT64: {
        uint64_t v;
        const bool ok = absl::SimpleAtoi(text, &v) &&
                        (field->cpp_type() == FieldDescriptor::CPPTYPE_UINT64 ||
                         v <= std::numeric_limits<uint32_t>::max());
        if (!ok) {
          Error(node, path,
                absl::StrCat("expected a non-negative integer, got '", text,
                             "'"));
          return false;
        }
        out->u = v;
        return true;
      }
      case FieldDescriptor::CPPTYPE_DOUBLE:
      case FieldDescriptor::CPPTYPE_FLOAT: {
        double v;
        if (!absl::SimpleAtod(text, &v) || std::isnan(v)) {
          Error(node, path,
                absl::StrCat("expected a number, got '", text, "'"));
          return false;
        }
        out->d = v;
        return true;
      }
      case FieldDescriptor::CPPTYPE_ENUM: {
        out->e = FindEnumValue(field->enum_type(), text);
        if (out->e == nullptr) {
          Error(node, path,
                absl::StrCat(
                    "unknown ", field->enum_type()->name(), " '", text,
                    "'; allowed: ", AllowedEnumValues(field->enum_type())));
          return false;
        }
        return true;
      }
      case FieldDescriptor::CPPTYPE_MESSAGE:
        break;
    }
    Error(node, path, "unsupported field type");
    return false;
  }

  void SetScalar(const YAML::Node& node, Message* message,
                 const FieldDescriptor* field, const std::string& path) {
    if (node.IsNull()) {
      Record(node, path);
      return;
    }
    ScalarValue v;
    if (!ParseScalar(node, field, path, &v)) return;
    const Reflection* r = message->GetReflection();
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        r->SetString(message, field, std::move(v.s));
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        r->SetBool(message, field, v.b);
        break;
      case FieldDescriptor::CPPTYPE_INT32:
        r->SetInt32(message, field, static_cast<int32_t>(v.i));
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        r->SetInt64(message, field, v.i);
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        r->SetUInt32(message, field, static_cast<uint32_t>(v.u));
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        r->SetUInt64(message, field, v.u);
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        r->SetDouble(message, field, v.d);
        break;
      case FieldDescriptor::CPPTYPE_FLOAT:
        r->SetFloat(message, field, static_cast<float>(v.d));
        break;
      case FieldDescriptor::CPPTYPE_ENUM:
        r->SetEnum(message, field, v.e);
        break;
      case FieldDescriptor::CPPTYPE_MESSAGE:
        break;
    }
  }

  void AddScalar(const YAML::Node& node, Message* message,
                 const FieldDescriptor* field, const std::string& path) {
    ScalarValue v;
    if (node.IsNull()) {
      Error(node, path, "list items may not be empty");
      return;
    }
    if (!ParseScalar(node, field, path, &v)) return;
    const Reflection* r = message->GetReflection();
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        r->AddString(message, field, std::move(v.s));
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        r->AddBool(message, field, v.b);
        break;
      case FieldDescriptor::CPPTYPE_INT32:
        r->AddInt32(message, field, static_cast<int32_t>(v.i));
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        r->AddInt64(message, field, v.i);
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        r->AddUInt32(message, field, static_cast<uint32_t>(v.u));
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        r->AddUInt64(message, field, v.u);
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        r->AddDouble(message, field, v.d);
        break;
      case FieldDescriptor::CPPTYPE_FLOAT:
        r->AddFloat(message, field, static_cast<float>(v.d));
        break;
      case FieldDescriptor::CPPTYPE_ENUM:
        r->AddEnum(message, field, v.e);
        break;
      case FieldDescriptor::CPPTYPE_MESSAGE:
        break;
    }
  }

  void Record(const YAML::Node& node, const std::string& path) {
    if (source_map_ == nullptr) return;
    SourceMap::Entry entry;
    entry.position = Position(node);
    const size_t pos = node.Mark().pos;
    if (node.IsScalar() && pos < source_.size()) {
      const char c = source_[pos];
      if (c == '"' || c == '\'') {
        entry.style = SourceMap::ScalarStyle::kQuoted;
      } else if (c == '|' || c == '>') {
        entry.style = SourceMap::ScalarStyle::kBlock;
        entry.block_indent = BlockIndent(pos);
      }
    }
    source_map_->Add(path, entry);
  }

  // Column (1-based) of the first content line of the block scalar whose
  // indicator sits at `pos`.
  int BlockIndent(size_t pos) const {
    size_t line_start = source_.find('\n', pos);
    while (line_start != absl::string_view::npos) {
      ++line_start;
      size_t col = 0;
      while (line_start + col < source_.size() &&
             source_[line_start + col] == ' ') {
        ++col;
      }
      if (line_start + col < source_.size() &&
          source_[line_start + col] != '\n') {
        return static_cast<int>(col) + 1;
      }
      line_start = source_.find('\n', line_start);
    }
    return 1;
  }

  static SourcePosition Position(const YAML::Node& node) {
    const YAML::Mark mark = node.Mark();
    if (mark.is_null()) return {};
    return {mark.line + 1, mark.column + 1};
  }

  void Error(const YAML::Node& node, const std::string& path,
             std::string message) {
    v1::PolicyIssue issue;
    issue.set_severity(v1::ISSUE_SEVERITY_ERROR);
    issue.set_file(std::string(filename_));
    const SourcePosition pos = Position(node);
    issue.set_line(pos.line);
    issue.set_column(pos.column);
    issue.set_element(element_);
    issue.set_path(path);
    issue.set_message(std::move(message));
    issues_->push_back(std::move(issue));
    ++errors_;
  }

 public:
  int errors() const { return errors_; }

 private:
  static const EnumValueDescriptor* FindEnumValue(const EnumDescriptor* type,
                                                  absl::string_view text) {
    const std::string upper = absl::AsciiStrToUpper(text);
    if (const EnumValueDescriptor* v = type->FindValueByName(upper)) return v;
    const std::string prefix = EnumPrefix(type);
    if (!prefix.empty()) {
      return type->FindValueByName(absl::StrCat(prefix, upper));
    }
    return nullptr;
  }

  absl::string_view source_;
  absl::string_view filename_;
  SourceMap* source_map_;
  std::vector<v1::PolicyIssue>* issues_;
  std::string element_;
  int errors_ = 0;
};

}  // namespace

void SourceMap::Add(std::string path, Entry entry) {
  entries_.insert_or_assign(std::move(path), entry);
}

SourcePosition SourceMap::Find(absl::string_view path) const {
  while (true) {
    auto it = entries_.find(path);
    if (it != entries_.end()) return it->second.position;
    const size_t cut = path.find_last_of(".[");
    if (cut == absl::string_view::npos || cut == 0) return {};
    path = path.substr(0, cut);
  }
}

SourcePosition SourceMap::Resolve(absl::string_view path, int line,
                                  int column) const {
  auto it = entries_.find(path);
  if (it == entries_.end()) return Find(path);
  const Entry& e = it->second;
  if (e.position.line == 0) return e.position;
  switch (e.style) {
    case ScalarStyle::kPlain:
      if (line <= 1) return {e.position.line, e.position.column + column - 1};
      return {e.position.line + line - 1, column};
    case ScalarStyle::kQuoted:
      if (line <= 1) return {e.position.line, e.position.column + column};
      return {e.position.line + line - 1, column};
    case ScalarStyle::kBlock:
      return {e.position.line + std::max(line, 1), e.block_indent + column - 1};
  }
  return e.position;
}

absl::Status YamlToMessage(absl::string_view yaml, absl::string_view filename,
                           google::protobuf::Message* message,
                           SourceMap* source_map,
                           std::vector<v1::PolicyIssue>* issues) {
  message->Clear();
  std::vector<v1::PolicyIssue> local;
  if (issues == nullptr) issues = &local;
  const size_t first_issue = issues->size();
  // Every error is an issue, so that a caller that prints the issues (as
  // treatctl does) shows why the document was refused.
  const auto document_error = [&](const YAML::Mark& mark, std::string message) {
    v1::PolicyIssue issue;
    issue.set_severity(v1::ISSUE_SEVERITY_ERROR);
    issue.set_file(std::string(filename));
    issue.set_line(mark.is_null() ? 1 : mark.line + 1);
    issue.set_column(mark.is_null() ? 1 : mark.column + 1);
    issue.set_message(std::move(message));
    issues->push_back(std::move(issue));
    return absl::InvalidArgumentError(FormatIssues(std::vector<v1::PolicyIssue>(
        issues->begin() + first_issue, issues->end())));
  };
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return document_error(e.mark, absl::StrCat("YAML syntax error: ", e.msg));
  }
  Converter converter(yaml, filename, source_map, issues);
  if (!root.IsDefined() || root.IsNull()) {
    return document_error(YAML::Mark::null_mark(),
                          "empty document: expected a mapping of fields");
  }
  try {
    converter.ConvertMessage(root, message, "");
  } catch (const YAML::Exception& e) {
    return document_error(e.mark, absl::StrCat("YAML error: ", e.msg));
  }
  if (converter.errors() > 0) {
    std::vector<v1::PolicyIssue> mine(issues->begin() + first_issue,
                                      issues->end());
    return absl::InvalidArgumentError(FormatIssues(mine));
  }
  return absl::OkStatus();
}

std::string FormatIssues(const std::vector<v1::PolicyIssue>& issues) {
  std::string out;
  for (const v1::PolicyIssue& issue : issues) {
    if (!out.empty()) out.push_back('\n');
    absl::StrAppend(
        &out, issue.file(), ":", issue.line(), ":", issue.column(), ": ",
        issue.severity() == v1::ISSUE_SEVERITY_WARNING ? "warning" : "error",
        ": ");
    if (!issue.element().empty())
      absl::StrAppend(&out, "[", issue.element(), "] ");
    if (!issue.path().empty()) absl::StrAppend(&out, issue.path(), ": ");
    absl::StrAppend(&out, issue.message());
  }
  return out;
}

}  // namespace treatd
