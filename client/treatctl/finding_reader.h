// FindingReader: reads findings in the protobuf JSON mapping from a stream
// holding one JSON object, a JSON array of objects, or JSON Lines (any
// sequence of objects separated by whitespace). Objects are framed one at a
// time, so an unbounded input (stdin) is decided while it is still being
// written.
//
// Not thread-safe: one reader per input, used from one thread at a time.
#ifndef TREATD_CLIENT_TREATCTL_FINDING_READER_H_
#define TREATD_CLIENT_TREATCTL_FINDING_READER_H_

#include <cstdint>
#include <istream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/json/proto_json_reader.h"
#include "treatd/v1/finding.pb.h"

namespace treatd {

class FindingReader {
 public:
  // One framed object.
  struct Record {
    // 1-based line where the object starts.
    int line = 0;
    // OK, or INVALID_ARGUMENT "NAME:LINE: what is wrong" when the object is
    // not a valid Finding (unknown field, wrong type, bad JSON) or the input
    // is not framed as objects. `finding` is meaningful only when OK.
    absl::Status status;
    v1::Finding finding;
    // When not empty, wire bytes that parse to exactly `finding` (what the
    // JSON reader built it from), to send instead of serializing it again;
    // empty when the finding must be serialized. After
    // set_identity_only(true), `finding` may then hold only its id and
    // vulnerability.cve_id (and the labels): the full finding is what
    // `wire` parses to.
    std::string wire;
  };

  // Reads from `in` (not owned; must outlive the reader). `name` prefixes
  // error messages, e.g. the file name or "<stdin>".
  FindingReader(std::istream* in, std::string name);

  // Reads the next object into `*record` and returns true, or returns false
  // at the end of the input. A bad object is returned with a non-OK status
  // and reading goes on after it; a framing error (text that is not an
  // object, an unterminated object or array) is returned once and ends the
  // input.
  bool Next(Record* record);

  // The raw text of the object Next() last framed (empty after a framing
  // error), e.g. to look at it as something other than a Finding.
  const std::string& text() const { return text_; }
  // Text the reader took from the stream and has not framed yet: the rest
  // of the input is this, then what the stream still holds.
  absl::string_view buffered() const {
    return absl::string_view(buffer_).substr(pos_);
  }
  // True when the input is a top-level JSON array of objects.
  bool in_array() const { return in_array_; }
  // Bytes consumed from the input so far.
  int64_t offset() const { return offset_; }

  // With `on`, a record read with wire bytes gets only the id and
  // vulnerability.cve_id of its finding set, for a caller that sends the
  // bytes and reads nothing else of the finding: parsing the bytes into the
  // whole Finding was ~7,900 instructions of a finding (callgrind,
  // treatctl decide, issue 15). With `labels`, also the fields a CSV row
  // reads: kind, vulnerability.aliases, package.name and
  // installed_version, asset.id and name. What is accepted does not
  // change.
  void set_identity_only(bool on, bool labels = false) {
    identity_only_ = on;
    labels_ = labels;
  }

 private:
  // Makes buffer_ hold unread text: reads what the stream has without
  // waiting (at least one character, waiting for it). False at the end.
  bool Fill();
  // The next character, or EOF, without consuming it.
  int Peek();
  // The next character, or EOF; counts lines.
  int Get();
  // Skips whitespace (and, inside a top-level array, the commas between
  // elements); returns the first other character or EOF without consuming
  // it.
  int SkipSeparators();
  // Reports a framing error and ends the input.
  bool Fail(Record* record, int line, absl::string_view what);

  std::istream* const in_;
  const std::string name_;
  int line_ = 1;
  int64_t offset_ = 0;
  bool started_ = false;
  bool in_array_ = false;
  bool done_ = false;
  bool identity_only_ = false;
  bool labels_ = false;
  std::string text_;
  // Read from the stream and not yet framed: buffer_[pos_, size()).
  std::string buffer_;
  size_t pos_ = 0;
  // protobuf's JSON mapping, read with simdjson.
  json::ProtoJsonReader json_{v1::Finding::descriptor()};
};

}  // namespace treatd

#endif  // TREATD_CLIENT_TREATCTL_FINDING_READER_H_
