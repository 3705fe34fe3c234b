// Enum values as people write them in inventories: "production",
// "ENVIRONMENT_PRODUCTION", "container-image". Internal to common/assets.
// Pure functions, thread-safe.
#ifndef TREATD_COMMON_ASSETS_ENUM_TEXT_H_
#define TREATD_COMMON_ASSETS_ENUM_TEXT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"

namespace treatd::assets::internal {

// The number of the value of `descriptor` named `text`, compared without
// ASCII case, with or without the enum's prefix (the value names' common
// "ENVIRONMENT_" part), "-" and " " read as "_". The zero (UNSPECIFIED)
// value is not accepted. Returns INVALID_ARGUMENT "unknown <what> "<text>";
// allowed: a, b, c" otherwise.
absl::StatusOr<int> ParseEnumText(
    const google::protobuf::EnumDescriptor& descriptor, absl::string_view what,
    absl::string_view text);

}  // namespace treatd::assets::internal

#endif  // TREATD_COMMON_ASSETS_ENUM_TEXT_H_
