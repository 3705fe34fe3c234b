// The decision id's hand-written Finding encoder must write exactly
// protobuf's deterministic serialization: findings filled through
// reflection (so a field added to finding.proto is covered without
// touching this test), one field at a time and all at once, with lengths
// that need multi-byte varints, and with unknown fields.
#include "common/policy/engine/decision_id.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/reflection.h"
#include "google/protobuf/unknown_field_set.h"
#include "gtest/gtest.h"
#include "tests/common/fill_message.h"
#include "treatd/v1/finding.pb.h"
#include "xxhash.h"

namespace treatd {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

std::string Protobuf(const Message& f) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  f.SerializeToCodedStream(&coded);
  coded.Trim();
  return out;
}

// Where `a` and `b` first differ, for failure messages that do not print
// kilobytes of bytes.
size_t FirstDifference(const std::string& a, const std::string& b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  return i;
}

std::string Ours(const v1::Finding& f) {
  std::string out = "prefix";
  AppendDeterministicFinding(f, &out);
  return out.substr(6);
}

using testing_util::FillAll;
using testing_util::SetScalar;

TEST(DecisionIdTest, EncoderWritesProtobufsBytesForEveryFieldSet) {
  // 10: one-byte lengths; 200: two-byte lengths (and sub-messages whose
  // length widens); 20000: three-byte lengths.
  for (size_t length : {10, 200, 20000}) {
    v1::Finding f;
    FillAll(&f, length);
    const std::string expected = Protobuf(f);
    ASSERT_GT(expected.size(), length);
    const std::string ours = Ours(f);
    EXPECT_TRUE(ours == expected)
        << "string length " << length << ": " << ours.size() << " bytes, "
        << expected.size() << " expected, first difference at byte "
        << FirstDifference(ours, expected);
  }
}

// Each field set alone, in every message: the encoder leaves out exactly
// the fields protobuf leaves out, and writes an empty sub-message that is
// present.
TEST(DecisionIdTest, EncoderWritesProtobufsBytesForEachFieldAlone) {
  v1::Finding all;
  FillAll(&all, 5);
  int compared = 0;
  // Walks `full` (a sub-message of `all`), clearing every other field of
  // the finding but the one at the current path.
  struct Walker {
    int* compared;
    void Visit(const v1::Finding& all, std::vector<int> path) {
      const Message* m = &all;
      for (int index : path) {
        const auto* field = m->GetDescriptor()->field(index);
        m = &m->GetReflection()->GetMessage(*m, field);
      }
      const auto* d = m->GetDescriptor();
      for (int i = 0; i < d->field_count(); ++i) {
        std::vector<int> sub = path;
        sub.push_back(i);
        v1::Finding f = Only(all, sub);
        EXPECT_EQ(Ours(f), Protobuf(f)) << d->field(i)->full_name();
        ++*compared;
        const auto* field = d->field(i);
        if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
            !field->is_repeated()) {
          Visit(all, sub);
          // The sub-message present but empty.
          v1::Finding empty = f;
          Message* at = &empty;
          for (int index : sub) {
            at = at->GetReflection()->MutableMessage(
                at, at->GetDescriptor()->field(index));
          }
          at->Clear();
          EXPECT_EQ(Ours(empty), Protobuf(empty)) << field->full_name();
        }
      }
    }
    // `all` with only the field at `path` (and the messages on the way).
    static v1::Finding Only(const v1::Finding& all,
                            const std::vector<int>& path) {
      v1::Finding f = all;
      Message* m = &f;
      for (size_t k = 0; k < path.size(); ++k) {
        const auto* d = m->GetDescriptor();
        for (int i = 0; i < d->field_count(); ++i) {
          if (i != path[k]) m->GetReflection()->ClearField(m, d->field(i));
        }
        const auto* field = d->field(path[k]);
        if (k + 1 < path.size()) {
          m = m->GetReflection()->MutableMessage(m, field);
        }
      }
      return f;
    }
  } walker{&compared};
  walker.Visit(all, {});
  EXPECT_GT(compared, 80);
}

TEST(DecisionIdTest, EncoderHandsFindingsWithUnknownFieldsToProtobuf) {
  v1::Finding f;
  FillAll(&f, 8);
  v1::Asset* asset = f.mutable_asset();
  asset->GetReflection()->MutableUnknownFields(asset)->AddVarint(1000, 7);
  google::protobuf::Timestamp* seen = f.mutable_first_seen();
  seen->GetReflection()->MutableUnknownFields(seen)->AddLengthDelimited(99,
                                                                        "new");
  const std::string expected = Protobuf(f);
  EXPECT_NE(expected.find("new"), std::string::npos);
  EXPECT_EQ(Ours(f), expected);
}

// Every message a filled finding holds (the finding, each sub-message, each
// compensating control, each Timestamp), written on its own by
// AppendDeterministicMessage: protobuf's bytes, or false with nothing
// appended when it carries unknown fields or is a dynamic message.
TEST(DecisionIdTest, EachMessageOfAFindingIsWrittenAsProtobufWritesIt) {
  v1::Finding f;
  FillAll(&f, 40);
  std::vector<const Message*> messages;
  std::vector<const Message*> todo = {&f};
  while (!todo.empty()) {
    const Message* m = todo.back();
    todo.pop_back();
    messages.push_back(m);
    const auto* d = m->GetDescriptor();
    const Reflection* r = m->GetReflection();
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* field = d->field(i);
      if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE ||
          field->is_map()) {
        continue;
      }
      if (field->is_repeated()) {
        for (int k = 0; k < r->FieldSize(*m, field); ++k) {
          todo.push_back(&r->GetRepeatedMessage(*m, field, k));
        }
      } else if (r->HasField(*m, field)) {
        todo.push_back(&r->GetMessage(*m, field));
      }
    }
  }
  ASSERT_GT(messages.size(), 15u);
  for (const Message* m : messages) {
    std::string ours = "prefix";
    ASSERT_TRUE(AppendDeterministicMessage(*m, &ours))
        << m->GetDescriptor()->full_name();
    EXPECT_EQ(ours.substr(6), Protobuf(*m)) << m->GetDescriptor()->full_name();
  }

  v1::CompensatingControl control = f.compensating_controls(0);
  control.GetReflection()->MutableUnknownFields(&control)->AddVarint(77, 1);
  std::string out = "x";
  EXPECT_FALSE(AppendDeterministicMessage(control, &out));
  EXPECT_EQ(out, "x");
  google::protobuf::DynamicMessageFactory factory;  // Not the generated class.
  const std::unique_ptr<Message> dynamic(
      factory.GetPrototype(v1::CompensatingControl::descriptor())->New());
  EXPECT_FALSE(AppendDeterministicMessage(*dynamic, &out));
  EXPECT_EQ(out, "x");
  google::protobuf::Duration other;  // Not a type a finding holds.
  other.set_seconds(5);
  EXPECT_FALSE(AppendDeterministicMessage(other, &out));
  EXPECT_EQ(out, "x");
}

TEST(DecisionIdTest, IdIsXxh3OfDigestAsOfAndFindingInHex) {
  v1::Finding f;
  FillAll(&f, 12);
  v1::PolicyRef ref;
  ref.set_digest("sha256:abc");
  const absl::Time as_of = absl::FromUnixSeconds(1796083200);
  const std::string input =
      absl::StrCat("sha256:abc\n2026-12-01T00:00:00Z\n", Protobuf(f));
  XXH128_canonical_t canonical;
  XXH128_canonicalFromHash(&canonical,
                           XXH3_128bits(input.data(), input.size()));
  const std::string expected = absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(canonical.digest), 16));
  std::string id;
  DecisionId(ref, as_of, f, &id);
  EXPECT_EQ(id, expected);
  // The cached "<digest>\n<as_of>\n" prefix follows a change of either.
  std::string other;
  DecisionId(ref, as_of + absl::Seconds(1), f, &other);
  EXPECT_NE(other, id);
  ref.set_digest("sha256:abd");
  DecisionId(ref, as_of, f, &other);
  EXPECT_NE(other, id);
  ref.set_digest("sha256:abc");
  DecisionId(ref, as_of, f, &other);
  EXPECT_EQ(other, id);
}

// The "<digest>\n<as_of>\n" prefix is rewritten in place over the
// thread's buffer when either changes (every unary call has its own
// as_of), and the finding's bytes after it, the encoder's or protobuf's
// (unknown fields), without cutting the buffer back: a shorter prefix or
// finding after a longer one, and back, gives each id its own bytes,
// through DecisionId() and the keyed walk alike.
TEST(DecisionIdTest, IdsFollowPrefixesAndFindingsOfAnyLengthInTurn) {
  v1::Finding large;
  FillAll(&large, 12);
  v1::Finding unknown = large;
  v1::Asset* asset = unknown.mutable_asset();
  asset->GetReflection()->MutableUnknownFields(asset)->AddLengthDelimited(
      1000, "new");
  v1::Finding small;
  small.set_id("f");
  const v1::Finding* const kFindings[] = {&large, &unknown, &small, &unknown};
  const absl::Time whole = absl::FromUnixSeconds(1796083200);
  const struct {
    const char* digest;
    absl::Time as_of;
    const char* text;
  } kPrefixes[] = {
      {"sha256:abc", whole, "2026-12-01T00:00:00Z"},
      {"sha256:abcdefabcdefabcdef", whole + absl::Nanoseconds(123456789),
       "2026-12-01T00:00:00.123456789Z"},
      {"s", whole + absl::Seconds(1), "2026-12-01T00:00:01Z"},
      {"sha256:abcdefabcdefabcdef", whole + absl::Milliseconds(5),
       "2026-12-01T00:00:00.005Z"},
      {"sha256:abc", whole, "2026-12-01T00:00:00Z"},
  };
  internal::FindingKeyFields fields;
  std::string key;
  for (const v1::Finding* finding : kFindings) {
    const v1::Finding& f = *finding;
    for (const auto& prefix : kPrefixes) {
      v1::PolicyRef ref;
      ref.set_digest(prefix.digest);
      const std::string input =
          absl::StrCat(prefix.digest, "\n", prefix.text, "\n", Protobuf(f));
      XXH128_canonical_t canonical;
      XXH128_canonicalFromHash(&canonical,
                               XXH3_128bits(input.data(), input.size()));
      const std::string expected = absl::BytesToHexString(absl::string_view(
          reinterpret_cast<const char*>(canonical.digest), 16));
      std::string id;
      DecisionId(ref, prefix.as_of, f, &id);
      EXPECT_EQ(id, expected) << prefix.text;
      internal::Xxh3Hash128 hash;
      size_t key_end;
      EXPECT_EQ(internal::DecisionIdHashAndKey(ref, prefix.as_of, f, fields,
                                               &key, 0, &key_end, &hash),
                finding != &unknown);
      std::string walked;
      internal::DecisionIdFromHash(hash, &walked);
      EXPECT_EQ(walked, expected) << prefix.text;
    }
  }
}

// Every hex digit in every position: ids of 2,000 findings, each against
// libxxhash's canonical bytes in hex.
TEST(DecisionIdTest, IdsOfManyFindingsAreTheirHashesInHex) {
  v1::PolicyRef ref;
  ref.set_digest("sha256:abc");
  const absl::Time as_of = absl::FromUnixSeconds(1796083200);
  std::string id;
  for (int i = 0; i < 2000; ++i) {
    v1::Finding f;
    f.set_id(absl::StrCat("finding-", i));
    const std::string input =
        absl::StrCat("sha256:abc\n2026-12-01T00:00:00Z\n", Protobuf(f));
    XXH128_canonical_t canonical;
    XXH128_canonicalFromHash(&canonical,
                             XXH3_128bits(input.data(), input.size()));
    DecisionId(ref, as_of, f, &id);
    ASSERT_EQ(id, absl::BytesToHexString(absl::string_view(
                      reinterpret_cast<const char*>(canonical.digest), 16)))
        << i;
  }
}

// The id's hex digits from the table (every target without SSE2) and
// from SSE2 (x86-64), for hashes with every nibble value in every
// position (on zeros and on ones), 0, all ones and pseudo-random ones,
// against printf's %016x.
TEST(DecisionIdTest, HexDigitsOfBothPathsAreTheHashsInBigEndianOrder) {
  std::vector<internal::Xxh3Hash128> hashes = {{0, 0}, {~0ull, ~0ull}};
  for (int position = 0; position < 32; ++position) {
    const int shift = 60 - 4 * (position % 16);
    for (uint64_t nibble = 0; nibble < 16; ++nibble) {
      for (const uint64_t rest : {uint64_t{0}, ~uint64_t{0}}) {
        const uint64_t word =
            (rest & ~(uint64_t{0xf} << shift)) | (nibble << shift);
        hashes.push_back(position < 16 ? internal::Xxh3Hash128{rest, word}
                                       : internal::Xxh3Hash128{word, rest});
      }
    }
  }
  uint64_t state = 20261207;
  const auto next = [&state] {  // splitmix64
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  for (int i = 0; i < 5000; ++i) hashes.push_back({next(), next()});
  int checked = 0;
  for (const internal::Xxh3Hash128& hash : hashes) {
    const std::string want =
        absl::StrFormat("%016x%016x", hash.high64, hash.low64);
    char scalar[32];
    internal::HashHexScalar(hash, scalar);
    ASSERT_EQ(absl::string_view(scalar, 32), want);
#if defined(__x86_64__) && defined(__SSE2__)
    char sse2[32];
    internal::HashHexSse2(hash, sse2);
    ASSERT_EQ(absl::string_view(sse2, 32), want);
#endif
    ++checked;
  }
  EXPECT_EQ(checked, 2 + 32 * 16 * 2 + 5000);
}

// --- The core cache key's facts written on the id's walk
// (DecisionIdHashAndKey).

struct Walked {
  std::string key;  // The facts, after a marker the walk leaves alone.
  bool known = false;
  std::string id;
};

Walked Walk(const v1::Finding& f, const internal::FindingKeyFields& fields) {
  v1::PolicyRef ref;
  ref.set_digest("sha256:abc");
  const absl::Time as_of = absl::FromUnixSeconds(1796083200);
  Walked out;
  std::string key = "marker";
  size_t end = 0;
  internal::Xxh3Hash128 hash;
  out.known = internal::DecisionIdHashAndKey(ref, as_of, f, fields, &key, 6,
                                             &end, &hash);
  EXPECT_EQ(key.substr(0, 6), "marker");
  out.key = key.substr(6, end - 6);
  internal::DecisionIdFromHash(hash, &out.id);
  std::string id;
  DecisionId(ref, as_of, f, &id);
  EXPECT_EQ(out.id, id) << "the walk's hash is not the decision id's";
  return out;
}

// `fields` wanting the field at `path` (descriptors from Finding down) and
// every message field on the way.
void Want(const std::vector<const FieldDescriptor*>& path,
          internal::FindingKeyFields* fields) {
  for (const FieldDescriptor* field : path) {
    fields
        ->fields[internal::FindingKeyFields::Of(field->containing_type())]
                [field->number()]
        .wanted = true;
  }
}

// The message at `path` in `f` minus its last field (created on the way).
Message* Parent(v1::Finding* f,
                const std::vector<const FieldDescriptor*>& path) {
  Message* m = f;
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    m = m->GetReflection()->MutableMessage(m, path[i]);
  }
  return m;
}

// Every field the walk writes (FindingKeyFields::Walked), in every message
// of the schema, found through the descriptors so that a field added to
// finding.proto is covered: a finding with every field set and the same
// finding with that field changed (cleared; another value; a timestamp's
// seconds or nanos; one control's text) get different keys when the key
// wants the field, and the same key when it wants only the messages on the
// way. A field the walk forgot would give equal keys: the core cache would
// then serve one finding's decision for the other.
TEST(DecisionIdTest, TheWalkWritesEveryWantedFieldOfTheSchema) {
  v1::Finding base;
  FillAll(&base, 7);
  int checked = 0;
  std::vector<std::string> walked_names;
  std::function<void(std::vector<const FieldDescriptor*>)> visit =
      [&](std::vector<const FieldDescriptor*> path) {
        const google::protobuf::Descriptor* d =
            path.empty() ? v1::Finding::descriptor()
                         : path.back()->message_type();
        for (int i = 0; i < d->field_count(); ++i) {
          const FieldDescriptor* field = d->field(i);
          if (!internal::FindingKeyFields::Walked(field)) continue;
          std::vector<const FieldDescriptor*> at = path;
          at.push_back(field);
          walked_names.push_back(field->full_name());
          // The variants of `base` that change this field.
          std::vector<v1::Finding> variants;
          v1::Finding changed = base;
          Message* parent = Parent(&changed, at);
          const Reflection* r = parent->GetReflection();
          r->ClearField(parent, field);
          variants.push_back(changed);
          if (field->is_repeated()) {  // compensating_controls.
            changed = base;
            parent = Parent(&changed, at);
            Message* control = parent->GetReflection()->MutableRepeatedMessage(
                parent, field, 1);
            control->GetReflection()->SetString(
                control, control->GetDescriptor()->FindFieldByNumber(3),
                "another description");
            variants.push_back(changed);
          } else if (field->message_type() ==
                     google::protobuf::Timestamp::descriptor()) {
            for (int number : {1, 2}) {
              changed = base;
              parent = Parent(&changed, at);
              Message* t =
                  parent->GetReflection()->MutableMessage(parent, field);
              const FieldDescriptor* part =
                  t->GetDescriptor()->FindFieldByNumber(number);
              number == 1 ? t->GetReflection()->SetInt64(t, part, 12345)
                          : t->GetReflection()->SetInt32(t, part, 678);
              variants.push_back(changed);
            }
          } else if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
            changed = base;
            parent = Parent(&changed, at);
            SetScalar(parent, field, 1, 7);
            if (Protobuf(changed) != Protobuf(base))
              variants.push_back(changed);
          }
          internal::FindingKeyFields wanted;
          Want(at, &wanted);
          internal::FindingKeyFields on_the_way;
          Want(path, &on_the_way);
          const Walked from_base = Walk(base, wanted);
          const Walked from_base_on_the_way = Walk(base, on_the_way);
          for (const v1::Finding& variant : variants) {
            EXPECT_NE(Walk(variant, wanted).key, from_base.key)
                << field->full_name() << ": a change the key does not see";
            if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
              EXPECT_EQ(Walk(variant, on_the_way).key, from_base_on_the_way.key)
                  << field->full_name() << ": the key holds it unwanted";
            }
            ++checked;
          }
          if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
              !field->is_repeated() &&
              field->message_type() !=
                  google::protobuf::Timestamp::descriptor()) {
            visit(at);
          }
        }
      };
  visit({});
  // Every message of the schema but CompensatingControl, whose fields the
  // key holds as the controls' bytes.
  EXPECT_GT(checked, 100);
  EXPECT_NE(std::find(walked_names.begin(), walked_names.end(),
                      "treatd.v1.Vex.mitigation_statement"),
            walked_names.end());
  EXPECT_NE(std::find(walked_names.begin(), walked_names.end(),
                      "treatd.v1.Cvss.score"),
            walked_names.end());
}

// A string compared only with constants: the key holds which constant it
// equals, so strings that equal none share a key.
TEST(DecisionIdTest, TheWalkWritesWhichConstantAStringEquals) {
  internal::FindingKeyFields fields;
  const FieldDescriptor* vulnerability =
      v1::Finding::descriptor()->FindFieldByName("vulnerability");
  const FieldDescriptor* cve =
      v1::Vulnerability::descriptor()->FindFieldByName("cve_id");
  Want({vulnerability, cve}, &fields);
  fields.fields[internal::FindingKeyFields::kVulnerability][cve->number()]
      .atoms = 0;
  fields.atoms.push_back({"CVE-1", "CVE-2"});
  const auto key = [&](absl::string_view id) {
    v1::Finding f;
    FillAll(&f, 5);
    f.mutable_vulnerability()->set_cve_id(std::string(id));
    return Walk(f, fields).key;
  };
  EXPECT_NE(key("CVE-1"), key("CVE-2"));
  EXPECT_NE(key("CVE-1"), key("CVE-3"));
  EXPECT_EQ(key("CVE-3"), key("CVE-4"));
  EXPECT_EQ(key("CVE-3"), key(""));
}

// A finding with unknown fields: the hash is still the id's (protobuf
// writes its bytes), and the key is reported unusable.
TEST(DecisionIdTest, TheWalkReportsUnknownFields) {
  v1::Finding f;
  FillAll(&f, 5);
  internal::FindingKeyFields fields;
  Want({v1::Finding::descriptor()->FindFieldByName("kind")}, &fields);
  EXPECT_TRUE(Walk(f, fields).known);
  f.mutable_asset()
      ->GetReflection()
      ->MutableUnknownFields(f.mutable_asset())
      ->AddVarint(900, 1);
  EXPECT_FALSE(Walk(f, fields).known);
}

}  // namespace
}  // namespace treatd
