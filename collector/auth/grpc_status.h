// absl::Status -> grpc::Status for the collector's services. The canonical
// codes are the same numbers in both, so the mapping keeps code and message.
#ifndef COLLECTOR_AUTH_GRPC_STATUS_H_
#define COLLECTOR_AUTH_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include <string>

#include "absl/status/status.h"

namespace relayscope::collector {

inline grpc::Status ToGrpcStatus(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

}  // namespace relayscope::collector

#endif  // COLLECTOR_AUTH_GRPC_STATUS_H_
