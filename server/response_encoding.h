// Serializes the decide responses (DecideResponse, BatchDecideResponse,
// StreamDecideResponse) into gRPC byte buffers, byte for byte as protobuf's
// own serializer would, but cheaper:
//
//  - protobuf's generated serializer checks every string field for valid
//    UTF-8 on the way out (proto3), about 6,200 instructions of a FULL
//    decision's ~10,700 in a server profile. That check only logs: the
//    bytes written are the same either way. The strings of a decision are
//    the engine's (policy texts, computed ids) and the request's (already
//    checked when the request was parsed), so the encoder skips it.
//  - gRPC's protobuf codec computes the message sizes twice (once for the
//    buffer, once inside SerializeToZeroCopyStream); the encoder computes
//    them once (ByteSizeLong(), which also caches every submessage's size)
//    and writes into one slice of exactly that size.
//
// The encoder knows the fields of the decision messages by hand. A schema
// guard compares them with the compiled-in descriptors once per process:
// if a field was added, removed or changed, every call falls back to
// protobuf's serializer (same bytes, old cost) and SchemaMismatch() says
// which field. A message whose encoding does not come out at exactly the
// size protobuf computed (it carries unknown fields, say) is also
// serialized by protobuf instead. Tests compare the bytes with protobuf's
// over every example finding, both views, traces, errors and messages with
// every field set.
//
// Thread-safe: pure functions (the guard runs once, under a static's
// initialization).
#ifndef TREATD_SERVER_RESPONSE_ENCODING_H_
#define TREATD_SERVER_RESPONSE_ENCODING_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/slice.h"
#include "grpcpp/support/status.h"
#include "treatd/v1/treatment_service.pb.h"

namespace treatd {

// Serializes `message` into `bytes` (replaced). INTERNAL only when the
// message is over 2 GiB, like protobuf.
grpc::Status EncodeResponse(const v1::DecideResponse& message,
                            grpc::ByteBuffer* bytes);
grpc::Status EncodeResponse(const v1::BatchDecideResponse& message,
                            grpc::ByteBuffer* bytes);
grpc::Status EncodeResponse(const v1::StreamDecideResponse& message,
                            grpc::ByteBuffer* bytes);

// Writes a BatchDecideResponse, or a StreamDecideResponse answering a
// chunk, one result at a time as each finding is decided: the bytes are
// EncodeResponse()'s for the message holding the same results, but the
// caller may decide every finding into one reused DecisionResult instead
// of building the whole response first (a fresh decision on the call's
// arena allocates each of its strings and submessages). Results go into
// 64 KiB slices, not one buffer sized in advance.
//
// Not thread-safe: one per response.
class ResultsEncoder {
 public:
  // BatchDecideResponse: `results` (field 1).
  static ResultsEncoder ForBatch() { return ResultsEncoder(1, 0); }
  // StreamDecideResponse answering a chunk: `sequence` (field 2), then
  // `results` (field 3); no `result`. Allocates nothing until written.
  static ResultsEncoder ForStreamChunk(uint64_t sequence) {
    return ResultsEncoder(3, sequence);
  }

  // Appends `result` as the next element of `results`.
  void Add(const v1::DecisionResult& result);

  // The response's bytes into `bytes` (replaced). INTERNAL when the
  // message is over 2 GiB, like protobuf.
  grpc::Status Finish(grpc::ByteBuffer* bytes);

 private:
  ResultsEncoder(int field, uint64_t sequence)
      : field_(field), sequence_(sequence) {}
  // Makes room for `size` bytes at `next_`, the fields before `results`
  // written first.
  void Reserve(size_t size);
  // Keeps the written part of the current slice.
  void Close();

  int field_;
  uint64_t sequence_;
  bool started_ = false;
  std::vector<grpc::Slice> written_;
  // The slice being written (64 KiB or more, so its bytes are on the heap
  // and stay where they are when the encoder is moved).
  grpc::Slice slice_;
  uint8_t* next_ = nullptr;
  uint8_t* end_ = nullptr;
  size_t total_ = 0;
};

// Empty when the hand-written encoder matches the compiled-in schema;
// else what differs (and the encoder is not used).
const std::string& SchemaMismatch();

// For tests: what EncodeResponse() writes; `by_encoder` is set to whether
// the encoder wrote it (false: the guard or the size check sent the
// message to protobuf).
std::string EncodeResponseForTest(const v1::BatchDecideResponse& message,
                                  bool* by_encoder);
std::string EncodeResponseForTest(const v1::StreamDecideResponse& message,
                                  bool* by_encoder);
std::string EncodeResponseForTest(const v1::DecideResponse& message,
                                  bool* by_encoder);

}  // namespace treatd

#endif  // TREATD_SERVER_RESPONSE_ENCODING_H_
