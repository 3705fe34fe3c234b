#include "server/request_decoding.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "google/protobuf/descriptor.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "grpcpp/support/slice.h"

namespace treatd {

std::string RequestTypeOf(absl::string_view method) {
  // "/package.Service/Method" → "package.Service.Method".
  absl::ConsumePrefix(&method, "/");
  std::string full_name(method);
  const size_t slash = full_name.find('/');
  if (slash != std::string::npos) full_name[slash] = '.';
  const google::protobuf::MethodDescriptor* descriptor =
      google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(
          full_name);
  if (descriptor == nullptr) return "the request message";
  return descriptor->input_type()->full_name();
}

grpc::Status UndecodableRequest(absl::string_view type_name, size_t size) {
  return grpc::Status(
      grpc::StatusCode::INVALID_ARGUMENT,
      absl::StrCat("request bytes do not parse as ", type_name,
                   size > 0 ? absl::StrCat(" (", size, " bytes)") : "",
                   ": the message is truncated or corrupted; send a "
                   "serialized ",
                   type_name));
}

// gRPC's own protobuf (de)serialization, the same code a typed method runs.
using ProtoTraits = grpc::SerializationTraits<google::protobuf::Message>;

grpc::Status ParseRequest(const grpc::ByteBuffer& bytes,
                          google::protobuf::Message* message) {
  // A small request (every unary Decide) arrives as one uncompressed
  // slice: parsing it in place skips the stream adapter gRPC's
  // deserializer puts around the slices, about 1,000 instructions a call.
  // The parse itself, and so what it accepts, is the same.
  grpc::Slice slice;
  bool parsed;
  if (bytes.TrySingleSlice(&slice).ok()) {
    parsed =
        message->ParseFromArray(slice.begin(), static_cast<int>(slice.size()));
  } else {
    // Deserialize consumes its buffer: give it a copy (slices are shared,
    // not copied).
    grpc::ByteBuffer copy(bytes);
    parsed = ProtoTraits::Deserialize(&copy, message).ok();
  }
  if (!parsed) {
    return UndecodableRequest(message->GetDescriptor()->full_name(),
                              bytes.Length());
  }
  return grpc::Status::OK;
}

grpc::Status SerializeResponse(const google::protobuf::Message& message,
                               grpc::ByteBuffer* bytes) {
  bool own_buffer = false;
  return ProtoTraits::Serialize(message, bytes, &own_buffer);
}

}  // namespace treatd
