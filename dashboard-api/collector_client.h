// How the dashboard reaches the collector: the channel credentials its
// flags ask for, the FleetQuery token from its file, and the readiness
// probe behind /readyz.
#ifndef DASHBOARD_API_COLLECTOR_CLIENT_H_
#define DASHBOARD_API_COLLECTOR_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "relayscope/v1/query.grpc.pb.h"

namespace relayscope::dashboard {

// Insecure credentials when `insecure` (local demo only); else TLS with the
// PEM roots in `ca_file`, or the system roots when it is empty. The
// file's error, prefixed "--ca: ", when it cannot be read.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> CollectorCredentials(
    bool insecure, const std::string& ca_file);

// The FleetQuery token held in `path`, surrounding whitespace removed
// (a trailing newline is usual); "" when `path` is empty. The file's
// error, prefixed "--collector-token-file: ", when it cannot be read.
absl::StatusOr<std::string> ReadCollectorToken(const std::string& path);

// Ready when the collector answers a tiny query (the last minute's
// activity) with our credentials within `timeout`: that is what every page
// needs. UNAVAILABLE with the collector's message otherwise (down,
// refusing the token, or too slow).
absl::Status ProbeCollector(v1::FleetQuery::StubInterface& stub, const std::string& token,
                            absl::Duration timeout = absl::Seconds(2),
                            absl::Time now = absl::Now());

}  // namespace relayscope::dashboard

#endif  // DASHBOARD_API_COLLECTOR_CLIENT_H_
