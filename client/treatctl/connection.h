// How treatctl's server commands reach treatd: the --target, TLS and token
// flags they share, and the Client built from them. Not thread-safe (flag
// structs are filled by CLI11 and then read).
#ifndef TREATD_CLIENT_TREATCTL_CONNECTION_H_
#define TREATD_CLIENT_TREATCTL_CONNECTION_H_

#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "client/client.h"

namespace treatd {

struct ConnectionFlags {
  std::string target;
  std::string tls_ca_file;
  bool tls = false;
  std::string token;
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_server_name;
};

// Adds --target (required unless `target_required` is false), --tls,
// --tls-ca, --token (env TREATD_TOKEN), --tls-cert, --tls-key and
// --tls-server-name to `command`. Returns the --target option.
CLI::Option* AddConnectionFlags(CLI::App* command, ConnectionFlags* flags,
                                bool target_required = true);

// A client for `flags`. INVALID_ARGUMENT / NOT_FOUND naming the flag when
// a certificate file cannot be read or the options do not fit together.
absl::StatusOr<std::unique_ptr<Client>> ConnectClient(
    const ConnectionFlags& flags);

}  // namespace treatd

#endif  // TREATD_CLIENT_TREATCTL_CONNECTION_H_
