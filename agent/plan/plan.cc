#include "agent/plan/plan.h"

#include <algorithm>

namespace relayscope::agent {

Route DirectRoute() {
  Route route;
  route.endpoint = ProxyUrl::Direct();
  route.proxy = ToProxyProto(route.endpoint, v1::PROXY_SOURCE_UNSPECIFIED, "");
  return route;
}

Route ProxyRoute(const ProxyUrl& url, v1::ProxySource source, std::string source_detail) {
  Route route;
  route.endpoint = url;
  route.proxy = ToProxyProto(url, source, std::move(source_detail));
  return route;
}

std::vector<PlannedAttempt> Plan(const v1::Catalogue& catalogue, const std::vector<Route>& routes,
                                 const std::vector<uint16_t>& allowed_ports) {
  auto allowed = [&](uint32_t port) {
    return allowed_ports.empty() ||
           std::find(allowed_ports.begin(), allowed_ports.end(), port) != allowed_ports.end();
  };
  int max_ports = 0;
  for (const v1::Region& region : catalogue.regions()) {
    for (const v1::Relay& relay : region.relays()) {
      max_ports = std::max(max_ports, relay.ports_size());
    }
  }
  std::vector<PlannedAttempt> plan;
  // Port preference rank first, then route preference, then region order:
  // breadth before depth.
  for (int rank = 0; rank < max_ports; ++rank) {
    for (const Route& route : routes) {
      for (const v1::Region& region : catalogue.regions()) {
        for (const v1::Relay& relay : region.relays()) {
          if (rank >= relay.ports_size() || !allowed(relay.ports(rank))) continue;
          std::vector<std::string> destinations(relay.addresses().begin(), relay.addresses().end());
          if (destinations.empty()) destinations.push_back(relay.host());
          for (const std::string& address : destinations) {
            PlannedAttempt attempt;
            attempt.region = region.id();
            attempt.relay = relay.id();
            attempt.address = address;
            attempt.port = static_cast<uint16_t>(relay.ports(rank));
            attempt.route = &route;
            plan.push_back(std::move(attempt));
          }
        }
      }
    }
  }
  return plan;
}

}  // namespace relayscope::agent
