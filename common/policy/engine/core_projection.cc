// The decision core's projection of a finding (CoreProjection in
// compiled_policy_impl.h): which root fields, `now` and intel values the
// rules, priority expressions, exceptions, risk scores and tables can
// read, directly or through lets and tables. Computed once at compile
// time; evaluate.cc keys its cache of decision cores on these facts.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/policy/engine/compiled_policy_impl.h"
#include "common/policy/engine/core_cache.h"
#include "common/policy/engine/decision_id.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "treatd/v1/finding.pb.h"

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

// The fastest way BuildKey() can read `node` (see CoreProjection::Item).
CoreProjection::Item::Read HowToRead(const Node& node) {
  using Read = CoreProjection::Item::Read;
  const size_t n = node.path.size();
  // Repeated fields have no accessors; this one is read through the
  // generated class.
  if (n == 1 && node.op == Op::kField &&
      node.path[0] ==
          v1::Finding::descriptor()->FindFieldByName("compensating_controls")) {
    return Read::kControls;
  }
  if (n == 0 || node.accessors.size() != n || node.map_getter != nullptr) {
    return Read::kNode;
  }
  for (size_t i = 0; i + 1 < n; ++i) {
    if (node.accessors[i].message == nullptr) return Read::kNode;
  }
  const expr::FieldAccessor& leaf = node.accessors.back();
  const google::protobuf::FieldDescriptor* field = node.path.back();
  if (node.op == Op::kHas) {
    return leaf.has != nullptr ? Read::kHas : Read::kNode;
  }
  if (field->is_repeated()) return Read::kNode;
  if (leaf.scalar != nullptr) return Read::kScalar;
  if (leaf.enum_number != nullptr) return Read::kEnum;
  // Generated Timestamp and Duration fields (the accessor hands out the
  // generated class, which BuildKey() reads as a Timestamp).
  const google::protobuf::Descriptor* type = field->message_type();
  if (leaf.message != nullptr && type != nullptr) {
    if (type == google::protobuf::Timestamp::descriptor()) {
      return Read::kTimestamp;
    }
    if (type == google::protobuf::Duration::descriptor()) {
      return Read::kDuration;
    }
  }
  return Read::kNode;
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
        switch (s.intel) {
          case Slot::IntelValue::kStale:
            out_.reads_intel_stale = true;
            break;
          case Slot::IntelValue::kKevAge:
            out_.reads_kev_age = true;
            break;
          case Slot::IntelValue::kEpssAge:
            out_.reads_epss_age = true;
            break;
        }
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
      item.read = HowToRead(*read.node);
      if (item.read != CoreProjection::Item::Read::kNode &&
          item.read != CoreProjection::Item::Read::kControls) {
        item.accessors = read.node->accessors.data();
        item.hops = static_cast<uint8_t>(read.node->path.size() - 1);
      }
      out_.items.push_back(std::move(item));
    }
    // By path, so that fields of one message follow each other; each
    // item's parent is then walked to once.
    auto numbers = [](const CoreProjection::Item& item) {
      std::vector<int> path;
      for (const auto* field : item.node->path) path.push_back(field->number());
      path.push_back(item.node->op == Op::kHas ? 0 : 1);
      return path;
    };
    std::stable_sort(
        out_.items.begin(), out_.items.end(),
        [&](const auto& a, const auto& b) { return numbers(a) < numbers(b); });
    for (size_t i = 1; i < out_.items.size(); ++i) {
      const CoreProjection::Item& prev = out_.items[i - 1];
      CoreProjection::Item& item = out_.items[i];
      const auto& p = prev.node->path;
      const auto& q = item.node->path;
      item.same_parent = prev.read != CoreProjection::Item::Read::kNode &&
                         item.read != CoreProjection::Item::Read::kNode &&
                         p.size() == q.size() &&
                         std::equal(p.begin(), p.end() - 1, q.begin());
    }
    // Runs of items under one sub-message of the finding (see
    // Item::group): an item belongs to the run of its first hop when it
    // descends through it and that hop has a typed presence accessor.
    // Whichever way an item is read (accessors or kNode), below a
    // sub-message the finding does not have it sees the default
    // instance, so its value is fixed by the policy alone.
    auto first_hop = [](const CoreProjection::Item& item)
        -> const google::protobuf::FieldDescriptor* {
      const Node& node = *item.node;
      if (node.path.size() < 2 || node.accessors.empty() ||
          node.accessors[0].message == nullptr ||
          node.accessors[0].has == nullptr) {
        return nullptr;
      }
      return node.path[0];
    };
    for (size_t i = 0; i < out_.items.size();) {
      const google::protobuf::FieldDescriptor* hop = first_hop(out_.items[i]);
      size_t end = i + 1;
      while (hop != nullptr && end < out_.items.size() &&
             first_hop(out_.items[end]) == hop) {
        ++end;
      }
      if (hop != nullptr) {
        out_.items[i].group = &out_.items[i].node->accessors[0];
        out_.items[i].group_end = static_cast<uint32_t>(end);
      }
      i = end;
    }
    SplitForWalk();
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

  // Fills out_.walk and out_.rest (BuildKeyAndId()): an item read through
  // accessors whose every hop is a field the decision id's walk writes
  // goes to the walk, with the message fields on its path; any other
  // item to `rest`.
  void SplitForWalk() {
    using Read = CoreProjection::Item::Read;
    using internal::FindingKeyFields;
    FindingKeyFields& walk = out_.walk;
    for (const CoreProjection::Item& item : out_.items) {
      const auto& path = item.node->path;
      bool walked = item.read == Read::kScalar || item.read == Read::kEnum ||
                    item.read == Read::kHas || item.read == Read::kTimestamp ||
                    item.read == Read::kControls;
      for (const auto* field : path) {
        walked = walked && FindingKeyFields::Walked(field);
      }
      if (!walked) {
        CoreProjection::Item rest = item;
        rest.same_parent = false;
        rest.group = nullptr;
        rest.group_end = 0;
        out_.rest.push_back(std::move(rest));
        continue;
      }
      for (const auto* field : path) {
        FindingKeyFields::Field& f =
            walk.fields[FindingKeyFields::Of(field->containing_type())]
                       [field->number()];
        f.wanted = true;
        if (field == path.back() && item.atoms) {
          f.atoms = static_cast<int16_t>(walk.atoms.size());
          walk.atoms.push_back(item.constants);
        }
      }
    }
  }

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
  if (reads_intel_stale) parts.push_back("intel.stale");
  if (reads_kev_age) parts.push_back("intel.kev_age");
  if (reads_epss_age) parts.push_back("intel.epss_age");
  return absl::StrJoin(parts, ", ");
}

namespace {

// Writes a key through a raw pointer into a reused buffer, grown ahead of
// each write: std::string::append per field cost more than reading it.
class KeyWriter {
 public:
  // Writes from byte `start` of `*buffer` on.
  explicit KeyWriter(std::string* buffer, size_t start = 0) : buffer_(buffer) {
    if (buffer_->size() < start + 512) buffer_->resize(start + 512);
    p_ = buffer_->data() + start;
    end_ = buffer_->data() + buffer_->size();
  }
  size_t size() const { return p_ - buffer_->data(); }
  void Put(const void* data, size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) Grow(n);
    std::memcpy(p_, data, n);
    p_ += n;
  }
  template <typename T>
  void Fixed(T v) {
    Put(&v, sizeof(v));
  }
  void Text(absl::string_view s) {
    Fixed<uint32_t>(static_cast<uint32_t>(s.size()));
    Put(s.data(), s.size());
  }
  absl::string_view key() const {
    return absl::string_view(buffer_->data(), p_ - buffer_->data());
  }

 private:
  void Grow(size_t n) {
    const size_t used = p_ - buffer_->data();
    buffer_->resize(std::max(2 * buffer_->size(), used + n));
    p_ = buffer_->data() + used;
    end_ = buffer_->data() + buffer_->size();
  }
  std::string* buffer_;
  char* p_;
  char* end_;
};

// Which constant `s` equals, or constants.size().
uint32_t AtomOf(absl::string_view s,
                const std::vector<absl::string_view>& constants) {
  uint32_t i = 0;
  while (i < constants.size() && constants[i] != s) ++i;
  return i;
}

// Writes the facts of `items` (the whole range in one key) and of the
// intel values `projection` reads. Each item has one type and one way of
// being read, so the encodings of its possible values need no tag to stay
// apart.
void WriteItems(const CoreProjection& projection,
                const std::vector<CoreProjection::Item>& items,
                expr::Frame& frame, const EvalOptions& options,
                KeyWriter& key) {
  using Item = CoreProjection::Item;
  const google::protobuf::Message& root = *frame.root();
  const google::protobuf::Message* m = &root;  // The current parent.
  const Item* const begin = items.data();
  const Item* const end = begin + items.size();
  for (const Item* at = begin; at != end; ++at) {
    const Item& item = *at;
    if (item.group != nullptr) {
      const bool present = item.group->has(root);
      key.Fixed<char>(present ? 1 : 0);
      if (!present) {
        at = begin + item.group_end - 1;  // The run's last item.
        continue;
      }
    }
    if (item.read == Item::Read::kNode) {
      static thread_local std::string slow;
      slow.clear();
      const expr::Value v = expr::EvaluateNode(*item.node, frame);
      if (item.atoms && v.kind() == ValueKind::kString) {
        slow.push_back(static_cast<char>(0x7f));  // No ValueKind's tag.
        const uint32_t atom = AtomOf(v.string_value(), item.constants);
        slow.append(reinterpret_cast<const char*>(&atom), sizeof(atom));
      } else {
        internal::AppendKeyValue(v, &slow);
      }
      key.Put(slow.data(), slow.size());
      continue;
    }
    if (item.read == Item::Read::kControls) {
      m = &root;  // The parent of any root-level item that follows.
      const auto& controls =
          static_cast<const v1::Finding&>(root).compensating_controls();
      key.Fixed<uint32_t>(static_cast<uint32_t>(controls.size()));
      static thread_local std::string bytes;  // Keeps its buffer.
      for (const v1::CompensatingControl& control : controls) {
        bytes.clear();
        if (!AppendDeterministicMessage(control, &bytes)) {
          control.AppendPartialToString(&bytes);
        }
        key.Text(bytes);
      }
      continue;
    }
    const expr::FieldAccessor* a = item.accessors;
    if (!item.same_parent) {
      m = &root;
      for (size_t i = 0; i < item.hops; ++i) m = &a[i].message(*m);
    }
    const expr::FieldAccessor& leaf = a[item.hops];
    switch (item.read) {
      case Item::Read::kScalar: {
        const expr::Value v = leaf.scalar(*m);
        switch (v.kind()) {
          case ValueKind::kString:
            if (item.atoms) {
              key.Fixed(AtomOf(v.string_value(), item.constants));
            } else {
              key.Text(v.string_value());
            }
            break;
          case ValueKind::kDouble:
            key.Fixed(v.double_value());  // The bits: injective.
            break;
          case ValueKind::kBool:
            key.Fixed<char>(v.bool_value() ? 1 : 0);
            break;
          default:  // kInt.
            key.Fixed(v.int_value());
            break;
        }
        break;
      }
      case Item::Read::kEnum:
        key.Fixed<int32_t>(leaf.enum_number(*m));
        break;
      case Item::Read::kHas:
        key.Fixed<char>(leaf.has(*m) ? 1 : 0);
        break;
      // The raw seconds and nanos decide the Value the expression sees.
      case Item::Read::kTimestamp: {
        const auto& t =
            static_cast<const google::protobuf::Timestamp&>(leaf.message(*m));
        key.Fixed<int64_t>(t.seconds());
        key.Fixed<int32_t>(t.nanos());
        break;
      }
      case Item::Read::kDuration: {
        const auto& d =
            static_cast<const google::protobuf::Duration&>(leaf.message(*m));
        key.Fixed<int64_t>(d.seconds());
        key.Fixed<int32_t>(d.nanos());
        break;
      }
      case Item::Read::kNode:
      case Item::Read::kControls:  // Read above, before the accessors.
        break;
    }
  }
  if (projection.reads_intel_stale) {
    key.Fixed<char>(options.intel_stale ? 1 : 0);
  }
  for (const auto& [read, age] :
       {std::pair{projection.reads_kev_age, options.intel_kev_age},
        std::pair{projection.reads_epss_age, options.intel_epss_age}}) {
    if (!read) continue;
    const expr::Value v = expr::Value::Duration(age);  // What the slot yields.
    key.Fixed(v.seconds());
    key.Fixed(v.nanos());
  }
}

// The first byte after the policy id: which form the key takes.
constexpr char kKeyByItems = 0;  // BuildKey().
constexpr char kKeyByWalk = 1;   // BuildKeyAndId().

}  // namespace

absl::string_view CoreProjection::BuildKey(expr::Frame& frame,
                                           const EvalOptions& options,
                                           std::string* buffer) const {
  KeyWriter key(buffer);
  key.Fixed(policy_id);
  key.Fixed(kKeyByItems);
  WriteItems(*this, items, frame, options, key);
  return key.key();
}

absl::string_view CoreProjection::BuildKeyAndId(expr::Frame& frame,
                                                const EvalOptions& options,
                                                const v1::PolicyRef& ref,
                                                const v1::Finding& finding,
                                                internal::Xxh3Hash128* id,
                                                std::string* buffer) const {
  size_t start;
  {
    KeyWriter key(buffer);
    key.Fixed(policy_id);
    key.Fixed(kKeyByWalk);
    start = key.size();
  }
  size_t end;
  if (!internal::DecisionIdHashAndKey(ref, options.as_of, finding, walk, buffer,
                                      start, &end, id)) {
    return BuildKey(frame, options, buffer);
  }
  KeyWriter key(buffer, end);
  WriteItems(*this, rest, frame, options, key);
  return key.key();
}

namespace {

// CompiledPolicyImpl::KeyDetermines, node by node.
class KeyedCheck {
 public:
  explicit KeyedCheck(const CompiledPolicyImpl& policy) : policy_(policy) {}

  bool Keyed(const Node& node, const Node* parent) {
    const CoreProjection& core = policy_.core_projection;
    switch (node.op) {
      case Op::kNow:
        return false;
      case Op::kSlot: {
        if (std::find(core.slots.begin(), core.slots.end(), node.index) !=
            core.slots.end()) {
          // Its value follows from the key, unless it reads `now`: the key
          // leaves `now` out, and an entry whose core skipped the let (a
          // short-circuit) is not tied to one `now`.
          if (ReadsNow(node)) return false;
          break;
        }
        // A let outside the core: keyed when what it reads is.
        const Slot& slot = policy_.slots[node.index];
        if (slot.kind != Slot::Kind::kLet || slot.program == nullptr ||
            ++depth_ > 64 || !Keyed(slot.program->root(), nullptr)) {
          return false;
        }
        --depth_;
        break;
      }
      case Op::kField:
      case Op::kHas:
        if (node.kids.empty() && !KeyedRead(node, parent)) return false;
        break;
      default:
        break;
    }
    for (const auto& kid : node.kids) {
      if (!Keyed(*kid, &node)) return false;
    }
    return true;
  }

 private:
  // Whether `node` reads `now`, through the lets it reads too (a chain
  // deeper than 64 counts as reading it).
  bool ReadsNow(const Node& node, int depth = 0) const {
    if (depth > 64 || node.op == Op::kNow) return true;
    if (node.op == Op::kSlot) {
      const Slot& slot = policy_.slots[node.index];
      if (slot.kind == Slot::Kind::kLet && slot.program != nullptr &&
          ReadsNow(slot.program->root(), depth + 1)) {
        return true;
      }
    }
    for (const auto& kid : node.kids) {
      if (ReadsNow(*kid, depth + 1)) return true;
    }
    return false;
  }

  bool KeyedRead(const Node& node, const Node* parent) const {
    for (const CoreProjection::Item& item : policy_.core_projection.items) {
      if (!SamePath(*item.node, node)) continue;
      if (!item.atoms) return true;
      // The key says which of the item's constants the field equals:
      // enough only for a comparison with some of them.
      std::vector<absl::string_view> constants;
      if (!ComparedWithConstants(node, parent, &constants)) return false;
      for (absl::string_view c : constants) {
        if (std::find(item.constants.begin(), item.constants.end(), c) ==
            item.constants.end()) {
          return false;
        }
      }
      return true;
    }
    return false;
  }

  const CompiledPolicyImpl& policy_;
  int depth_ = 0;
};

}  // namespace

bool CompiledPolicyImpl::KeyDetermines(const expr::Program& program) const {
  return KeyDetermines(program.root());
}

bool CompiledPolicyImpl::KeyDetermines(const expr::Node& node) const {
  if (!core_projection.enabled) return false;
  return KeyedCheck(*this).Keyed(node, nullptr);
}

namespace {

// The operands of the `&&` chain `node` is, or `node` itself.
void Conjuncts(const expr::Node& node, std::vector<const expr::Node*>* out) {
  if (node.op == Op::kAnd && node.kids.size() == 2) {
    Conjuncts(*node.kids[0], out);
    Conjuncts(*node.kids[1], out);
  } else {
    out->push_back(&node);
  }
}

}  // namespace

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
  for (CompiledAction& action : actions) {
    action.when_keyed = action.when != nullptr && KeyDetermines(*action.when);
    action.keyed_guard.clear();
    action.unkeyed_rest.clear();
    if (action.when == nullptr || action.when_keyed) continue;
    std::vector<const expr::Node*> conjuncts;
    Conjuncts(action.when->root(), &conjuncts);
    for (const expr::Node* c : conjuncts) {
      (KeyDetermines(*c) ? action.keyed_guard : action.unkeyed_rest)
          .push_back(c);
    }
    if (action.keyed_guard.empty()) action.unkeyed_rest.clear();
  }
  kept_template_parts = 0;
  if (!core_projection.enabled) return;
  const auto keyed = [this](const expr::Program& program) {
    return KeyDetermines(program);
  };
  for (CompiledRule& rule : rules) {
    rule.reason.NumberKeptParts(keyed, &kept_template_parts);
  }
  default_rule.reason.NumberKeptParts(keyed, &kept_template_parts);
  for (CompiledAction& action : actions) {
    action.text.NumberKeptParts(keyed, &kept_template_parts);
  }
}

}  // namespace treatd
