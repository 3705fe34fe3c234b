// SARIF 2.1.0 from any tool: one finding per runs[].results[] entry that
// reports a problem, read together with its rule (tool.driver.rules or an
// extension's rules).
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/importers/format_importers.h"
#include "common/importers/import_util.h"
#include "common/importers/json_access.h"
#include "common/status/status_macros.h"

namespace treatd::importers {
namespace {

// What every result of one run shares.
struct RunContext {
  std::string source;
  std::string asset_name;
  v1::AssetType asset_type = v1::ASSET_TYPE_UNSPECIFIED;
  std::vector<JsonNode> driver_rules;
  absl::flat_hash_map<std::string, JsonNode> rules_by_id;
  std::optional<JsonNode> end_time;
};

// SARIF level → severity when no security-severity score is given.
v1::Severity SeverityFromLevel(absl::string_view level) {
  if (level == "error") return v1::SEVERITY_HIGH;
  if (level == "note") return v1::SEVERITY_LOW;
  if (level == "none") return v1::SEVERITY_INFO;
  return v1::SEVERITY_MEDIUM;  // "warning" is SARIF's default level.
}

// Reads "Key: value" lines as Trivy and Grype write them into messages and
// rule help ("Package: openssl", "Installed Version: 1.1.1c-r0").
absl::flat_hash_map<std::string, std::string> KeyValueLines(
    absl::string_view text) {
  absl::flat_hash_map<std::string, std::string> fields;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    size_t colon = line.find(": ");
    if (colon == absl::string_view::npos) continue;
    std::string key = absl::AsciiStrToLower(
        absl::StripAsciiWhitespace(line.substr(0, colon)));
    absl::string_view value =
        absl::StripAsciiWhitespace(line.substr(colon + 2));
    fields.try_emplace(key, std::string(value));
  }
  return fields;
}

// The first non-empty value of `keys` in `primary`, then in `fallback`.
std::string Lookup(
    const absl::flat_hash_map<std::string, std::string>& primary,
    const absl::flat_hash_map<std::string, std::string>& fallback,
    std::initializer_list<const char*> keys) {
  for (const auto* fields : {&primary, &fallback}) {
    for (const char* key : keys) {
      auto it = fields->find(key);
      if (it != fields->end() && !it->second.empty()) return it->second;
    }
  }
  return "";
}

// Finds the rule a result refers to: by ruleIndex into the driver's rules,
// else by id among all rules. Returns a missing node when there is none.
JsonNode FindRule(const JsonNode& result, absl::string_view rule_id,
                  const RunContext& run) {
  const std::optional<uint64_t> index = result["ruleIndex"].UnsignedInteger();
  if (index.has_value() && *index < run.driver_rules.size()) {
    return run.driver_rules[*index];
  }
  auto it = run.rules_by_id.find(rule_id);
  if (it != run.rules_by_id.end()) return it->second;
  return JsonNode::Missing(absl::StrCat("rule \"", rule_id, "\""));
}

absl::StatusOr<v1::Finding> MapResult(const JsonNode& result,
                                      const RunContext& run,
                                      ImportContext& context,
                                      std::vector<std::string>* key,
                                      std::string* primary_id) {
  TREATD_RETURN_IF_ERROR(result.ExpectObject());
  TREATD_ASSIGN_OR_RETURN(std::string rule_id,
                          result["ruleId"].OptionalString());
  if (rule_id.empty()) {
    TREATD_ASSIGN_OR_RETURN(rule_id, result["rule"]["id"].OptionalString());
  }
  if (rule_id.empty()) {
    return result.Error("result has neither \"ruleId\" nor \"rule.id\"");
  }
  JsonNode rule = FindRule(result, rule_id, run);

  v1::Finding finding;
  finding.set_source(run.source);
  finding.mutable_asset()->set_name(run.asset_name);
  finding.mutable_asset()->set_type(run.asset_type);
  if (run.end_time.has_value()) {
    SetTimestampOrWarn(*run.end_time, context, finding.mutable_last_seen());
  }
  SetAttribute("sarif.rule_id", rule_id, &finding);

  // Result properties override the rule's.
  TREATD_ASSIGN_OR_RETURN(std::vector<std::string> tags,
                          rule["properties"]["tags"].OptionalStringArray());
  TREATD_ASSIGN_OR_RETURN(std::vector<std::string> result_tags,
                          result["properties"]["tags"].OptionalStringArray());
  tags.insert(tags.end(), result_tags.begin(), result_tags.end());
  SetAttribute("sarif.tags", absl::StrJoin(tags, ","), &finding);
  JsonNode severity_node = result["properties"]["security-severity"];
  if (severity_node.IsMissing()) {
    severity_node = rule["properties"]["security-severity"];
  }
  TREATD_ASSIGN_OR_RETURN(std::optional<double> security_severity,
                          severity_node.OptionalNumber(true));

  TREATD_ASSIGN_OR_RETURN(std::string level, result["level"].OptionalString());
  if (level.empty()) {
    TREATD_ASSIGN_OR_RETURN(
        level, rule["defaultConfiguration"]["level"].OptionalString());
  }
  SetAttribute("sarif.level", level, &finding);
  if (security_severity.has_value()) {
    finding.set_severity(SeverityFromScore(*security_severity));
    SetAttribute("sarif.security_severity", absl::StrCat(*security_severity),
                 &finding);
  } else {
    finding.set_severity(SeverityFromLevel(level));
  }

  TREATD_ASSIGN_OR_RETURN(std::string message,
                          result["message"]["text"].OptionalString());
  TREATD_ASSIGN_OR_RETURN(std::string short_description,
                          rule["shortDescription"]["text"].OptionalString());
  TREATD_ASSIGN_OR_RETURN(std::string full_description,
                          rule["fullDescription"]["text"].OptionalString());
  TREATD_ASSIGN_OR_RETURN(std::string help,
                          rule["help"]["text"].OptionalString());
  SetAttribute("sarif.message", message, &finding);
  finding.set_title(
      !short_description.empty()
          ? short_description
          : std::string(absl::StripAsciiWhitespace(
                absl::string_view(message).substr(0, message.find('\n')))));
  finding.set_description(full_description.empty() ? message
                                                   : full_description);

  // Location: the first physical location of the result.
  std::string uri;
  std::optional<double> start_line;
  TREATD_ASSIGN_OR_RETURN(std::vector<JsonNode> locations,
                          result["locations"].OptionalArray());
  if (!locations.empty()) {
    JsonNode physical = locations[0]["physicalLocation"];
    TREATD_ASSIGN_OR_RETURN(
        uri, physical["artifactLocation"]["uri"].OptionalString());
    TREATD_ASSIGN_OR_RETURN(start_line,
                            physical["region"]["startLine"].OptionalNumber());
  }
  std::string location = uri;
  if (!uri.empty() && start_line.has_value() && *start_line > 0) {
    absl::StrAppend(&location, ":", static_cast<int64_t>(*start_line));
  }
  SetAttribute(kAttrTarget, uri, &finding);
  SetAttribute(kAttrLocation, location, &finding);

  bool is_secret = false;
  bool is_misconfiguration = false;
  for (const std::string& tag : tags) {
    if (absl::EqualsIgnoreCase(tag, "secret")) is_secret = true;
    if (absl::EqualsIgnoreCase(tag, "misconfiguration")) {
      is_misconfiguration = true;
    }
  }
  std::string package_name;
  std::string installed;
  if (is_secret) {
    finding.set_kind(v1::FINDING_KIND_EXPOSED_SECRET);
    finding.mutable_secret()->set_secret_type(rule_id);
    finding.mutable_secret()->set_location(location);
    *primary_id = rule_id;
  } else if (is_misconfiguration) {
    finding.set_kind(v1::FINDING_KIND_MISCONFIGURATION);
    finding.mutable_misconfiguration()->set_check_id(rule_id);
    finding.mutable_misconfiguration()->set_resource(uri);
    *primary_id = rule_id;
  } else {
    finding.set_kind(v1::FINDING_KIND_VULNERABILITY);
    v1::Vulnerability& vulnerability = *finding.mutable_vulnerability();
    std::string vulnerability_id = FindVulnerabilityId(rule_id);
    vulnerability.set_cve_id(vulnerability_id);
    *primary_id = vulnerability_id.empty() ? rule_id : vulnerability_id;
    for (const std::string& tag : tags) {
      AddUnique(NormalizeCweId(tag), vulnerability.mutable_cwe_ids());
    }
    // Trivy states the NVD ratings on the rule; otherwise the
    // security-severity is the tool's CVSS base score.
    JsonNode properties = rule["properties"];
    std::vector<CvssCandidate> candidates;
    for (const auto& [vector_key, score_key] :
         {std::pair<const char*, const char*>{"cvssv3_vector",
                                              "cvssv3_baseScore"},
          std::pair<const char*, const char*>{"cvssv40_vector",
                                              "cvssv40_baseScore"},
          std::pair<const char*, const char*>{"cvssv2_vector",
                                              "cvssv2_score"}}) {
      TREATD_ASSIGN_OR_RETURN(absl::string_view vector,
                              properties[vector_key].OptionalStringView());
      TREATD_ASSIGN_OR_RETURN(std::optional<double> score,
                              properties[score_key].OptionalNumber(true));
      if (!vector.empty() || score.has_value()) {
        candidates.push_back(
            {"", CvssVersionFromVector(vector), score, vector});
      }
    }
    if (const CvssCandidate* best = PreferredCvss(candidates)) {
      SetCvss(*best, vulnerability.mutable_cvss());
    } else if (security_severity.has_value()) {
      vulnerability.mutable_cvss()->set_score(*security_severity);
    }

    auto message_fields = KeyValueLines(message);
    auto help_fields = KeyValueLines(help);
    package_name = Lookup(message_fields, help_fields, {"package"});
    installed =
        Lookup(message_fields, help_fields, {"installed version", "version"});
    std::string fixed =
        Lookup(message_fields, help_fields, {"fixed version", "fix version"});
    if (!package_name.empty()) {
      v1::Package& package = *finding.mutable_package();
      package.set_name(package_name);
      package.set_installed_version(installed);
      for (absl::string_view version :
           absl::StrSplit(fixed, ',', absl::SkipWhitespace())) {
        AddUnique(absl::StripAsciiWhitespace(version),
                  package.mutable_fixed_versions());
      }
    }
    TREATD_ASSIGN_OR_RETURN(std::vector<JsonNode> fixes,
                            result["fixes"].OptionalArray());
    if (!fixes.empty() || !fixed.empty()) {
      finding.mutable_fix()->set_availability(v1::FIX_AVAILABILITY_AVAILABLE);
    }
  }
  TREATD_ASSIGN_OR_RETURN(std::vector<JsonNode> suppressions,
                          result["suppressions"].OptionalArray());
  if (!suppressions.empty()) SetAttribute("sarif.suppressed", "true", &finding);
  TREATD_ASSIGN_OR_RETURN(std::string help_uri,
                          rule["helpUri"].OptionalString());
  SetAttribute(kAttrPrimaryUrl, help_uri, &finding);

  *key = {rule_id, package_name, installed, location, run.asset_name};
  return finding;
}

// Prepares the per-run context: tool name, rules, the scanned asset.
absl::StatusOr<RunContext> ReadRun(const JsonNode& run) {
  TREATD_RETURN_IF_ERROR(run.ExpectObject());
  RunContext context;
  JsonNode driver = run["tool"]["driver"];
  TREATD_ASSIGN_OR_RETURN(std::string tool, driver["name"].RequiredString());
  context.source = absl::AsciiStrToLower(tool);
  TREATD_ASSIGN_OR_RETURN(context.driver_rules,
                          driver["rules"].OptionalArray());
  std::vector<JsonNode> all_rules = context.driver_rules;
  TREATD_ASSIGN_OR_RETURN(std::vector<JsonNode> extensions,
                          run["tool"]["extensions"].OptionalArray());
  for (const JsonNode& extension : extensions) {
    TREATD_ASSIGN_OR_RETURN(std::vector<JsonNode> rules,
                            extension["rules"].OptionalArray());
    all_rules.insert(all_rules.end(), rules.begin(), rules.end());
  }
  for (const JsonNode& rule : all_rules) {
    TREATD_ASSIGN_OR_RETURN(std::string id, rule["id"].RequiredString());
    context.rules_by_id.try_emplace(id, rule);
  }
  // Trivy names the scanned image in the run's properties; code scanners
  // name the repository in versionControlProvenance.
  TREATD_ASSIGN_OR_RETURN(context.asset_name,
                          run["properties"]["imageName"].OptionalString());
  if (!context.asset_name.empty()) {
    context.asset_type = v1::ASSET_TYPE_CONTAINER_IMAGE;
  } else {
    TREATD_ASSIGN_OR_RETURN(
        context.asset_name,
        run["versionControlProvenance"][0]["repositoryUri"].OptionalString());
    if (!context.asset_name.empty()) {
      context.asset_type = v1::ASSET_TYPE_REPOSITORY;
    }
  }
  JsonNode end_time = run["invocations"][0]["endTimeUtc"];
  if (!end_time.IsMissing()) context.end_time = end_time;
  return context;
}

}  // namespace

absl::Status ImportSarif(const JsonNode& root, ImportContext& context) {
  TREATD_RETURN_IF_ERROR(root.ExpectObject());
  TREATD_ASSIGN_OR_RETURN(std::string version,
                          root["version"].OptionalString());
  if (!version.empty() && version != "2.1.0") {
    return root["version"].Error(absl::StrCat("unsupported SARIF version \"",
                                              version, "\": expected 2.1.0"));
  }
  TREATD_ASSIGN_OR_RETURN(std::vector<JsonNode> runs,
                          root["runs"].RequiredArray());
  for (const JsonNode& run_node : runs) {
    absl::StatusOr<RunContext> run = ReadRun(run_node);
    if (!run.ok()) {
      context.Skip(run.status());
      continue;
    }
    absl::StatusOr<std::vector<JsonNode>> results =
        run_node["results"].OptionalArray();
    if (!results.ok()) {
      context.Skip(results.status());
      continue;
    }
    for (const JsonNode& result : *results) {
      // Passing and not-applicable results record checks, not problems.
      if (result.IsObject()) {
        absl::StatusOr<std::string> kind = result["kind"].OptionalString();
        if (kind.ok() && (*kind == "pass" || *kind == "notApplicable"))
          continue;
      }
      std::vector<std::string> key;
      std::string primary_id;
      absl::StatusOr<v1::Finding> finding =
          MapResult(result, *run, context, &key, &primary_id);
      if (!finding.ok()) {
        context.Skip(finding.status());
        continue;
      }
      context.AddFinding(*std::move(finding), primary_id,
                         {key.begin(), key.end()}, result.path());
    }
  }
  return absl::OkStatus();
}

}  // namespace treatd::importers
