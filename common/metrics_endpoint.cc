#include "common/metrics_endpoint.h"

#include "absl/strings/str_cat.h"

namespace relayscope {

absl::StatusOr<MetricsEndpoint> ServeMetrics(
    const std::string& address, const std::shared_ptr<prometheus::Registry>& registry) {
  MetricsEndpoint endpoint;
  try {
    // civetweb throws when it cannot bind.
    endpoint.exposer = std::make_unique<prometheus::Exposer>(address);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", address, ": ", e.what()));
  }
  endpoint.exposer->RegisterCollectable(registry);
  endpoint.address = absl::StrCat(address.substr(0, address.rfind(':')), ":",
                                  endpoint.exposer->GetListeningPorts().front());
  return endpoint;
}

}  // namespace relayscope
