#include "common/ledger/chain.h"

#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/digest/sha256.h"
#include "common/text/ascii.h"
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

// The columns the events table keeps of `e` (views into it).
EventColumns ColumnsOf(const Event& e) {
  return EventColumns{e.seq,
                      e.finding_key,
                      e.kind,
                      absl::ToUnixMicros(e.occurred_at),
                      absl::ToUnixMicros(e.recorded_at),
                      e.idempotency_key};
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

TEST(LinkHashTest, IsTheSha256OfPreviousHashNewlineAndBody) {
  // FIPS 180-2 test vector: SHA-256("abc").
  EXPECT_EQ(Sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("a", "b", "c"), Sha256Hex("abc"));
  const std::string body = std::string(900, 'x');
  EXPECT_EQ(LinkHash(kGenesisHash, body),
            Sha256Hex(absl::StrCat(kGenesisHash, "\n", body)));
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

// The direct writer must give the reference encoder's bytes, field by
// field: otherwise chains written before and after it would not verify
// against each other. Every optional field is toggled, and the text holds
// what needs escaping.
TEST(CanonicalEncodingTest, FastWriterAndPrefixMatchTheReferenceEncoder) {
  std::mt19937 rng(20261206);
  const std::vector<std::string> texts = {
      "", "plain", "quote\" back\\slash /",
      std::string("ctl\b\f\n\r\t\x01\x1f\x7f", 12),
      // Long enough for the eight-byte scan, escapes at odd offsets.
      "a long plain identifier|with:no/escapes#at-all 0123456789",
      "0123456789abc\"efghij\\klmnopqrstu\x1fvwxyz~\x7f!",
      "caf\xc3\xa9 \xe2\x82\xac",  // UTF-8: the reference path
      "bad \xff\xfe utf8",         // invalid: the reference path
  };
  // Three events in four are all ASCII (the direct writer's own path).
  bool ascii = true;
  auto text = [&] { return texts[rng() % (ascii ? 6 : texts.size())]; };
  auto maybe_time = [&]() -> std::optional<absl::Time> {
    if (rng() % 2) return std::nullopt;
    return absl::FromUnixMicros(static_cast<int64_t>(rng() % 4000000000000) -
                                1000000000000);
  };
  for (int i = 0; i < 2000; ++i) {
    ascii = i % 4 != 0;
    Event e;
    e.kind = static_cast<EventKind>(1 + rng() % 8);
    e.seq = static_cast<int64_t>(rng());
    e.finding_key = text();
    e.occurred_at = absl::FromUnixMicros(static_cast<int64_t>(rng()));
    e.recorded_at = absl::FromUnixMicros(-static_cast<int64_t>(rng() % 1000));
    e.idempotency_key = text();
    e.actor = text();
    e.note = text();
    e.control = text();
    e.evidence = text();
    e.until = maybe_time();
    e.scope = text();
    if (rng() % 2) e.state_before = static_cast<FindingState>(1 + rng() % 5);
    e.state_after = static_cast<FindingState>(1 + rng() % 5);
    e.recurrence = rng() % 2;
    DecisionFacts& d = e.decision;
    d.decision_id = text();
    d.treatment = static_cast<v1::Treatment>(rng() % 4);
    d.priority = text();
    d.priority_rank = static_cast<int>(rng() % 3) - 1;
    d.rule = text();
    d.mitigate_by = maybe_time();
    d.remediate_by = maybe_time();
    d.review_by = maybe_time();
    const double risks[] = {0, 0.1, 1.0, 2.5e-7, 123456.789, -3};
    d.residual_risk = risks[rng() % 6];
    d.policy_digest = text();
    d.kind = static_cast<v1::FindingKind>(rng() % 3);
    d.owner = text();
    d.asset = text();
    d.vulnerability = text();
    d.first_seen = maybe_time();
    d.finding_snapshot = text();
    const std::string reference = CanonicalEncodingGeneral(e);
    ASSERT_EQ(CanonicalEncoding(e), reference) << "event " << i;
    // The prefix made before the ledger assigned its fields.
    ASSERT_EQ(CanonicalEncodingFromPrefix(CanonicalPrefix(ReportedPart(e)), e),
              reference)
        << "event " << i;
    // Stored without the column values, restored byte for byte.
    const EventColumns columns = ColumnsOf(e);
    const std::string stored = ElideColumnValues(reference, columns);
    ASSERT_EQ(RestoreColumnValues(stored, columns).value_or("(error)"),
              reference)
        << "event " << i << ", stored " << stored;
    // seq, kind and the times are always written, and ASCII.
    ASSERT_LT(stored.size(), reference.size()) << "event " << i;
    // The committer's path: both forms from a prefix that marks where the
    // column values are, the same bytes as elided by search.
    PrefixMarks marks;
    std::string prefix = CanonicalPrefix(ReportedPart(e), marks);
    if (!prefix.empty()) {
      std::string stored_from_marks;
      ASSERT_EQ(CanonicalEncodingFromPrefix(std::move(prefix), marks, e,
                                            stored_from_marks),
                reference)
          << "event " << i;
      ASSERT_EQ(stored_from_marks, stored) << "event " << i;
    }
  }
}

// A caller's text may hold the marker itself: inside a string it is
// escaped (`\":@`) and must come back as it was, beside values left out.
TEST(ElideColumnValuesTest, TextHoldingTheMarkerRestoresByteForByte) {
  for (const char* text :
       {"x\":@y", "\":@", "ends with \\", "a\\\":@b", "\"seq\":@,\"kind\":@"}) {
    Event e = SampleEvent();
    e.note = text;
    e.idempotency_key = absl::StrCat("retry-", text);
    e.actor = text;
    const std::string canonical = CanonicalEncoding(e);
    const EventColumns columns = ColumnsOf(e);
    const std::string stored = ElideColumnValues(canonical, columns);
    ASSERT_LT(stored.size(), canonical.size()) << text;
    EXPECT_EQ(RestoreColumnValues(stored, columns).value_or("(error)"),
              canonical)
        << text << "\nstored " << stored;
    // Stored whole (before schema version 4): unchanged.
    EXPECT_EQ(RestoreColumnValues(canonical, columns).value_or("(error)"),
              canonical)
        << text;
  }
}

TEST(ElideColumnValuesTest, StoresEachColumnOnceAndRestoresTheHashedBytes) {
  const Event e = SampleEvent();
  const std::string canonical = CanonicalEncoding(e);
  const EventColumns columns = ColumnsOf(e);
  const std::string stored = ElideColumnValues(canonical, columns);
  EXPECT_EQ(stored.find(e.finding_key), std::string::npos) << stored;
  EXPECT_EQ(stored.find(e.idempotency_key), std::string::npos) << stored;
  for (const char* field :
       {"\"finding\":@", "\"idempotency_key\":@", "\"kind\":@",
        "\"occurred_at\":@", "\"recorded_at\":@", "\"seq\":@"}) {
    EXPECT_NE(stored.find(field), std::string::npos) << field << " " << stored;
  }
  // The nested decision's own kind stays.
  EXPECT_NE(stored.find("FINDING_KIND_VULNERABILITY"), std::string::npos);
  EXPECT_EQ(RestoreColumnValues(stored, columns).value_or(""), canonical);
  // A body stored whole (before schema version 4) comes back as it is.
  EXPECT_EQ(RestoreColumnValues(canonical, columns).value_or(""), canonical);

  // An edited column restores other bytes: the chain no longer links.
  EventColumns edited = columns;
  edited.finding_key = "vulnerability|id=other|CVE-2024-1|p";
  const std::string restored = RestoreColumnValues(stored, edited).value_or("");
  EXPECT_NE(LinkHash(kGenesisHash, restored),
            LinkHash(kGenesisHash, canonical));
  // A left-out value that is no column: an edited body.
  std::string bad = stored;
  bad.insert(bad.find("\"occurred_at\""), "\"note\":@,");
  absl::StatusOr<std::string> refused = RestoreColumnValues(bad, columns);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(refused.status().message().find("\"note\""), std::string::npos)
      << refused.status();
}

// The ASCII test the canonical encoder and the JSON writer take their fast
// path on: a byte of 0x80 or more anywhere, in a whole eight-byte word or
// in the tail, makes the text non-ASCII.
TEST(IsAsciiTest, AHighByteAnywhereIsSeen) {
  EXPECT_TRUE(IsAscii(""));
  for (size_t size = 1; size <= 20; ++size) {
    const std::string ascii(size, '\x7f');
    EXPECT_TRUE(IsAscii(ascii)) << size;
    for (size_t at = 0; at < size; ++at) {
      std::string text = ascii;
      text[at] = '\x80';
      EXPECT_FALSE(IsAscii(text)) << size << " " << at;
    }
  }
}

}  // namespace
}  // namespace treatd::ledger
