// TreatmentService.StreamDecide with its messages as bytes, for the client
// library and `treatctl bench`: the one place that opens such a stream
// (gRPC 1.51 has no public synchronous stream of grpc::ByteBuffer
// messages; this is what the generated stub's StreamDecide() does, with
// ByteBuffer messages), and the bytes of a received message. Internal to
// the client library (not installed).
//
// A StreamDecideBytes is immutable after construction and may be used
// from any thread.
#ifndef TREATD_CLIENT_BYTE_STREAM_H_
#define TREATD_CLIENT_BYTE_STREAM_H_

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/impl/rpc_method.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/slice.h"
#include "grpcpp/support/sync_stream.h"

namespace treatd::internal {

using ByteStream = grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>;

class StreamDecideBytes {
 public:
  // The method registered with `channel`.
  explicit StreamDecideBytes(std::shared_ptr<grpc::ChannelInterface> channel);

  // Starts a call with `context` (which must outlive the stream).
  std::unique_ptr<ByteStream> Open(grpc::ClientContext* context) const;

 private:
  const std::shared_ptr<grpc::ChannelInterface> channel_;
  const grpc::internal::RpcMethod method_;
};

// The bytes of `buffer` in one piece: a view of its only slice, which
// `*single` keeps (valid while `*single` and the buffer are unchanged), or
// the slices copied into `*flat`. Empty when the buffer cannot be read.
absl::string_view MessageBytes(const grpc::ByteBuffer& buffer,
                               grpc::Slice* single, std::string* flat);

}  // namespace treatd::internal

#endif  // TREATD_CLIENT_BYTE_STREAM_H_
