// CSAF 2.0 documents (OASIS Common Security Advisory Framework): security
// advisories and VEX documents, as vendors such as Red Hat, Cisco, Siemens
// and CISA publish them. One finding per vulnerability and product that
// vulnerability's product_status names; the product is resolved through
// the product_tree (branches, full_product_names, relationships, groups).
// What the document says about that product (status, flag, threats,
// scores, remediations) becomes the finding's `vex` part, fix availability,
// CVSS and severity. docs/importers.md has the field mapping.
#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/importers/format_importers.h"
#include "common/importers/import_util.h"
#include "common/importers/json_access.h"
#include "common/status/status_macros.h"

namespace treatd::importers {
namespace {

constexpr absl::string_view kSource = "csaf";

// One product of the product_tree, with what the branches above it say.
struct Product {
  std::string name;
  std::string purl;
  std::string cpe;
  // From the enclosing branches: the vendor, the product_name branch and
  // the product_version (or product_version_range) branch.
  std::string vendor;
  std::string product_name;
  std::string version;
  std::string version_range;
  // For a relationship product: its category and the two products it joins
  // (a component and the platform it belongs to / is installed on).
  std::string relationship;
  std::string component_id;
  std::string platform_id;
};

// What every vulnerability of the document shares.
struct DocumentContext {
  std::string author;
  std::string tracking_id;
  JsonNode release_date = JsonNode::Missing("$.document.tracking");
  std::string aggregate_severity;
  absl::flat_hash_map<std::string, Product> products;
  absl::flat_hash_map<std::string, std::vector<std::string>> groups;
};

// The product_status lists, each with the VEX status it states, in the
// order a product listed twice takes its status from.
struct StatusList {
  const char* key;
  v1::VexStatus status;
};
constexpr StatusList kStatusLists[] = {
    {"known_affected", v1::VEX_STATUS_AFFECTED},
    {"first_affected", v1::VEX_STATUS_AFFECTED},
    {"last_affected", v1::VEX_STATUS_AFFECTED},
    {"known_not_affected", v1::VEX_STATUS_NOT_AFFECTED},
    {"fixed", v1::VEX_STATUS_FIXED},
    {"first_fixed", v1::VEX_STATUS_FIXED},
    {"under_investigation", v1::VEX_STATUS_UNDER_INVESTIGATION},
};

// Reads one product ({name, product_id, product_identification_helper})
// into `products`, with the branch context of `base`.
absl::Status AddProduct(const JsonNode& node, Product base,
                        DocumentContext& document) {
  TREATD_RETURN_IF_ERROR(node.ExpectObject());
  TREATD_ASSIGN_OR_RETURN(std::string id, node["product_id"].RequiredString());
  TREATD_ASSIGN_OR_RETURN(base.name, node["name"].OptionalString());
  JsonNode helper = node["product_identification_helper"];
  TREATD_ASSIGN_OR_RETURN(base.purl, helper["purl"].OptionalString());
  TREATD_ASSIGN_OR_RETURN(base.cpe, helper["cpe"].OptionalString());
  document.products.insert_or_assign(std::move(id), std::move(base));
  return absl::OkStatus();
}

// Walks product_tree.branches: each branch names a vendor, product name,
// version, ... and ends in a product.
absl::Status WalkBranches(const JsonNode& branches, const Product& above,
                          DocumentContext& document, ImportContext& context) {
  TREATD_ASSIGN_OR_RETURN(std::vector<JsonNode> list, branches.OptionalArray());
  for (const JsonNode& branch : list) {
    TREATD_RETURN_IF_ERROR(branch.ExpectObject());
    TREATD_ASSIGN_OR_RETURN(std::string category,
                            branch["category"].OptionalString());
    TREATD_ASSIGN_OR_RETURN(std::string name, branch["name"].OptionalString());
    Product here = above;
    if (category == "vendor") {
      here.vendor = name;
    } else if (category == "product_name") {
      here.product_name = name;
    } else if (category == "product_version") {
      here.version = name;
    } else if (category == "product_version_range") {
      here.version_range = name;
    }
    if (!branch["product"].IsMissing()) {
      absl::Status added = AddProduct(branch["product"], here, document);
      if (!added.ok()) context.Skip(added);
    }
    TREATD_RETURN_IF_ERROR(
        WalkBranches(branch["branches"], here, document, context));
  }
  return absl::OkStatus();
}

// Reads the whole product_tree. A broken product is skipped; a
// product_tree of the wrong shape fails the document.
absl::Status ReadProductTree(const JsonNode& tree, DocumentContext& document,
                             ImportContext& context) {
  if (tree.IsMissing()) return absl::OkStatus();
  TREATD_RETURN_IF_ERROR(tree.ExpectObject());
  TREATD_RETURN_IF_ERROR(
      WalkBranches(tree["branches"], Product{}, document, context));
  TREATD_ASSIGN_OR_RETURN(std::vector<JsonNode> full_names,
                          tree["full_product_names"].OptionalArray());
  for (const JsonNode& node : full_names) {
    absl::Status added = AddProduct(node, Product{}, document);
    if (!added.ok()) context.Skip(added);
  }
  TREATD_ASSIGN_OR_RETURN(std::vector<JsonNode> relationships,
                          tree["relationships"].OptionalArray());
  for (const JsonNode& relationship : relationships) {
    Product product;
    absl::Status read = [&]() -> absl::Status {
      TREATD_RETURN_IF_ERROR(relationship.ExpectObject());
      TREATD_ASSIGN_OR_RETURN(product.relationship,
                              relationship["category"].OptionalString());
      TREATD_ASSIGN_OR_RETURN(
          product.component_id,
          relationship["product_reference"].RequiredString());
      TREATD_ASSIGN_OR_RETURN(
          product.platform_id,
          relationship["relates_to_product_reference"].RequiredString());
      return AddProduct(relationship["full_product_name"], product, document);
    }();
    if (!read.ok()) context.Skip(read);
  }
  TREATD_ASSIGN_OR_RETURN(std::vector<JsonNode> groups,
                          tree["product_groups"].OptionalArray());
  for (const JsonNode& group : groups) {
    absl::Status read = [&]() -> absl::Status {
      TREATD_ASSIGN_OR_RETURN(std::string id,
                              group["group_id"].RequiredString());
      TREATD_ASSIGN_OR_RETURN(std::vector<std::string> members,
                              group["product_ids"].OptionalStringArray());
      document.groups.insert_or_assign(std::move(id), std::move(members));
      return absl::OkStatus();
    }();
    if (!read.ok()) context.Skip(read);
  }
  return absl::OkStatus();
}

// Whether an entry with product_ids / group_ids (flags, threats, scores'
// `products`, remediations) speaks about `product_id`. An entry that names
// neither speaks about every product of the vulnerability.
absl::StatusOr<bool> AppliesTo(const JsonNode& entry, const char* products_key,
                               absl::string_view product_id,
                               const DocumentContext& document) {
  TREATD_ASSIGN_OR_RETURN(std::vector<std::string> products,
                          entry[products_key].OptionalStringArray());
  TREATD_ASSIGN_OR_RETURN(std::vector<std::string> groups,
                          entry["group_ids"].OptionalStringArray());
  if (products.empty() && groups.empty()) return true;
  for (const std::string& id : products) {
    if (id == product_id) return true;
  }
  for (const std::string& group : groups) {
    auto it = document.groups.find(group);
    if (it == document.groups.end()) continue;
    for (const std::string& id : it->second) {
      if (id == product_id) return true;
    }
  }
  return false;
}

// The severity a word of an impact threat or the aggregate severity names:
// the usual words plus Red Hat's "Important".
std::optional<v1::Severity> SeverityFromCsafWord(absl::string_view word) {
  std::string lower = absl::AsciiStrToLower(absl::StripAsciiWhitespace(word));
  if (lower == "important") return v1::SEVERITY_HIGH;
  if (lower.empty()) return std::nullopt;
  std::optional<v1::Severity> severity = SeverityFromWord(lower);
  if (severity == v1::SEVERITY_UNSPECIFIED) return std::nullopt;
  return severity;
}

// Exploit maturity from an exploit_status threat's free text: "in the
// wild" / "actively exploited" / "exploitation" → ACTIVE, "proof of
// concept" / "poc" / "public exploit" → POC, "no known" / "none" → NONE.
v1::ExploitMaturity ExploitMaturityFromText(absl::string_view text) {
  std::string lower = absl::AsciiStrToLower(text);
  if (absl::StrContains(lower, "no known") ||
      absl::StrContains(lower, "not known") || lower == "none") {
    return v1::EXPLOIT_MATURITY_NONE;
  }
  if (absl::StrContains(lower, "in the wild") ||
      absl::StrContains(lower, "actively exploited") ||
      absl::StrContains(lower, "exploited")) {
    return v1::EXPLOIT_MATURITY_ACTIVE;
  }
  if (absl::StrContains(lower, "proof of concept") ||
      absl::StrContains(lower, "proof-of-concept") ||
      absl::StrContains(lower, "poc") ||
      absl::StrContains(lower, "public exploit")) {
    return v1::EXPLOIT_MATURITY_POC;
  }
  return v1::EXPLOIT_MATURITY_UNSPECIFIED;
}

// Sets the package (and the asset name) of `finding` from a product that
// is not a relationship.
void SetFromProduct(const Product& product, v1::Finding* finding) {
  std::optional<PackageUrl> purl = ParsePackageUrl(product.purl);
  v1::Package& package = *finding->mutable_package();
  if (purl.has_value()) {
    package.set_name(PackageNameFromPurl(*purl));
    package.set_installed_version(purl->version);
    package.set_purl(product.purl);
    package.set_ecosystem(EcosystemFromPurlType(purl->type));
  } else if (!product.product_name.empty()) {
    package.set_name(product.product_name);
    package.set_installed_version(product.version);
  } else {
    package.set_name(product.name);
  }
  SetAttribute("csaf.cpe", product.cpe, finding);
  SetAttribute("csaf.vendor", product.vendor, finding);
  SetAttribute("csaf.version_range", product.version_range, finding);
}

// Sets asset and package from `product_id`: a relationship's component
// is the package, the product it relates to the asset. Returns NOT_FOUND
// when the id is not in the product tree.
absl::Status SetProduct(absl::string_view product_id,
                        const DocumentContext& document, v1::Finding* finding) {
  auto it = document.products.find(product_id);
  if (it == document.products.end()) {
    return absl::NotFoundError(absl::StrCat("product id \"", product_id,
                                            "\" is not in the product_tree"));
  }
  const Product& product = it->second;
  if (product.relationship.empty()) {
    finding->mutable_asset()->set_name(product.name);
    SetFromProduct(product, finding);
    return absl::OkStatus();
  }
  auto component = document.products.find(product.component_id);
  auto platform = document.products.find(product.platform_id);
  if (component == document.products.end()) {
    return absl::NotFoundError(
        absl::StrCat("relationship \"", product_id, "\": product_reference \"",
                     product.component_id, "\" is not in the product_tree"));
  }
  SetFromProduct(component->second, finding);
  finding->mutable_asset()->set_name(platform != document.products.end()
                                         ? platform->second.name
                                         : product.platform_id);
  SetAttribute("csaf.relationship", product.relationship, finding);
  if (platform != document.products.end()) {
    SetAttribute("csaf.platform_cpe", platform->second.cpe, finding);
  }
  return absl::OkStatus();
}

// The text of the first note of `category` among `notes`, or "".
absl::StatusOr<std::string> NoteText(const std::vector<JsonNode>& notes,
                                     absl::string_view category) {
  for (const JsonNode& note : notes) {
    TREATD_ASSIGN_OR_RETURN(std::string cat, note["category"].OptionalString());
    if (cat == category) return note["text"].OptionalString();
  }
  return std::string();
}

// What one vulnerability says about one product, apart from the product
// itself: status, justification, CVSS, threats and remediations.
absl::Status MapProductFacts(const JsonNode& vulnerability,
                             absl::string_view product_id, v1::VexStatus status,
                             const DocumentContext& document,
                             ImportContext& context, v1::Finding* finding) {
  v1::Vex& vex = *finding->mutable_vex();
  vex.set_status(status);
  vex.set_author(document.author);
  vex.set_document_id(document.tracking_id);
  SetVexTimestamp(document.release_date, context, &vex);

  // flags: a machine-readable justification for not-affected products.
  TREATD_ASSIGN_OR_RETURN(std::vector<JsonNode> flags,
                          vulnerability["flags"].OptionalArray());
  for (const JsonNode& flag : flags) {
    TREATD_ASSIGN_OR_RETURN(
        bool applies, AppliesTo(flag, "product_ids", product_id, document));
    if (!applies) continue;
    TREATD_ASSIGN_OR_RETURN(std::string label, flag["label"].OptionalString());
    SetVexJustification(label, flag["label"], context, &vex);
    break;
  }

  // scores: CVSS v3 and v2 ratings of the products listed.
  TREATD_ASSIGN_OR_RETURN(std::vector<JsonNode> scores,
                          vulnerability["scores"].OptionalArray());
  std::vector<CvssCandidate> candidates;
  std::vector<std::string> severities;
  for (const JsonNode& score : scores) {
    TREATD_ASSIGN_OR_RETURN(bool applies,
                            AppliesTo(score, "products", product_id, document));
    if (!applies) continue;
    for (const char* key : {"cvss_v3", "cvss_v2"}) {
      JsonNode cvss = score[key];
      if (cvss.IsMissing()) continue;
      CvssCandidate candidate;
      candidate.source = document.author;
      TREATD_ASSIGN_OR_RETURN(candidate.version,
                              cvss["version"].OptionalStringView());
      TREATD_ASSIGN_OR_RETURN(candidate.score,
                              cvss["baseScore"].OptionalNumber());
      TREATD_ASSIGN_OR_RETURN(candidate.vector,
                              cvss["vectorString"].OptionalStringView());
      TREATD_ASSIGN_OR_RETURN(std::string severity,
                              cvss["baseSeverity"].OptionalString());
      candidates.push_back(std::move(candidate));
      severities.push_back(std::move(severity));
    }
  }
  std::optional<v1::Severity> severity;
  if (const CvssCandidate* best = PreferredCvss(candidates); best != nullptr) {
    SetCvss(*best, finding->mutable_vulnerability()->mutable_cvss());
    SetAttribute(kAttrCvssSource, best->source, finding);
    severity = SeverityFromCsafWord(severities[best - candidates.data()]);
    if (!severity.has_value() && best->score.has_value()) {
      severity = SeverityFromScore(*best->score);
    }
  }

  // threats: impact (a severity word, or how a product is not affected),
  // exploit_status, target_set.
  TREATD_ASSIGN_OR_RETURN(std::vector<JsonNode> threats,
                          vulnerability["threats"].OptionalArray());
  for (const JsonNode& threat : threats) {
    TREATD_ASSIGN_OR_RETURN(
        bool applies, AppliesTo(threat, "product_ids", product_id, document));
    if (!applies) continue;
    TREATD_ASSIGN_OR_RETURN(std::string category,
                            threat["category"].OptionalString());
    TREATD_ASSIGN_OR_RETURN(std::string details,
                            threat["details"].OptionalString());
    if (category == "impact") {
      std::optional<v1::Severity> word = SeverityFromCsafWord(details);
      if (word.has_value()) {
        if (!severity.has_value()) severity = word;
        SetAttribute("csaf.impact", details, finding);
      } else if (vex.impact_statement().empty()) {
        vex.set_impact_statement(details);
      }
    } else if (category == "exploit_status") {
      SetAttribute("csaf.exploit_status", details, finding);
      finding->mutable_vulnerability()->set_exploit_maturity(
          ExploitMaturityFromText(details));
    } else if (category == "target_set") {
      SetAttribute("csaf.target_set", details, finding);
    }
  }
  if (!severity.has_value()) {
    severity = SeverityFromCsafWord(document.aggregate_severity);
  }
  if (severity.has_value()) finding->set_severity(*severity);

  // remediations: vendor_fix is the fix; mitigation and workaround reduce
  // the risk meanwhile; none_available and no_fix_planned mean no fix.
  TREATD_ASSIGN_OR_RETURN(std::vector<JsonNode> remediations,
                          vulnerability["remediations"].OptionalArray());
  std::vector<std::string> fix_texts;
  std::vector<std::string> no_fix_texts;
  std::vector<std::string> mitigation_texts;
  std::vector<std::string> categories;
  bool vendor_fix = false;
  bool none_available = false;
  bool no_fix_planned = false;
  for (const JsonNode& remediation : remediations) {
    TREATD_ASSIGN_OR_RETURN(bool applies, AppliesTo(remediation, "product_ids",
                                                    product_id, document));
    if (!applies) continue;
    TREATD_ASSIGN_OR_RETURN(std::string category,
                            remediation["category"].RequiredString());
    TREATD_ASSIGN_OR_RETURN(std::string details,
                            remediation["details"].OptionalString());
    TREATD_ASSIGN_OR_RETURN(std::string url,
                            remediation["url"].OptionalString());
    if (std::find(categories.begin(), categories.end(), category) ==
        categories.end()) {
      categories.push_back(category);
    }
    if (category == "vendor_fix") {
      vendor_fix = true;
      fix_texts.push_back(details);
      SetAttribute("remediation.url", url, finding);
    } else if (category == "mitigation" || category == "workaround") {
      mitigation_texts.push_back(details);
    } else if (category == "none_available") {
      none_available = true;
      no_fix_texts.push_back(details);
    } else if (category == "no_fix_planned") {
      no_fix_planned = true;
      no_fix_texts.push_back(details);
    } else {
      context.Warn(remediation["category"].Error(absl::StrCat(
          "unknown remediation category \"", category,
          "\": expected vendor_fix, mitigation, workaround, none_available "
          "or no_fix_planned")));
    }
  }
  SetAttribute("csaf.remediations", absl::StrJoin(categories, ","), finding);
  SetAttribute("remediation", absl::StrJoin(fix_texts, " "), finding);
  vex.set_mitigation_statement(absl::StrJoin(mitigation_texts, " "));
  if (status == v1::VEX_STATUS_AFFECTED ||
      status == v1::VEX_STATUS_UNDER_INVESTIGATION) {
    vex.set_action_statement(
        absl::StrJoin(vendor_fix ? fix_texts : no_fix_texts, " "));
  }
  v1::FixAvailability availability = v1::FIX_AVAILABILITY_UNSPECIFIED;
  if (vendor_fix || status == v1::VEX_STATUS_FIXED) {
    availability = v1::FIX_AVAILABILITY_AVAILABLE;
  } else if (no_fix_planned) {
    availability = v1::FIX_AVAILABILITY_WONT_FIX;
  } else if (none_available) {
    availability = v1::FIX_AVAILABILITY_NOT_AVAILABLE;
  }
  if (availability != v1::FIX_AVAILABILITY_UNSPECIFIED) {
    finding->mutable_fix()->set_availability(availability);
  }
  return absl::OkStatus();
}

// Reads what a vulnerability says about all its products into `base`:
// ids, CWE, title, description, dates.
absl::Status MapVulnerability(const JsonNode& vulnerability,
                              ImportContext& context, v1::Finding* base,
                              std::string* id) {
  TREATD_RETURN_IF_ERROR(vulnerability.ExpectObject());
  base->set_kind(v1::FINDING_KIND_VULNERABILITY);
  base->set_source(std::string(kSource));
  v1::Vulnerability& vuln = *base->mutable_vulnerability();
  TREATD_ASSIGN_OR_RETURN(std::string cve,
                          vulnerability["cve"].OptionalString());
  TREATD_ASSIGN_OR_RETURN(std::vector<JsonNode> ids,
                          vulnerability["ids"].OptionalArray());
  std::vector<std::string> other_ids;
  for (const JsonNode& entry : ids) {
    TREATD_ASSIGN_OR_RETURN(std::string text, entry["text"].RequiredString());
    other_ids.push_back(std::move(text));
  }
  if (cve.empty()) {
    for (const std::string& other : other_ids) {
      if (IsCveId(other)) {
        cve = other;
        break;
      }
    }
  }
  if (cve.empty() && other_ids.empty()) {
    return vulnerability.Error(
        "vulnerability has neither \"cve\" nor \"ids\": nothing to name it by");
  }
  *id = cve.empty() ? other_ids.front() : cve;
  vuln.set_cve_id(*id);
  for (const std::string& other : other_ids) {
    if (other != *id) AddUnique(other, vuln.mutable_aliases());
  }
  TREATD_ASSIGN_OR_RETURN(std::string cwe,
                          vulnerability["cwe"]["id"].OptionalString());
  AddUnique(NormalizeCweId(cwe), vuln.mutable_cwe_ids());
  TREATD_ASSIGN_OR_RETURN(std::string title,
                          vulnerability["title"].OptionalString());
  SetAttribute("csaf.title", title, base);
  TREATD_ASSIGN_OR_RETURN(std::vector<JsonNode> notes,
                          vulnerability["notes"].OptionalArray());
  for (const char* category : {"description", "summary", "general"}) {
    TREATD_ASSIGN_OR_RETURN(std::string text, NoteText(notes, category));
    if (!text.empty()) {
      base->set_description(text);
      break;
    }
  }
  JsonNode released = vulnerability["release_date"];
  SetTimestampOrWarn(
      released.IsMissing() ? vulnerability["discovery_date"] : released,
      context, vuln.mutable_published());
  return absl::OkStatus();
}

// The (product id, status, JSON path) pairs of a vulnerability's
// product_status, each product once: the first list naming it wins, and a
// product named with two different statuses is reported as a warning.
struct StatusEntry {
  std::string product_id;
  v1::VexStatus status;
  std::string path;
};

absl::StatusOr<std::vector<StatusEntry>> ReadProductStatus(
    const JsonNode& vulnerability, ImportContext& context) {
  JsonNode product_status = vulnerability["product_status"];
  if (product_status.IsMissing()) {
    return product_status.Error(
        "vulnerability has no product_status: no product to decide for");
  }
  TREATD_RETURN_IF_ERROR(product_status.ExpectObject());
  std::vector<StatusEntry> entries;
  absl::flat_hash_map<std::string, v1::VexStatus> seen;
  for (const StatusList& list : kStatusLists) {
    TREATD_ASSIGN_OR_RETURN(std::vector<JsonNode> ids,
                            product_status[list.key].OptionalArray());
    for (const JsonNode& node : ids) {
      absl::StatusOr<std::string> id = node.RequiredString();
      if (!id.ok()) {
        context.Skip(id.status());
        continue;
      }
      auto [it, inserted] = seen.try_emplace(*id, list.status);
      if (!inserted) {
        if (it->second != list.status) {
          context.Warn(
              node.Error(absl::StrCat("product \"", *id,
                                      "\" is also listed with another status; "
                                      "kept the first: ",
                                      v1::VexStatus_Name(it->second))));
        }
        continue;
      }
      entries.push_back({*id, list.status, node.path()});
    }
  }
  return entries;
}

}  // namespace

absl::Status ImportCsaf(const JsonNode& root, ImportContext& context) {
  TREATD_RETURN_IF_ERROR(root.ExpectObject());
  JsonNode document_node = root["document"];
  TREATD_RETURN_IF_ERROR(document_node.ExpectObject());
  TREATD_ASSIGN_OR_RETURN(std::string version,
                          document_node["csaf_version"].RequiredString());
  if (!absl::StartsWith(version, "2.")) {
    return document_node["csaf_version"].Error(absl::StrCat(
        "unsupported CSAF version \"", version, "\" (expected 2.0)"));
  }
  DocumentContext document;
  TREATD_ASSIGN_OR_RETURN(document.author,
                          document_node["publisher"]["name"].OptionalString());
  JsonNode tracking = document_node["tracking"];
  TREATD_ASSIGN_OR_RETURN(document.tracking_id,
                          tracking["id"].OptionalString());
  document.release_date = tracking["current_release_date"];
  TREATD_ASSIGN_OR_RETURN(
      document.aggregate_severity,
      document_node["aggregate_severity"]["text"].OptionalString());
  TREATD_RETURN_IF_ERROR(
      ReadProductTree(root["product_tree"], document, context));

  TREATD_ASSIGN_OR_RETURN(std::vector<JsonNode> vulnerabilities,
                          root["vulnerabilities"].OptionalArray());
  for (const JsonNode& vulnerability : vulnerabilities) {
    v1::Finding base;
    std::string id;
    absl::Status mapped = MapVulnerability(vulnerability, context, &base, &id);
    if (!mapped.ok()) {
      context.Skip(mapped);
      continue;
    }
    absl::StatusOr<std::vector<StatusEntry>> entries =
        ReadProductStatus(vulnerability, context);
    if (!entries.ok()) {
      context.Skip(entries.status());
      continue;
    }
    for (const StatusEntry& entry : *entries) {
      v1::Finding finding = base;
      absl::Status status = SetProduct(entry.product_id, document, &finding);
      if (status.ok()) {
        status = MapProductFacts(vulnerability, entry.product_id, entry.status,
                                 document, context, &finding);
      }
      if (!status.ok()) {
        // A product id missing from the tree is located at its status entry;
        // a broken flag, score or remediation at its own path.
        context.Skip(status.code() == absl::StatusCode::kNotFound
                         ? JsonPathError(entry.path, status.message())
                         : status);
        continue;
      }
      SetAttribute(kAttrTarget, entry.product_id, &finding);
      const v1::Package& package = finding.package();
      auto title = finding.attributes().find("csaf.title");
      finding.set_title(
          title != finding.attributes().end()
              ? absl::StrCat(id, ": ", title->second, " in ",
                             finding.asset().name())
              : DefaultTitle(id, package.name(), package.installed_version()));
      std::string primary = finding.vulnerability().cve_id();
      std::string product_id = entry.product_id;
      context.AddFinding(std::move(finding), primary, {id, product_id},
                         entry.path);
    }
  }
  return absl::OkStatus();
}

}  // namespace treatd::importers
