#include "common/assets/inventory.h"

#include <fnmatch.h>

#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/assets/enum_text.h"
#include "common/csv/csv.h"
#include "common/io/read_file.h"
#include "common/status/status_macros.h"
#include "yaml-cpp/yaml.h"

namespace treatd::assets {
namespace {

// More problems than this in one file are summarised, not listed.
constexpr size_t kMaxProblems = 50;

absl::Status ProblemsToStatus(absl::string_view filename,
                              const std::vector<std::string>& problems) {
  if (problems.empty()) return absl::OkStatus();
  std::string message = absl::StrCat(
      filename, ": invalid asset inventory (", problems.size(),
      problems.size() == 1 ? " problem" : " problems", "):\n",
      absl::StrJoin(problems.begin(),
                    problems.begin() + static_cast<std::ptrdiff_t>(std::min(
                                           problems.size(), kMaxProblems)),
                    "\n"));
  if (problems.size() > kMaxProblems) {
    absl::StrAppend(&message, "\n... and ", problems.size() - kMaxProblems,
                    " more");
  }
  return absl::InvalidArgumentError(message);
}

// Sets the enum field `what` of `asset` from `text`.
absl::Status SetAssetEnum(absl::string_view what, absl::string_view text,
                          v1::Asset* asset) {
  if (what == "type") {
    TREATD_ASSIGN_OR_RETURN(
        int value,
        internal::ParseEnumText(*v1::AssetType_descriptor(), "type", text));
    asset->set_type(static_cast<v1::AssetType>(value));
  } else if (what == "environment") {
    TREATD_ASSIGN_OR_RETURN(
        int value, internal::ParseEnumText(*v1::Environment_descriptor(),
                                           "environment", text));
    asset->set_environment(static_cast<v1::Environment>(value));
  } else if (what == "criticality") {
    TREATD_ASSIGN_OR_RETURN(
        int value, internal::ParseEnumText(*v1::Criticality_descriptor(),
                                           "criticality", text));
    asset->set_criticality(static_cast<v1::Criticality>(value));
  } else if (what == "exposure") {
    TREATD_ASSIGN_OR_RETURN(
        int value,
        internal::ParseEnumText(*v1::Exposure_descriptor(), "exposure", text));
    asset->set_exposure(static_cast<v1::Exposure>(value));
  } else {
    TREATD_ASSIGN_OR_RETURN(
        int value, internal::ParseEnumText(*v1::DataClassification_descriptor(),
                                           "data_classification", text));
    asset->set_data_classification(static_cast<v1::DataClassification>(value));
  }
  return absl::OkStatus();
}

// Sets the enum field `key` (type or effectiveness) of `control`.
absl::Status SetControlEnum(absl::string_view key, absl::string_view text,
                            v1::CompensatingControl* control) {
  if (key == "type") {
    TREATD_ASSIGN_OR_RETURN(
        int value, internal::ParseEnumText(*v1::ControlType_descriptor(),
                                           "control type", text));
    control->set_type(static_cast<v1::ControlType>(value));
  } else {
    TREATD_ASSIGN_OR_RETURN(
        int value,
        internal::ParseEnumText(*v1::ControlEffectiveness_descriptor(),
                                "control effectiveness", text));
    control->set_effectiveness(static_cast<v1::ControlEffectiveness>(value));
  }
  return absl::OkStatus();
}

bool IsAssetEnumKey(absl::string_view key) {
  return key == "type" || key == "environment" || key == "criticality" ||
         key == "exposure" || key == "data_classification";
}

// ---------------------------------------------------------------- YAML ---

class YamlReader {
 public:
  explicit YamlReader(absl::string_view filename) : filename_(filename) {}

  std::vector<AssetEntry> Read(const YAML::Node& root) {
    std::vector<AssetEntry> entries;
    if (!root.IsMap()) {
      Problem(root, "expected a mapping with an \"assets\" list");
      return entries;
    }
    YAML::Node list;
    for (const auto& item : root) {
      std::string key = KeyOf(item.first);
      if (key == "assets") {
        list = item.second;
      } else {
        Problem(item.first,
                absl::StrCat("unknown key \"", key, "\"; allowed: assets"));
      }
    }
    if (!list.IsDefined() || list.IsNull()) {
      Problem(root, "missing \"assets\" list");
      return entries;
    }
    if (!list.IsSequence()) {
      Problem(list, "\"assets\" must be a list of entries");
      return entries;
    }
    for (size_t i = 0; i < list.size(); ++i) {
      entries.push_back(ReadEntry(list[i], i));
    }
    return entries;
  }

  const std::vector<std::string>& problems() const { return problems_; }

 private:
  std::string Where(const YAML::Node& node) const {
    YAML::Mark mark = node.Mark();
    if (mark.is_null()) return std::string(filename_);
    return absl::StrCat(filename_, ":", mark.line + 1, ":", mark.column + 1);
  }

  void Problem(const YAML::Node& node, absl::string_view what) {
    problems_.push_back(absl::StrCat(Where(node), ": ", what));
  }

  std::string KeyOf(const YAML::Node& key) {
    if (!key.IsScalar()) {
      Problem(key, "mapping keys must be plain strings");
      return "";
    }
    return key.Scalar();
  }

  // A scalar's text, or a problem when `node` is not a scalar.
  bool ScalarOf(const YAML::Node& node, absl::string_view path,
                std::string* out) {
    if (!node.IsScalar()) {
      Problem(node, absl::StrCat(path, ": expected a single value"));
      return false;
    }
    *out = node.Scalar();
    return true;
  }

  // A scalar or a list of scalars.
  std::vector<std::string> StringList(const YAML::Node& node,
                                      absl::string_view path) {
    std::vector<std::string> values;
    std::string value;
    if (node.IsSequence()) {
      for (size_t i = 0; i < node.size(); ++i) {
        if (ScalarOf(node[i], absl::StrCat(path, "[", i, "]"), &value)) {
          values.push_back(value);
        }
      }
    } else if (ScalarOf(node, path, &value)) {
      values.push_back(value);
    }
    return values;
  }

  AssetEntry ReadEntry(const YAML::Node& node, size_t index) {
    AssetEntry entry;
    YAML::Mark mark = node.Mark();
    entry.origin = mark.is_null() ? std::string(filename_)
                                  : absl::StrCat(filename_, ":", mark.line + 1);
    std::string path = absl::StrCat("assets[", index, "]");
    if (!node.IsMap()) {
      Problem(node, absl::StrCat(path, ": expected a mapping"));
      return entry;
    }
    bool has_match = false;
    for (const auto& item : node) {
      std::string key = KeyOf(item.first);
      const YAML::Node& value = item.second;
      std::string field_path = absl::StrCat(path, ".", key);
      std::string text;
      if (key == "match") {
        has_match = true;
        entry.patterns = StringList(value, field_path);
        for (const std::string& pattern : entry.patterns) {
          if (absl::StripAsciiWhitespace(pattern).empty()) {
            Problem(value, absl::StrCat(field_path, ": empty pattern"));
          }
        }
      } else if (key == "id") {
        if (ScalarOf(value, field_path, &text)) entry.asset.set_id(text);
      } else if (key == "owner") {
        if (ScalarOf(value, field_path, &text)) entry.asset.set_owner(text);
      } else if (IsAssetEnumKey(key)) {
        if (ScalarOf(value, field_path, &text)) {
          absl::Status status = SetAssetEnum(key, text, &entry.asset);
          if (!status.ok()) {
            Problem(value, absl::StrCat(field_path, ": ", status.message()));
          }
        }
      } else if (key == "tags") {
        for (std::string& tag : StringList(value, field_path)) {
          entry.asset.add_tags(std::move(tag));
        }
      } else if (key == "labels") {
        ReadLabels(value, field_path, &entry.asset);
      } else if (key == "controls") {
        ReadControls(value, field_path, &entry.controls);
      } else {
        Problem(item.first,
                absl::StrCat(path, ": unknown key \"", key,
                             "\"; allowed: match, id, type, environment, "
                             "criticality, exposure, data_classification, "
                             "owner, tags, labels, controls"));
      }
    }
    if (!has_match) {
      Problem(node, absl::StrCat(path,
                                 ": missing \"match\" (a name, a glob or a "
                                 "list of them)"));
    }
    return entry;
  }

  void ReadLabels(const YAML::Node& node, absl::string_view path,
                  v1::Asset* asset) {
    if (!node.IsMap()) {
      Problem(node, absl::StrCat(path, ": expected a mapping of key: value"));
      return;
    }
    for (const auto& item : node) {
      std::string key = KeyOf(item.first);
      std::string value;
      if (ScalarOf(item.second, absl::StrCat(path, ".", key), &value)) {
        (*asset->mutable_labels())[key] = value;
      }
    }
  }

  void ReadControls(const YAML::Node& node, absl::string_view path,
                    std::vector<v1::CompensatingControl>* controls) {
    if (!node.IsSequence()) {
      Problem(node, absl::StrCat(path, ": expected a list of controls"));
      return;
    }
    for (size_t i = 0; i < node.size(); ++i) {
      const YAML::Node& item = node[i];
      std::string item_path = absl::StrCat(path, "[", i, "]");
      if (!item.IsMap()) {
        Problem(item, absl::StrCat(item_path, ": expected a mapping"));
        continue;
      }
      v1::CompensatingControl control;
      bool has_type = false;
      bool has_effectiveness = false;
      for (const auto& field : item) {
        std::string key = KeyOf(field.first);
        std::string field_path = absl::StrCat(item_path, ".", key);
        std::string text;
        if (key != "type" && key != "effectiveness" && key != "description" &&
            key != "reference") {
          Problem(field.first, absl::StrCat(item_path, ": unknown key \"", key,
                                            "\"; allowed: type, effectiveness, "
                                            "description, reference"));
          continue;
        }
        if (!ScalarOf(field.second, field_path, &text)) continue;
        if (key == "description") {
          control.set_description(text);
        } else if (key == "reference") {
          control.set_reference(text);
        } else {
          absl::Status status = SetControlEnum(key, text, &control);
          if (!status.ok()) {
            Problem(field.second,
                    absl::StrCat(field_path, ": ", status.message()));
          }
          (key == "type" ? has_type : has_effectiveness) = true;
        }
      }
      if (!has_type || !has_effectiveness) {
        Problem(item, absl::StrCat(item_path,
                                   ": a control needs \"type\" and "
                                   "\"effectiveness\""));
      }
      controls->push_back(std::move(control));
    }
  }

 private:
  absl::string_view filename_;
  std::vector<std::string> problems_;
};

// ----------------------------------------------------------------- CSV ---

constexpr absl::string_view kCsvColumns[] = {"match",
                                             "id",
                                             "type",
                                             "environment",
                                             "criticality",
                                             "exposure",
                                             "data_classification",
                                             "owner",
                                             "tags",
                                             "labels",
                                             "controls"};

// "a; b;;c" → {"a", "b", "c"}.
std::vector<std::string> SplitList(absl::string_view cell) {
  std::vector<std::string> values;
  for (absl::string_view part : absl::StrSplit(cell, ';')) {
    part = absl::StripAsciiWhitespace(part);
    if (!part.empty()) values.emplace_back(part);
  }
  return values;
}

// Parses one CSV cell into `entry`; returns the problem, if any.
absl::Status ApplyCsvCell(absl::string_view column, absl::string_view cell,
                          AssetEntry* entry) {
  std::string text(absl::StripAsciiWhitespace(cell));
  if (column == "match") {
    entry->patterns = SplitList(text);
    if (entry->patterns.empty()) {
      return absl::InvalidArgumentError(
          "empty; an entry needs a name or glob to match");
    }
  } else if (text.empty()) {
    // An empty cell states nothing: the finding keeps what it has.
  } else if (column == "id") {
    entry->asset.set_id(text);
  } else if (column == "owner") {
    entry->asset.set_owner(text);
  } else if (IsAssetEnumKey(column)) {
    return SetAssetEnum(column, text, &entry->asset);
  } else if (column == "tags") {
    for (std::string& tag : SplitList(text)) {
      entry->asset.add_tags(std::move(tag));
    }
  } else if (column == "labels") {
    for (const std::string& pair : SplitList(text)) {
      size_t equals = pair.find('=');
      if (equals == std::string::npos || equals == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("label \"", pair,
                         "\" is not key=value (labels are "
                         "\"key=value;key=value\")"));
      }
      (*entry->asset.mutable_labels())[std::string(absl::StripAsciiWhitespace(
          absl::string_view(pair).substr(0, equals)))] =
          std::string(absl::StripAsciiWhitespace(
              absl::string_view(pair).substr(equals + 1)));
    }
  } else if (column == "controls") {
    for (const std::string& text_control : SplitList(text)) {
      std::vector<absl::string_view> parts =
          absl::StrSplit(text_control, absl::MaxSplits(':', 2));
      if (parts.size() < 2) {
        return absl::InvalidArgumentError(
            absl::StrCat("control \"", text_control,
                         "\" is not type:effectiveness[:description] (e.g. "
                         "\"waf:full:WAF rule 942100\")"));
      }
      v1::CompensatingControl control;
      TREATD_RETURN_IF_ERROR(SetControlEnum(
          "type", absl::StripAsciiWhitespace(parts[0]), &control));
      TREATD_RETURN_IF_ERROR(SetControlEnum(
          "effectiveness", absl::StripAsciiWhitespace(parts[1]), &control));
      if (parts.size() == 3) {
        control.set_description(
            std::string(absl::StripAsciiWhitespace(parts[2])));
      }
      entry->controls.push_back(std::move(control));
    }
  }
  return absl::OkStatus();
}

int FnmatchFlags() { return FNM_CASEFOLD; }

}  // namespace

bool IsGlob(absl::string_view pattern) {
  return pattern.find_first_of("*?[") != absl::string_view::npos;
}

AssetInventory::AssetInventory(std::vector<AssetEntry> entries)
    : entries_(std::move(entries)) {
  for (size_t e = 0; e < entries_.size(); ++e) {
    for (size_t p = 0; p < entries_[e].patterns.size(); ++p) {
      const std::string& pattern = entries_[e].patterns[p];
      if (IsGlob(pattern)) {
        globs_.emplace_back(e, p);
      } else {
        exact_.try_emplace(absl::AsciiStrToLower(pattern), e, p);
      }
    }
  }
}

absl::StatusOr<AssetInventory> AssetInventory::Create(
    std::vector<AssetEntry> entries) {
  std::vector<std::string> problems;
  for (size_t e = 0; e < entries.size(); ++e) {
    const AssetEntry& entry = entries[e];
    std::string where =
        entry.origin.empty() ? absl::StrCat("entry ", e) : entry.origin;
    if (entry.patterns.empty()) {
      problems.push_back(absl::StrCat(where, ": entry has no match pattern"));
    }
    for (const std::string& pattern : entry.patterns) {
      if (absl::StripAsciiWhitespace(pattern).empty()) {
        problems.push_back(absl::StrCat(where, ": empty match pattern"));
      }
    }
  }
  if (!problems.empty()) return ProblemsToStatus("asset inventory", problems);
  return AssetInventory(std::move(entries));
}

absl::StatusOr<AssetInventory> AssetInventory::FromYaml(
    absl::string_view yaml, absl::string_view filename) {
  YamlReader reader(filename);
  std::vector<AssetEntry> entries;
  // yaml-cpp reports syntax errors and bad conversions by throwing; this is
  // the boundary where they become a Status.
  try {
    YAML::Node root = YAML::Load(std::string(yaml));
    entries = reader.Read(root);
  } catch (const YAML::Exception& e) {
    std::string where(filename);
    if (!e.mark.is_null()) {
      absl::StrAppend(&where, ":", e.mark.line + 1, ":", e.mark.column + 1);
    }
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": invalid YAML: ", e.msg));
  }
  TREATD_RETURN_IF_ERROR(ProblemsToStatus(filename, reader.problems()));
  return Create(std::move(entries));
}

absl::StatusOr<AssetInventory> AssetInventory::FromCsv(
    absl::string_view text, absl::string_view filename) {
  std::istringstream in{std::string(text)};
  csv::CsvReader reader(&in, filename);
  std::vector<std::string> header;
  TREATD_ASSIGN_OR_RETURN(bool has_header, reader.ReadRecord(&header));
  if (!has_header) {
    return absl::InvalidArgumentError(absl::StrCat(
        filename, ": empty file; expected a header row naming the columns"));
  }
  std::vector<std::string> problems;
  bool has_match_column = false;
  for (size_t i = 0; i < header.size(); ++i) {
    std::string& name = header[i];
    name = absl::AsciiStrToLower(absl::StripAsciiWhitespace(name));
    bool known = false;
    for (absl::string_view column : kCsvColumns) known |= (column == name);
    if (!known) {
      problems.push_back(absl::StrCat(
          filename, ":1: column ", i + 1, " \"", name,
          "\": unknown column; allowed: ", absl::StrJoin(kCsvColumns, ", ")));
    }
    for (size_t j = 0; j < i; ++j) {
      if (header[j] == name) {
        problems.push_back(absl::StrCat(filename, ":1: column ", i + 1, " \"",
                                        name, "\": duplicate column"));
      }
    }
    has_match_column |= (name == "match");
  }
  if (!has_match_column) {
    problems.push_back(
        absl::StrCat(filename, ":1: the header has no \"match\" column"));
  }
  TREATD_RETURN_IF_ERROR(ProblemsToStatus(filename, problems));

  std::vector<AssetEntry> entries;
  std::vector<std::string> cells;
  while (true) {
    TREATD_ASSIGN_OR_RETURN(bool more, reader.ReadRecord(&cells));
    if (!more) break;
    if (cells.size() == 1 && absl::StripAsciiWhitespace(cells[0]).empty()) {
      continue;  // Blank line.
    }
    if (cells.size() != header.size()) {
      problems.push_back(absl::StrCat(filename, ":", reader.record_line(), ": ",
                                      cells.size(), " cells, the header has ",
                                      header.size()));
      continue;
    }
    AssetEntry entry;
    entry.origin = absl::StrCat(filename, ":", reader.record_line());
    for (size_t i = 0; i < cells.size(); ++i) {
      absl::Status status = ApplyCsvCell(header[i], cells[i], &entry);
      if (!status.ok()) {
        problems.push_back(absl::StrCat(filename, ":", reader.record_line(),
                                        ": column ", header[i], ": ",
                                        status.message()));
      }
    }
    entries.push_back(std::move(entry));
  }
  TREATD_RETURN_IF_ERROR(ProblemsToStatus(filename, problems));
  return Create(std::move(entries));
}

absl::StatusOr<AssetInventory> AssetInventory::Load(const std::string& path) {
  TREATD_ASSIGN_OR_RETURN(std::string contents,
                          ReadFileToString(path, "asset inventory"));
  if (absl::EndsWithIgnoreCase(path, ".csv")) {
    return FromCsv(contents, path);
  }
  return FromYaml(contents, path);
}

std::pair<const AssetEntry*, absl::string_view> AssetInventory::FindExact(
    absl::string_view name) const {
  auto it = exact_.find(absl::AsciiStrToLower(name));
  if (it == exact_.end()) return {nullptr, ""};
  const AssetEntry& entry = entries_[it->second.first];
  return {&entry, entry.patterns[it->second.second]};
}

std::pair<const AssetEntry*, absl::string_view> AssetInventory::FindGlob(
    absl::string_view name) const {
  std::string text(name);
  for (const auto& [e, p] : globs_) {
    const AssetEntry& entry = entries_[e];
    if (fnmatch(entry.patterns[p].c_str(), text.c_str(), FnmatchFlags()) == 0) {
      return {&entry, entry.patterns[p]};
    }
  }
  return {nullptr, ""};
}

const AssetEntry* AssetInventory::Match(absl::string_view name) const {
  if (name.empty()) return nullptr;
  auto exact = FindExact(name);
  if (exact.first != nullptr) return exact.first;
  return FindGlob(name).first;
}

AssetMatch AssetInventory::MatchFinding(const v1::Finding& finding) const {
  std::vector<absl::string_view> names;
  for (const std::string* name :
       {&finding.asset().name(), &finding.asset().id()}) {
    if (!name->empty()) names.push_back(*name);
  }
  auto target = finding.attributes().find("import.target");
  if (target != finding.attributes().end() && !target->second.empty()) {
    names.push_back(target->second);
  }
  for (bool glob : {false, true}) {
    for (absl::string_view name : names) {
      auto [entry, pattern] = glob ? FindGlob(name) : FindExact(name);
      if (entry != nullptr) return {entry, pattern, std::string(name)};
    }
  }
  return {};
}

}  // namespace treatd::assets
