// FeedIssues: the malformed rows or entries a feed load skipped, each with
// where it is (an EPSS line number, a KEV JSON path) and what is wrong. A load
// never fails because of individual bad rows; it records them here so an
// operator can see them (logs, admin RPC) while the rest of the feed serves.
// A value type; thread-compatible (immutable once the feed is built).
#ifndef TREATD_COMMON_INTEL_FEED_ISSUES_H_
#define TREATD_COMMON_INTEL_FEED_ISSUES_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace treatd::intel {

// One skipped row or entry.
struct FeedIssue {
  // "line 17" (EPSS) or "vulnerabilities[3].dueDate" (KEV).
  std::string location;
  // What is wrong, e.g. "epss \"abc\" is not a number in [0, 1]".
  std::string message;

  // "line 17: epss \"abc\" is not a number in [0, 1]".
  std::string ToString() const;
};

class FeedIssues {
 public:
  // A garbage file of a million lines must not cost a million strings: only
  // the first kMaxDetailed issues keep their text; all are counted.
  static constexpr size_t kMaxDetailed = 100;

  void Add(std::string location, std::string message);

  // Every skipped row or entry, including those beyond kMaxDetailed.
  int64_t count() const { return count_; }
  bool empty() const { return count_ == 0; }
  // The first kMaxDetailed issues, in file order.
  const std::vector<FeedIssue>& detailed() const { return detailed_; }
  // One line per detailed issue, plus "... and N more" when truncated.
  std::string ToString() const;
  // Heap bytes held by the detailed issues.
  size_t HeapBytes() const;

 private:
  int64_t count_ = 0;
  std::vector<FeedIssue> detailed_;
};

}  // namespace treatd::intel

#endif  // TREATD_COMMON_INTEL_FEED_ISSUES_H_
