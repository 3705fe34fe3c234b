// Positions inside an expression's text and the errors found there. Errors
// carry a byte offset; callers turn it into a 1-based line and column
// relative to the text (and then, through the policy's SourceMap, into a
// file position).
//
// Thread safety: plain values.
#ifndef TREATD_COMMON_EXPR_PARSER_SOURCE_H_
#define TREATD_COMMON_EXPR_PARSER_SOURCE_H_

#include <string>

#include "absl/strings/string_view.h"

namespace treatd::expr {

// A 1-based line and column (columns count characters, not bytes).
struct LineColumn {
  int line = 1;
  int column = 1;
};

// Where byte `offset` of `text` sits.
LineColumn OffsetToLineColumn(absl::string_view text, int offset);

// A problem found in an expression at byte `offset` of its text.
struct ExprError {
  int offset = 0;
  std::string message;
};

}  // namespace treatd::expr

#endif  // TREATD_COMMON_EXPR_PARSER_SOURCE_H_
