// Calls with raw bytes instead of messages, for tests and load tools that
// send what a well-behaved client never would (garbage, hand-encoded
// requests) or read services without their generated stubs
// (grpc.health.v1). Each call has a deadline, so a caller never hangs on
// one. Thread-safe: every call is independent.
#ifndef TREATD_CLIENT_FAULTS_RAW_CALLS_H_
#define TREATD_CLIENT_FAULTS_RAW_CALLS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"

namespace treatd {

inline std::string ByteBufferText(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string text;
  if (!buffer.Dump(&slices).ok()) return text;
  for (const grpc::Slice& s : slices) {
    text.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return text;
}

// Sends `request` bytes to a unary `method` and returns the response bytes
// in `response` (empty unless the call is OK).
inline grpc::Status RawUnaryCall(grpc::Channel* channel,
                                 const std::string& method,
                                 const std::string& request,
                                 std::string* response,
                                 absl::Duration timeout = absl::Seconds(10)) {
  grpc::GenericStub stub(channel->shared_from_this());
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  grpc::Slice slice(request);
  grpc::ByteBuffer request_buffer(&slice, 1);
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> call =
      stub.PrepareUnaryCall(&context, method, request_buffer, &cq);
  call->StartCall();
  grpc::ByteBuffer response_buffer;
  grpc::Status status;
  call->Finish(&response_buffer, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  if (!cq.Next(&tag, &ok) || !ok) {
    return grpc::Status(grpc::StatusCode::UNKNOWN, "completion queue failed");
  }
  response->clear();
  if (status.ok()) *response = ByteBufferText(response_buffer);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return status;
}

// Opens a bidirectional stream on `method`, sends `messages` (raw bytes
// each), half-closes, reads every response until the end and returns the
// stream's status; `responses` (may be null) gets the response count,
// and `response_bytes` (may be null) each response's bytes, in order.
inline grpc::Status RawStreamCall(
    grpc::Channel* channel, const std::string& method,
    const std::vector<std::string>& messages, int* responses,
    absl::Duration timeout = absl::Seconds(10),
    std::vector<std::string>* response_bytes = nullptr) {
  grpc::GenericStub stub(channel->shared_from_this());
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
      stub.PrepareCall(&context, method, &cq);
  void* tag = nullptr;
  bool ok = false;
  // One operation at a time: each waits for its own completion.
  auto step = [&] { return cq.Next(&tag, &ok) && ok; };
  call->StartCall(reinterpret_cast<void*>(1));
  bool open = step();
  for (const std::string& message : messages) {
    if (!open) break;
    grpc::Slice slice(message);
    grpc::ByteBuffer buffer(&slice, 1);
    call->Write(buffer, reinterpret_cast<void*>(2));
    open = step();
  }
  if (open) {
    call->WritesDone(reinterpret_cast<void*>(3));
    open = step();
  }
  int count = 0;
  while (true) {
    grpc::ByteBuffer response;
    call->Read(&response, reinterpret_cast<void*>(4));
    if (!step()) break;
    ++count;
    if (response_bytes != nullptr) {
      response_bytes->push_back(ByteBufferText(response));
    }
  }
  if (responses != nullptr) *responses = count;
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return status;
}

}  // namespace treatd

#endif  // TREATD_CLIENT_FAULTS_RAW_CALLS_H_
