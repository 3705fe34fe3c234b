// TokenStore: who may call treatd, read from a tokens file. Each bearer
// token and each mTLS client identity maps to a principal name and a role.
//
// File format, one entry per line; blank lines and lines starting with '#'
// are ignored:
//
//   token <name> <decide|admin> <secret>          # the token itself
//   token <name> <decide|admin> sha256:<64 hex>   # or its SHA-256
//   identity <cert CN or SAN> <decide|admin>      # an mTLS client
//
// Only SHA-256 digests of tokens are kept in memory, and no token is ever
// logged or put in an error message (errors name the line number).
//
// Thread-safe: lookups may run concurrently with Reload(); a reload that
// fails leaves the previous entries in service.
#ifndef TREATD_SERVER_SECURITY_TOKEN_STORE_H_
#define TREATD_SERVER_SECURITY_TOKEN_STORE_H_

#include <sys/types.h>

#include <ctime>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "server/security/roles.h"

namespace treatd {

// An authenticated caller.
struct Principal {
  // The entry's name (token) or the certificate name (identity).
  std::string name;
  Role role = Role::kDecide;
};

// The parsed entries of a tokens file.
struct TokenTable {
  // Keyed by the raw 32-byte SHA-256 digest of the token.
  std::map<std::string, Principal> tokens;
  // Keyed by the certificate name.
  std::map<std::string, Principal> identities;
};

// Parses tokens-file text. INVALID_ARGUMENT naming `filename` and the line
// for a malformed line, an unknown role or a duplicate token.
absl::StatusOr<TokenTable> ParseTokenTable(absl::string_view content,
                                           absl::string_view filename);

class TokenStore {
 public:
  // Reads `path`. NOT_FOUND when it cannot be read, INVALID_ARGUMENT when
  // it does not parse.
  static absl::StatusOr<std::unique_ptr<TokenStore>> Create(std::string path);

  TokenStore(const TokenStore&) = delete;
  TokenStore& operator=(const TokenStore&) = delete;

  // Re-reads the file. On error the previous entries stay.
  absl::Status Reload() ABSL_LOCKS_EXCLUDED(mu_);

  // Reloads when the file's modification time or size changed since the
  // last load. Returns whether it reloaded successfully; errors as Reload().
  absl::StatusOr<bool> ReloadIfChanged() ABSL_LOCKS_EXCLUDED(mu_);

  // The principal `token` belongs to, or nullopt.
  std::optional<Principal> FindToken(absl::string_view token) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // The principal of the first of `names` (certificate CN and SANs) that
  // the file lists, or nullopt.
  std::optional<Principal> FindIdentity(
      absl::Span<const std::string> names) const ABSL_LOCKS_EXCLUDED(mu_);

  const std::string& path() const { return path_; }

 private:
  struct FileStamp {
    timespec mtime{};
    off_t size = -1;
    bool operator==(const FileStamp& other) const {
      return mtime.tv_sec == other.mtime.tv_sec &&
             mtime.tv_nsec == other.mtime.tv_nsec && size == other.size;
    }
  };

  explicit TokenStore(std::string path) : path_(std::move(path)) {}

  // Reads and parses the file, with its stamp from before the read.
  absl::StatusOr<std::pair<TokenTable, FileStamp>> Load() const;

  const std::string path_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const TokenTable> table_ ABSL_GUARDED_BY(mu_);
  FileStamp stamp_ ABSL_GUARDED_BY(mu_);
  // Serializes reloads.
  absl::Mutex reload_mu_ ABSL_ACQUIRED_BEFORE(mu_);
};

}  // namespace treatd

#endif  // TREATD_SERVER_SECURITY_TOKEN_STORE_H_
