// Checks of the fields OpenVEX 0.2 and SARIF 2.1.0 require, and of their
// enumerated values, for the exporter tests. Each returns the list of
// problems found (empty when the document is valid), "path: what", so a
// failing test says what is wrong where.
#ifndef TREATD_TESTS_COMMON_EXPORTERS_SPEC_VALIDATORS_H_
#define TREATD_TESTS_COMMON_EXPORTERS_SPEC_VALIDATORS_H_

#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace treatd::exporters::testing {

using Json = nlohmann::json;

inline bool IsNonEmptyString(const Json& json, const char* key) {
  return json.is_object() && json.contains(key) && json[key].is_string() &&
         !json[key].get<std::string>().empty();
}

inline bool IsRfc3339(const Json& value) {
  if (!value.is_string()) return false;
  absl::Time time;
  std::string error;
  return absl::ParseTime(absl::RFC3339_full, value.get<std::string>(), &time,
                         &error);
}

// OpenVEX 0.2: https://github.com/openvex/spec/blob/main/OPENVEX-SPEC.md
inline std::vector<std::string> ValidateOpenVex(const Json& doc) {
  std::vector<std::string> problems;
  auto problem = [&](const std::string& path, const std::string& what) {
    problems.push_back(absl::StrCat(path, ": ", what));
  };
  if (!doc.is_object()) {
    problem("$", "document is not an object");
    return problems;
  }
  if (doc.value("@context", "") != "https://openvex.dev/ns/v0.2.0") {
    problem("$.@context", "must be https://openvex.dev/ns/v0.2.0");
  }
  if (!IsNonEmptyString(doc, "@id")) problem("$.@id", "required IRI");
  if (!IsNonEmptyString(doc, "author")) problem("$.author", "required");
  if (!doc.contains("timestamp") || !IsRfc3339(doc["timestamp"])) {
    problem("$.timestamp", "required RFC 3339 time");
  }
  if (!doc.contains("version") || !doc["version"].is_number_integer() ||
      doc["version"].get<int>() < 1) {
    problem("$.version", "required integer >= 1");
  }
  if (!doc.contains("statements") || !doc["statements"].is_array()) {
    problem("$.statements", "required array");
    return problems;
  }
  static const std::set<std::string> kStatuses = {
      "not_affected", "affected", "fixed", "under_investigation"};
  static const std::set<std::string> kJustifications = {
      "component_not_present", "vulnerable_code_not_present",
      "vulnerable_code_not_in_execute_path",
      "vulnerable_code_cannot_be_controlled_by_adversary",
      "inline_mitigations_already_exist"};
  for (size_t i = 0; i < doc["statements"].size(); ++i) {
    const Json& s = doc["statements"][i];
    std::string path = absl::StrCat("$.statements[", i, "]");
    if (!s.is_object()) {
      problem(path, "not an object");
      continue;
    }
    if (!s.contains("vulnerability") ||
        !IsNonEmptyString(s["vulnerability"], "name")) {
      problem(path + ".vulnerability.name", "required");
    } else if (s["vulnerability"].contains("aliases")) {
      const Json& aliases = s["vulnerability"]["aliases"];
      if (!aliases.is_array())
        problem(path + ".vulnerability.aliases", "array");
      for (const Json& alias : aliases) {
        if (!alias.is_string()) {
          problem(path + ".vulnerability.aliases", "strings only");
        }
      }
    }
    if (!s.contains("products") || !s["products"].is_array() ||
        s["products"].empty()) {
      problem(path + ".products", "required non-empty array");
    } else {
      for (const Json& product : s["products"]) {
        if (!IsNonEmptyString(product, "@id")) {
          problem(path + ".products[].@id", "required");
        }
        if (product.contains("subcomponents")) {
          for (const Json& sub : product["subcomponents"]) {
            if (!IsNonEmptyString(sub, "@id")) {
              problem(path + ".products[].subcomponents[].@id", "required");
            }
          }
        }
      }
    }
    if (s.contains("timestamp") && !IsRfc3339(s["timestamp"])) {
      problem(path + ".timestamp", "RFC 3339 time");
    }
    std::string status = s.value("status", "");
    if (kStatuses.count(status) == 0) {
      problem(path + ".status",
              "one of not_affected, affected, fixed, "
              "under_investigation");
      continue;
    }
    if (status == "not_affected") {
      bool has_justification = s.contains("justification");
      if (has_justification &&
          kJustifications.count(s.value("justification", "")) == 0) {
        problem(path + ".justification", "not an OpenVEX justification");
      }
      if (!has_justification && !IsNonEmptyString(s, "impact_statement")) {
        problem(path,
                "not_affected needs a justification or an "
                "impact_statement");
      }
    } else if (s.contains("justification")) {
      problem(path + ".justification", "only for not_affected");
    }
    if (status == "affected" && !IsNonEmptyString(s, "action_statement")) {
      problem(path + ".action_statement", "required for affected");
    }
  }
  return problems;
}

// SARIF 2.1.0 (OASIS): the required members and the enumerations treatd
// writes.
inline std::vector<std::string> ValidateSarif(const Json& log) {
  std::vector<std::string> problems;
  auto problem = [&](const std::string& path, const std::string& what) {
    problems.push_back(absl::StrCat(path, ": ", what));
  };
  if (!log.is_object()) {
    problem("$", "log is not an object");
    return problems;
  }
  if (log.value("version", "") != "2.1.0")
    problem("$.version", "must be 2.1.0");
  if (!IsNonEmptyString(log, "$schema")) problem("$.$schema", "expected URI");
  if (!log.contains("runs") || !log["runs"].is_array()) {
    problem("$.runs", "required array");
    return problems;
  }
  static const std::set<std::string> kLevels = {"none", "note", "warning",
                                                "error"};
  for (size_t r = 0; r < log["runs"].size(); ++r) {
    const Json& run = log["runs"][r];
    std::string path = absl::StrCat("$.runs[", r, "]");
    if (!run.contains("tool") || !run["tool"].contains("driver") ||
        !IsNonEmptyString(run["tool"]["driver"], "name")) {
      problem(path + ".tool.driver.name", "required");
      continue;
    }
    const Json& driver = run["tool"]["driver"];
    Json rules = driver.value("rules", Json::array());
    if (!run.contains("results")) continue;  // Optional in SARIF.
    if (!run["results"].is_array()) {
      problem(path + ".results", "array");
      continue;
    }
    for (size_t i = 0; i < run["results"].size(); ++i) {
      const Json& result = run["results"][i];
      std::string rpath = absl::StrCat(path, ".results[", i, "]");
      if (!result.contains("message") ||
          !(IsNonEmptyString(result["message"], "text") ||
            IsNonEmptyString(result["message"], "id"))) {
        problem(rpath + ".message", "required, with text or id");
      }
      if (result.contains("ruleId") && !result["ruleId"].is_string()) {
        problem(rpath + ".ruleId", "string");
      }
      if (result.contains("level") &&
          kLevels.count(result.value("level", "")) == 0) {
        problem(rpath + ".level", "one of none, note, warning, error");
      }
      if (result.contains("ruleIndex")) {
        size_t index = result["ruleIndex"].get<size_t>();
        if (index >= rules.size()) {
          problem(rpath + ".ruleIndex", "out of range");
        } else if (result.contains("ruleId") &&
                   rules[index].value("id", "") != result["ruleId"]) {
          problem(rpath + ".ruleIndex", "names another rule than ruleId");
        }
      }
      if (result.contains("locations")) {
        for (const Json& location : result["locations"]) {
          if (location.contains("physicalLocation") &&
              !IsNonEmptyString(location["physicalLocation"].value(
                                    "artifactLocation", Json::object()),
                                "uri")) {
            problem(rpath + ".locations[].physicalLocation", "needs a uri");
          }
        }
      }
      if (result.contains("properties") && !result["properties"].is_object()) {
        problem(rpath + ".properties", "property bag must be an object");
      }
    }
  }
  return problems;
}

}  // namespace treatd::exporters::testing

#endif  // TREATD_TESTS_COMMON_EXPORTERS_SPEC_VALIDATORS_H_
