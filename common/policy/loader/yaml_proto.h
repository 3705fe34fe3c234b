// Converts YAML documents into protobuf messages by walking the message's
// descriptor, so a schema written once in .proto (Policy, PolicyTestSuite,
// Finding) is also the YAML schema. Records where every node sits in the
// source so later stages (the expression checker) can report file:line:col.
//
// Stateless functions; a SourceMap is a plain value, safe to read from many
// threads once built.
#ifndef TREATD_COMMON_POLICY_LOADER_YAML_PROTO_H_
#define TREATD_COMMON_POLICY_LOADER_YAML_PROTO_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "treatd/v1/treatment_service.pb.h"

namespace treatd {

// A 1-based position in a source file; 0 means unknown.
struct SourcePosition {
  int line = 0;
  int column = 0;
};

// Where each node of a YAML document sits. Paths use proto field names with
// list indices and map keys: "rules[3].when", "let.exploited",
// "tables[0].rows[5].when[2]", "priorities[1].remediate_within".
class SourceMap {
 public:
  // How a scalar was written; decides how offsets inside it map to the file.
  enum class ScalarStyle { kPlain, kQuoted, kBlock };

  struct Entry {
    SourcePosition position;  // Of the node itself (for scalars, its value).
    ScalarStyle style = ScalarStyle::kPlain;
    int block_indent =
        0;  // kBlock: column (1-based) where content lines start.
  };

  void Add(std::string path, Entry entry);

  // The position of `path`, or of its nearest recorded ancestor ("rules[3]"
  // for "rules[3].priority" when the key was absent), or {0,0}.
  SourcePosition Find(absl::string_view path) const;

  // The file position of the character at (`line`, `column`) (1-based)
  // inside the string value at `path`, e.g. where an expression error sits.
  // Exact for plain, quoted and block scalars without escapes or folding.
  SourcePosition Resolve(absl::string_view path, int line, int column) const;

 private:
  std::map<std::string, Entry, std::less<>> entries_;
};

// Parses `yaml` (one document) into `message`, which is cleared first.
//
// Mapping: a YAML mapping fills a message (keys are proto field names) or a
// proto map; a sequence fills a repeated field; scalars convert to the
// field's type: bool (true/false/yes/no), integers, doubles, strings, enums
// by value name with or without the enum's prefix (case-insensitive),
// google.protobuf.Duration from "90s"/"15m"/"72h"/"14d"/"2w" (and
// combinations like "1d12h"), google.protobuf.Timestamp from RFC 3339 or a
// plain date (YYYY-MM-DD, midnight UTC).
//
// Every problem (YAML syntax error, unknown key, wrong node kind, bad
// scalar, duplicate key) is appended to `issues` as an ERROR with
// file/line/column and path; conversion goes on after a problem so that all
// of them are reported. Returns OK when no error was found, otherwise
// INVALID_ARGUMENT listing them. `source_map` (may be null) receives the
// position of every node.
absl::Status YamlToMessage(absl::string_view yaml, absl::string_view filename,
                           google::protobuf::Message* message,
                           SourceMap* source_map,
                           std::vector<v1::PolicyIssue>* issues);

// Formats issues as "file:line:col: error: [element] path: message", one
// per line, for status messages and terminals.
std::string FormatIssues(const std::vector<v1::PolicyIssue>& issues);

}  // namespace treatd

#endif  // TREATD_COMMON_POLICY_LOADER_YAML_PROTO_H_
