// String literals in treatd's text output: the JSON form (with quotes) used
// by the server's log lines and by expression values in explanations and
// table inputs, and the HTML form of the ledger report. One escaper per
// form, so every writer reads a string the same way.
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

// Appends `text` to `out` safe for HTML and SVG text and for a quoted
// attribute value (either quote): & < > " ' become character references;
// NUL and other C0 controls except \t \n \r, which HTML forbids, become
// U+FFFD, as does DEL. Everything else (UTF-8 included) as it is.
void AppendHtmlEscaped(absl::string_view text, std::string* out);
// The same, returned.
std::string HtmlEscape(absl::string_view text);

}  // namespace treatd

#endif  // TREATD_COMMON_TEXT_ESCAPE_H_
