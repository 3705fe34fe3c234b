#include "common/assets/enum_text.h"

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace treatd::assets::internal {
namespace {

// "ENVIRONMENT_" for Environment: the part every value name starts with,
// cut back to its last "_".
std::string EnumPrefix(const google::protobuf::EnumDescriptor& descriptor) {
  std::string prefix = descriptor.value(0)->name();
  for (int i = 1; i < descriptor.value_count(); ++i) {
    const std::string& name = descriptor.value(i)->name();
    size_t common = 0;
    while (common < prefix.size() && common < name.size() &&
           prefix[common] == name[common]) {
      ++common;
    }
    prefix.resize(common);
  }
  size_t underscore = prefix.rfind('_');
  prefix.resize(underscore == std::string::npos ? 0 : underscore + 1);
  return prefix;
}

}  // namespace

absl::StatusOr<int> ParseEnumText(
    const google::protobuf::EnumDescriptor& descriptor, absl::string_view what,
    absl::string_view text) {
  std::string wanted = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(text));
  for (char& c : wanted) {
    if (c == '-' || c == ' ') c = '_';
  }
  const std::string prefix = EnumPrefix(descriptor);
  std::vector<std::string> allowed;
  for (int i = 0; i < descriptor.value_count(); ++i) {
    const google::protobuf::EnumValueDescriptor& value = *descriptor.value(i);
    if (value.number() == 0) continue;
    absl::string_view short_name = absl::StripPrefix(value.name(), prefix);
    if (wanted == value.name() || wanted == short_name) return value.number();
    allowed.push_back(absl::AsciiStrToLower(short_name));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown ", what, " \"", text,
                   "\"; allowed: ", absl::StrJoin(allowed, ", ")));
}

}  // namespace treatd::assets::internal
