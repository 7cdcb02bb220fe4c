// The /metrics endpoint every relayscope service serves (prometheus-cpp's
// Exposer), on a host:port where port 0 picks a free port.
#ifndef COMMON_METRICS_ENDPOINT_H_
#define COMMON_METRICS_ENDPOINT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "prometheus/exposer.h"
#include "prometheus/registry.h"

namespace relayscope {

struct MetricsEndpoint {
  std::unique_ptr<prometheus::Exposer> exposer;
  // The address actually bound, "host:port".
  std::string address;
};

// Serves `registry` on `address`. UNAVAILABLE naming the address if it
// cannot be bound.
absl::StatusOr<MetricsEndpoint> ServeMetrics(const std::string& address,
                                             const std::shared_ptr<prometheus::Registry>& registry);

}  // namespace relayscope

#endif  // COMMON_METRICS_ENDPOINT_H_
