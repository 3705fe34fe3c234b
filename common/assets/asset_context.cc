#include "common/assets/asset_context.h"

#include <string>

#include "google/protobuf/util/message_differencer.h"

namespace treatd::assets {

bool ApplyAssetContext(const AssetInventory& inventory, v1::Finding* finding) {
  AssetMatch match = inventory.MatchFinding(*finding);
  if (match.entry == nullptr) return false;
  const v1::Asset& from = match.entry->asset;
  v1::Asset& to = *finding->mutable_asset();
  if (!from.id().empty()) to.set_id(from.id());
  if (from.type() != v1::ASSET_TYPE_UNSPECIFIED) to.set_type(from.type());
  if (from.environment() != v1::ENVIRONMENT_UNSPECIFIED) {
    to.set_environment(from.environment());
  }
  if (from.criticality() != v1::CRITICALITY_UNSPECIFIED) {
    to.set_criticality(from.criticality());
  }
  if (from.exposure() != v1::EXPOSURE_UNSPECIFIED) {
    to.set_exposure(from.exposure());
  }
  if (from.data_classification() != v1::DATA_CLASSIFICATION_UNSPECIFIED) {
    to.set_data_classification(from.data_classification());
  }
  if (!from.owner().empty()) to.set_owner(from.owner());
  for (const std::string& tag : from.tags()) {
    bool present = false;
    for (const std::string& existing : to.tags()) present |= existing == tag;
    if (!present) to.add_tags(tag);
  }
  for (const auto& [key, value] : from.labels()) {
    (*to.mutable_labels())[key] = value;
  }
  for (const v1::CompensatingControl& control : match.entry->controls) {
    bool present = false;
    for (const v1::CompensatingControl& existing :
         finding->compensating_controls()) {
      present |=
          google::protobuf::util::MessageDifferencer::Equals(existing, control);
    }
    if (!present) *finding->add_compensating_controls() = control;
  }
  (*finding->mutable_attributes())[std::string(kAttrAssetMatch)] =
      std::string(match.pattern);
  return true;
}

}  // namespace treatd::assets
