// The decision core's projection of a finding (CoreProjection in
// compiled_policy_impl.h): which root fields, `now` and intel values the
// rules, priority expressions, exceptions, risk scores and tables can
// read, directly or through lets and tables. Computed once at compile
// time; evaluate.cc keys its cache of decision cores on these facts.
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/policy/engine/compiled_policy_impl.h"
#include "common/policy/engine/core_cache.h"

namespace treatd {
namespace {

using expr::Node;
using expr::Op;
using expr::ValueKind;

bool SamePath(const Node& a, const Node& b) {
  return a.op == b.op && a.path == b.path;
}

std::string PathText(const Node& node) {
  std::vector<std::string> names;
  for (const auto* field : node.path) names.push_back(field->name());
  std::string text = absl::StrJoin(names, ".");
  return node.op == Op::kHas ? absl::StrCat("has(", text, ")") : text;
}

// The constant strings `node` (a string field read) is compared with when
// its parent is ==, != or `in` a constant list; false for any other use.
bool ComparedWithConstants(const Node& node, const Node* parent,
                           std::vector<absl::string_view>* constants) {
  if (parent == nullptr || parent->kids.size() != 2) return false;
  const Node& other =
      parent->kids[0].get() == &node ? *parent->kids[1] : *parent->kids[0];
  if (other.op != Op::kConst) return false;
  switch (parent->op) {
    case Op::kEq:
    case Op::kNe:
      if (other.constant.kind() != ValueKind::kString) return false;
      constants->push_back(other.constant.string_value());
      return true;
    case Op::kInList: {
      if (parent->kids[0].get() != &node ||
          other.constant.kind() != ValueKind::kList) {
        return false;
      }
      for (size_t i = 0; i < other.constant.ListSize(); ++i) {
        const expr::Value item = other.constant.ListElement(i);
        if (item.kind() != ValueKind::kString) return false;
        constants->push_back(item.string_value());
      }
      return true;
    }
    default:
      return false;
  }
}

class ProjectionBuilder {
 public:
  explicit ProjectionBuilder(const CompiledPolicyImpl& policy)
      : policy_(policy), slot_seen_(policy.slots.size(), false) {}

  void AddProgram(const expr::Program* program) {
    if (program != nullptr) Visit(program->root(), nullptr);
  }
  void AddSlot(int slot) {
    if (slot < 0 || static_cast<size_t>(slot) >= slot_seen_.size() ||
        slot_seen_[slot]) {
      return;
    }
    slot_seen_[slot] = true;
    out_.slots.push_back(slot);
    const Slot& s = policy_.slots[slot];
    AddProgram(s.program.get());
    switch (s.kind) {
      case Slot::Kind::kTable:
        for (const auto& input : policy_.tables[s.table].inputs) {
          AddProgram(input.program.get());
        }
        break;
      case Slot::Kind::kRiskResidual:
        if (s.program == nullptr) AddSlot(policy_.inherent_slot);
        break;
      case Slot::Kind::kIntel:
        out_.reads_intel = true;
        break;
      default:
        break;
    }
  }

  CoreProjection Finish() {
    for (Read& read : reads_) {
      CoreProjection::Item item;
      item.node = read.node;
      item.atoms = read.atoms && read.node->op == Op::kField &&
                   read.node->kind == ValueKind::kString;
      if (item.atoms) item.constants = std::move(read.constants);
      out_.items.push_back(std::move(item));
    }
    // The finding's id is unique per finding: a key holding it never hits.
    out_.enabled = true;
    for (const auto& item : out_.items) {
      if (!item.atoms && item.node->op == Op::kField &&
          item.node->path.size() == 1 && item.node->path[0]->name() == "id") {
        out_.enabled = false;
      }
    }
    return std::move(out_);
  }

 private:
  struct Read {
    const Node* node;
    bool atoms;
    std::vector<absl::string_view> constants;
  };

  void Visit(const Node& node, const Node* parent) {
    switch (node.op) {
      case Op::kNow:
        out_.reads_now = true;
        break;
      case Op::kSlot:
        AddSlot(node.index);
        break;
      case Op::kField:
      case Op::kHas:
        if (node.kids.empty()) AddRead(node, parent);
        break;
      default:
        break;
    }
    for (const auto& kid : node.kids) Visit(*kid, &node);
  }

  void AddRead(const Node& node, const Node* parent) {
    std::vector<absl::string_view> constants;
    const bool atoms = ComparedWithConstants(node, parent, &constants);
    for (Read& read : reads_) {
      if (!SamePath(*read.node, node)) continue;
      read.atoms = read.atoms && atoms;
      read.constants.insert(read.constants.end(), constants.begin(),
                            constants.end());
      return;
    }
    reads_.push_back({&node, atoms, std::move(constants)});
  }

  const CompiledPolicyImpl& policy_;
  std::vector<bool> slot_seen_;
  std::vector<Read> reads_;
  CoreProjection out_;
};

}  // namespace

std::string CoreProjection::Describe() const {
  std::vector<std::string> parts;
  for (const Item& item : items) {
    std::string text = PathText(*item.node);
    if (item.atoms) {
      absl::StrAppend(&text, " (== ", item.constants.size(), " constants)");
    }
    parts.push_back(std::move(text));
  }
  if (reads_now) parts.push_back("now");
  if (reads_intel) parts.push_back("intel");
  return absl::StrJoin(parts, ", ");
}

void CoreProjection::BuildKey(expr::Frame& frame, const EvalOptions& options,
                              std::string* key) const {
  key->clear();
  key->append(reinterpret_cast<const char*>(&policy_id), sizeof(policy_id));
  for (const Item& item : items) {
    const expr::Value v = expr::EvaluateNode(*item.node, frame);
    if (item.atoms && v.kind() == ValueKind::kString) {
      uint32_t i = 0;
      while (i < item.constants.size() &&
             item.constants[i] != v.string_value()) {
        ++i;
      }
      // A tag no ValueKind uses, then which constant (or none) it equals.
      key->push_back(static_cast<char>(0x7f));
      key->append(reinterpret_cast<const char*>(&i), sizeof(i));
    } else {
      internal::AppendKeyValue(v, key);
    }
  }
  if (reads_now) internal::AppendKeyValue(frame.now(), key);
  if (reads_intel) {
    internal::AppendKeyValue(expr::Value::Bool(options.intel_stale), key);
    internal::AppendKeyValue(expr::Value::Duration(options.intel_kev_age), key);
    internal::AppendKeyValue(expr::Value::Duration(options.intel_epss_age),
                             key);
  }
}

void CompiledPolicyImpl::ComputeCoreProjection() {
  ProjectionBuilder builder(*this);
  // Everything Choose() (evaluate.cc) runs: every rule's condition and
  // priority expression and every exception's condition; then the risk
  // scores and the tables, which every decision reports.
  for (const CompiledRule& rule : rules) {
    builder.AddProgram(rule.when.get());
    builder.AddProgram(rule.priority_expr.get());
  }
  builder.AddProgram(default_rule.priority_expr.get());
  for (const CompiledException& e : exceptions)
    builder.AddProgram(e.when.get());
  builder.AddSlot(inherent_slot);
  builder.AddSlot(residual_slot);
  for (int slot : table_slots) builder.AddSlot(slot);
  core_projection = builder.Finish();
  static std::atomic<uint64_t> next_policy_id{1};
  core_projection.policy_id = next_policy_id.fetch_add(1);
}

}  // namespace treatd
