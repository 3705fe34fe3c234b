// Which of the facts revisit conditions vary (fix availability, KEV
// listing, EPSS score, exposure, `now`) each slot reads, directly or
// through other slots: computed once at compile time so that a revisit
// variation reuses every value that does not depend on the changed fact.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/policy/engine/compiled_policy_impl.h"

namespace treatd {
namespace {

// The FactBits a root field path reads: the watched fact itself, a message
// that contains it, or (never in practice) a field below it.
uint32_t PathFacts(
    const std::vector<const google::protobuf::FieldDescriptor*>& path) {
  struct Watched {
    std::vector<absl::string_view> names;
    uint32_t bit;
  };
  static const auto* const kWatched = new std::vector<Watched>{
      {{"fix", "availability"}, kFactFixAvailability},
      {{"vulnerability", "kev", "listed"}, kFactKevListed},
      {{"vulnerability", "epss", "score"}, kFactEpssScore},
      {{"asset", "exposure"}, kFactExposure},
  };
  uint32_t facts = 0;
  for (const Watched& w : *kWatched) {
    const size_t n = std::min(path.size(), w.names.size());
    bool match = n > 0;
    for (size_t i = 0; i < n && match; ++i) {
      match = path[i]->name() == w.names[i];
    }
    if (match) facts |= w.bit;
  }
  return facts;
}

}  // namespace

void CompiledPolicyImpl::ComputeSlotFacts() {
  // -1: not computed yet. Slots never depend on themselves (the compiler
  // rejects cycles), so the recursion ends.
  std::vector<int64_t> memo(slots.size(), -1);
  std::function<uint32_t(int)> slot_facts_of;
  std::function<uint32_t(const expr::Node&)> node_facts =
      [&](const expr::Node& node) -> uint32_t {
    uint32_t facts = 0;
    switch (node.op) {
      case expr::Op::kNow:
        facts |= kFactAsOf;
        break;
      case expr::Op::kSlot:
        facts |= slot_facts_of(node.index);
        break;
      case expr::Op::kField:
      case expr::Op::kHas:
        // A path from a computed base reads below whatever the base read.
        if (node.kids.empty()) facts |= PathFacts(node.path);
        break;
      default:
        break;
    }
    for (const auto& kid : node.kids) facts |= node_facts(*kid);
    return facts;
  };
  slot_facts_of = [&](int i) -> uint32_t {
    if (i < 0 || static_cast<size_t>(i) >= slots.size()) return kAllFacts;
    if (memo[i] >= 0) return static_cast<uint32_t>(memo[i]);
    const Slot& slot = slots[i];
    uint32_t facts = 0;
    if (slot.program != nullptr) facts |= node_facts(slot.program->root());
    if (slot.kind == Slot::Kind::kRiskResidual && slot.program == nullptr) {
      facts |= slot_facts_of(inherent_slot);
    }
    if (slot.kind == Slot::Kind::kTable) {
      for (const auto& input : tables[slot.table].inputs) {
        facts |= node_facts(input.program->root());
      }
    }
    memo[i] = facts;
    return facts;
  };
  slot_facts.resize(slots.size());
  for (size_t i = 0; i < slots.size(); ++i) {
    slot_facts[i] = slot_facts_of(static_cast<int>(i));
  }
}

}  // namespace treatd
