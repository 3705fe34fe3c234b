// String literals in treatd's text output: the JSON form (with quotes) used
// by the server's log lines and by expression values in explanations and
// table inputs. One escaper, so both read a string the same way.
// Stateless, thread-safe.
#ifndef TREATD_COMMON_TEXT_ESCAPE_H_
#define TREATD_COMMON_TEXT_ESCAPE_H_

#include <string>

#include "absl/strings/string_view.h"

namespace treatd {

// Appends `text` to `out` as a JSON string literal, quotes included: `"`
// and `\` escaped, \n \r \t by name, other control characters as \u00XX;
// everything else (UTF-8 included) as it is.
void AppendJsonString(absl::string_view text, std::string* out);

}  // namespace treatd

#endif  // TREATD_COMMON_TEXT_ESCAPE_H_
