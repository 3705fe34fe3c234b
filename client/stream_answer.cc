#include "client/stream_answer.h"

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"

namespace treatd::internal {

bool SplitStreamAnswer(absl::string_view bytes, StreamAnswer* answer) {
  using google::protobuf::internal::WireFormatLite;
  answer->sequence = 0;
  answer->result = {};
  answer->results.clear();
  google::protobuf::io::CodedInputStream in(
      reinterpret_cast<const uint8_t*>(bytes.data()),
      static_cast<int>(bytes.size()));
  bool has_result = false;
  bool plain = true;
  // Reads a length-delimited value's bytes. protobuf's parser reads a
  // length of at most 5 bytes (CodedInputStream would read 10).
  auto delimited = [&](absl::string_view* value) {
    uint32_t size;
    const int start = in.CurrentPosition();
    if (!in.ReadVarint32(&size) || in.CurrentPosition() - start > 5) {
      return false;
    }
    const int at = in.CurrentPosition();
    if (size > bytes.size() - static_cast<size_t>(at)) return false;
    *value = bytes.substr(static_cast<size_t>(at), size);
    return in.Skip(static_cast<int>(size));
  };
  while (plain && in.CurrentPosition() < static_cast<int>(bytes.size())) {
    // treatd's serializer writes these three tags in one byte each; a
    // longer encoding goes to protobuf's parser, which refuses some that
    // CodedInputStream reads.
    if (static_cast<uint8_t>(
            bytes[static_cast<size_t>(in.CurrentPosition())]) >= 0x80) {
      plain = false;
      break;
    }
    const uint32_t tag = in.ReadTag();
    absl::string_view value;
    if (tag == WireFormatLite::MakeTag(
                   v1::StreamDecideResponse::kResultFieldNumber,
                   WireFormatLite::WIRETYPE_LENGTH_DELIMITED) &&
        !has_result && delimited(&value)) {
      has_result = true;
      answer->result = value;
    } else if (tag == WireFormatLite::MakeTag(
                          v1::StreamDecideResponse::kSequenceFieldNumber,
                          WireFormatLite::WIRETYPE_VARINT) &&
               in.ReadVarint64(&answer->sequence)) {
    } else if (tag == WireFormatLite::MakeTag(
                          v1::StreamDecideResponse::kResultsFieldNumber,
                          WireFormatLite::WIRETYPE_LENGTH_DELIMITED) &&
               delimited(&value)) {
      answer->results.push_back(value);
    } else {
      plain = false;
    }
  }
  if (plain) return true;
  // Another encoding (unknown fields, `result` twice, packed oddities):
  // protobuf's parser decides.
  if (!answer->parsed.ParseFromArray(bytes.data(),
                                     static_cast<int>(bytes.size()))) {
    return false;
  }
  answer->sequence = answer->parsed.sequence();
  answer->reencoded.clear();
  answer->reencoded.reserve(answer->parsed.results_size() + 1);
  answer->results.clear();
  for (const v1::DecisionResult& result : answer->parsed.results()) {
    answer->results.push_back(
        answer->reencoded.emplace_back(result.SerializeAsString()));
  }
  answer->result = answer->parsed.has_result()
                       ? absl::string_view(answer->reencoded.emplace_back(
                             answer->parsed.result().SerializeAsString()))
                       : absl::string_view();
  return true;
}

bool HasItemError(absl::string_view bytes) {
  using google::protobuf::internal::WireFormatLite;
  google::protobuf::io::CodedInputStream in(
      reinterpret_cast<const uint8_t*>(bytes.data()),
      static_cast<int>(bytes.size()));
  // `decision` and `error` are a oneof: the last one given is the one set.
  bool error = false;
  while (true) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) return error;
    // With another wire type the field is an unknown one to protobuf.
    if (tag ==
        WireFormatLite::MakeTag(v1::DecisionResult::kErrorFieldNumber,
                                WireFormatLite::WIRETYPE_LENGTH_DELIMITED)) {
      error = true;
    } else if (tag == WireFormatLite::MakeTag(
                          v1::DecisionResult::kDecisionFieldNumber,
                          WireFormatLite::WIRETYPE_LENGTH_DELIMITED)) {
      error = false;
    }
    if (!WireFormatLite::SkipField(&in, tag)) return false;
  }
}

}  // namespace treatd::internal
