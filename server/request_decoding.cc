#include "server/request_decoding.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "google/protobuf/descriptor.h"
#include "grpcpp/impl/codegen/proto_utils.h"

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
  // Deserialize consumes its buffer: give it a copy (slices are shared,
  // not copied).
  grpc::ByteBuffer copy(bytes);
  if (!ProtoTraits::Deserialize(&copy, message).ok()) {
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
