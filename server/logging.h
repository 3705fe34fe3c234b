// Structured logging for the server: one JSON object per line on stderr (or
// another sink), with "ts" (RFC 3339, UTC), "level", "msg" and "fields".
//
// Thread-safe: lines from concurrent callers never interleave. Abseil
// 20220623 has no absl/log, hence this small sink.
#ifndef TREATD_SERVER_LOGGING_H_
#define TREATD_SERVER_LOGGING_H_

#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace treatd {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// One key/value pair of a log line. Strings are JSON-escaped; numbers and
// bools are written as JSON numbers and booleans. Holds copies, so it may
// outlive its arguments.
class LogField {
 public:
  LogField(absl::string_view key, absl::string_view value);
  LogField(absl::string_view key, const char* value);
  LogField(absl::string_view key, const std::string& value);
  LogField(absl::string_view key, int64_t value);
  LogField(absl::string_view key, int value);
  LogField(absl::string_view key, uint64_t value);
  LogField(absl::string_view key, double value);
  LogField(absl::string_view key, bool value);

  absl::string_view key() const { return key_; }
  // The value as a JSON token.
  absl::string_view json_value() const { return json_value_; }

 private:
  std::string key_;
  std::string json_value_;
};

// Formats one log line (without the trailing newline).
std::string FormatLogLine(absl::Time ts, LogLevel level, absl::string_view msg,
                          std::initializer_list<LogField> fields);

// Sends subsequent log lines to `sink` (not owned; must outlive all logging)
// instead of std::cerr; nullptr restores std::cerr. Lines below `min_level`
// are dropped.
void SetLogSink(std::ostream* sink, LogLevel min_level = LogLevel::kInfo);

// Whether a line at `level` would be written. Lock-free: callers check it
// before building expensive fields.
bool LogEnabled(LogLevel level);

// Writes one line to the current sink.
void Log(LogLevel level, absl::string_view msg,
         std::initializer_list<LogField> fields = {});

inline void LogInfo(absl::string_view msg,
                    std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kInfo, msg, fields);
}
inline void LogWarning(absl::string_view msg,
                       std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kWarning, msg, fields);
}
inline void LogError(absl::string_view msg,
                     std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kError, msg, fields);
}

}  // namespace treatd

#endif  // TREATD_SERVER_LOGGING_H_
