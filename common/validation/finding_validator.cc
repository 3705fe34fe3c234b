#include "common/validation/finding_validator.h"

#include <cmath>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/timestamp.pb.h"

namespace treatd {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::EnumDescriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::Message;
using ::google::protobuf::Reflection;

// The range google/protobuf/timestamp.proto allows:
// 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;
constexpr int32_t kMaxNanos = 999999999;

// The status message lists this many problems; `violations` gets them all.
constexpr size_t kMaxProblemsInMessage = 10;
// Map keys are echoed in field paths only up to this many bytes.
constexpr size_t kMaxKeyBytesInPath = 64;

// A double field with an allowed closed range.
struct NumberRange {
  const FieldDescriptor* field;
  double min;
  double max;
};

const std::vector<NumberRange>& NumberRanges() {
  static const auto* const ranges = new std::vector<NumberRange>{
      {v1::Cvss::descriptor()->FindFieldByName("score"), 0.0, 10.0},
      {v1::Epss::descriptor()->FindFieldByName("score"), 0.0, 1.0},
      {v1::Epss::descriptor()->FindFieldByName("percentile"), 0.0, 1.0},
  };
  return *ranges;
}

struct Problem {
  std::string field;
  std::string description;
  bool over_limit;  // RESOURCE_EXHAUSTED rather than INVALID_ARGUMENT.
};

// One step of the path from the finding to the field being checked. Paths
// are only rendered when a problem is found, so the walk over a valid
// finding allocates nothing.
struct PathSegment {
  const FieldDescriptor* field;
  int index;               // List element, or -1.
  const std::string* key;  // Map key, or nullptr.
};

std::string AllowedValues(const EnumDescriptor* type) {
  std::vector<absl::string_view> names;
  for (int i = 0; i < type->value_count(); ++i) {
    if (type->value(i)->number() != 0) names.push_back(type->value(i)->name());
  }
  return absl::StrJoin(names, ", ");
}

// Walks a message with reflection, visiting only the fields that are set,
// and records every problem it finds.
class FindingChecker {
 public:
  FindingChecker(const FindingLimits& limits, absl::string_view prefix)
      : limits_(limits), prefix_(prefix) {}

  void CheckRequired(const v1::Finding& finding) {
    if (finding.id().empty()) {
      AddAt("id",
            "required; a caller-chosen identifier, unique within the "
            "request",
            false);
    }
    if (finding.kind() == v1::FINDING_KIND_UNSPECIFIED) {
      AddAt("kind",
            absl::StrCat("required; one of ",
                         AllowedValues(v1::FindingKind_descriptor())),
            false);
    }
  }

  void CheckMessage(const Message& message) {
    const Reflection* reflection = message.GetReflection();
    std::vector<const FieldDescriptor*> fields;
    reflection->ListFields(message, &fields);
    for (const FieldDescriptor* field : fields) {
      path_.push_back({field, -1, nullptr});
      if (field->is_map()) {
        CheckMap(message, field);
      } else if (field->is_repeated()) {
        const int size = reflection->FieldSize(message, field);
        if (CheckSize(size)) {
          for (int i = 0; i < size; ++i) {
            path_.back().index = i;
            CheckValue(message, field, i);
          }
        }
      } else {
        CheckValue(message, field, -1);
      }
      path_.pop_back();
    }
  }

  std::vector<Problem>& problems() { return problems_; }

 private:
  // Returns true when a list or map of `size` entries is within limits.
  bool CheckSize(int size) {
    if (static_cast<size_t>(size) <= limits_.max_repeated) return true;
    Add(absl::StrCat("has ", size, " entries; at most ", limits_.max_repeated,
                     " allowed"),
        true);
    return false;
  }

  void CheckMap(const Message& message, const FieldDescriptor* field) {
    const Reflection* reflection = message.GetReflection();
    const int size = reflection->FieldSize(message, field);
    if (!CheckSize(size)) return;
    const FieldDescriptor* key_field = field->message_type()->map_key();
    const FieldDescriptor* value_field = field->message_type()->map_value();
    for (int i = 0; i < size; ++i) {
      const Message& entry = reflection->GetRepeatedMessage(message, field, i);
      const Reflection* entry_reflection = entry.GetReflection();
      if (key_field->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
        std::string scratch;
        const std::string& key =
            entry_reflection->GetStringReference(entry, key_field, &scratch);
        if (key.size() > limits_.max_string_bytes) {
          Add(absl::StrCat("has a key of ", key.size(), " bytes; at most ",
                           limits_.max_string_bytes, " allowed"),
              true);
          continue;
        }
        keys_.push_back(key);
        path_.back().key = &keys_.back();
      } else {
        path_.back().index = i;
      }
      CheckValue(entry, value_field, -1);
      if (path_.back().key != nullptr) {
        path_.back().key = nullptr;
        keys_.pop_back();
      }
    }
  }

  // Checks one value: the singular `field` of `message` when `index` is -1,
  // else element `index` of the repeated `field`.
  void CheckValue(const Message& message, const FieldDescriptor* field,
                  int index) {
    const Reflection* reflection = message.GetReflection();
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING: {
        std::string scratch;
        const std::string& value =
            index < 0 ? reflection->GetStringReference(message, field, &scratch)
                      : reflection->GetRepeatedStringReference(message, field,
                                                               index, &scratch);
        if (value.size() > limits_.max_string_bytes) {
          Add(absl::StrCat("is ", value.size(), " bytes; at most ",
                           limits_.max_string_bytes, " allowed"),
              true);
        }
        break;
      }
      case FieldDescriptor::CPPTYPE_ENUM: {
        const int number =
            index < 0 ? reflection->GetEnumValue(message, field)
                      : reflection->GetRepeatedEnumValue(message, field, index);
        const EnumDescriptor* type = field->enum_type();
        if (type->FindValueByNumber(number) == nullptr) {
          Add(absl::StrCat(number, " is not a value of ", type->full_name(),
                           "; allowed: ", AllowedValues(type)),
              false);
        }
        break;
      }
      case FieldDescriptor::CPPTYPE_DOUBLE:
      case FieldDescriptor::CPPTYPE_FLOAT: {
        const double value =
            field->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE
                ? (index < 0
                       ? reflection->GetDouble(message, field)
                       : reflection->GetRepeatedDouble(message, field, index))
                : (index < 0
                       ? reflection->GetFloat(message, field)
                       : reflection->GetRepeatedFloat(message, field, index));
        CheckNumber(field, value);
        break;
      }
      case FieldDescriptor::CPPTYPE_MESSAGE: {
        const Message& child =
            index < 0 ? reflection->GetMessage(message, field)
                      : reflection->GetRepeatedMessage(message, field, index);
        if (child.GetDescriptor() ==
            google::protobuf::Timestamp::descriptor()) {
          CheckTimestamp(child);
        } else {
          CheckMessage(child);
        }
        break;
      }
      default:
        // Integers and bools carry no constraints in the schema.
        break;
    }
  }

  void CheckNumber(const FieldDescriptor* field, double value) {
    for (const NumberRange& range : NumberRanges()) {
      if (range.field != field) continue;
      if (std::isnan(value) || value < range.min || value > range.max) {
        Add(absl::StrCat("must be a number within ", range.min, "..", range.max,
                         ", got ",
                         std::isnan(value) ? "NaN" : absl::StrCat(value)),
            false);
      }
      return;
    }
    if (!std::isfinite(value)) {
      Add(absl::StrCat("must be a finite number, got ", value), false);
    }
  }

  void CheckTimestamp(const Message& message) {
    // Generated messages are always the concrete type; a dynamic message
    // would take the reflection path below.
    const auto* timestamp =
        dynamic_cast<const google::protobuf::Timestamp*>(&message);
    int64_t seconds = 0;
    int32_t nanos = 0;
    if (timestamp != nullptr) {
      seconds = timestamp->seconds();
      nanos = timestamp->nanos();
    } else {
      const Descriptor* type = message.GetDescriptor();
      seconds = message.GetReflection()->GetInt64(
          message, type->FindFieldByName("seconds"));
      nanos = message.GetReflection()->GetInt32(message,
                                                type->FindFieldByName("nanos"));
    }
    if (seconds < kMinTimestampSeconds || seconds > kMaxTimestampSeconds ||
        nanos < 0 || nanos > kMaxNanos) {
      Add(absl::StrCat("must be a valid timestamp between "
                       "0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z with "
                       "nanos within 0..999999999, got seconds=",
                       seconds, " nanos=", nanos),
          false);
    }
  }

  std::string RenderPath() const {
    std::string path(prefix_);
    for (const PathSegment& segment : path_) {
      if (!path.empty()) path.push_back('.');
      path.append(segment.field->name());
      if (segment.key != nullptr) {
        absl::string_view key = *segment.key;
        const bool truncated = key.size() > kMaxKeyBytesInPath;
        if (truncated) key = key.substr(0, kMaxKeyBytesInPath);
        absl::StrAppend(&path, "[\"", absl::CHexEscape(key),
                        truncated ? "...\"]" : "\"]");
      } else if (segment.index >= 0) {
        absl::StrAppend(&path, "[", segment.index, "]");
      }
    }
    return path;
  }

  void Add(std::string description, bool over_limit) {
    problems_.push_back({RenderPath(), std::move(description), over_limit});
  }

  void AddAt(absl::string_view field, std::string description,
             bool over_limit) {
    problems_.push_back({prefix_.empty() ? std::string(field)
                                         : absl::StrCat(prefix_, ".", field),
                         std::move(description), over_limit});
  }

  const FindingLimits& limits_;
  const absl::string_view prefix_;
  std::vector<PathSegment> path_;
  // Owns map keys referenced from path_ while their entry is checked; a
  // deque so that references stay valid as keys are pushed.
  std::deque<std::string> keys_;
  std::vector<Problem> problems_;
};

}  // namespace

absl::Status ValidateFinding(
    const v1::Finding& finding, const FindingLimits& limits,
    absl::string_view prefix,
    google::protobuf::RepeatedPtrField<v1::FieldViolation>* violations) {
  FindingChecker checker(limits, prefix);
  checker.CheckRequired(finding);
  checker.CheckMessage(finding);
  std::vector<Problem>& problems = checker.problems();
  if (problems.empty()) return absl::OkStatus();

  // A malformed field is the caller's mistake whatever the sizes are, so
  // INVALID_ARGUMENT wins over RESOURCE_EXHAUSTED when both occur.
  bool any_invalid = false;
  std::string message;
  for (size_t i = 0; i < problems.size(); ++i) {
    const Problem& problem = problems[i];
    any_invalid = any_invalid || !problem.over_limit;
    if (i < kMaxProblemsInMessage) {
      absl::StrAppend(&message, i == 0 ? "" : "; ", problem.field, ": ",
                      problem.description);
    }
  }
  if (problems.size() > kMaxProblemsInMessage) {
    absl::StrAppend(&message, "; and ", problems.size() - kMaxProblemsInMessage,
                    " more");
  }
  if (violations != nullptr) {
    for (Problem& problem : problems) {
      v1::FieldViolation* violation = violations->Add();
      violation->set_field(std::move(problem.field));
      violation->set_description(std::move(problem.description));
    }
  }
  return any_invalid ? absl::InvalidArgumentError(message)
                     : absl::ResourceExhaustedError(message);
}

}  // namespace treatd
