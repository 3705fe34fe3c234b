// FindingReader's framing: objects found whole wherever the stream's
// blocks end (one byte at a time up to all at once), strings holding
// brackets, quotes and backslashes, escapes split across blocks, objects
// over several lines, arrays, and the errors that end the input, with the
// line each record starts on.
#include "client/treatctl/finding_reader.h"

#include <algorithm>
#include <random>
#include <sstream>
#include <streambuf>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace treatd {
namespace {

// A stream that offers at most `block` characters at a time (in_avail),
// as a pipe being written does.
class TricklingBuf : public std::streambuf {
 public:
  TricklingBuf(std::string text, size_t block)
      : text_(std::move(text)), block_(block) {}

 protected:
  std::streamsize showmanyc() override {
    if (gptr() < egptr()) return egptr() - gptr();
    return at_ < text_.size() ? 1 : -1;
  }
  int_type underflow() override {
    if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
    if (at_ >= text_.size()) return traits_type::eof();
    const size_t n = std::min(block_, text_.size() - at_);
    char* const start = text_.data() + at_;
    setg(start, start, start + n);
    at_ += n;
    return traits_type::to_int_type(*gptr());
  }

 private:
  std::string text_;
  const size_t block_;
  size_t at_ = 0;
};

struct Framed {
  int line;
  bool ok;
  std::string text;
};

std::vector<Framed> FrameAll(const std::string& input, size_t block) {
  TricklingBuf buf(input, block);
  std::istream in(&buf);
  FindingReader reader(&in, "in.jsonl");
  FindingReader::Record record;
  std::vector<Framed> framed;
  while (reader.Next(&record)) {
    framed.push_back({record.line, record.status.ok(), reader.text()});
  }
  return framed;
}

constexpr size_t kBlocks[] = {1, 2, 3, 7, 15, 16, 17, 31, 64, 1 << 20};

// A string value full of what the framer must not count: brackets,
// escaped quotes and backslashes (the backslash at every offset of a
// 16-byte block as the prefix grows).
std::string TrickyValue(int n) {
  return absl::StrCat(std::string(static_cast<size_t>(n % 23), 'a'),
                      "{[}] \\\" \\\\ \\\\\\\" \\u007b x",
                      std::string(n % 5, ']'));
}

TEST(FindingReaderTest, FramesObjectsWhereverTheStreamsBlocksEnd) {
  std::string input;
  std::vector<Framed> want;
  int line = 1;
  for (int i = 0; i < 60; ++i) {
    const std::string value = TrickyValue(i);
    std::string object =
        absl::StrCat("{\"id\": \"", value, "\", \"title\": \"", value,
                     "\", \"attributes\": {\"k", i, "\": \"[{\\\\\\\"}\"}}");
    if (i % 7 == 3) {
      // An object over several lines.
      object = absl::StrCat("{\n  \"id\": \"", value, "\",\n  \"title\": \"t",
                            i, "\"\n}");
    }
    want.push_back({line, true, object});
    input += object;
    line += static_cast<int>(std::count(object.begin(), object.end(), '\n'));
    const std::string gap = i % 5 == 0 ? "\n\n" : "\n";
    input += gap;
    line += static_cast<int>(gap.size());
  }
  for (size_t block : kBlocks) {
    SCOPED_TRACE(absl::StrCat("block ", block));
    const std::vector<Framed> got = FrameAll(input, block);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(got[i].text, want[i].text) << i;
      EXPECT_EQ(got[i].line, want[i].line) << i;
      EXPECT_TRUE(got[i].ok) << i << ": " << got[i].text;
    }
  }
}

TEST(FindingReaderTest, FramesAnArrayAndRandomSplitsOfIt) {
  std::mt19937 rng(15);
  std::string input = "[\n";
  std::vector<std::string> objects;
  for (int i = 0; i < 40; ++i) {
    std::string value;
    const int parts = std::uniform_int_distribution<int>(0, 40)(rng);
    for (int j = 0; j < parts; ++j) {
      static const char* const kPieces[] = {"x", "\\\\", "\\\"", "{", "]",
                                            "[", "}",    "\\n",  " ", "\\/"};
      value += kPieces[std::uniform_int_distribution<int>(0, 9)(rng)];
    }
    objects.push_back(absl::StrCat("{\"id\":\"", value, "\"}"));
    input += objects.back();
    input += i + 1 < 40 ? ",\n" : "\n";
  }
  input += "]\n";
  for (size_t block : kBlocks) {
    SCOPED_TRACE(absl::StrCat("block ", block));
    const std::vector<Framed> got = FrameAll(input, block);
    ASSERT_EQ(got.size(), objects.size());
    for (size_t i = 0; i < objects.size(); ++i) {
      EXPECT_EQ(got[i].text, objects[i]);
      EXPECT_EQ(got[i].line, static_cast<int>(i) + 2);
      EXPECT_TRUE(got[i].ok) << got[i].text;
    }
  }
}

TEST(FindingReaderTest, AnUnclosedObjectIsAnErrorAtTheLineItStarts) {
  for (size_t block : kBlocks) {
    SCOPED_TRACE(absl::StrCat("block ", block));
    // The escaped quote keeps the string, and so the object, open.
    const std::vector<Framed> got = FrameAll(
        "{\"id\": \"a\"}\n\n{\"id\": \"b\\\"}\n{\"id\": \"c\"}\n", block);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_TRUE(got[0].ok);
    EXPECT_EQ(got[1].line, 3);
    EXPECT_FALSE(got[1].ok);
    EXPECT_EQ(got[1].text, "");
  }
}

TEST(FindingReaderTest, IdentityOnlyKeepsTheIdAndCveAndTheWholeBytes) {
  const std::string input =
      R"({"id":"f-1","title":"t","vulnerability":{"cveId":"CVE-2021-44228","cvss":{"score":9.8}},"asset":{"labels":{"a":"b"}}}
{"id":"f-2","kind":"FINDING_KIND_MISCONFIGURATION"}
{"id":"f-3","nope":1}
)";
  std::istringstream full_in(input), thin_in(input);
  FindingReader full(&full_in, "in.jsonl");
  FindingReader thin(&thin_in, "in.jsonl");
  thin.set_identity_only(true);
  FindingReader::Record a, b;
  int read = 0;
  while (full.Next(&a)) {
    ASSERT_TRUE(thin.Next(&b));
    ++read;
    EXPECT_EQ(a.status, b.status);
    if (!a.status.ok()) continue;
    EXPECT_EQ(a.wire, b.wire);
    ASSERT_FALSE(b.wire.empty());
    v1::Finding identity;
    identity.set_id(a.finding.id());
    if (!a.finding.vulnerability().cve_id().empty()) {
      identity.mutable_vulnerability()->set_cve_id(
          a.finding.vulnerability().cve_id());
    }
    EXPECT_EQ(b.finding.SerializeAsString(), identity.SerializeAsString());
    v1::Finding whole;
    ASSERT_TRUE(whole.ParseFromString(b.wire));
    EXPECT_EQ(whole.SerializeAsString(), a.finding.SerializeAsString());
  }
  EXPECT_FALSE(thin.Next(&b));
  EXPECT_EQ(read, 3);
}

TEST(FindingReaderTest, IdentityWithLabelsKeepsWhatACsvRowReads) {
  const std::string input =
      R"({"id":"f-1","kind":"FINDING_KIND_VULNERABILITY","title":"t","vulnerability":{"aliases":["","GHSA-1","GHSA-2"],"cvss":{"score":9.8}},"package":{"name":"log4j","ecosystem":"maven","installedVersion":"2.14"},"asset":{"id":"h-1","name":"web","labels":{"a":"b"}}}
{"asset":{"name":"db"},"kind":"FINDING_KIND_EXPOSED_SECRET","id":"f-2","vulnerability":{"cveId":"CVE-1"}}
{"id":"f-3"}
)";
  std::istringstream full_in(input), thin_in(input);
  FindingReader full(&full_in, "in.jsonl");
  FindingReader thin(&thin_in, "in.jsonl");
  thin.set_identity_only(true, /*labels=*/true);
  FindingReader::Record a, b;
  int read = 0;
  while (full.Next(&a)) {
    ASSERT_TRUE(thin.Next(&b));
    ++read;
    ASSERT_TRUE(b.status.ok()) << b.status;
    ASSERT_FALSE(b.wire.empty());
    EXPECT_EQ(a.wire, b.wire);
    v1::Finding labels;
    labels.set_id(a.finding.id());
    labels.set_kind(a.finding.kind());
    const v1::Vulnerability& vulnerability = a.finding.vulnerability();
    if (!vulnerability.cve_id().empty() || !vulnerability.aliases().empty()) {
      labels.mutable_vulnerability()->set_cve_id(vulnerability.cve_id());
      *labels.mutable_vulnerability()->mutable_aliases() =
          vulnerability.aliases();
    }
    if (a.finding.has_package()) {
      labels.mutable_package()->set_name(a.finding.package().name());
      labels.mutable_package()->set_installed_version(
          a.finding.package().installed_version());
    }
    if (a.finding.has_asset()) {
      labels.mutable_asset()->set_id(a.finding.asset().id());
      labels.mutable_asset()->set_name(a.finding.asset().name());
    }
    EXPECT_EQ(b.finding.ShortDebugString(), labels.ShortDebugString());
  }
  EXPECT_EQ(read, 3);
}

}  // namespace
}  // namespace treatd
