#include "common/csv/csv.h"

#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace treatd::csv {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::vector<std::string>> ReadAll(const std::string& text) {
  std::istringstream in(text);
  CsvReader reader(&in, "t.csv");
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> fields;
  while (true) {
    absl::StatusOr<bool> more = reader.ReadRecord(&fields);
    EXPECT_TRUE(more.ok()) << more.status();
    if (!more.ok() || !*more) break;
    records.push_back(fields);
  }
  return records;
}

absl::Status ReadError(const std::string& text) {
  std::istringstream in(text);
  CsvReader reader(&in, "t.csv");
  std::vector<std::string> fields;
  while (true) {
    absl::StatusOr<bool> more = reader.ReadRecord(&fields);
    if (!more.ok()) return more.status();
    if (!*more) return absl::OkStatus();
  }
}

TEST(CsvTest, QuotesOnlyFieldsThatNeedIt) {
  EXPECT_EQ(QuoteField("plain"), "plain");
  EXPECT_EQ(QuoteField(""), "");
  EXPECT_EQ(QuoteField("a,b"), "\"a,b\"");
  EXPECT_EQ(QuoteField("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(QuoteField("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(QuoteField("ünï"), "ünï");
  // Quotes first, last, alone and in a row are each doubled.
  EXPECT_EQ(QuoteField("\""), "\"\"\"\"");
  EXPECT_EQ(QuoteField("\"\"\"x,"), "\"\"\"\"\"\"\"x,\"");
  EXPECT_EQ(QuoteField("a\"\"b\""), "\"a\"\"\"\"b\"\"\"");
}

TEST(CsvTest, WriterEndsRecordsWithCrlf) {
  std::ostringstream out;
  CsvWriter writer(&out);
  ASSERT_TRUE(writer.WriteRecord({"a", "b,c", ""}).ok());
  ASSERT_TRUE(writer.WriteRecord({"x"}).ok());
  EXPECT_EQ(out.str(), "a,\"b,c\",\r\nx\r\n");
}

TEST(CsvTest, ReadsQuotedFieldsLineBreaksAndBothLineEndings) {
  EXPECT_THAT(
      ReadAll("a,\"b,c\",\"d\"\"e\"\r\n\"multi\r\nline\",,z\nlast"),
      ElementsAre(ElementsAre("a", "b,c", "d\"e"),
                  ElementsAre("multi\r\nline", "", "z"), ElementsAre("last")));
}

TEST(CsvTest, SkipsByteOrderMarkAndReadsEmptyLines) {
  EXPECT_THAT(ReadAll("\xEF\xBB\xBFh1,h2\n\n1,2\n"),
              ElementsAre(ElementsAre("h1", "h2"), ElementsAre(""),
                          ElementsAre("1", "2")));
}

TEST(CsvTest, WriterAndReaderRoundTripAwkwardFields) {
  std::vector<std::string> fields = {
      "comma,",     "\"quoted\"", "line\nbreak", "crlf\r\nbreak",
      "日本語 ünï", "",           " spaced ",    "trailing\""};
  std::ostringstream out;
  CsvWriter writer(&out);
  ASSERT_TRUE(writer.WriteRecord(fields).ok());
  ASSERT_TRUE(writer.WriteRecord(fields).ok());
  auto records = ReadAll(out.str());
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0], fields);
  EXPECT_EQ(records[1], fields);
}

TEST(CsvTest, ReportsRecordLines) {
  std::istringstream in("a\n\"b\nc\"\nd\n");
  CsvReader reader(&in, "t.csv");
  std::vector<std::string> fields;
  ASSERT_TRUE(*reader.ReadRecord(&fields));
  EXPECT_EQ(reader.record_line(), 1);
  ASSERT_TRUE(*reader.ReadRecord(&fields));
  EXPECT_EQ(reader.record_line(), 2);
  ASSERT_TRUE(*reader.ReadRecord(&fields));
  EXPECT_EQ(reader.record_line(), 4);
  EXPECT_FALSE(*reader.ReadRecord(&fields));
}

TEST(CsvTest, RejectsMalformedQuotingWithPosition) {
  absl::Status stray = ReadError("ok\nab\"c,d\n");
  EXPECT_EQ(stray.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(stray.message(), HasSubstr("t.csv:2:3: quote inside an "
                                         "unquoted field"));
  EXPECT_THAT(ReadError("\"ab\"c\n").message(),
              HasSubstr("t.csv:1:5: unexpected character after a closing "
                        "quote"));
  EXPECT_THAT(ReadError("x\n\"open,\nmore").message(),
              HasSubstr("t.csv:2:1: quoted field is never closed"));
}

}  // namespace
}  // namespace treatd::csv
