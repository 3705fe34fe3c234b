// A bounded, per-thread store of decision cores: what the rules,
// exceptions, risk scores and tables decided for one projection of a
// finding (CoreProjection in compiled_policy_impl.h), so that the next
// finding with the same projection skips the interpreter. Internal to
// evaluate.cc.
//
// Keys are bytes that start with the compiled policy's process-wide id
// and hold every fact the core can read (core_projection.cc) but `now`,
// which an entry records it read or not (CoreEntry::read_now); a policy
// reload therefore never meets its predecessor's entries, and threat-intel
// facts (KEV listing, EPSS score, intel.stale) are in the key as the values
// the finding carries after enrichment, so a feed reload that changes them
// changes the key.
//
// Entries own copies of every string they hold (slot values, table
// inputs): nothing in an entry points into a finding, a frame or a policy.
//
// Memory is bounded twice: each cache holds at most kSets * kWays entries,
// and at most kMaxThreads threads hold a cache at once (a server's thread
// pool can be large); a thread beyond that decides with the plain
// interpreter until a cache is free again. For the default policy an entry
// is about 2 KB, so all caches together stay under ~4 MB.
//
// Thread safety: none needed. ForThisThread() hands each thread its own
// cache; an entry is valid until that thread's next Insert().
#ifndef TREATD_COMMON_POLICY_ENGINE_CORE_CACHE_H_
#define TREATD_COMMON_POLICY_ENGINE_CORE_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/expr/runtime/value.h"

namespace treatd::internal {

struct CoreEntry {
  std::string key;
  uint64_t hash = 0;
  bool valid = false;
  // The rule that matched: its index, or -1 for the default.
  int rule = -1;
  int priority = -1;
  // Whether computing the core read `now`, and the time it read: such an
  // entry only serves decisions at that same as_of. (An entry that did
  // not read `now` serves any as_of: evaluation is deterministic, so a
  // run that never read it would not have read it at another time.)
  bool read_now = false;
  int64_t now_seconds = 0;
  int32_t now_nanos = 0;
  // Exceptions whose condition holds, in policy order (their expiry is
  // checked per decision: it depends on as_of, which the key may not hold).
  absl::InlinedVector<int, 2> matched_exceptions;
  // The evaluation state after the core ran (EvalState in evaluate.cc).
  // `done` is an array of bool: a decision reads both in place, through
  // expr::Frame's memo.
  std::vector<expr::Value> values;
  absl::InlinedVector<bool, 64> done;
  std::vector<int> table_rows;
  std::vector<expr::Value> table_inputs;
  // Storage behind the string and error values above.
  std::string text;
  // FULL view: what each action's condition (CompiledAction::when) gave,
  // 0 or 1, for the actions whose condition the key determines
  // (CompiledAction::when_keyed), and for the others whether every
  // operand of their keyed guard (CompiledAction::keyed_guard) holds;
  // -1 (or missing) until a decision this entry serves evaluates it.
  // Filled by the decisions, hence mutable.
  mutable std::vector<int8_t> action_when;
  // FULL view: every table input in its text form (TableOutcome.inputs),
  // all tables' in turn, rendered by the first decision this entry serves
  // that needs them (empty until then); mutable for the same reason.
  mutable std::vector<std::string> table_input_text;
  // FULL view: the text of the reasons' and actions' placeholders that
  // read only what the key holds, by their number
  // (CompiledPolicyImpl::kept_template_parts; TextTemplate::RenderTo()),
  // each rendered by the first decision this entry serves that shows it.
  mutable std::vector<std::optional<std::string>> template_text;
  // BASIC view: the deadlines the last decision this entry served wrote
  // (mitigate_by, remediate_by, review_by: set or not, seconds, nanos),
  // and what they follow from besides the core: as_of, the finding's
  // first_seen and its KEV due date (each set or not, seconds, nanos).
  // A decision with the same three writes the same deadlines.
  struct Deadlines {
    bool valid = false;
    absl::Time as_of;
    bool has_first_seen = false;
    int64_t first_seen_seconds = 0;
    int32_t first_seen_nanos = 0;
    bool has_kev_due = false;
    int64_t kev_due_seconds = 0;
    int32_t kev_due_nanos = 0;
    bool set[3] = {false, false, false};
    int64_t seconds[3] = {0, 0, 0};
    int32_t nanos[3] = {0, 0, 0};
  };
  mutable Deadlines deadlines;
};

class CoreCache {
 public:
  // Entries per thread: 2-way set associative, so a hot key survives one
  // colliding newcomer.
  static constexpr size_t kSets = 128;
  static constexpr size_t kWays = 2;
  static constexpr int kMaxThreads = 8;

  // The calling thread's cache, or null when kMaxThreads other threads
  // hold one. Freed when the thread exits.
  static CoreCache* ForThisThread();

  // The entry for `key`, or null. Counts the lookup for Bypass().
  const CoreEntry* Find(absl::string_view key, uint64_t hash);
  // An entry to fill for `key` (the entry already holding `key`, else the
  // set's least recently used one), reset. The caller sets `valid` once
  // it is filled.
  CoreEntry* Insert(absl::string_view key, uint64_t hash);

  // Whether this decision should skip the cache: a stream whose cores
  // all differ would pay for the key and the stored entry on every
  // decision and never gain. After kWindow lookups with fewer than
  // kMinHits hits the cache is skipped for the next kBypass decisions,
  // then tried again. Counts the decision.
  static constexpr int kWindow = 1024;
  static constexpr int kMinHits = kWindow / 16;
  static constexpr int kBypass = 16 * kWindow;
  bool Bypass() {
    if (bypass_left_ == 0) return false;
    --bypass_left_;
    return true;
  }

  // Lookups by this thread since it started, for benchmarks and tests.
  static uint64_t ThreadHits();
  static uint64_t ThreadMisses();

  CoreCache() = default;

 private:
  std::unique_ptr<CoreEntry[]> entries_;
  // Per set: the way used last.
  std::unique_ptr<uint8_t[]> last_;
  // The current window of lookups, and decisions left to skip.
  int window_lookups_ = 0;
  int window_hits_ = 0;
  int bypass_left_ = 0;

  void Count(bool hit) {
    window_hits_ += hit;
    if (++window_lookups_ < kWindow) return;
    if (window_hits_ < kMinHits) bypass_left_ = kBypass;
    window_lookups_ = 0;
    window_hits_ = 0;
  }
};

// Appends an injective encoding of `v` to `*key`: two values with equal
// encodings are equal to every expression (lists and maps element by
// element, messages by their serialized bytes).
void AppendKeyValue(const expr::Value& v, std::string* key);

}  // namespace treatd::internal

#endif  // TREATD_COMMON_POLICY_ENGINE_CORE_CACHE_H_
