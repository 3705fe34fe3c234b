#include "common/assets/asset_context.h"

#include <string>

#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace treatd::assets {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

AssetInventory ShopInventory() {
  absl::StatusOr<AssetInventory> inventory = AssetInventory::FromYaml(
      R"(assets:
  - match: "registry.example.com/shop/*"
    id: shop-images
    type: container_image
    environment: production
    criticality: high
    exposure: internet
    owner: team-shop
    tags: [pci]
    labels: {team: shop}
    controls:
      - {type: waf, effectiveness: full, description: WAF rule 942100}
  - match: "bare.example.com"
    tags: [bare]
)",
      "shop.yaml");
  EXPECT_TRUE(inventory.ok()) << inventory.status();
  return *std::move(inventory);
}

TEST(ApplyAssetContextTest, FillsBusinessFieldsFromMatchingEntry) {
  AssetInventory inventory = ShopInventory();
  v1::Finding finding;
  finding.mutable_asset()->set_name("registry.example.com/shop/web:1.2");
  ASSERT_TRUE(ApplyAssetContext(inventory, &finding));
  const v1::Asset& asset = finding.asset();
  EXPECT_EQ(asset.name(), "registry.example.com/shop/web:1.2");
  EXPECT_EQ(asset.id(), "shop-images");
  EXPECT_EQ(asset.type(), v1::ASSET_TYPE_CONTAINER_IMAGE);
  EXPECT_EQ(asset.environment(), v1::ENVIRONMENT_PRODUCTION);
  EXPECT_EQ(asset.criticality(), v1::CRITICALITY_HIGH);
  EXPECT_EQ(asset.exposure(), v1::EXPOSURE_INTERNET);
  EXPECT_EQ(asset.owner(), "team-shop");
  EXPECT_THAT(asset.tags(), ElementsAre("pci"));
  ASSERT_EQ(finding.compensating_controls_size(), 1);
  EXPECT_EQ(finding.compensating_controls(0).effectiveness(),
            v1::CONTROL_EFFECTIVENESS_FULL);
  EXPECT_EQ(finding.attributes().at(std::string(kAttrAssetMatch)),
            "registry.example.com/shop/*");
}

TEST(ApplyAssetContextTest, InventoryOverridesScannerGuessesButNeverErases) {
  AssetInventory inventory = ShopInventory();
  v1::Finding finding;
  v1::Asset& asset = *finding.mutable_asset();
  asset.set_name("registry.example.com/shop/web:1.2");
  asset.set_id("sha256:abc");                   // Scanner guess.
  asset.set_environment(v1::ENVIRONMENT_TEST);  // Scanner guess.
  asset.set_data_classification(v1::DATA_CLASSIFICATION_RESTRICTED);
  asset.add_tags("layer-3");
  asset.add_tags("pci");
  (*asset.mutable_labels())["team"] = "unknown";
  (*asset.mutable_labels())["os"] = "alpine";
  ASSERT_TRUE(ApplyAssetContext(inventory, &finding));
  EXPECT_EQ(asset.id(), "shop-images");
  EXPECT_EQ(asset.environment(), v1::ENVIRONMENT_PRODUCTION);
  // The inventory states no classification: the finding's stays.
  EXPECT_EQ(asset.data_classification(), v1::DATA_CLASSIFICATION_RESTRICTED);
  EXPECT_THAT(asset.tags(), ElementsAre("layer-3", "pci"));
  EXPECT_THAT(asset.labels(),
              UnorderedElementsAre(Pair("team", "shop"), Pair("os", "alpine")));
}

TEST(ApplyAssetContextTest, SparseEntryOnlyAddsWhatItStates) {
  AssetInventory inventory = ShopInventory();
  v1::Finding finding;
  finding.mutable_asset()->set_name("bare.example.com");
  finding.mutable_asset()->set_id("host-17");
  finding.mutable_asset()->set_criticality(v1::CRITICALITY_MEDIUM);
  ASSERT_TRUE(ApplyAssetContext(inventory, &finding));
  EXPECT_EQ(finding.asset().id(), "host-17");
  EXPECT_EQ(finding.asset().criticality(), v1::CRITICALITY_MEDIUM);
  EXPECT_THAT(finding.asset().tags(), ElementsAre("bare"));
  EXPECT_EQ(finding.compensating_controls_size(), 0);
}

TEST(ApplyAssetContextTest, DoesNotDuplicateControlsWhenAppliedTwice) {
  AssetInventory inventory = ShopInventory();
  v1::Finding finding;
  finding.mutable_asset()->set_name("registry.example.com/shop/web:1.2");
  ASSERT_TRUE(ApplyAssetContext(inventory, &finding));
  ASSERT_TRUE(ApplyAssetContext(inventory, &finding));
  EXPECT_EQ(finding.compensating_controls_size(), 1);
  EXPECT_EQ(finding.asset().tags_size(), 1);
}

TEST(ApplyAssetContextTest, LeavesUnmatchedFindingUntouched) {
  AssetInventory inventory = ShopInventory();
  v1::Finding finding;
  finding.set_id("f1");
  finding.mutable_asset()->set_name("registry.other.org/web:1");
  v1::Finding before = finding;
  EXPECT_FALSE(ApplyAssetContext(inventory, &finding));
  EXPECT_TRUE(
      google::protobuf::util::MessageDifferencer::Equals(finding, before));
}

}  // namespace
}  // namespace treatd::assets
