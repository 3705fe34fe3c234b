#include "server/security/auth.h"

#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/io/read_file.h"
#include "server/logging.h"

namespace treatd {
namespace {

constexpr absl::string_view kBearerPrefix = "Bearer ";

absl::StatusOr<std::string> ReadPem(const std::string& path,
                                    absl::string_view what) {
  absl::StatusOr<std::string> content = ReadFileToString(path, what);
  if (!content.ok()) return content.status();
  if (!absl::StrContains(*content, "-----BEGIN ")) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " ", path, " is not PEM"));
  }
  return content;
}

std::vector<std::string> Values(const grpc::AuthContext& context,
                                const char* property) {
  std::vector<std::string> values;
  for (const grpc::string_ref& value : context.FindPropertyValues(property)) {
    values.emplace_back(value.data(), value.size());
  }
  return values;
}

}  // namespace

grpc::Status TokenAuthProcessor::Process(
    const InputMetadata& auth_metadata, grpc::AuthContext* context,
    OutputMetadata* consumed_auth_metadata,
    OutputMetadata* /*response_metadata*/) {
  absl::string_view method;
  if (auto path = auth_metadata.find(":path"); path != auth_metadata.end()) {
    method = absl::string_view(path->second.data(), path->second.size());
  }
  const Access access = RequiredAccess(method);
  if (access == Access::kOpen) return grpc::Status::OK;

  std::optional<Principal> principal;
  std::string kind;
  if (auto header = auth_metadata.find("authorization");
      header != auth_metadata.end()) {
    const absl::string_view value(header->second.data(), header->second.size());
    consumed_auth_metadata->emplace("authorization", std::string(value));
    if (!absl::StartsWith(value, kBearerPrefix)) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          "authorization metadata must be \"Bearer <token>\"");
    }
    principal = tokens_->FindToken(value.substr(kBearerPrefix.size()));
    if (!principal.has_value()) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          "unknown bearer token");
    }
    kind = "token";
  } else {
    std::vector<std::string> names =
        Values(*context, GRPC_X509_SAN_PROPERTY_NAME);
    const std::vector<std::string> common_names =
        Values(*context, GRPC_X509_CN_PROPERTY_NAME);
    names.insert(names.begin(), common_names.begin(), common_names.end());
    principal = tokens_->FindIdentity(names);
    if (!principal.has_value()) {
      return grpc::Status(
          grpc::StatusCode::UNAUTHENTICATED,
          "no credentials: send \"authorization: Bearer <token>\" or a "
          "client certificate the server's tokens file lists");
    }
    kind = "cert";
  }
  if (!RoleAllows(principal->role, access)) {
    return grpc::Status(
        grpc::StatusCode::PERMISSION_DENIED,
        absl::StrCat(kind, ":", principal->name, " has role ",
                     RoleName(principal->role), "; ", method, " needs ",
                     access == Access::kAdmin ? "admin" : "decide"));
  }
  context->AddProperty(kPrincipalProperty,
                       absl::StrCat(kind, ":", principal->name));
  context->AddProperty(kRoleProperty, std::string(RoleName(principal->role)));
  return grpc::Status::OK;
}

absl::StatusOr<std::unique_ptr<ServerSecurity>> ServerSecurity::Create(
    const SecuritySettings& settings) {
  auto security = absl::WrapUnique(new ServerSecurity());
  const bool tls = !settings.tls_cert_path.empty();
  if (tls != !settings.tls_key_path.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  if (!tls && !settings.tls_client_ca_path.empty()) {
    return absl::InvalidArgumentError(
        "--tls-client-ca (mTLS) needs --tls-cert and --tls-key");
  }
  if (!tls && !settings.tokens_path.empty()) {
    return absl::InvalidArgumentError(
        "--tokens-file needs TLS (--tls-cert, --tls-key): bearer tokens must "
        "not cross the network in clear text");
  }
  if (!settings.tokens_path.empty()) {
    absl::StatusOr<std::unique_ptr<TokenStore>> tokens =
        TokenStore::Create(settings.tokens_path);
    if (!tokens.ok()) return tokens.status();
    security->tokens_ = *std::move(tokens);
  }
  if (!tls) {
    security->credentials_ = grpc::InsecureServerCredentials();
    security->mode_ = "plaintext";
    return security;
  }
  absl::StatusOr<std::string> cert =
      ReadPem(settings.tls_cert_path, "TLS certificate");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPem(settings.tls_key_path, "TLS key");
  if (!key.ok()) return key.status();
  const bool mtls = !settings.tls_client_ca_path.empty();
  grpc::SslServerCredentialsOptions options(
      mtls ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
           : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  if (mtls) {
    absl::StatusOr<std::string> ca =
        ReadPem(settings.tls_client_ca_path, "TLS client CA");
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *std::move(ca);
  }
  options.pem_key_cert_pairs.push_back({*std::move(key), *std::move(cert)});
  security->credentials_ = grpc::SslServerCredentials(options);
  if (security->tokens_ != nullptr) {
    security->credentials_->SetAuthMetadataProcessor(
        std::make_shared<TokenAuthProcessor>(security->tokens_.get()));
  }
  security->mode_ = mtls ? "mtls" : "tls";
  return security;
}

ServerSecurity::~ServerSecurity() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (poller_.joinable()) poller_.join();
}

void ServerSecurity::StartTokenPolling(absl::Duration interval) {
  if (tokens_ == nullptr || interval <= absl::ZeroDuration()) return;
  poller_ = std::thread([this, interval] {
    absl::MutexLock lock(&mu_);
    while (!mu_.AwaitWithTimeout(absl::Condition(&stop_), interval)) {
      mu_.Unlock();
      const absl::StatusOr<bool> reloaded = tokens_->ReloadIfChanged();
      if (!reloaded.ok()) {
        LogError("tokens file rejected; previous tokens stay in service",
                 {{"error", reloaded.status().message()}});
      } else if (*reloaded) {
        LogInfo("tokens file reloaded", {{"path", tokens_->path()}});
      }
      mu_.Lock();
    }
  });
}

absl::Status ServerSecurity::ReloadTokens() {
  if (tokens_ == nullptr) return absl::OkStatus();
  absl::Status reloaded = tokens_->Reload();
  if (!reloaded.ok()) {
    LogError("tokens file rejected; previous tokens stay in service",
             {{"error", reloaded.message()}});
  } else {
    LogInfo("tokens file reloaded", {{"path", tokens_->path()}});
  }
  return reloaded;
}

std::string CallerIdentity(const grpc::ServerContextBase& context) {
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr) return "anonymous";
  for (const grpc::string_ref& value :
       auth->FindPropertyValues(kPrincipalProperty)) {
    return std::string(value.data(), value.size());
  }
  for (const grpc::string_ref& value :
       auth->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME)) {
    return absl::StrCat("cert:", absl::string_view(value.data(), value.size()));
  }
  return "anonymous";
}

}  // namespace treatd
