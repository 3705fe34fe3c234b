#include "server/security/token_store.h"

#include <sys/stat.h>

#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/digest/sha256.h"
#include "common/io/read_file.h"

namespace treatd {
namespace {

constexpr absl::string_view kSha256Prefix = "sha256:";

bool IsLowerHex(absl::string_view text) {
  for (char c : text) {
    if (!absl::ascii_isdigit(c) && (c < 'a' || c > 'f')) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<TokenTable> ParseTokenTable(absl::string_view content,
                                           absl::string_view filename) {
  TokenTable table;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(content, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    const std::vector<absl::string_view> words =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    auto error = [&](absl::string_view what) {
      // Never quote the line: it may hold a token.
      return absl::InvalidArgumentError(
          absl::StrCat(filename, ":", line_number, ": ", what));
    };
    if (words[0] == "token") {
      if (words.size() != 4) {
        return error("expected: token <name> <decide|admin> <secret>");
      }
      const std::optional<Role> role = ParseRole(words[2]);
      if (!role.has_value()) return error("role must be decide or admin");
      std::string digest;
      if (absl::StartsWith(words[3], kSha256Prefix)) {
        const absl::string_view hex = words[3].substr(kSha256Prefix.size());
        if (hex.size() != 64 || !IsLowerHex(hex)) {
          return error("sha256: needs 64 lowercase hex digits");
        }
        digest = absl::HexStringToBytes(hex);
      } else {
        if (words[3].size() < 16) {
          return error("token too short (at least 16 characters)");
        }
        digest = Sha256(words[3]);
      }
      const bool inserted =
          table.tokens
              .emplace(std::move(digest),
                       Principal{std::string(words[1]), *role})
              .second;
      if (!inserted) return error("duplicate token");
    } else if (words[0] == "identity") {
      if (words.size() != 3) {
        return error("expected: identity <cert CN or SAN> <decide|admin>");
      }
      const std::optional<Role> role = ParseRole(words[2]);
      if (!role.has_value()) return error("role must be decide or admin");
      table.identities[std::string(words[1])] =
          Principal{std::string(words[1]), *role};
    } else {
      return error("a line starts with \"token\" or \"identity\"");
    }
  }
  if (table.tokens.empty() && table.identities.empty()) {
    // Refused so that a file caught half-written (truncated to nothing)
    // cannot lock every client out; the previous tokens stay in service.
    return absl::InvalidArgumentError(
        absl::StrCat(filename,
                     ": no token or identity lines; a tokens file must grant "
                     "at least one caller"));
  }
  return table;
}

absl::StatusOr<std::unique_ptr<TokenStore>> TokenStore::Create(
    std::string path) {
  auto store = absl::WrapUnique(new TokenStore(std::move(path)));
  if (absl::Status loaded = store->Reload(); !loaded.ok()) return loaded;
  return store;
}

absl::StatusOr<std::pair<TokenTable, TokenStore::FileStamp>> TokenStore::Load()
    const {
  FileStamp stamp;
  struct stat st;
  if (stat(path_.c_str(), &st) == 0) {
    stamp.mtime = st.st_mtim;
    stamp.size = st.st_size;
  }
  absl::StatusOr<std::string> content = ReadFileToString(path_, "tokens file");
  if (!content.ok()) return content.status();
  absl::StatusOr<TokenTable> table = ParseTokenTable(*content, path_);
  if (!table.ok()) return table.status();
  return std::make_pair(*std::move(table), stamp);
}

absl::Status TokenStore::Reload() {
  absl::MutexLock reload_lock(&reload_mu_);
  absl::StatusOr<std::pair<TokenTable, FileStamp>> loaded = Load();
  if (!loaded.ok()) return loaded.status();
  auto table = std::make_shared<const TokenTable>(std::move(loaded->first));
  absl::MutexLock lock(&mu_);
  table_ = std::move(table);
  stamp_ = loaded->second;
  return absl::OkStatus();
}

absl::StatusOr<bool> TokenStore::ReloadIfChanged() {
  absl::MutexLock reload_lock(&reload_mu_);
  FileStamp now;
  struct stat st;
  if (stat(path_.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("cannot read tokens file ", path_));
  }
  now.mtime = st.st_mtim;
  now.size = st.st_size;
  {
    absl::MutexLock lock(&mu_);
    if (now == stamp_) return false;
  }
  absl::StatusOr<std::pair<TokenTable, FileStamp>> loaded = Load();
  absl::MutexLock lock(&mu_);
  if (!loaded.ok()) {
    // Do not retry the same broken file every poll.
    stamp_ = now;
    return loaded.status();
  }
  table_ = std::make_shared<const TokenTable>(std::move(loaded->first));
  stamp_ = loaded->second;
  return true;
}

std::optional<Principal> TokenStore::FindToken(absl::string_view token) const {
  const std::string digest = Sha256(token);
  std::shared_ptr<const TokenTable> table;
  {
    absl::MutexLock lock(&mu_);
    table = table_;
  }
  auto it = table->tokens.find(digest);
  if (it == table->tokens.end()) return std::nullopt;
  return it->second;
}

std::optional<Principal> TokenStore::FindIdentity(
    absl::Span<const std::string> names) const {
  std::shared_ptr<const TokenTable> table;
  {
    absl::MutexLock lock(&mu_);
    table = table_;
  }
  for (const std::string& name : names) {
    auto it = table->identities.find(name);
    if (it != table->identities.end()) return it->second;
  }
  return std::nullopt;
}

}  // namespace treatd
