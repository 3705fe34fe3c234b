#include "common/assets/inventory.h"

#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace treatd::assets {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

std::string DataPath(const std::string& name) {
  return std::string(TREATD_ASSET_TESTDATA_DIR) + "/" + name;
}

AssetInventory LoadOrDie(const std::string& name) {
  absl::StatusOr<AssetInventory> inventory =
      AssetInventory::Load(DataPath(name));
  EXPECT_TRUE(inventory.ok()) << inventory.status();
  if (!inventory.ok()) return *AssetInventory::Create({});
  return *std::move(inventory);
}

// Both sample files describe the same inventory; every test runs on each.
class SampleInventoryTest : public ::testing::TestWithParam<const char*> {};

TEST_P(SampleInventoryTest, ReadsEveryEntryWithItsFields) {
  AssetInventory inventory = LoadOrDie(GetParam());
  ASSERT_EQ(inventory.entries().size(), 4u);
  const AssetEntry& shop = inventory.entries()[0];
  EXPECT_THAT(shop.patterns, ElementsAre("registry.example.com/shop/*"));
  EXPECT_EQ(shop.asset.id(), "shop-images");
  EXPECT_EQ(shop.asset.type(), v1::ASSET_TYPE_CONTAINER_IMAGE);
  EXPECT_EQ(shop.asset.environment(), v1::ENVIRONMENT_PRODUCTION);
  EXPECT_EQ(shop.asset.criticality(), v1::CRITICALITY_HIGH);
  EXPECT_EQ(shop.asset.exposure(), v1::EXPOSURE_INTERNET);
  EXPECT_EQ(shop.asset.data_classification(),
            v1::DATA_CLASSIFICATION_CONFIDENTIAL);
  EXPECT_EQ(shop.asset.owner(), "team-shop");
  EXPECT_THAT(shop.asset.tags(), ElementsAre("pci", "customer-facing"));
  EXPECT_THAT(
      shop.asset.labels(),
      UnorderedElementsAre(Pair("team", "shop"), Pair("cost-center", "4711")));
  ASSERT_EQ(shop.controls.size(), 1u);
  EXPECT_EQ(shop.controls[0].type(), v1::CONTROL_TYPE_WAF);
  EXPECT_EQ(shop.controls[0].effectiveness(), v1::CONTROL_EFFECTIVENESS_FULL);
  EXPECT_EQ(shop.controls[0].description(),
            "WAF rule 942100 blocks SQL injection");

  const AssetEntry& web = inventory.entries()[2];
  EXPECT_THAT(web.patterns,
              ElementsAre("web-*.prod.example.com", "web-canary.example.com"));
  // Upper case and prefixed enum names are accepted too.
  EXPECT_EQ(web.asset.environment(), v1::ENVIRONMENT_PRODUCTION);
  EXPECT_EQ(web.asset.criticality(), v1::CRITICALITY_CRITICAL);
  EXPECT_EQ(web.asset.type(), v1::ASSET_TYPE_HOST);
  EXPECT_THAT(web.asset.tags(), ElementsAre("crown-jewel"));
  // Unstated fields stay unspecified.
  const AssetEntry& legacy = inventory.entries()[1];
  EXPECT_EQ(legacy.asset.type(), v1::ASSET_TYPE_UNSPECIFIED);
  EXPECT_EQ(legacy.asset.owner(), "");
}

TEST_P(SampleInventoryTest, MatchesGlobsOverImageAndHostNames) {
  AssetInventory inventory = LoadOrDie(GetParam());
  const AssetEntry* entry =
      inventory.Match("registry.example.com/shop/web:1.2");
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->asset.id(), "shop-images");
  entry = inventory.Match("web-07.prod.example.com");
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->asset.id(), "web-fleet");
  entry = inventory.Match("web-canary.example.com");
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->asset.id(), "web-fleet");
  EXPECT_EQ(inventory.Match("registry.other.org/shop/web:1.2"), nullptr);
  EXPECT_EQ(inventory.Match(""), nullptr);
}

TEST_P(SampleInventoryTest, PrefersExactNamesOverEarlierGlobs) {
  AssetInventory inventory = LoadOrDie(GetParam());
  // The shop glob comes first in the file, but the exact entry wins.
  const AssetEntry* entry =
      inventory.Match("registry.example.com/shop/legacy:1.0");
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->asset.id(), "shop-legacy");
}

TEST_P(SampleInventoryTest, FirstMatchingGlobInDocumentOrderWins) {
  AssetInventory inventory = LoadOrDie(GetParam());
  // Both "web-*.prod.example.com" and the later "*.example.com" match.
  EXPECT_EQ(inventory.Match("web-01.prod.example.com")->asset.id(),
            "web-fleet");
  EXPECT_EQ(inventory.Match("db-01.prod.example.com")->asset.id(), "catch-all");
}

TEST_P(SampleInventoryTest, MatchingIgnoresCase) {
  AssetInventory inventory = LoadOrDie(GetParam());
  ASSERT_NE(inventory.Match("WEB-01.Prod.Example.com"), nullptr);
  EXPECT_EQ(inventory.Match("WEB-01.Prod.Example.com")->asset.id(),
            "web-fleet");
  EXPECT_EQ(inventory.Match("Registry.Example.com/shop/LEGACY:1.0")->asset.id(),
            "shop-legacy");
}

INSTANTIATE_TEST_SUITE_P(YamlAndCsv, SampleInventoryTest,
                         ::testing::Values("inventory.yaml", "inventory.csv"));

TEST(AssetInventoryTest, MatchFindingTriesNameThenIdThenImportTarget) {
  AssetInventory inventory = LoadOrDie("inventory.yaml");
  v1::Finding finding;
  (*finding.mutable_attributes())["import.target"] =
      "registry.example.com/shop/cart:2";
  AssetMatch match = inventory.MatchFinding(finding);
  ASSERT_NE(match.entry, nullptr);
  EXPECT_EQ(match.entry->asset.id(), "shop-images");
  EXPECT_EQ(match.pattern, "registry.example.com/shop/*");
  EXPECT_EQ(match.name, "registry.example.com/shop/cart:2");

  // An exact match on the target beats a glob match on the asset name.
  finding.mutable_asset()->set_name("web-01.prod.example.com");
  (*finding.mutable_attributes())["import.target"] =
      "registry.example.com/shop/legacy:1.0";
  match = inventory.MatchFinding(finding);
  ASSERT_NE(match.entry, nullptr);
  EXPECT_EQ(match.entry->asset.id(), "shop-legacy");

  v1::Finding unknown;
  unknown.mutable_asset()->set_name("laptop-42.corp.internal");
  EXPECT_EQ(inventory.MatchFinding(unknown).entry, nullptr);
}

TEST(AssetInventoryTest, RejectsUnknownEnumValueWithPositionAndAllowedValues) {
  absl::StatusOr<AssetInventory> inventory =
      AssetInventory::Load(DataPath("bad_inventory.yaml"));
  ASSERT_FALSE(inventory.ok());
  EXPECT_EQ(inventory.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(inventory.status().message());
  EXPECT_THAT(message, HasSubstr("bad_inventory.yaml:4:18: assets[0]."
                                 "environment: unknown environment \"prod\"; "
                                 "allowed: production, staging, test, "
                                 "development"));
  // Every problem is reported, not just the first.
  EXPECT_THAT(message, HasSubstr("bad_inventory.yaml:5:5: assets[1]: missing "
                                 "\"match\""));
}

TEST(AssetInventoryTest, RejectsYamlSyntaxErrorWithPosition) {
  absl::StatusOr<AssetInventory> inventory =
      AssetInventory::FromYaml("assets:\n  - match: [a, b\n", "broken.yaml");
  ASSERT_FALSE(inventory.ok());
  EXPECT_EQ(inventory.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(inventory.status().message(), HasSubstr("broken.yaml:3:1"));
  EXPECT_THAT(inventory.status().message(), HasSubstr("invalid YAML"));
}

TEST(AssetInventoryTest, RejectsUnknownYamlKeysAndWrongNodeKinds) {
  absl::StatusOr<AssetInventory> inventory = AssetInventory::FromYaml(
      "assets:\n"
      "  - match: a\n"
      "    criticallity: high\n"
      "    labels: [x]\n"
      "    controls:\n"
      "      - type: firewall\n"
      "        effectiveness: full\n",
      "keys.yaml");
  ASSERT_FALSE(inventory.ok());
  const std::string message(inventory.status().message());
  EXPECT_THAT(message, HasSubstr("keys.yaml:3:5: assets[0]: unknown key "
                                 "\"criticallity\""));
  EXPECT_THAT(message, HasSubstr("keys.yaml:4:13: assets[0].labels: expected "
                                 "a mapping"));
  EXPECT_THAT(message,
              HasSubstr("keys.yaml:6:15: assets[0].controls[0].type: unknown "
                        "control type \"firewall\"; allowed: waf, "
                        "network_segmentation"));
}

TEST(AssetInventoryTest, RejectsCsvUnknownEnumWithLineAndColumn) {
  absl::StatusOr<AssetInventory> inventory =
      AssetInventory::Load(DataPath("bad_inventory.csv"));
  ASSERT_FALSE(inventory.ok());
  EXPECT_EQ(inventory.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(inventory.status().message(),
              HasSubstr("bad_inventory.csv:2: column exposure: unknown "
                        "exposure \"public-internet\"; allowed: isolated, "
                        "internal, controlled, internet"));
}

TEST(AssetInventoryTest, RejectsCsvWithUnknownColumnOrMissingMatch) {
  absl::StatusOr<AssetInventory> inventory =
      AssetInventory::FromCsv("id,colour\nx,red\n", "cols.csv");
  ASSERT_FALSE(inventory.ok());
  const std::string message(inventory.status().message());
  EXPECT_THAT(message, HasSubstr("cols.csv:1: column 2 \"colour\": unknown "
                                 "column; allowed: match, id"));
  EXPECT_THAT(message, HasSubstr("cols.csv:1: the header has no \"match\""));
}

TEST(AssetInventoryTest, RejectsMalformedCsvRecords) {
  absl::StatusOr<AssetInventory> inventory = AssetInventory::FromCsv(
      "match,id\n"
      "a,1\n"
      "b,2,extra\n"
      ",3\n"
      "c,\"unterminated\n",
      "rows.csv");
  ASSERT_FALSE(inventory.ok());
  const std::string message(inventory.status().message());
  EXPECT_THAT(message, HasSubstr("rows.csv:5:3: quoted field is never "
                                 "closed"));

  inventory = AssetInventory::FromCsv(
      "match,id,labels,controls\n"
      "b,2,team\n"
      ",3,,\n"
      "d,4,team=x,waf\n",
      "rows.csv");
  ASSERT_FALSE(inventory.ok());
  const std::string rows(inventory.status().message());
  EXPECT_THAT(rows, HasSubstr("rows.csv:2: 3 cells, the header has 4"));
  EXPECT_THAT(rows, HasSubstr("rows.csv:3: column match: empty"));
  EXPECT_THAT(rows, HasSubstr("rows.csv:4: column controls: control \"waf\" "
                              "is not type:effectiveness"));
}

TEST(AssetInventoryTest, ReadsQuotedCsvCellsAndControls) {
  AssetInventory inventory = LoadOrDie("inventory.csv");
  const AssetEntry& web = inventory.entries()[2];
  ASSERT_EQ(web.controls.size(), 1u);
  EXPECT_EQ(web.controls[0].type(), v1::CONTROL_TYPE_NETWORK_SEGMENTATION);
  EXPECT_EQ(web.controls[0].effectiveness(), v1::CONTROL_EFFECTIVENESS_PARTIAL);
  EXPECT_EQ(web.controls[0].description(), "VLAN 12, no east-west");
  EXPECT_EQ(web.origin, DataPath("inventory.csv") + ":4");
}

TEST(AssetInventoryTest, LoadReportsMissingFile) {
  absl::StatusOr<AssetInventory> inventory =
      AssetInventory::Load(DataPath("no-such-inventory.yaml"));
  EXPECT_EQ(inventory.status().code(), absl::StatusCode::kNotFound);
}

TEST(AssetInventoryTest, CreateRejectsEntryWithoutPatterns) {
  AssetEntry entry;
  entry.asset.set_id("orphan");
  absl::StatusOr<AssetInventory> inventory = AssetInventory::Create({entry});
  EXPECT_EQ(inventory.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace treatd::assets
