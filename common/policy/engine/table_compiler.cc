// Decision tables at compile time: each cell parsed for its input's type,
// the coverage warning for combinations no row matches, and the dense row
// index CompiledTable::FindRow() reads at evaluation time.
#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/expr/checker/checker.h"
#include "common/expr/parser/parser.h"
#include "common/policy/engine/finding_accessors.h"
#include "common/policy/engine/policy_compiler_internal.h"
#include "google/protobuf/util/time_util.h"
#include "treatd/v1/finding.pb.h"

namespace treatd::internal {

bool PolicyCompiler::ParseCell(const std::string& text, const Type& type,
                               CompiledTable::Cell* cell, std::string* why) {
  if (text == "*") {
    cell->any = true;
    return true;
  }
  switch (type.kind) {
    case ValueKind::kBool: {
      const std::string lower = absl::AsciiStrToLower(text);
      if (lower == "yes" || lower == "true") {
        cell->value = expr::Value::Bool(true);
      } else if (lower == "no" || lower == "false") {
        cell->value = expr::Value::Bool(false);
      } else {
        *why = "use yes/no, true/false or *";
        return false;
      }
      return true;
    }
    case ValueKind::kInt: {
      int64_t i = 0;
      if (!absl::SimpleAtoi(text, &i)) {
        *why = "use an integer or *";
        return false;
      }
      cell->value = expr::Value::Int(i);
      return true;
    }
    case ValueKind::kEnum: {
      const auto* v = expr::FindEnumValue(type.enum_type, text);
      if (v == nullptr) {
        std::vector<std::string> names;
        for (int i = 0; i < type.enum_type->value_count(); ++i) {
          names.emplace_back(expr::EnumShortName(
              type.enum_type, type.enum_type->value(i)->number()));
        }
        *why = absl::StrCat("not a value of ", type.enum_type->full_name(),
                            "; values: ", absl::StrJoin(names, ", "), " or *");
        return false;
      }
      cell->value = expr::Value::Enum(v->number(), type.enum_type);
      return true;
    }
    case ValueKind::kString:
      cell->text = text;
      return true;  // The Value is set once the cell has its final home.
    default:
      *why = "the input's type cannot be used in a table";
      return false;
  }
}

void PolicyCompiler::CompileTables() {
  for (int i = 0; i < policy_.tables_size(); ++i) {
    const v1::DecisionTable& t = policy_.tables(i);
    const std::string path = absl::StrCat("tables[", i, "]");
    auto slot_it = table_slot_by_name_.find(t.name());
    const bool declared = slot_it != table_slot_by_name_.end() &&
                          out_->slots[slot_it->second].table < 0;
    const int slot = declared ? slot_it->second : -1;
    const int saved = current_slot_;
    current_slot_ = slot;
    CompiledTable ct;
    ct.name = t.name();
    ct.default_outcome = t.default_();
    if (t.inputs_size() == 0) {
      Error(path + ".inputs", t.name(), "a table needs at least one input");
    }
    bool inputs_ok = true;
    for (int j = 0; j < t.inputs_size(); ++j) {
      const v1::TableInput& in = t.inputs(j);
      const std::string ipath = absl::StrCat(path, ".inputs[", j, "]");
      CompiledTable::Input input;
      input.name = in.name();
      if (in.name().empty()) {
        Error(ipath + ".name", t.name(), "a table input needs a name");
      }
      if (in.expr().empty()) {
        Error(ipath + ".expr", t.name(), "a table input needs an expr");
        inputs_ok = false;
      } else {
        input.program = CompileExpr(in.expr(), ipath + ".expr", t.name(),
                                    std::nullopt, &input.type);
        if (input.program == nullptr) {
          inputs_ok = false;
        } else if (input.type.kind != ValueKind::kBool &&
                   input.type.kind != ValueKind::kString &&
                   input.type.kind != ValueKind::kInt &&
                   input.type.kind != ValueKind::kEnum) {
          Error(ipath + ".expr", t.name(),
                absl::StrCat("a table input must be bool, string, int or "
                             "an enum, got ",
                             input.type.Name()));
          inputs_ok = false;
        }
      }
      ct.inputs.push_back(std::move(input));
    }
    current_slot_ = saved;
    if (t.rows_size() == 0) {
      Error(path + ".rows", t.name(), "a table needs at least one row");
    }
    for (int r = 0; r < t.rows_size(); ++r) {
      const v1::TableRow& row = t.rows(r);
      const std::string rpath = absl::StrCat(path, ".rows[", r, "]");
      CompiledTable::Row cr;
      cr.outcome = row.then();
      if (row.then().empty()) {
        Error(rpath + ".then", t.name(), "a table row needs a `then` outcome");
      }
      if (row.when_size() != t.inputs_size()) {
        Error(rpath + ".when", t.name(),
              absl::StrCat("row has ", row.when_size(),
                           " cell(s) but the "
                           "table has ",
                           t.inputs_size(), " input(s)"));
        ct.rows.push_back(std::move(cr));
        continue;
      }
      cr.cells.resize(row.when_size());
      for (int c = 0; c < row.when_size(); ++c) {
        if (!inputs_ok) break;
        std::string why;
        if (!ParseCell(row.when(c), ct.inputs[c].type, &cr.cells[c], &why)) {
          Error(absl::StrCat(rpath, ".when[", c, "]"), t.name(),
                absl::StrCat("cell '", row.when(c), "' for input '",
                             ct.inputs[c].name, "' (", ct.inputs[c].type.Name(),
                             "): ", why));
        }
      }
      ct.rows.push_back(std::move(cr));
    }
    // String cells point at their own text, now that rows stopped moving.
    for (auto& row : ct.rows) {
      for (auto& cell : row.cells) {
        if (!cell.any && !cell.text.empty()) {
          cell.value = expr::Value::String(cell.text);
        }
      }
    }
    if (inputs_ok && ct.default_outcome.empty() && t.rows_size() > 0) {
      CheckCoverage(ct, path);
    }
    if (inputs_ok) ct.BuildIndex();
    out_->tables.push_back(std::move(ct));
    out_->table_slots.push_back(slot);
    if (slot >= 0)
      out_->slots[slot].table = static_cast<int>(out_->tables.size()) - 1;
  }
}

void PolicyCompiler::CheckCoverage(const CompiledTable& t,
                                   const std::string& path) {
  // Each input's domain: every value of a bool or enum; for strings and
  // ints, the values the rows name plus one value that no row names.
  std::vector<std::vector<CompiledTable::Cell>> domains;
  size_t combinations = 1;
  for (size_t c = 0; c < t.inputs.size(); ++c) {
    const Type& type = t.inputs[c].type;
    std::vector<CompiledTable::Cell> domain;
    if (type.kind == ValueKind::kBool) {
      for (bool b : {false, true}) {
        CompiledTable::Cell cell;
        cell.value = expr::Value::Bool(b);
        domain.push_back(cell);
      }
    } else if (type.kind == ValueKind::kEnum) {
      for (int i = 0; i < type.enum_type->value_count(); ++i) {
        CompiledTable::Cell cell;
        cell.value = expr::Value::Enum(type.enum_type->value(i)->number(),
                                       type.enum_type);
        domain.push_back(cell);
      }
    } else {
      std::set<std::string> seen;
      for (const auto& row : t.rows) {
        if (c < row.cells.size() && !row.cells[c].any &&
            seen.insert(expr::ValueToString(row.cells[c].value)).second) {
          domain.push_back(row.cells[c]);
        }
      }
      CompiledTable::Cell other;
      other.any = true;  // Stands for "a value no row names".
      domain.push_back(other);
    }
    combinations *= domain.size();
    domains.push_back(std::move(domain));
  }
  constexpr size_t kMaxCombinations = 100000;
  if (combinations > kMaxCombinations) return;
  std::vector<size_t> index(domains.size(), 0);
  for (size_t n = 0; n < combinations; ++n) {
    size_t rest = n;
    for (size_t c = 0; c < domains.size(); ++c) {
      index[c] = rest % domains[c].size();
      rest /= domains[c].size();
    }
    bool covered = false;
    for (const auto& row : t.rows) {
      if (row.cells.size() != domains.size()) continue;
      bool all = true;
      for (size_t c = 0; c < domains.size() && all; ++c) {
        const auto& probe = domains[c][index[c]];
        all = row.cells[c].any ||
              (!probe.any && expr::ValueToString(row.cells[c].value) ==
                                 expr::ValueToString(probe.value));
      }
      if (all) {
        covered = true;
        break;
      }
    }
    if (!covered) {
      std::vector<std::string> example;
      for (size_t c = 0; c < domains.size(); ++c) {
        const auto& probe = domains[c][index[c]];
        example.push_back(absl::StrCat(
            t.inputs[c].name, "=",
            probe.any ? "(another value)" : expr::ValueToString(probe.value)));
      }
      Warning(path, t.name,
              absl::StrCat("rows do not cover every combination and the "
                           "table has no default; e.g. ",
                           absl::StrJoin(example, ", "),
                           " matches no row and fails the decision"));
      return;
    }
  }
}

}  // namespace treatd::internal

namespace treatd {

using expr::Value;

void CompiledTable::BuildIndex() {
  columns.clear();
  first_row.clear();
  // Beyond this many combinations (or rows times combinations to fill
  // them) the rows are scanned instead.
  constexpr size_t kMaxCombinations = 1 << 16;
  constexpr size_t kMaxWork = 1 << 24;
  std::vector<Column> built(inputs.size());
  size_t combinations = 1;
  for (size_t c = 0; c < inputs.size(); ++c) {
    for (const Row& row : rows) {
      if (row.cells.size() != inputs.size()) return;
      const Cell& cell = row.cells[c];
      if (cell.any) continue;
      bool seen = false;
      for (const Value& key : built[c].keys) {
        if (CellMatches(cell.value, key)) seen = true;
      }
      if (!seen) built[c].keys.push_back(cell.value);
    }
    built[c].stride = combinations;
    combinations *= built[c].keys.size() + 1;
    if (combinations > kMaxCombinations) return;
  }
  if (combinations * rows.size() > kMaxWork) return;
  std::vector<int> index(combinations, -1);
  for (size_t code = 0; code < combinations; ++code) {
    for (size_t r = 0; r < rows.size() && index[code] < 0; ++r) {
      bool match = true;
      for (size_t c = 0; c < inputs.size() && match; ++c) {
        const Cell& cell = rows[r].cells[c];
        if (cell.any) continue;
        const size_t key = code / built[c].stride % (built[c].keys.size() + 1);
        match = key < built[c].keys.size() &&
                CellMatches(cell.value, built[c].keys[key]);
      }
      if (match) index[code] = static_cast<int>(r);
    }
  }
  columns = std::move(built);
  first_row = std::move(index);
}

}  // namespace treatd
