// Decided findings for the exporter tests: one of each shape an exporter
// must handle (remediate, mitigate-then-remediate, accepted behind a FULL
// control, accepted behind a PARTIAL one, mitigated with high residual risk,
// an error, a misconfiguration, and cells full of commas, quotes, line
// breaks and non-ASCII text).
#ifndef TREATD_TESTS_COMMON_EXPORTERS_SAMPLE_DECISIONS_H_
#define TREATD_TESTS_COMMON_EXPORTERS_SAMPLE_DECISIONS_H_

#include <string>
#include <vector>

#include "common/exporters/exporter.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "treatd/v1/decision.pb.h"
#include "treatd/v1/finding.pb.h"
#include "treatd/v1/treatment_service.pb.h"

namespace treatd::exporters::testing {

inline google::protobuf::Timestamp Time(const std::string& text) {
  google::protobuf::Timestamp timestamp;
  EXPECT_TRUE(google::protobuf::util::TimeUtil::FromString(text, &timestamp))
      << text;
  return timestamp;
}

// Owns findings and results; Decided() points into them.
class SampleDecisions {
 public:
  SampleDecisions() {
    // 0: plain remediation.
    {
      v1::Finding& f = AddFinding("trivy:CVE-2023-0464:1");
      f.set_title("openssl: excessive resource use verifying X.509 policies");
      f.mutable_vulnerability()->set_cve_id("CVE-2023-0464");
      f.mutable_vulnerability()->add_aliases("GHSA-0464-0464-0464");
      SetPackage(&f, "libssl3", "3.0.8-r0", "pkg:apk/alpine/libssl3@3.0.8-r0");
      f.mutable_asset()->set_id("shop-images");
      f.mutable_asset()->set_name("registry.example.com/shop/web:1.2");
      v1::Decision& d = AddDecision(v1::TREATMENT_REMEDIATE, "P2", 2);
      *d.mutable_remediate_by() = Time("2026-01-15T00:00:00Z");
      AddAction(&d, "upgrade-package", v1::ACTION_CATEGORY_REMEDIATION,
                "Upgrade libssl3 3.0.8-r0 → 3.0.8-r3");
      d.set_matched_rule("remediate-by-sla");
      d.set_residual_risk(6.5);
      d.add_reasons("CVSS 7.5, fix available");
    }
    // 1: mitigate now, remediate later.
    {
      v1::Finding& f = AddFinding("grype:CVE-2024-3094:2");
      f.set_title("xz backdoor");
      f.mutable_vulnerability()->set_cve_id("CVE-2024-3094");
      f.mutable_vulnerability()->mutable_kev()->set_listed(true);
      SetPackage(&f, "xz-utils", "5.6.0", "pkg:deb/debian/xz-utils@5.6.0");
      f.mutable_asset()->set_name("web-01.prod.example.com");
      v1::Decision& d =
          AddDecision(v1::TREATMENT_MITIGATE_THEN_REMEDIATE, "P1", 1);
      *d.mutable_mitigate_by() = Time("2026-01-01T04:00:00Z");
      *d.mutable_remediate_by() = Time("2026-01-04T00:00:00Z");
      AddAction(&d, "isolate-host", v1::ACTION_CATEGORY_MITIGATION,
                "Isolate web-01.prod.example.com");
      AddAction(&d, "upgrade-package", v1::ACTION_CATEGORY_REMEDIATION,
                "Upgrade xz-utils 5.6.0 → 5.6.1");
      d.set_matched_rule("kev-exposed");
      d.set_residual_risk(9.1);
      d.add_reasons("Listed in CISA KEV");
      d.add_reasons("Internet-facing");
    }
    // 2: accepted, a FULL control in place, low residual risk.
    {
      v1::Finding& f = AddFinding("trivy:CVE-2021-44228:3");
      f.set_title("log4j RCE");
      f.mutable_vulnerability()->set_cve_id("CVE-2021-44228");
      SetPackage(&f, "log4j-core", "2.14.1",
                 "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1");
      f.mutable_asset()->set_id("billing");
      v1::CompensatingControl& c = *f.add_compensating_controls();
      c.set_type(v1::CONTROL_TYPE_WAF);
      c.set_effectiveness(v1::CONTROL_EFFECTIVENESS_FULL);
      c.set_description("WAF rule blocks JNDI lookups");
      c.set_reference("CHG-77");
      v1::Decision& d = AddDecision(v1::TREATMENT_ACCEPT, "P4", 4);
      *d.mutable_review_by() = Time("2026-04-01T00:00:00Z");
      AddAction(&d, "verify-compensating-control",
                v1::ACTION_CATEGORY_MONITORING, "Verify the WAF rule");
      d.set_matched_rule("accept-low-residual-risk");
      d.set_residual_risk(1.2);
      d.add_reasons("A FULL compensating control is in place");
    }
    // 3: accepted behind a PARTIAL control only.
    {
      v1::Finding& f = AddFinding("trivy:CVE-2022-0001:4");
      f.mutable_vulnerability()->set_cve_id("CVE-2022-0001");
      SetPackage(&f, "zlib", "1.2.11", "");
      f.mutable_asset()->set_id("batch");
      v1::CompensatingControl& c = *f.add_compensating_controls();
      c.set_type(v1::CONTROL_TYPE_NETWORK_SEGMENTATION);
      c.set_effectiveness(v1::CONTROL_EFFECTIVENESS_PARTIAL);
      v1::Decision& d = AddDecision(v1::TREATMENT_ACCEPT, "P4", 4);
      *d.mutable_review_by() = Time("2026-04-01T00:00:00Z");
      d.set_matched_rule("accept-low-residual-risk");
      d.set_residual_risk(1.0);
    }
    // 4: FULL control, but the policy still wants a mitigation and the
    // residual risk is above the default threshold.
    {
      v1::Finding& f = AddFinding("grype:CVE-2023-4863:5");
      f.mutable_vulnerability()->set_cve_id("CVE-2023-4863");
      SetPackage(&f, "libwebp", "1.2.4", "pkg:deb/debian/libwebp@1.2.4");
      f.mutable_asset()->set_id("media");
      v1::CompensatingControl& c = *f.add_compensating_controls();
      c.set_type(v1::CONTROL_TYPE_FEATURE_DISABLED);
      c.set_effectiveness(v1::CONTROL_EFFECTIVENESS_FULL);
      v1::Decision& d = AddDecision(v1::TREATMENT_MITIGATE, "P3", 3);
      *d.mutable_mitigate_by() = Time("2026-01-10T00:00:00Z");
      *d.mutable_review_by() = Time("2026-03-01T00:00:00Z");
      d.set_matched_rule("mitigate-no-fix");
      d.set_residual_risk(4.5);
    }
    // 5: an error.
    {
      v1::Finding& f = AddFinding("bad:1");
      f.mutable_vulnerability()->set_cve_id("CVE-2020-0001");
      v1::DecisionResult& r = AddResult();
      r.mutable_error()->set_code(3);
      r.mutable_error()->set_message("finding.kind is required");
    }
    // 6: a misconfiguration (no vulnerability id).
    {
      v1::Finding& f = AddFinding("trivy:AVD-KSV-0017:7");
      f.set_kind(v1::FINDING_KIND_MISCONFIGURATION);
      f.set_title("Privileged container");
      f.mutable_misconfiguration()->set_check_id("AVD-KSV-0017");
      f.mutable_asset()->set_name("Deployment/web");
      v1::Decision& d = AddDecision(v1::TREATMENT_REMEDIATE, "P3", 3);
      *d.mutable_remediate_by() = Time("2026-03-01T00:00:00Z");
      d.set_matched_rule("misconfig-default");
      d.set_residual_risk(5.0);
    }
    // 7: cells that need quoting, and non-ASCII text.
    {
      v1::Finding& f = AddFinding("odd,id \"7\"");
      f.set_title("Ünïcødé título — 日本語");
      f.mutable_vulnerability()->set_cve_id("CVE-2025-0007");
      SetPackage(&f, "weird,pkg \"quoted\"", "1.0\r\n2.0", "");
      f.mutable_asset()->set_id("café-server");
      v1::Decision& d = AddDecision(v1::TREATMENT_REMEDIATE, "P2", 2);
      *d.mutable_remediate_by() = Time("2026-02-01T12:30:00.250Z");
      d.set_matched_rule("rule,with,commas");
      d.mutable_exception()->set_id("EX-1");
      d.mutable_exception()->set_applied(false);
      d.set_residual_risk(3.25);
      d.add_reasons("first, with \"quotes\"");
      d.add_reasons("second — ünïcødé 日本");
    }
  }

  std::vector<DecidedFinding> Decided() const {
    std::vector<DecidedFinding> decided;
    for (size_t i = 0; i < findings_.size(); ++i) {
      decided.push_back({&findings_[i], &results_[i]});
    }
    return decided;
  }

  v1::Finding& finding(size_t i) { return findings_[i]; }
  v1::DecisionResult& result(size_t i) { return results_[i]; }
  size_t size() const { return findings_.size(); }

 private:
  v1::Finding& AddFinding(const std::string& id) {
    findings_.emplace_back();
    v1::Finding& finding = findings_.back();
    finding.set_id(id);
    finding.set_kind(v1::FINDING_KIND_VULNERABILITY);
    return finding;
  }

  v1::DecisionResult& AddResult() {
    results_.emplace_back();
    v1::DecisionResult& result = results_.back();
    result.set_finding_id(findings_.back().id());
    result.set_index(static_cast<int>(results_.size() - 1));
    return result;
  }

  v1::Decision& AddDecision(v1::Treatment treatment,
                            const std::string& priority, int rank) {
    v1::Decision& d = *AddResult().mutable_decision();
    d.set_finding_id(findings_.back().id());
    d.set_decision_id("dec-" + std::to_string(results_.size()));
    d.set_treatment(treatment);
    d.set_priority(priority);
    d.set_priority_rank(rank);
    d.set_match_kind(v1::MATCH_KIND_RULE);
    d.mutable_policy()->set_name("default");
    *d.mutable_evaluated_at() = Time("2026-01-01T00:00:00Z");
    return d;
  }

  static void SetPackage(v1::Finding* f, const std::string& name,
                         const std::string& version, const std::string& purl) {
    f->mutable_package()->set_name(name);
    f->mutable_package()->set_installed_version(version);
    f->mutable_package()->set_purl(purl);
  }

  static void AddAction(v1::Decision* d, const std::string& id,
                        v1::ActionCategory category, const std::string& text) {
    v1::Action& action = *d->add_actions();
    action.set_id(id);
    action.set_category(category);
    action.set_text(text);
  }

  std::vector<v1::Finding> findings_;
  std::vector<v1::DecisionResult> results_;
};

}  // namespace treatd::exporters::testing

#endif  // TREATD_TESTS_COMMON_EXPORTERS_SAMPLE_DECISIONS_H_
