// Roles and the method table that says which role each RPC needs.
//
// `decide` may call the TreatmentService (Decide, BatchDecide, StreamDecide,
// GetPolicy, ValidatePolicy); `admin` may also call the AdminService
// (reload, status, simulate). Health checks and reflection are open so that
// probes and tools work without credentials. Any method the table does not
// know needs `admin`: a new service is closed until someone opens it here.
//
// Plain functions over constant data; thread-safe.
#ifndef TREATD_SERVER_SECURITY_ROLES_H_
#define TREATD_SERVER_SECURITY_ROLES_H_

#include <optional>

#include "absl/strings/string_view.h"

namespace treatd {

enum class Role { kDecide, kAdmin };

// What a method needs.
enum class Access { kOpen, kDecide, kAdmin };

// "decide" or "admin".
absl::string_view RoleName(Role role);

// Parses "decide" or "admin"; nullopt otherwise.
std::optional<Role> ParseRole(absl::string_view text);

// The access `method` ("/package.Service/Method", as in the HTTP/2 :path)
// requires.
Access RequiredAccess(absl::string_view method);

// Whether `role` may call a method that requires `access` (admin implies
// decide).
bool RoleAllows(Role role, Access access);

}  // namespace treatd

#endif  // TREATD_SERVER_SECURITY_ROLES_H_
