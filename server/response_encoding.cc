#include "server/response_encoding.h"

#include <climits>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/wire_format_lite.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "grpcpp/support/slice.h"
#include "server/logging.h"
#include "treatd/v1/decision.pb.h"

namespace treatd {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::RepeatedPtrField;
using google::protobuf::io::CodedOutputStream;
using Wire = google::protobuf::internal::WireFormatLite;

// ------------------------------------------------------------ primitives --
// Each writes one field at `p` the way protobuf's generated proto3 code
// does (implicit presence: zero, empty and unset fields are not written)
// and returns the end. Sizes were computed by ByteSizeLong() before.

// A string field, always: protobuf's WriteStringToArray, inline (its
// out-of-line call was ~20 instructions of each string's ~45).
inline uint8_t* StringField(int field, const std::string& value, uint8_t* p) {
  p = Wire::WriteTagToArray(field, Wire::WIRETYPE_LENGTH_DELIMITED, p);
  p = CodedOutputStream::WriteVarint32ToArray(
      static_cast<uint32_t>(value.size()), p);
  std::memcpy(p, value.data(), value.size());
  return p + value.size();
}

inline uint8_t* String(int field, const std::string& value, uint8_t* p) {
  if (value.empty()) return p;
  return StringField(field, value, p);
}

// Repeated strings: every element, empty ones too.
uint8_t* Strings(int field, const RepeatedPtrField<std::string>& values,
                 uint8_t* p) {
  for (const std::string& value : values) p = StringField(field, value, p);
  return p;
}

uint8_t* Int32(int field, int32_t value, uint8_t* p) {
  return value == 0 ? p : Wire::WriteInt32ToArray(field, value, p);
}

uint8_t* Int64(int field, int64_t value, uint8_t* p) {
  return value == 0 ? p : Wire::WriteInt64ToArray(field, value, p);
}

uint8_t* UInt64(int field, uint64_t value, uint8_t* p) {
  return value == 0 ? p : Wire::WriteUInt64ToArray(field, value, p);
}

uint8_t* Enum(int field, int value, uint8_t* p) {
  return value == 0 ? p : Wire::WriteEnumToArray(field, value, p);
}

uint8_t* Bool(int field, bool value, uint8_t* p) {
  return value ? Wire::WriteBoolToArray(field, value, p) : p;
}

// protobuf writes a double unless its bits are all zero (so -0.0 is
// written).
uint8_t* Double(int field, double value, uint8_t* p) {
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits == 0 ? p : Wire::WriteDoubleToArray(field, value, p);
}

// The tag and length of a submessage whose size ByteSizeLong() cached.
uint8_t* Header(int field, const google::protobuf::MessageLite& message,
                uint8_t* p) {
  p = Wire::WriteTagToArray(field, Wire::WIRETYPE_LENGTH_DELIMITED, p);
  return CodedOutputStream::WriteVarint32ToArray(
      static_cast<uint32_t>(message.GetCachedSize()), p);
}

// ------------------------------------------------------------- messages --
// Each writes a message's fields (not its tag and length) at `p`.

uint8_t* Write(const v1::Decision& m, uint8_t* p);
uint8_t* Write(const v1::ItemError& m, uint8_t* p);
uint8_t* Write(const v1::DecisionResult& m, uint8_t* p);

uint8_t* Write(const google::protobuf::Timestamp& m, uint8_t* p) {
  p = Int64(1, m.seconds(), p);
  return Int32(2, m.nanos(), p);
}

uint8_t* WriteTimestamp(int field, const google::protobuf::Timestamp& m,
                        uint8_t* p) {
  return Write(m, Header(field, m, p));
}

uint8_t* Write(const v1::Action& m, uint8_t* p) {
  p = String(1, m.id(), p);
  p = Enum(2, m.category(), p);
  p = String(3, m.text(), p);
  if (m.has_due_by()) p = WriteTimestamp(4, m.due_by(), p);
  return p;
}

uint8_t* Write(const v1::TableOutcome& m, uint8_t* p) {
  p = String(1, m.table(), p);
  p = String(2, m.outcome(), p);
  p = Int32(3, m.row(), p);
  return Strings(4, m.inputs(), p);
}

uint8_t* Write(const v1::ExceptionRef& m, uint8_t* p) {
  p = String(1, m.id(), p);
  p = String(2, m.approver(), p);
  p = String(3, m.reason(), p);
  if (m.has_expires()) p = WriteTimestamp(4, m.expires(), p);
  p = Bool(5, m.applied(), p);
  return String(6, m.ticket(), p);
}

uint8_t* Write(const v1::RuleTrace& m, uint8_t* p) {
  p = String(1, m.rule(), p);
  p = Bool(2, m.matched(), p);
  return String(3, m.explanation(), p);
}

uint8_t* Write(const v1::PolicyRef& m, uint8_t* p) {
  p = String(1, m.name(), p);
  p = String(2, m.version(), p);
  return String(3, m.digest(), p);
}

uint8_t* Write(const v1::IntelRef& m, uint8_t* p) {
  p = Strings(1, m.feed_versions(), p);
  p = Strings(2, m.facts(), p);
  p = Strings(3, m.caller_facts_kept(), p);
  p = Bool(4, m.stale(), p);
  return Strings(5, m.stale_feeds(), p);
}

uint8_t* Write(const v1::RevisitCondition& m, uint8_t* p) {
  p = Enum(1, m.kind(), p);
  p = Double(2, m.threshold(), p);
  p = String(3, m.value(), p);
  if (m.has_at()) p = WriteTimestamp(4, m.at(), p);
  p = Enum(5, m.new_treatment(), p);
  p = String(6, m.new_priority(), p);
  return String(7, m.text(), p);
}

// A submessage field, set or not (singular) or each element (repeated).
template <typename M>
uint8_t* Message(int field, const M& m, uint8_t* p) {
  return Write(m, Header(field, m, p));
}

template <typename M>
uint8_t* Messages(int field, const RepeatedPtrField<M>& values, uint8_t* p) {
  for (const M& m : values) p = Message(field, m, p);
  return p;
}

uint8_t* Write(const v1::Decision& m, uint8_t* p) {
  p = String(1, m.decision_id(), p);
  p = String(2, m.finding_id(), p);
  p = Enum(3, m.treatment(), p);
  p = String(4, m.priority(), p);
  p = Int32(5, m.priority_rank(), p);
  if (m.has_mitigate_by()) p = WriteTimestamp(6, m.mitigate_by(), p);
  if (m.has_remediate_by()) p = WriteTimestamp(7, m.remediate_by(), p);
  if (m.has_review_by()) p = WriteTimestamp(8, m.review_by(), p);
  p = Messages(9, m.actions(), p);
  p = Double(10, m.inherent_risk(), p);
  p = Double(11, m.residual_risk(), p);
  p = Messages(12, m.table_outcomes(), p);
  p = Enum(13, m.match_kind(), p);
  p = String(14, m.matched_rule(), p);
  if (m.has_exception()) p = Message(15, m.exception(), p);
  p = Strings(16, m.reasons(), p);
  p = Messages(17, m.trace(), p);
  if (m.has_policy()) p = Message(18, m.policy(), p);
  if (m.has_evaluated_at()) p = WriteTimestamp(19, m.evaluated_at(), p);
  p = Strings(20, m.deadline_sources(), p);
  if (m.has_intel()) p = Message(21, m.intel(), p);
  return Messages(22, m.revisit_conditions(), p);
}

// ItemError is rare (a finding that failed validation): protobuf writes it.
uint8_t* Write(const v1::ItemError& m, uint8_t* p) {
  return m.SerializeWithCachedSizesToArray(p);
}

uint8_t* Write(const v1::DecisionResult& m, uint8_t* p) {
  p = String(1, m.finding_id(), p);
  p = Int32(2, m.index(), p);
  if (m.has_decision()) p = Message(3, m.decision(), p);
  if (m.has_error()) p = Message(4, m.error(), p);
  return p;
}

uint8_t* Write(const v1::DecideResponse& m, uint8_t* p) {
  if (m.has_decision()) p = Message(1, m.decision(), p);
  return p;
}

uint8_t* Write(const v1::BatchDecideResponse& m, uint8_t* p) {
  return Messages(1, m.results(), p);
}

uint8_t* Write(const v1::StreamDecideResponse& m, uint8_t* p) {
  if (m.has_result()) p = Message(1, m.result(), p);
  p = UInt64(2, m.sequence(), p);
  return Messages(3, m.results(), p);
}

// ---------------------------------------------------------- schema guard --

// One field as the encoder above writes it.
struct FieldSpec {
  int number;
  FieldDescriptor::Type type;
  bool repeated;
  // For TYPE_MESSAGE and TYPE_ENUM: the type's full name.
  const char* type_name;
  // In a real oneof (DecisionResult.result); else implicit presence.
  bool oneof = false;
};

struct MessageSpec {
  const Descriptor* descriptor;
  std::vector<FieldSpec> fields;
};

constexpr auto kString = FieldDescriptor::TYPE_STRING;
constexpr auto kInt32 = FieldDescriptor::TYPE_INT32;
constexpr auto kInt64 = FieldDescriptor::TYPE_INT64;
constexpr auto kUInt64 = FieldDescriptor::TYPE_UINT64;
constexpr auto kDouble = FieldDescriptor::TYPE_DOUBLE;
constexpr auto kBool = FieldDescriptor::TYPE_BOOL;
constexpr auto kEnum = FieldDescriptor::TYPE_ENUM;
constexpr auto kMessage = FieldDescriptor::TYPE_MESSAGE;
constexpr char kTimestamp[] = "google.protobuf.Timestamp";

std::vector<MessageSpec> EncodedMessages() {
  return {
      {google::protobuf::Timestamp::descriptor(),
       {{1, kInt64, false, nullptr}, {2, kInt32, false, nullptr}}},
      {v1::Action::descriptor(),
       {{1, kString, false, nullptr},
        {2, kEnum, false, "treatd.v1.ActionCategory"},
        {3, kString, false, nullptr},
        {4, kMessage, false, kTimestamp}}},
      {v1::TableOutcome::descriptor(),
       {{1, kString, false, nullptr},
        {2, kString, false, nullptr},
        {3, kInt32, false, nullptr},
        {4, kString, true, nullptr}}},
      {v1::ExceptionRef::descriptor(),
       {{1, kString, false, nullptr},
        {2, kString, false, nullptr},
        {3, kString, false, nullptr},
        {4, kMessage, false, kTimestamp},
        {5, kBool, false, nullptr},
        {6, kString, false, nullptr}}},
      {v1::RuleTrace::descriptor(),
       {{1, kString, false, nullptr},
        {2, kBool, false, nullptr},
        {3, kString, false, nullptr}}},
      {v1::PolicyRef::descriptor(),
       {{1, kString, false, nullptr},
        {2, kString, false, nullptr},
        {3, kString, false, nullptr}}},
      {v1::IntelRef::descriptor(),
       {{1, kString, true, nullptr},
        {2, kString, true, nullptr},
        {3, kString, true, nullptr},
        {4, kBool, false, nullptr},
        {5, kString, true, nullptr}}},
      {v1::RevisitCondition::descriptor(),
       {{1, kEnum, false, "treatd.v1.RevisitKind"},
        {2, kDouble, false, nullptr},
        {3, kString, false, nullptr},
        {4, kMessage, false, kTimestamp},
        {5, kEnum, false, "treatd.v1.Treatment"},
        {6, kString, false, nullptr},
        {7, kString, false, nullptr}}},
      {v1::Decision::descriptor(),
       {{1, kString, false, nullptr},
        {2, kString, false, nullptr},
        {3, kEnum, false, "treatd.v1.Treatment"},
        {4, kString, false, nullptr},
        {5, kInt32, false, nullptr},
        {6, kMessage, false, kTimestamp},
        {7, kMessage, false, kTimestamp},
        {8, kMessage, false, kTimestamp},
        {9, kMessage, true, "treatd.v1.Action"},
        {10, kDouble, false, nullptr},
        {11, kDouble, false, nullptr},
        {12, kMessage, true, "treatd.v1.TableOutcome"},
        {13, kEnum, false, "treatd.v1.MatchKind"},
        {14, kString, false, nullptr},
        {15, kMessage, false, "treatd.v1.ExceptionRef"},
        {16, kString, true, nullptr},
        {17, kMessage, true, "treatd.v1.RuleTrace"},
        {18, kMessage, false, "treatd.v1.PolicyRef"},
        {19, kMessage, false, kTimestamp},
        {20, kString, true, nullptr},
        {21, kMessage, false, "treatd.v1.IntelRef"},
        {22, kMessage, true, "treatd.v1.RevisitCondition"}}},
      {v1::DecisionResult::descriptor(),
       {{1, kString, false, nullptr},
        {2, kInt32, false, nullptr},
        {3, kMessage, false, "treatd.v1.Decision", /*oneof=*/true},
        {4, kMessage, false, "treatd.v1.ItemError", /*oneof=*/true}}},
      {v1::DecideResponse::descriptor(),
       {{1, kMessage, false, "treatd.v1.Decision"}}},
      {v1::BatchDecideResponse::descriptor(),
       {{1, kMessage, true, "treatd.v1.DecisionResult"}}},
      {v1::StreamDecideResponse::descriptor(),
       {{1, kMessage, false, "treatd.v1.DecisionResult"},
        {2, kUInt64, false, nullptr},
        {3, kMessage, true, "treatd.v1.DecisionResult"}}},
  };
}

// What differs between one message's descriptor and its spec ("" if
// nothing).
std::string CompareSpec(const MessageSpec& spec) {
  const Descriptor* d = spec.descriptor;
  const std::string name = d->full_name();
  if (d->field_count() != static_cast<int>(spec.fields.size())) {
    return absl::StrCat(name, " has ", d->field_count(),
                        " fields; the encoder writes ", spec.fields.size());
  }
  if (d->extension_range_count() > 0) {
    return absl::StrCat(name, " has extension ranges");
  }
  for (const FieldSpec& f : spec.fields) {
    const FieldDescriptor* field = d->FindFieldByNumber(f.number);
    if (field == nullptr) {
      return absl::StrCat(name, " has no field ", f.number);
    }
    const std::string where =
        absl::StrCat(field->full_name(), " (", f.number, ")");
    if (field->type() != f.type) {
      return absl::StrCat(where, " is a ", field->type_name(),
                          "; the encoder writes a ",
                          FieldDescriptor::TypeName(f.type));
    }
    if (field->is_repeated() != f.repeated) {
      return absl::StrCat(where, field->is_repeated() ? " is" : " is not",
                          " repeated");
    }
    if (field->is_packed()) return absl::StrCat(where, " is packed");
    const std::string type_name =
        field->message_type() != nullptr ? field->message_type()->full_name()
        : field->enum_type() != nullptr  ? field->enum_type()->full_name()
                                         : "";
    if (type_name != (f.type_name == nullptr ? "" : f.type_name)) {
      return absl::StrCat(where, " is of type ", type_name);
    }
    const bool real_oneof = field->real_containing_oneof() != nullptr;
    if (real_oneof != f.oneof) {
      return absl::StrCat(where, real_oneof ? " is" : " is not", " in a oneof");
    }
    // Scalars and strings are written when not zero or empty (implicit
    // presence); an `optional` one would be written when set.
    if (!f.repeated && f.type != kMessage && field->has_presence()) {
      return absl::StrCat(where, " has explicit presence");
    }
  }
  return "";
}

std::string CheckSchema() {
  for (const MessageSpec& spec : EncodedMessages()) {
    std::string mismatch = CompareSpec(spec);
    if (!mismatch.empty()) {
      LogWarning(
          "response encoder disabled: the decision messages changed; "
          "protobuf serializes them instead (slower). Update "
          "server/response_encoding.cc",
          {{"mismatch", mismatch}});
      return mismatch;
    }
  }
  return "";
}

// ------------------------------------------------------------- encoding --

using ProtoTraits = grpc::SerializationTraits<google::protobuf::MessageLite>;

grpc::Status ProtobufSerialize(const google::protobuf::MessageLite& message,
                               grpc::ByteBuffer* bytes) {
  bool own_buffer = false;
  return ProtoTraits::Serialize(message, bytes, &own_buffer);
}

// `by_encoder` (may be null) tells whether the encoder wrote the bytes.
template <typename M>
grpc::Status Encode(const M& message, grpc::ByteBuffer* bytes,
                    bool* by_encoder = nullptr) {
  if (by_encoder != nullptr) *by_encoder = false;
  if (!SchemaMismatch().empty()) return ProtobufSerialize(message, bytes);
  // Also caches the size of every submessage, which Header() reads.
  const size_t size = message.ByteSizeLong();
  if (size > static_cast<size_t>(INT_MAX)) {
    return grpc::Status(grpc::StatusCode::INTERNAL,
                        absl::StrCat("response of ", size,
                                     " bytes is over protobuf's 2 GiB limit"));
  }
  grpc::Slice slice(size);
  uint8_t* begin = const_cast<uint8_t*>(slice.begin());
  const uint8_t* end = Write(message, begin);
  if (static_cast<size_t>(end - begin) != size) {
    // Fewer bytes than protobuf counted: the message carries something the
    // encoder does not write (unknown fields). Writing more is impossible
    // with the schema guard passed: every field written is one protobuf
    // counted, by the same rules.
    return ProtobufSerialize(message, bytes);
  }
  grpc::ByteBuffer buffer(&slice, 1);
  bytes->Swap(&buffer);
  if (by_encoder != nullptr) *by_encoder = true;
  return grpc::Status::OK;
}

template <typename M>
std::string EncodeForTest(const M& message, bool* by_encoder) {
  grpc::ByteBuffer bytes;
  if (!Encode(message, &bytes, by_encoder).ok()) return "";
  std::vector<grpc::Slice> slices;
  if (!bytes.Dump(&slices).ok()) return "";
  std::string out;
  for (const grpc::Slice& slice : slices) {
    out.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return out;
}

// The slices a ResultsEncoder writes into: a few per 1,000-finding batch.
constexpr size_t kResultSliceSize = 64 * 1024;

// A field's tag and a length, at most.
constexpr size_t kMaxHeader = 2 * 5;

}  // namespace

void ResultsEncoder::Close() {
  if (next_ == nullptr) return;
  const size_t used = next_ - slice_.begin();
  if (used > 0) written_.push_back(slice_.sub(0, used));
  next_ = end_ = nullptr;
}

void ResultsEncoder::Reserve(size_t size) {
  if (!started_) {
    started_ = true;
    // StreamDecideResponse.sequence comes before the results.
    if (field_ == 3) {
      Reserve(kMaxHeader);
      uint8_t* const start = next_;
      next_ = UInt64(2, sequence_, start);
      total_ += next_ - start;
    }
  }
  if (static_cast<size_t>(end_ - next_) >= size) return;
  Close();
  slice_ = grpc::Slice(size > kResultSliceSize ? size : kResultSliceSize);
  next_ = const_cast<uint8_t*>(slice_.begin());
  end_ = next_ + slice_.size();
}

void ResultsEncoder::Add(const v1::DecisionResult& result) {
  // Also caches the size of every submessage, which Header() reads.
  const size_t size = result.ByteSizeLong();
  if (size > static_cast<size_t>(INT_MAX) || total_ > INT_MAX) {
    total_ = static_cast<size_t>(INT_MAX) + 1;  // Finish() refuses it.
    return;
  }
  Reserve(kMaxHeader + size);
  uint8_t* const start = next_;
  uint8_t* p = Header(field_, result, start);
  uint8_t* const body = p;
  if (SchemaMismatch().empty()) p = Write(result, body);
  if (!SchemaMismatch().empty() || static_cast<size_t>(p - body) != size) {
    // protobuf's own bytes for the element (see Encode()).
    p = result.SerializeWithCachedSizesToArray(body);
  }
  next_ = p;
  total_ += p - start;
}

grpc::Status ResultsEncoder::Finish(grpc::ByteBuffer* bytes) {
  if (total_ > static_cast<size_t>(INT_MAX)) {
    return grpc::Status(grpc::StatusCode::INTERNAL,
                        "response is over protobuf's 2 GiB limit");
  }
  Reserve(0);  // The sequence of a chunk without results.
  Close();
  // An empty message is one empty slice, like Encode()'s.
  if (written_.empty()) written_.emplace_back(size_t{0});
  grpc::ByteBuffer buffer(written_.data(), written_.size());
  bytes->Swap(&buffer);
  written_.clear();
  return grpc::Status::OK;
}

const std::string& SchemaMismatch() {
  static const std::string* const mismatch = new std::string(CheckSchema());
  return *mismatch;
}

grpc::Status EncodeResponse(const v1::DecideResponse& message,
                            grpc::ByteBuffer* bytes) {
  return Encode(message, bytes);
}

grpc::Status EncodeResponse(const v1::BatchDecideResponse& message,
                            grpc::ByteBuffer* bytes) {
  return Encode(message, bytes);
}

grpc::Status EncodeResponse(const v1::StreamDecideResponse& message,
                            grpc::ByteBuffer* bytes) {
  return Encode(message, bytes);
}

std::string EncodeResponseForTest(const v1::BatchDecideResponse& message,
                                  bool* by_encoder) {
  return EncodeForTest(message, by_encoder);
}
std::string EncodeResponseForTest(const v1::StreamDecideResponse& message,
                                  bool* by_encoder) {
  return EncodeForTest(message, by_encoder);
}
std::string EncodeResponseForTest(const v1::DecideResponse& message,
                                  bool* by_encoder) {
  return EncodeForTest(message, by_encoder);
}

}  // namespace treatd
