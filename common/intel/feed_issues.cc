#include "common/intel/feed_issues.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace treatd::intel {

std::string FeedIssue::ToString() const {
  return absl::StrCat(location, ": ", message);
}

void FeedIssues::Add(std::string location, std::string message) {
  ++count_;
  if (detailed_.size() < kMaxDetailed) {
    detailed_.push_back({std::move(location), std::move(message)});
  }
}

std::string FeedIssues::ToString() const {
  std::string out;
  for (const FeedIssue& issue : detailed_) {
    absl::StrAppend(&out, issue.ToString(), "\n");
  }
  const int64_t hidden = count_ - static_cast<int64_t>(detailed_.size());
  if (hidden > 0) absl::StrAppend(&out, "... and ", hidden, " more\n");
  return out;
}

size_t FeedIssues::HeapBytes() const {
  size_t bytes = detailed_.capacity() * sizeof(FeedIssue);
  for (const FeedIssue& issue : detailed_) {
    // Short strings live inside the object (SSO); only longer ones allocate.
    if (issue.location.capacity() > 15) bytes += issue.location.capacity() + 1;
    if (issue.message.capacity() > 15) bytes += issue.message.capacity() + 1;
  }
  return bytes;
}

}  // namespace treatd::intel
