// Transport security and caller authentication for the treatd listener.
//
// ServerSecurity::Create() turns the TLS and tokens settings into the
// listener's credentials: plaintext, TLS, or mTLS (a client CA makes a
// valid client certificate mandatory). With a tokens file, every call
// except health checks and reflection must carry "authorization: Bearer
// <token>" or come from an mTLS identity the file lists, with a role that
// allows the method (security/roles.h): no or an unknown credential is
// UNAUTHENTICATED, a too-weak role PERMISSION_DENIED. The authorization
// header is consumed here, so handlers and logs never see it.
//
// The authenticated principal is attached to the call's AuthContext as
// kPrincipalProperty / kRoleProperty; CallerIdentity() reads it back.
//
// Thread-safe: the processor runs on gRPC threads concurrently; the token
// store it reads is itself thread-safe and may be reloaded meanwhile.
#ifndef TREATD_SERVER_SECURITY_AUTH_H_
#define TREATD_SERVER_SECURITY_AUTH_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/security/auth_metadata_processor.h"
#include "server/security/token_store.h"

namespace treatd {

inline constexpr char kPrincipalProperty[] = "treatd.principal";
inline constexpr char kRoleProperty[] = "treatd.role";

// Where the listener's key material and the tokens live. All empty:
// plaintext without authentication.
struct SecuritySettings {
  // PEM certificate chain and private key of the server; both or neither.
  std::string tls_cert_path;
  std::string tls_key_path;
  // PEM CA bundle that client certificates must chain to; set to require
  // mTLS. Needs tls_cert_path.
  std::string tls_client_ca_path;
  // The tokens file (token_store.h); set to turn authentication on. Needs
  // TLS, so that tokens never cross the network in clear text.
  std::string tokens_path;
};

// Authenticates and authorizes each call from its metadata and peer
// certificate; see the file comment.
class TokenAuthProcessor final : public grpc::AuthMetadataProcessor {
 public:
  // `tokens` is not owned and must outlive the processor.
  explicit TokenAuthProcessor(const TokenStore* tokens) : tokens_(tokens) {}

  // In-memory lookups only: run inline on the transport thread.
  bool IsBlocking() const override { return false; }

  grpc::Status Process(const InputMetadata& auth_metadata,
                       grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata,
                       OutputMetadata* response_metadata) override;

 private:
  const TokenStore* const tokens_;
};

// The listener's credentials and the token store behind them.
class ServerSecurity {
 public:
  // Reads the files named in `settings`. INVALID_ARGUMENT for an
  // inconsistent combination (key without certificate, client CA or tokens
  // without TLS), NOT_FOUND for a file that cannot be read, and the token
  // store's errors.
  static absl::StatusOr<std::unique_ptr<ServerSecurity>> Create(
      const SecuritySettings& settings);

  // Stops the token poller.
  ~ServerSecurity();
  ServerSecurity(const ServerSecurity&) = delete;
  ServerSecurity& operator=(const ServerSecurity&) = delete;

  // Re-reads the tokens file every `interval` when it changed (a no-op
  // without a tokens file or with a zero interval). Call at most once.
  void StartTokenPolling(absl::Duration interval) ABSL_LOCKS_EXCLUDED(mu_);

  // Re-reads the tokens file now (SIGHUP); OK without one. On error the
  // previous tokens stay in service.
  absl::Status ReloadTokens();

  const std::shared_ptr<grpc::ServerCredentials>& credentials() const {
    return credentials_;
  }
  // The token store, or null without a tokens file.
  TokenStore* tokens() const { return tokens_.get(); }
  // "plaintext", "tls" or "mtls".
  const std::string& mode() const { return mode_; }

 private:
  ServerSecurity() = default;

  std::unique_ptr<TokenStore> tokens_;
  std::shared_ptr<grpc::ServerCredentials> credentials_;
  std::string mode_;

  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread poller_;
};

// The caller of a call, for logs: the authenticated principal
// ("token:<name>" or "cert:<name>"), else the peer certificate's common
// name ("cert:<cn>"), else "anonymous".
std::string CallerIdentity(const grpc::ServerContextBase& context);

}  // namespace treatd

#endif  // TREATD_SERVER_SECURITY_AUTH_H_
