// Checks of what a request carries beyond its findings (which
// common/validation checks), shared by the TreatmentService and
// AdminService handlers. Stateless functions; thread-safe.
#ifndef TREATD_SERVER_REQUEST_CHECKS_H_
#define TREATD_SERVER_REQUEST_CHECKS_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"

namespace treatd {

// The evaluation time of a request: `as_of` when the request set it
// (`has_as_of`), else `now`. INVALID_ARGUMENT naming `field` when `as_of`
// is outside the range google.protobuf.Timestamp allows.
absl::StatusOr<absl::Time> ResolveAsOf(bool has_as_of,
                                       const google::protobuf::Timestamp& as_of,
                                       absl::Time now,
                                       absl::string_view field = "as_of");

}  // namespace treatd

#endif  // TREATD_SERVER_REQUEST_CHECKS_H_
