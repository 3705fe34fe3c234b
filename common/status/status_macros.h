// Early-return helpers for absl::Status and absl::StatusOr, which Abseil
// 20220623 (Debian 12) does not ship. Header-only, no state, thread-agnostic.
#ifndef TREATD_COMMON_STATUS_STATUS_MACROS_H_
#define TREATD_COMMON_STATUS_STATUS_MACROS_H_

#include <utility>

#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Evaluates `expr` (an absl::Status) and returns it from the enclosing
// function when it is not OK.
#define TREATD_RETURN_IF_ERROR(expr)                \
  do {                                              \
    ::absl::Status treatd_status_ = (expr);         \
    if (ABSL_PREDICT_FALSE(!treatd_status_.ok())) { \
      return treatd_status_;                        \
    }                                               \
  } while (false)

#define TREATD_STATUS_MACROS_CONCAT_INNER_(x, y) x##y
#define TREATD_STATUS_MACROS_CONCAT_(x, y) \
  TREATD_STATUS_MACROS_CONCAT_INNER_(x, y)

#define TREATD_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                  \
  if (ABSL_PREDICT_FALSE(!statusor.ok())) {                 \
    return std::move(statusor).status();                    \
  }                                                         \
  lhs = *std::move(statusor)

// Evaluates `rexpr` (an absl::StatusOr<T>); on error returns its status from
// the enclosing function, otherwise assigns the value to `lhs`, which may be a
// declaration: TREATD_ASSIGN_OR_RETURN(auto policy, Load(path));
#define TREATD_ASSIGN_OR_RETURN(lhs, rexpr) \
  TREATD_ASSIGN_OR_RETURN_IMPL_(            \
      TREATD_STATUS_MACROS_CONCAT_(treatd_statusor_, __LINE__), lhs, rexpr)

#endif  // TREATD_COMMON_STATUS_STATUS_MACROS_H_
