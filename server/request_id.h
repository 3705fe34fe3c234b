// Request ids: the x-request-id a call is logged under and answered with.
// Stateless; thread-safe (each thread has its own random generator).
#ifndef TREATD_SERVER_REQUEST_ID_H_
#define TREATD_SERVER_REQUEST_ID_H_

#include <string>

#include "absl/strings/string_view.h"

namespace treatd {

// A request id from an "x-request-id" value: kept when it is 1-128
// characters of [A-Za-z0-9._:-], else (or when empty) a fresh random one
// (32 hex digits).
std::string RequestIdFrom(absl::string_view header);

}  // namespace treatd

#endif  // TREATD_SERVER_REQUEST_ID_H_
