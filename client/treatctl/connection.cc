#include "client/treatctl/connection.h"

#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/io/read_file.h"

namespace treatd {

CLI::Option* AddConnectionFlags(CLI::App* command, ConnectionFlags* flags,
                                bool target_required) {
  CLI::Option* target = command->add_option(
      "--target", flags->target,
      "Server address, e.g. 127.0.0.1:50051 or dns:///treatd.internal:50051");
  if (target_required) target->required();
  command->add_flag("--tls", flags->tls,
                    "Use TLS with the system root certificates");
  command->add_option("--tls-ca", flags->tls_ca_file,
                      "Use TLS, verifying the server with this PEM CA file");
  command->add_option("--token", flags->token, "Bearer token (needs TLS)")
      ->envname("TREATD_TOKEN");
  command->add_option("--tls-cert", flags->tls_cert_file,
                      "PEM client certificate for mTLS (with --tls-key)");
  command->add_option("--tls-key", flags->tls_key_file,
                      "PEM private key of --tls-cert");
  command->add_option("--tls-server-name", flags->tls_server_name,
                      "Verify the server certificate against this name "
                      "instead of the --target host");
  return target;
}

absl::StatusOr<std::unique_ptr<Client>> ConnectClient(
    const ConnectionFlags& flags) {
  ClientOptions options;
  options.use_tls = flags.tls;
  options.bearer_token = flags.token;
  for (const auto& [path, pem, flag] :
       {std::make_tuple(&flags.tls_ca_file, &options.tls_root_ca_pem,
                        "--tls-ca"),
        std::make_tuple(&flags.tls_cert_file, &options.tls_client_cert_pem,
                        "--tls-cert"),
        std::make_tuple(&flags.tls_key_file, &options.tls_client_key_pem,
                        "--tls-key")}) {
    if (path->empty()) continue;
    absl::StatusOr<std::string> content = ReadFileToString(*path, flag);
    if (!content.ok()) {
      return absl::Status(content.status().code(),
                          absl::StrCat(flag, ": ", content.status().message()));
    }
    *pem = *std::move(content);
  }
  options.tls_server_name = flags.tls_server_name;
  return Client::Create(flags.target, options);
}

}  // namespace treatd
