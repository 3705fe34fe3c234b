#include "server/security/roles.h"

#include "absl/strings/match.h"

namespace treatd {
namespace {

struct MethodRule {
  // A full method name, or a "/package.Service/" prefix.
  absl::string_view prefix;
  Access access;
};

// First match wins; more specific entries go first.
constexpr MethodRule kMethodRules[] = {
    {"/grpc.health.v1.Health/", Access::kOpen},
    {"/grpc.reflection.v1alpha.ServerReflection/", Access::kOpen},
    {"/grpc.reflection.v1.ServerReflection/", Access::kOpen},
    {"/treatd.v1.TreatmentService/", Access::kDecide},
    {"/treatd.v1.AdminService/", Access::kAdmin},
    // Outcome reports, scans and queries come from the same pipelines and
    // bots that decide.
    {"/treatd.v1.LedgerService/", Access::kDecide},
};

}  // namespace

absl::string_view RoleName(Role role) {
  switch (role) {
    case Role::kDecide:
      return "decide";
    case Role::kAdmin:
      return "admin";
  }
  return "unknown";
}

std::optional<Role> ParseRole(absl::string_view text) {
  if (text == "decide") return Role::kDecide;
  if (text == "admin") return Role::kAdmin;
  return std::nullopt;
}

Access RequiredAccess(absl::string_view method) {
  for (const MethodRule& rule : kMethodRules) {
    if (absl::StartsWith(method, rule.prefix)) return rule.access;
  }
  return Access::kAdmin;
}

bool RoleAllows(Role role, Access access) {
  switch (access) {
    case Access::kOpen:
      return true;
    case Access::kDecide:
      return role == Role::kDecide || role == Role::kAdmin;
    case Access::kAdmin:
      return role == Role::kAdmin;
  }
  return false;
}

}  // namespace treatd
