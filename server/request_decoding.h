// What treatd answers when a request's bytes do not parse as the method's
// request message (a truncated or corrupted protobuf): INVALID_ARGUMENT
// naming the message type, on every method, counted in
// treatd_rpc_rejected_total{reason="undecodable_request"}. gRPC's own
// answers (UNIMPLEMENTED for callback methods, INTERNAL for sync ones, a
// silent end of stream for StreamDecide) mislead a client: the method
// exists and the server is fine.
//
// Pure functions, thread-safe.
#ifndef TREATD_SERVER_REQUEST_DECODING_H_
#define TREATD_SERVER_REQUEST_DECODING_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/status.h"

namespace treatd {

// The label of treatd_rpc_rejected_total for such requests.
inline constexpr absl::string_view kUndecodableReason = "undecodable_request";

// The full name of `method`'s request message ("/treatd.v1.TreatmentService/
// Decide" gives "treatd.v1.DecideRequest"), or "the request message" for a
// method the generated descriptor pool does not know.
std::string RequestTypeOf(absl::string_view method);

// INVALID_ARGUMENT: "request bytes do not parse as <type> ...".
// `size` is the number of bytes received, when known (0: unknown).
grpc::Status UndecodableRequest(absl::string_view type_name, size_t size = 0);

// Parses `bytes` into `message` (cleared first). Returns OK, or
// UndecodableRequest() naming the message's type.
grpc::Status ParseRequest(const grpc::ByteBuffer& bytes,
                          google::protobuf::Message* message);

// Serializes `message` into `bytes`; INTERNAL only if serialization fails
// (a message over 2 GiB).
grpc::Status SerializeResponse(const google::protobuf::Message& message,
                               grpc::ByteBuffer* bytes);

}  // namespace treatd

#endif  // TREATD_SERVER_REQUEST_DECODING_H_
