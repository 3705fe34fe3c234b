// The names policy expressions resolve (expr::Env): `now`, lets,
// `tables.<name>`, `risk.inherent`/`risk.residual`, `intel.*` and the fields
// of treatd.v1.Finding with their typed accessors.
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
namespace {

const expr::StringMap* FindingAttributes(const google::protobuf::Message& m) {
  return &static_cast<const v1::Finding&>(m).attributes();
}
const expr::StringMap* AssetLabels(const google::protobuf::Message& m) {
  return &static_cast<const v1::Asset&>(m).labels();
}

}  // namespace

const google::protobuf::Descriptor* PolicyCompiler::root() const {
  return v1::Finding::descriptor();
}

absl::StatusOr<Binding> PolicyCompiler::Lookup(absl::string_view name) {
  if (name == "now")
    return Binding{Binding::Kind::kNow, 0, Type::Of(ValueKind::kTimestamp)};
  if (absl::StartsWith(name, "tables.")) {
    const std::string table(name.substr(7));
    auto it = table_slot_by_name_.find(table);
    if (it == table_slot_by_name_.end()) {
      return absl::NotFoundError(absl::StrCat(
          "unknown table '", table, "'; tables: ",
          table_names_.empty() ? "(none)" : absl::StrJoin(table_names_, ", ")));
    }
    NoteRef(it->second);
    return Binding{Binding::Kind::kSlot, it->second,
                   Type::Of(ValueKind::kString)};
  }
  if (absl::StartsWith(name, "risk.")) {
    const absl::string_view which = name.substr(5);
    if (which != "inherent" && which != "residual") {
      return absl::NotFoundError(
          absl::StrCat("unknown risk score '", which,
                       "'; use risk.inherent or risk.residual"));
    }
    const int slot =
        which == "inherent" ? out_->inherent_slot : out_->residual_slot;
    NoteRef(slot);
    return Binding{Binding::Kind::kSlot, slot, Type::Of(ValueKind::kDouble)};
  }
  if (absl::StartsWith(name, "intel.")) return LookUpIntel(name);
  auto it = lets_.find(std::string(name));
  if (it == lets_.end()) return absl::NotFoundError(name);
  LetInfo& let = it->second;
  NoteRef(let.slot);
  if (let.state == LetState::kUnchecked) CompileLet(it->first);
  // A let still being checked is part of a cycle; CheckCycles() reports
  // it, so the reference is typed as "already reported" here.
  return Binding{Binding::Kind::kSlot, let.slot,
                 let.state == LetState::kDone ? let.type : Type()};
}

bool PolicyCompiler::IsNamespace(absl::string_view name) const {
  return name == "tables" || name == "risk" || name == "intel";
}

expr::MapGetter PolicyCompiler::MapGetterFor(
    const FieldDescriptor* field) const {
  if (field == v1::Finding::descriptor()->FindFieldByName("attributes")) {
    return &FindingAttributes;
  }
  if (field == v1::Asset::descriptor()->FindFieldByName("labels")) {
    return &AssetLabels;
  }
  return nullptr;
}

expr::FieldAccessor PolicyCompiler::AccessorFor(
    const FieldDescriptor* field) const {
  return FindingFieldAccessor(field);
}

void PolicyCompiler::NoteRef(int slot) {
  if (current_slot_ >= 0) edges_[current_slot_].insert(slot);
}

absl::StatusOr<Binding> PolicyCompiler::LookUpIntel(absl::string_view name) {
  struct Known {
    absl::string_view name;
    Slot::IntelValue value;
    ValueKind kind;
  };
  static constexpr Known kKnown[] = {
      {"intel.stale", Slot::IntelValue::kStale, ValueKind::kBool},
      {"intel.kev_age", Slot::IntelValue::kKevAge, ValueKind::kDuration},
      {"intel.epss_age", Slot::IntelValue::kEpssAge, ValueKind::kDuration},
  };
  for (const Known& known : kKnown) {
    if (known.name != name) continue;
    for (size_t i = 0; i < out_->slots.size(); ++i) {
      if (out_->slots[i].kind == Slot::Kind::kIntel &&
          out_->slots[i].intel == known.value) {
        return Binding{Binding::Kind::kSlot, static_cast<int>(i),
                       Type::Of(known.kind)};
      }
    }
    const int slot = AddSlot(Slot::Kind::kIntel, std::string(name));
    out_->slots[slot].intel = known.value;
    return Binding{Binding::Kind::kSlot, slot, Type::Of(known.kind)};
  }
  return absl::NotFoundError(
      absl::StrCat("unknown intel value '", name.substr(6),
                   "'; use intel.stale, intel.kev_age or intel.epss_age"));
}

}  // namespace treatd::internal
