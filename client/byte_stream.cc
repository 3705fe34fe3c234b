#include "client/byte_stream.h"

#include <utility>
#include <vector>

namespace treatd::internal {
namespace {

// RpcMethod keeps a pointer to its name.
constexpr char kStreamDecideMethod[] =
    "/treatd.v1.TreatmentService/StreamDecide";

}  // namespace

StreamDecideBytes::StreamDecideBytes(
    std::shared_ptr<grpc::ChannelInterface> channel)
    : channel_(std::move(channel)),
      method_(kStreamDecideMethod, grpc::internal::RpcMethod::BIDI_STREAMING,
              channel_) {}

std::unique_ptr<ByteStream> StreamDecideBytes::Open(
    grpc::ClientContext* context) const {
  return std::unique_ptr<ByteStream>(
      grpc::internal::ClientReaderWriterFactory<
          grpc::ByteBuffer, grpc::ByteBuffer>::Create(channel_.get(), method_,
                                                      context));
}

absl::string_view MessageBytes(const grpc::ByteBuffer& buffer,
                               grpc::Slice* single, std::string* flat) {
  if (buffer.TrySingleSlice(single).ok()) {
    return absl::string_view(reinterpret_cast<const char*>(single->begin()),
                             single->size());
  }
  std::vector<grpc::Slice> slices;
  flat->clear();
  if (!buffer.Dump(&slices).ok()) return *flat;
  for (const grpc::Slice& slice : slices) {
    flat->append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return *flat;
}

}  // namespace treatd::internal
