#include "server/logging.h"

#include <atomic>
#include <cmath>
#include <iostream>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "common/text/escape.h"

namespace treatd {
namespace {

struct SinkState {
  absl::Mutex mu;
  std::ostream* sink ABSL_GUARDED_BY(mu) = nullptr;
  LogLevel min_level ABSL_GUARDED_BY(mu) = LogLevel::kInfo;
};

SinkState& State() {
  static SinkState* const state = new SinkState();
  return *state;
}

// A copy of SinkState::min_level readable without the lock.
std::atomic<int>& MinLevel() {
  static std::atomic<int> level{static_cast<int>(LogLevel::kInfo)};
  return level;
}

absl::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

std::string JsonString(absl::string_view text) {
  std::string out;
  AppendJsonString(text, &out);
  return out;
}

}  // namespace

LogField::LogField(absl::string_view key, absl::string_view value)
    : key_(key), json_value_(JsonString(value)) {}
LogField::LogField(absl::string_view key, const char* value)
    : LogField(key, absl::string_view(value)) {}
LogField::LogField(absl::string_view key, const std::string& value)
    : LogField(key, absl::string_view(value)) {}
LogField::LogField(absl::string_view key, int64_t value)
    : key_(key), json_value_(absl::StrCat(value)) {}
LogField::LogField(absl::string_view key, int value)
    : key_(key), json_value_(absl::StrCat(value)) {}
LogField::LogField(absl::string_view key, uint64_t value)
    : key_(key), json_value_(absl::StrCat(value)) {}
LogField::LogField(absl::string_view key, double value)
    : key_(key),
      // JSON has no NaN or infinity; write them as strings.
      json_value_(std::isfinite(value) ? absl::StrCat(value)
                                       : JsonString(absl::StrCat(value))) {}
LogField::LogField(absl::string_view key, bool value)
    : key_(key), json_value_(value ? "true" : "false") {}

std::string FormatLogLine(absl::Time ts, LogLevel level, absl::string_view msg,
                          std::initializer_list<LogField> fields) {
  std::string line = "{\"ts\":";
  AppendJsonString(
      absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", ts, absl::UTCTimeZone()), &line);
  absl::StrAppend(&line, ",\"level\":\"", LevelName(level), "\",\"msg\":");
  AppendJsonString(msg, &line);
  line.append(",\"fields\":{");
  bool first = true;
  for (const LogField& field : fields) {
    if (!first) line.push_back(',');
    first = false;
    AppendJsonString(field.key(), &line);
    line.push_back(':');
    line.append(field.json_value().data(), field.json_value().size());
  }
  line.append("}}");
  return line;
}

void SetLogSink(std::ostream* sink, LogLevel min_level) {
  SinkState& state = State();
  absl::MutexLock lock(&state.mu);
  state.sink = sink;
  state.min_level = min_level;
  MinLevel().store(static_cast<int>(min_level), std::memory_order_relaxed);
}

bool LogEnabled(LogLevel level) {
  return static_cast<int>(level) >= MinLevel().load(std::memory_order_relaxed);
}

void Log(LogLevel level, absl::string_view msg,
         std::initializer_list<LogField> fields) {
  if (!LogEnabled(level)) return;
  SinkState& state = State();
  {
    absl::MutexLock lock(&state.mu);
    if (level < state.min_level) return;
  }
  std::string line = FormatLogLine(absl::Now(), level, msg, fields);
  line.push_back('\n');
  absl::MutexLock lock(&state.mu);
  std::ostream& out = state.sink != nullptr ? *state.sink : std::cerr;
  out << line;
  out.flush();
}

}  // namespace treatd
