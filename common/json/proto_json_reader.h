// ProtoJsonReader: reads a protobuf message from JSON text exactly as
// protobuf's JSON mapping does (google::protobuf::util::JsonStringToMessage
// with unknown fields rejected), at the speed of a SIMD JSON parser.
//
// The text is parsed with simdjson and its values are written as the
// message's protobuf wire format through a table of the message type's
// fields (JSON and proto names, tags) built once per reader; the generated
// parser then reads those bytes into the message. Only the common shapes are
// read this way: string, bool, enum (by value name), double, message, Timestamp
// and map<string, string> fields, singular or repeated, each given once with a
// value of its own JSON type. Anything else (null, an enum given as a
// number, a double given as a string, a field given twice, an unknown
// field, text that is not strict JSON, a field type the table does not
// know) goes to protobuf's own parser, which then decides: the message and
// any error are protobuf's, field paths included. Tests compare the two
// over the examples, random findings and mutated JSON.
//
// Not thread-safe (the parser reuses its buffers): one reader per thread.
#ifndef TREATD_COMMON_JSON_PROTO_JSON_READER_H_
#define TREATD_COMMON_JSON_PROTO_JSON_READER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace treatd::json {

class ProtoJsonReader {
 public:
  // A reader of messages of type `type` (and the types it contains).
  explicit ProtoJsonReader(const google::protobuf::Descriptor* type);
  ~ProtoJsonReader();
  ProtoJsonReader(const ProtoJsonReader&) = delete;
  ProtoJsonReader& operator=(const ProtoJsonReader&) = delete;

  // Clears `*message` (whose type must be the reader's) and reads `json`
  // into it. Returns OK, or protobuf's error for the same text
  // (INVALID_ARGUMENT naming the field and what is wrong); after an error
  // `*message` holds whatever protobuf's parser left in it.
  absl::Status Read(absl::string_view json, google::protobuf::Message* message);
  // Read() that also hands back the wire bytes the message was parsed from
  // when the fast path read it: `*wire` then holds bytes that parse to
  // exactly `*message` (fields in the JSON's order, not necessarily what
  // SerializeToString() writes), so a caller that sends the message can
  // send them instead of serializing it again. `*wire` is empty when
  // protobuf's parser answered or on error: serialize the message then.
  absl::Status Read(absl::string_view json, google::protobuf::Message* message,
                    std::string* wire);
  // Read() with wire bytes for a caller that sends the bytes and reads
  // nothing of the message: when the fast path reads the text, `*wire`
  // holds the bytes and `*message` stays cleared (the bytes are not parsed
  // into it; they parse to what Read() would have read). Text the fast
  // path leaves to protobuf's parser, and text with a \u escape of a
  // UTF-16 surrogate (whose bytes protobuf's parser might refuse), is read
  // as Read() reads it. Same status as Read() for the same text.
  absl::Status ReadWireOnly(absl::string_view json,
                            google::protobuf::Message* message,
                            std::string* wire);

  // How many Read() calls protobuf's parser answered (for tests and
  // benchmarks: the fast path should answer nearly all valid input).
  int64_t fallbacks() const { return fallbacks_; }

 private:
  struct Tables;
  // Read(json, message, wire), not parsing the wire bytes into `message`
  // when `parse` is false and nothing in the text calls for it.
  absl::Status ReadImpl(absl::string_view json,
                        google::protobuf::Message* message, std::string* wire,
                        bool parse);

  std::unique_ptr<Tables> tables_;
  int64_t fallbacks_ = 0;
};

}  // namespace treatd::json

#endif  // TREATD_COMMON_JSON_PROTO_JSON_READER_H_
