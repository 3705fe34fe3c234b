// OpenVEX 0.2 documents: one finding per statement, product and
// subcomponent. The statement itself (status, justification, impact and
// action statements, author, time, document id) becomes the finding's
// typed `vex` part, which policies read (docs/importers.md).
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/importers/format_importers.h"
#include "common/importers/import_util.h"
#include "common/importers/json_access.h"
#include "common/status/status_macros.h"

namespace treatd::importers {
namespace {

constexpr absl::string_view kSource = "openvex";

// What every statement of the document shares.
struct DocumentContext {
  std::string id;
  std::string author;
  JsonNode timestamp = JsonNode::Missing("$.timestamp");
};

// A product or subcomponent: "@id" (0.2) or a bare string (0.0.x), with
// an optional identifiers.purl.
absl::StatusOr<std::string> ComponentId(const JsonNode& node) {
  if (node.IsString()) return node.RequiredString();
  TREATD_RETURN_IF_ERROR(node.ExpectObject());
  TREATD_ASSIGN_OR_RETURN(std::string id, node["@id"].OptionalString());
  if (!id.empty()) return id;
  TREATD_ASSIGN_OR_RETURN(std::string purl,
                          node["identifiers"]["purl"].OptionalString());
  if (!purl.empty()) return purl;
  return node.Error("product has neither \"@id\" nor \"identifiers.purl\"");
}

bool IsImagePurl(const PackageUrl& purl) {
  return purl.type == "oci" || purl.type == "docker";
}

void SetPackageFromPurl(const PackageUrl& purl, absl::string_view text,
                        v1::Package* package) {
  package->set_name(PackageNameFromPurl(purl));
  package->set_installed_version(purl.version);
  package->set_purl(std::string(text));
  package->set_ecosystem(EcosystemFromPurlType(purl.type));
}

// Sets the asset (and, for a product that is itself a package, the
// package) from a product id.
void SetProduct(absl::string_view product_id, v1::Finding* finding) {
  std::optional<PackageUrl> purl = ParsePackageUrl(product_id);
  v1::Asset& asset = *finding->mutable_asset();
  if (purl.has_value() && IsImagePurl(*purl)) {
    // pkg:oci/alpine@sha256%3A... names the image by digest.
    asset.set_name(purl->version.empty()
                       ? purl->name
                       : absl::StrCat(purl->name, "@", purl->version));
    asset.set_type(v1::ASSET_TYPE_CONTAINER_IMAGE);
    return;
  }
  asset.set_name(std::string(product_id));
  if (purl.has_value()) {
    SetPackageFromPurl(*purl, product_id, finding->mutable_package());
  }
}

// Reads one statement into a finding template (everything but product and
// subcomponent) and the list of (product, subcomponent) pairs it covers.
absl::Status MapStatement(
    const JsonNode& statement, const DocumentContext& document,
    ImportContext& context, v1::Finding* base, std::string* vulnerability_name,
    std::vector<std::pair<std::string, std::string>>* targets) {
  TREATD_RETURN_IF_ERROR(statement.ExpectObject());
  base->set_kind(v1::FINDING_KIND_VULNERABILITY);
  base->set_source(std::string(kSource));
  v1::Vulnerability& vulnerability = *base->mutable_vulnerability();

  JsonNode vuln = statement["vulnerability"];
  if (vuln.IsString()) {
    TREATD_ASSIGN_OR_RETURN(*vulnerability_name, vuln.RequiredString());
  } else {
    TREATD_RETURN_IF_ERROR(vuln.ExpectObject());
    TREATD_ASSIGN_OR_RETURN(*vulnerability_name, vuln["name"].RequiredString());
    TREATD_ASSIGN_OR_RETURN(std::vector<std::string> aliases,
                            vuln["aliases"].OptionalStringArray());
    for (const std::string& alias : aliases) {
      AddUnique(alias, vulnerability.mutable_aliases());
    }
    TREATD_ASSIGN_OR_RETURN(std::string description,
                            vuln["description"].OptionalString());
    base->set_description(description);
  }
  vulnerability.set_cve_id(*vulnerability_name);
  // The statement may name the vulnerability by an alias scheme; keep a CVE
  // as the primary id when one is listed.
  if (!IsCveId(*vulnerability_name)) {
    for (const std::string& alias : vulnerability.aliases()) {
      if (IsCveId(alias)) {
        std::string cve = alias;
        vulnerability.set_cve_id(cve);
        break;
      }
    }
  }

  JsonNode status_node = statement["status"];
  TREATD_ASSIGN_OR_RETURN(std::string status, status_node.RequiredString());
  std::optional<v1::VexStatus> vex_status = VexStatusFromWord(status);
  if (!vex_status.has_value()) {
    return status_node.Error(absl::StrCat(
        "unknown status \"", status,
        "\": expected not_affected, affected, fixed or under_investigation"));
  }
  v1::Vex& vex = *base->mutable_vex();
  vex.set_status(*vex_status);
  if (*vex_status == v1::VEX_STATUS_FIXED) {
    base->mutable_fix()->set_availability(v1::FIX_AVAILABILITY_AVAILABLE);
  }
  TREATD_ASSIGN_OR_RETURN(std::string justification,
                          statement["justification"].OptionalString());
  SetVexJustification(justification, statement["justification"], context, &vex);
  TREATD_ASSIGN_OR_RETURN(*vex.mutable_impact_statement(),
                          statement["impact_statement"].OptionalString());
  TREATD_ASSIGN_OR_RETURN(*vex.mutable_action_statement(),
                          statement["action_statement"].OptionalString());
  TREATD_ASSIGN_OR_RETURN(*vex.mutable_status_notes(),
                          statement["status_notes"].OptionalString());
  JsonNode timestamp = statement["timestamp"];
  SetVexTimestamp(timestamp.IsMissing() ? document.timestamp : timestamp,
                  context, &vex);
  vex.set_document_id(document.id);
  vex.set_author(document.author);

  TREATD_ASSIGN_OR_RETURN(std::vector<JsonNode> products,
                          statement["products"].RequiredArray());
  if (products.empty()) {
    return statement["products"].Error("statement names no product");
  }
  for (const JsonNode& product : products) {
    TREATD_ASSIGN_OR_RETURN(std::string product_id, ComponentId(product));
    std::vector<JsonNode> subcomponents;
    if (product.IsObject()) {
      TREATD_ASSIGN_OR_RETURN(subcomponents,
                              product["subcomponents"].OptionalArray());
    }
    if (subcomponents.empty()) {
      targets->emplace_back(product_id, "");
    }
    for (const JsonNode& subcomponent : subcomponents) {
      TREATD_ASSIGN_OR_RETURN(std::string subcomponent_id,
                              ComponentId(subcomponent));
      targets->emplace_back(product_id, subcomponent_id);
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ImportOpenVex(const JsonNode& root, ImportContext& context) {
  TREATD_RETURN_IF_ERROR(root.ExpectObject());
  TREATD_ASSIGN_OR_RETURN(std::string vex_context,
                          root["@context"].RequiredString());
  if (!absl::StartsWith(vex_context, "https://openvex.dev/ns")) {
    return root["@context"].Error(
        absl::StrCat("not an OpenVEX context: \"", vex_context,
                     "\" (expected https://openvex.dev/ns/v0.2.0)"));
  }
  DocumentContext document;
  TREATD_ASSIGN_OR_RETURN(document.id, root["@id"].OptionalString());
  TREATD_ASSIGN_OR_RETURN(document.author, root["author"].OptionalString());
  document.timestamp = root["timestamp"];
  TREATD_ASSIGN_OR_RETURN(std::vector<JsonNode> statements,
                          root["statements"].RequiredArray());

  for (const JsonNode& statement : statements) {
    v1::Finding base;
    std::string name;
    std::vector<std::pair<std::string, std::string>> targets;
    absl::Status status =
        MapStatement(statement, document, context, &base, &name, &targets);
    if (!status.ok()) {
      context.Skip(status);
      continue;
    }
    for (const auto& [product_id, subcomponent_id] : targets) {
      v1::Finding finding = base;
      SetProduct(product_id, &finding);
      if (!subcomponent_id.empty()) {
        std::optional<PackageUrl> purl = ParsePackageUrl(subcomponent_id);
        if (purl.has_value()) {
          SetPackageFromPurl(*purl, subcomponent_id, finding.mutable_package());
        } else {
          finding.mutable_package()->set_name(subcomponent_id);
        }
      }
      SetAttribute(kAttrTarget,
                   subcomponent_id.empty() ? product_id : subcomponent_id,
                   &finding);
      finding.set_title(DefaultTitle(name, finding.package().name(),
                                     finding.package().installed_version()));
      std::string cve = finding.vulnerability().cve_id();
      context.AddFinding(std::move(finding), cve,
                         {name, product_id, subcomponent_id}, statement.path());
    }
  }
  return absl::OkStatus();
}

}  // namespace treatd::importers
