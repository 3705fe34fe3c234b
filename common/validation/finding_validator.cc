#include "common/validation/finding_validator.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <deque>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/map.h"
#include "google/protobuf/message.h"
#include "google/protobuf/repeated_ptr_field.h"
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

// The fast path: generated accessors over every field of the schema, no
// reflection and no allocation. It only answers "no problem at all"; when it
// sees anything wrong, FindingChecker's reflection walk produces the report,
// so messages, paths and ordering have a single source. It must never
// accept what the walk rejects: a test breaks every field of the schema in
// every way the rules forbid and expects a rejection.

// Every field the fast path checks, as RenderField() spells it. When the
// schema differs (a field added, removed or retyped), FastPathEnabled() is
// false and every finding takes the reflection walk, which is slower but
// covers any schema; a test fails until the fast path and this list are
// updated.
constexpr absl::string_view kFastPathFields[] = {
    "treatd.v1.Finding.id = 1: string",
    "treatd.v1.Finding.kind = 2: enum treatd.v1.FindingKind",
    "treatd.v1.Finding.source = 3: string",
    "treatd.v1.Finding.title = 4: string",
    "treatd.v1.Finding.description = 5: string",
    "treatd.v1.Finding.severity = 6: enum treatd.v1.Severity",
    "treatd.v1.Finding.vulnerability = 10: message treatd.v1.Vulnerability",
    "treatd.v1.Finding.package = 11: message treatd.v1.Package",
    "treatd.v1.Finding.fix = 12: message treatd.v1.Fix",
    "treatd.v1.Finding.asset = 13: message treatd.v1.Asset",
    "treatd.v1.Finding.misconfiguration = 14: message "
    "treatd.v1.Misconfiguration",
    "treatd.v1.Finding.secret = 15: message treatd.v1.Secret",
    "treatd.v1.Finding.malware = 16: message treatd.v1.Malware",
    "treatd.v1.Finding.compensating_controls = 20: repeated message "
    "treatd.v1.CompensatingControl",
    "treatd.v1.Finding.active_incident = 21: bool",
    "treatd.v1.Finding.first_seen = 22: message google.protobuf.Timestamp",
    "treatd.v1.Finding.last_seen = 23: message google.protobuf.Timestamp",
    "treatd.v1.Finding.attributes = 24: map<string, string>",
    "treatd.v1.Finding.identity_key = 25: string",
    "treatd.v1.Vulnerability.cve_id = 1: string",
    "treatd.v1.Vulnerability.aliases = 2: repeated string",
    "treatd.v1.Vulnerability.cwe_ids = 3: repeated string",
    "treatd.v1.Vulnerability.cvss = 4: message treatd.v1.Cvss",
    "treatd.v1.Vulnerability.epss = 5: message treatd.v1.Epss",
    "treatd.v1.Vulnerability.kev = 6: message treatd.v1.Kev",
    "treatd.v1.Vulnerability.exploit_maturity = 7: enum "
    "treatd.v1.ExploitMaturity",
    "treatd.v1.Vulnerability.automatable = 8: enum treatd.v1.Automatable",
    "treatd.v1.Vulnerability.technical_impact = 9: enum "
    "treatd.v1.TechnicalImpact",
    "treatd.v1.Vulnerability.published = 10: message "
    "google.protobuf.Timestamp",
    "treatd.v1.Cvss.version = 1: string",
    "treatd.v1.Cvss.score = 2: double",
    "treatd.v1.Cvss.vector = 3: string",
    "treatd.v1.Epss.score = 1: double",
    "treatd.v1.Epss.percentile = 2: double",
    "treatd.v1.Epss.model_version = 3: string",
    "treatd.v1.Epss.score_date = 4: message google.protobuf.Timestamp",
    "treatd.v1.Kev.listed = 1: bool",
    "treatd.v1.Kev.date_added = 2: message google.protobuf.Timestamp",
    "treatd.v1.Kev.due_date = 3: message google.protobuf.Timestamp",
    "treatd.v1.Kev.known_ransomware_use = 4: bool",
    "treatd.v1.Kev.required_action = 5: string",
    "treatd.v1.Package.name = 1: string",
    "treatd.v1.Package.ecosystem = 2: string",
    "treatd.v1.Package.installed_version = 3: string",
    "treatd.v1.Package.fixed_versions = 4: repeated string",
    "treatd.v1.Package.purl = 5: string",
    "treatd.v1.Fix.availability = 1: enum treatd.v1.FixAvailability",
    "treatd.v1.Fix.change_freeze = 2: bool",
    "treatd.v1.Fix.restart_required = 3: bool",
    "treatd.v1.Fix.next_maintenance_window = 4: message "
    "google.protobuf.Timestamp",
    "treatd.v1.Asset.id = 1: string",
    "treatd.v1.Asset.type = 2: enum treatd.v1.AssetType",
    "treatd.v1.Asset.environment = 3: enum treatd.v1.Environment",
    "treatd.v1.Asset.criticality = 4: enum treatd.v1.Criticality",
    "treatd.v1.Asset.exposure = 5: enum treatd.v1.Exposure",
    "treatd.v1.Asset.data_classification = 6: enum "
    "treatd.v1.DataClassification",
    "treatd.v1.Asset.owner = 7: string",
    "treatd.v1.Asset.tags = 8: repeated string",
    "treatd.v1.Asset.labels = 9: map<string, string>",
    "treatd.v1.Asset.name = 10: string",
    "treatd.v1.CompensatingControl.type = 1: enum treatd.v1.ControlType",
    "treatd.v1.CompensatingControl.effectiveness = 2: enum "
    "treatd.v1.ControlEffectiveness",
    "treatd.v1.CompensatingControl.description = 3: string",
    "treatd.v1.CompensatingControl.reference = 4: string",
    "treatd.v1.Misconfiguration.check_id = 1: string",
    "treatd.v1.Misconfiguration.resource = 2: string",
    "treatd.v1.Misconfiguration.setting = 3: string",
    "treatd.v1.Misconfiguration.actual = 4: string",
    "treatd.v1.Misconfiguration.expected = 5: string",
    "treatd.v1.Secret.secret_type = 1: string",
    "treatd.v1.Secret.location = 2: string",
    "treatd.v1.Secret.verified_active = 3: bool",
    "treatd.v1.Secret.publicly_exposed = 4: bool",
    "treatd.v1.Malware.family = 1: string",
    "treatd.v1.Malware.path = 2: string",
    "treatd.v1.Malware.sha256 = 3: string",
    "treatd.v1.Malware.quarantined = 4: bool",
    "treatd.v1.Malware.active = 5: bool",
};

std::string RenderType(const FieldDescriptor* field) {
  if (field->is_map()) {
    return absl::StrCat("map<", RenderType(field->message_type()->map_key()),
                        ", ", RenderType(field->message_type()->map_value()),
                        ">");
  }
  std::string type;
  if (field->is_repeated()) type = "repeated ";
  if (field->enum_type() != nullptr) {
    absl::StrAppend(&type, "enum ", field->enum_type()->full_name());
  } else if (field->message_type() != nullptr) {
    absl::StrAppend(&type, "message ", field->message_type()->full_name());
  } else {
    absl::StrAppend(&type, field->cpp_type_name());
  }
  return type;
}

std::string RenderField(const FieldDescriptor* field) {
  return absl::StrCat(field->full_name(), " = ", field->number(), ": ",
                      RenderType(field));
}

// Appends every field of `type` and of the messages it contains (other than
// timestamps and map entries, which the fast path checks as a whole).
void CollectFields(const Descriptor* type, std::vector<std::string>* out,
                   std::vector<const Descriptor*>* seen) {
  if (std::find(seen->begin(), seen->end(), type) != seen->end()) return;
  seen->push_back(type);
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* field = type->field(i);
    out->push_back(RenderField(field));
    if (field->message_type() != nullptr && !field->is_map() &&
        field->message_type() != google::protobuf::Timestamp::descriptor()) {
      CollectFields(field->message_type(), out, seen);
    }
  }
}

std::vector<std::string> ComputeSchemaMismatches() {
  std::vector<std::string> schema;
  std::vector<const Descriptor*> seen;
  CollectFields(v1::Finding::descriptor(), &schema, &seen);
  std::vector<std::string> known(std::begin(kFastPathFields),
                                 std::end(kFastPathFields));
  std::sort(schema.begin(), schema.end());
  std::sort(known.begin(), known.end());
  std::vector<std::string> mismatches;
  std::set_difference(schema.begin(), schema.end(), known.begin(), known.end(),
                      std::back_inserter(mismatches));
  for (std::string& field : mismatches) {
    field = absl::StrCat("unknown to the fast path: ", field);
  }
  std::vector<std::string> stale;
  std::set_difference(known.begin(), known.end(), schema.begin(), schema.end(),
                      std::back_inserter(stale));
  for (const std::string& field : stale) {
    mismatches.push_back(absl::StrCat("not in the schema: ", field));
  }
  return mismatches;
}

bool FastPathEnabled() {
  static const bool enabled = ComputeSchemaMismatches().empty();
  return enabled;
}

class FastCheck {
 public:
  explicit FastCheck(const FindingLimits& limits) : limits_(limits) {}

  bool Finding(const v1::Finding& finding) const {
    if (finding.id().empty() ||
        finding.kind() == v1::FINDING_KIND_UNSPECIFIED ||
        !v1::FindingKind_IsValid(finding.kind()) ||
        !v1::Severity_IsValid(finding.severity())) {
      return false;
    }
    if (!String(finding.id()) || !String(finding.source()) ||
        !String(finding.title()) || !String(finding.description()) ||
        !String(finding.identity_key())) {
      return false;
    }
    if (finding.has_vulnerability() &&
        !Vulnerability(finding.vulnerability())) {
      return false;
    }
    if (finding.has_package() && !Package(finding.package())) return false;
    if (finding.has_fix() && !Fix(finding.fix())) return false;
    if (finding.has_asset() && !Asset(finding.asset())) return false;
    if (finding.has_misconfiguration() &&
        !Misconfiguration(finding.misconfiguration())) {
      return false;
    }
    if (finding.has_secret() && !Secret(finding.secret())) return false;
    if (finding.has_malware() && !Malware(finding.malware())) return false;
    if (!Size(finding.compensating_controls().size())) return false;
    for (const v1::CompensatingControl& control :
         finding.compensating_controls()) {
      if (!Control(control)) return false;
    }
    if (finding.has_first_seen() && !Timestamp(finding.first_seen())) {
      return false;
    }
    if (finding.has_last_seen() && !Timestamp(finding.last_seen())) {
      return false;
    }
    return Map(finding.attributes());
  }

 private:
  bool String(const std::string& value) const {
    return value.size() <= limits_.max_string_bytes;
  }

  bool Size(int size) const {
    return static_cast<size_t>(size) <= limits_.max_repeated;
  }

  bool Strings(
      const google::protobuf::RepeatedPtrField<std::string>& values) const {
    if (!Size(values.size())) return false;
    for (const std::string& value : values) {
      if (!String(value)) return false;
    }
    return true;
  }

  bool Map(const google::protobuf::Map<std::string, std::string>& map) const {
    if (!Size(static_cast<int>(map.size()))) return false;
    for (const auto& [key, value] : map) {
      if (!String(key) || !String(value)) return false;
    }
    return true;
  }

  // False for NaN too.
  static bool InRange(double value, double min, double max) {
    return value >= min && value <= max;
  }

  static bool Timestamp(const google::protobuf::Timestamp& timestamp) {
    return timestamp.seconds() >= kMinTimestampSeconds &&
           timestamp.seconds() <= kMaxTimestampSeconds &&
           timestamp.nanos() >= 0 && timestamp.nanos() <= kMaxNanos;
  }

  bool Vulnerability(const v1::Vulnerability& vulnerability) const {
    if (!String(vulnerability.cve_id()) || !Strings(vulnerability.aliases()) ||
        !Strings(vulnerability.cwe_ids()) ||
        !v1::ExploitMaturity_IsValid(vulnerability.exploit_maturity()) ||
        !v1::Automatable_IsValid(vulnerability.automatable()) ||
        !v1::TechnicalImpact_IsValid(vulnerability.technical_impact())) {
      return false;
    }
    if (vulnerability.has_cvss()) {
      const v1::Cvss& cvss = vulnerability.cvss();
      if (!String(cvss.version()) || !String(cvss.vector()) ||
          !InRange(cvss.score(), 0.0, 10.0)) {
        return false;
      }
    }
    if (vulnerability.has_epss()) {
      const v1::Epss& epss = vulnerability.epss();
      if (!InRange(epss.score(), 0.0, 1.0) ||
          !InRange(epss.percentile(), 0.0, 1.0) ||
          !String(epss.model_version()) ||
          (epss.has_score_date() && !Timestamp(epss.score_date()))) {
        return false;
      }
    }
    if (vulnerability.has_kev()) {
      const v1::Kev& kev = vulnerability.kev();
      if ((kev.has_date_added() && !Timestamp(kev.date_added())) ||
          (kev.has_due_date() && !Timestamp(kev.due_date())) ||
          !String(kev.required_action())) {
        return false;
      }
    }
    return !vulnerability.has_published() ||
           Timestamp(vulnerability.published());
  }

  bool Package(const v1::Package& package) const {
    return String(package.name()) && String(package.ecosystem()) &&
           String(package.installed_version()) &&
           Strings(package.fixed_versions()) && String(package.purl());
  }

  bool Fix(const v1::Fix& fix) const {
    return v1::FixAvailability_IsValid(fix.availability()) &&
           (!fix.has_next_maintenance_window() ||
            Timestamp(fix.next_maintenance_window()));
  }

  bool Asset(const v1::Asset& asset) const {
    return String(asset.id()) && v1::AssetType_IsValid(asset.type()) &&
           v1::Environment_IsValid(asset.environment()) &&
           v1::Criticality_IsValid(asset.criticality()) &&
           v1::Exposure_IsValid(asset.exposure()) &&
           v1::DataClassification_IsValid(asset.data_classification()) &&
           String(asset.owner()) && Strings(asset.tags()) &&
           Map(asset.labels()) && String(asset.name());
  }

  bool Control(const v1::CompensatingControl& control) const {
    return v1::ControlType_IsValid(control.type()) &&
           v1::ControlEffectiveness_IsValid(control.effectiveness()) &&
           String(control.description()) && String(control.reference());
  }

  bool Misconfiguration(const v1::Misconfiguration& misconfiguration) const {
    return String(misconfiguration.check_id()) &&
           String(misconfiguration.resource()) &&
           String(misconfiguration.setting()) &&
           String(misconfiguration.actual()) &&
           String(misconfiguration.expected());
  }

  bool Secret(const v1::Secret& secret) const {
    return String(secret.secret_type()) && String(secret.location());
  }

  bool Malware(const v1::Malware& malware) const {
    return String(malware.family()) && String(malware.path()) &&
           String(malware.sha256());
  }

  const FindingLimits& limits_;
};

}  // namespace

namespace finding_validator_internal {

std::vector<std::string> FastPathSchemaMismatches() {
  return ComputeSchemaMismatches();
}

}  // namespace finding_validator_internal

absl::Status ValidateFinding(
    const v1::Finding& finding, const FindingLimits& limits,
    absl::string_view prefix,
    google::protobuf::RepeatedPtrField<v1::FieldViolation>* violations) {
  if (FastPathEnabled() && FastCheck(limits).Finding(finding)) {
    return absl::OkStatus();
  }
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
