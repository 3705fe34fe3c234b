// Small policies in the docs/policy-language.md syntax shared by the server
// and treatctl tests. Constants only.
#ifndef TREATD_TESTS_SERVER_TEST_POLICIES_H_
#define TREATD_TESTS_SERVER_TEST_POLICIES_H_

namespace treatd::testing {

// The ledger tests' policy. KEV-listed: MITIGATE_THEN_REMEDIATE P1;
// low-criticality assets: MITIGATE P3 (review in 7 days); everything else
// REMEDIATE P3 within 30 days.
inline constexpr char kLedgerPolicy[] = R"yaml(name: ledger-test
version: "1"
priorities:
  - name: P1
    mitigate_within: 24h
    remediate_within: 3d
    review_within: 7d
  - name: P3
    mitigate_within: 7d
    remediate_within: 30d
    review_within: 7d
rules:
  - id: kev
    when: vulnerability.kev.listed
    treatment: MITIGATE_THEN_REMEDIATE
    priority: P1
  - id: low-asset
    when: asset.criticality == "LOW"
    treatment: MITIGATE
    priority: P3
default:
  treatment: REMEDIATE
  priority: P3
)yaml";

// Valid: KEV-listed vulnerabilities are mitigated then remediated (P1),
// everything else is remediated (P4).
inline constexpr char kGoodPolicy[] = R"yaml(name: test-policy
version: "1.2"
description: Test policy for the service tests
priorities:
  - name: P1
    mitigate_within: 24h
    remediate_within: 3d
    review_within: 7d
  - name: P4
    remediate_within: 90d
    review_within: 30d
rules:
  - id: kev
    description: Known exploited
    when: vulnerability.kev.listed
    treatment: MITIGATE_THEN_REMEDIATE
    priority: P1
default:
  treatment: REMEDIATE
  priority: P4
)yaml";

// Invalid in three places: an unknown field, an unknown enum value and an
// unknown priority.
inline constexpr char kBrokenPolicy[] = R"yaml(name: broken
version: "1"
priorities:
  - name: P1
    remediate_within: 3d
rules:
  - id: bad-field
    when: vulnerability.nope > 1
    treatment: REMEDIATE
    priority: P1
  - id: bad-enum
    when: asset.exposure == "SOMEWHERE"
    treatment: REMEDIATE
    priority: P9
default:
  treatment: REMEDIATE
  priority: P1
)yaml";

}  // namespace treatd::testing

#endif  // TREATD_TESTS_SERVER_TEST_POLICIES_H_
