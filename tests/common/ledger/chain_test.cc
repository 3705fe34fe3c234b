#include "common/ledger/chain.h"

#include <string>

#include "gtest/gtest.h"

namespace treatd::ledger {
namespace {

Event SampleEvent() {
  Event e;
  e.seq = 7;
  e.kind = EventKind::kDecision;
  e.finding_key = "vulnerability|id=h|CVE-2024-1|p";
  e.occurred_at = absl::FromUnixSeconds(1780000000);
  e.recorded_at = absl::FromUnixSeconds(1780000001);
  e.idempotency_key = "req-1/0";
  e.state_after = FindingState::kOpen;
  e.decision.decision_id = "d-1";
  e.decision.treatment = v1::TREATMENT_MITIGATE;
  e.decision.priority = "p1";
  e.decision.priority_rank = 1;
  e.decision.remediate_by = absl::FromUnixSeconds(1781000000);
  e.decision.residual_risk = 0.1;
  e.decision.kind = v1::FINDING_KIND_VULNERABILITY;
  e.decision.finding_snapshot = "not hashed";
  return e;
}

TEST(CanonicalEncodingTest, RoundTripsEveryChainedField) {
  Event e = SampleEvent();
  std::string body = CanonicalEncoding(e);
  absl::StatusOr<Event> back = DecodeCanonical(body);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(CanonicalEncoding(*back), body);
  EXPECT_EQ(back->decision.treatment, v1::TREATMENT_MITIGATE);
  EXPECT_EQ(back->decision.residual_risk, 0.1);
  EXPECT_EQ(back->decision.remediate_by, e.decision.remediate_by);
  EXPECT_TRUE(back->decision.finding_snapshot.empty());
}

TEST(CanonicalEncodingTest, KeysAreSortedAndTheSnapshotIsLeftOut) {
  std::string body = CanonicalEncoding(SampleEvent());
  EXPECT_LT(body.find("\"decision\""), body.find("\"finding\""));
  EXPECT_EQ(body.find("not hashed"), std::string::npos);
}

TEST(CanonicalEncodingTest, RejectsWhatItDidNotWrite) {
  EXPECT_FALSE(DecodeCanonical("not json").ok());
  EXPECT_FALSE(DecodeCanonical("{\"v\":2}").ok());
  EXPECT_FALSE(
      DecodeCanonical("{\"v\":1,\"kind\":\"nope\",\"state_after\":\"open\"}")
          .ok());
}

TEST(LinkHashTest, ChangesWithThePreviousHashAndEveryByte) {
  std::string body = CanonicalEncoding(SampleEvent());
  std::string h = LinkHash(kGenesisHash, body);
  EXPECT_EQ(h.size(), 64u);
  EXPECT_EQ(h, LinkHash(kGenesisHash, body));
  Event edited = SampleEvent();
  edited.decision.residual_risk = 0.2;
  EXPECT_NE(h, LinkHash(kGenesisHash, CanonicalEncoding(edited)));
  EXPECT_NE(h, LinkHash(std::string(64, '1'), body));
}

}  // namespace
}  // namespace treatd::ledger
