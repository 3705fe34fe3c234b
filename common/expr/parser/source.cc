#include "common/expr/parser/source.h"

namespace treatd::expr {

LineColumn OffsetToLineColumn(absl::string_view text, int offset) {
  LineColumn lc;
  const int limit = offset < static_cast<int>(text.size())
                        ? offset
                        : static_cast<int>(text.size());
  for (int i = 0; i < limit; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      ++lc.line;
      lc.column = 1;
    } else if ((c & 0xC0) != 0x80) {
      // UTF-8 continuation bytes do not start a new character.
      ++lc.column;
    }
  }
  return lc;
}

}  // namespace treatd::expr
