// The per-thread store of decision cores (core_cache.h).
#include "common/policy/engine/core_cache.h"

#include <atomic>
#include <cstring>
#include <memory>
#include <string>

#include "common/policy/engine/decision_id.h"
#include "google/protobuf/message.h"

namespace treatd::internal {
namespace {

using expr::Value;
using expr::ValueKind;

void AppendBytes(const void* p, size_t n, std::string* key) {
  key->append(static_cast<const char*>(p), n);
}

template <typename T>
void AppendFixed(T v, std::string* key) {
  AppendBytes(&v, sizeof(v), key);
}

void AppendText(absl::string_view s, std::string* key) {
  AppendFixed<uint64_t>(s.size(), key);
  key->append(s.data(), s.size());
}

}  // namespace

thread_local uint64_t thread_hits = 0;
thread_local uint64_t thread_misses = 0;

CoreCache* CoreCache::ForThisThread() {
  static std::atomic<int> live{0};
  struct Holder {
    std::unique_ptr<CoreCache> cache;
    ~Holder() {
      if (cache != nullptr) live.fetch_sub(1, std::memory_order_relaxed);
    }
  };
  static thread_local Holder holder;
  // A thread without a cache tries again on each decision; the load keeps
  // the counter's cache line shared while the budget is spent.
  if (holder.cache == nullptr &&
      live.load(std::memory_order_relaxed) < kMaxThreads) {
    if (live.fetch_add(1, std::memory_order_relaxed) < kMaxThreads) {
      holder.cache = std::make_unique<CoreCache>();
    } else {
      live.fetch_sub(1, std::memory_order_relaxed);
    }
  }
  return holder.cache.get();
}

uint64_t CoreCache::ThreadHits() { return thread_hits; }
uint64_t CoreCache::ThreadMisses() { return thread_misses; }

const CoreEntry* CoreCache::Find(absl::string_view key, uint64_t hash) {
  if (entries_ != nullptr) {
    const size_t set = hash % kSets;
    for (size_t way = 0; way < kWays; ++way) {
      const CoreEntry& e = entries_[set * kWays + way];
      if (e.valid && e.hash == hash && e.key == key) {
        last_[set] = static_cast<uint8_t>(way);
        ++thread_hits;
        Count(true);
        return &e;
      }
    }
  }
  ++thread_misses;
  Count(false);
  return nullptr;
}

CoreEntry* CoreCache::Insert(absl::string_view key, uint64_t hash) {
  if (entries_ == nullptr) {
    entries_ = std::make_unique<CoreEntry[]>(kSets * kWays);
    last_ = std::make_unique<uint8_t[]>(kSets);
  }
  const size_t set = hash % kSets;
  // The way not used last (an invalid one first).
  size_t way = kWays - 1 - last_[set];
  for (size_t w = 0; w < kWays; ++w) {
    if (!entries_[set * kWays + w].valid) way = w;
  }
  for (size_t w = 0; w < kWays; ++w) {
    const CoreEntry& e = entries_[set * kWays + w];
    if (e.valid && e.hash == hash && e.key == key) way = w;  // Out of date.
  }
  last_[set] = static_cast<uint8_t>(way);
  CoreEntry& e = entries_[set * kWays + way];
  // assign() and clear() keep the buffers: a warm cache does not allocate.
  e.valid = false;
  e.key.assign(key.data(), key.size());
  e.hash = hash;
  e.rule = -1;
  e.priority = -1;
  e.read_now = false;
  e.matched_exceptions.clear();
  e.action_when.clear();
  e.table_input_text.clear();
  e.template_text.clear();
  e.deadlines.valid = false;
  e.values.clear();
  e.done.clear();
  e.table_rows.clear();
  e.table_inputs.clear();
  e.text.clear();
  return &e;
}

void AppendKeyValue(const Value& v, std::string* key) {
  key->push_back(static_cast<char>(v.kind()));
  switch (v.kind()) {
    case ValueKind::kBool:
    case ValueKind::kInt:
      AppendFixed<int64_t>(v.int_value(), key);
      break;
    case ValueKind::kDouble:
      AppendFixed<double>(v.double_value(), key);  // The bits: injective.
      break;
    case ValueKind::kString:
    case ValueKind::kType:
    case ValueKind::kError:
      AppendText(v.string_value(), key);
      break;
    case ValueKind::kDuration:
    case ValueKind::kTimestamp:
      AppendFixed<int64_t>(v.seconds(), key);
      AppendFixed<int32_t>(v.nanos(), key);
      break;
    case ValueKind::kEnum:
      AppendFixed<int32_t>(v.enum_number(), key);
      break;
    case ValueKind::kMessage: {
      // Equal bytes parse to equal messages; unequal bytes for equal
      // messages (map order) only cost a miss.
      // The engine's own encoder for the finding's types: no UTF-8
      // check or size pass (~600 instructions for a compensating control
      // where protobuf's serializer took ~1,600).
      static thread_local std::string bytes;  // Keeps its buffer.
      bytes.clear();
      if (!AppendDeterministicMessage(*v.message(), &bytes)) {
        v.message()->AppendPartialToString(&bytes);
      }
      AppendText(bytes, key);
      break;
    }
    case ValueKind::kList: {
      const size_t n = v.ListSize();
      AppendFixed<uint64_t>(n, key);
      for (size_t i = 0; i < n; ++i) AppendKeyValue(v.ListElement(i), key);
      break;
    }
    case ValueKind::kMap:
      AppendFixed<uint64_t>(v.MapSize(), key);
      v.ForEachEntry([key](const Value& k, const Value& val) {
        AppendKeyValue(k, key);
        AppendKeyValue(val, key);
        return true;
      });
      break;
    case ValueKind::kNull:
      break;
  }
}

}  // namespace treatd::internal
