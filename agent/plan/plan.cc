#include "agent/plan/plan.h"

#include <algorithm>

namespace relayscope::agent {
namespace {

// Proxies that are given the destination's name and resolve it themselves.
bool ProxyResolvesNames(const ProxyUrl& proxy) {
  switch (proxy.kind) {
    case v1::ROUTE_KIND_HTTP_CONNECT:
    case v1::ROUTE_KIND_HTTPS_PROXY:
    case v1::ROUTE_KIND_SOCKS4A:
      return true;
    case v1::ROUTE_KIND_SOCKS5:
      return proxy.remote_dns;
    default:
      return false;
  }
}

}  // namespace

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
  for (const v1::DownloadService& service : catalogue.downloads()) {
    max_ports = std::max(max_ports, service.ports_size());
  }
  std::vector<PlannedAttempt> plan;
  // One attempt per destination of a relay or download service (`download`
  // set) on its port of this rank over `route`.
  auto add = [&](const std::string& region, const std::string& id,
                 const std::vector<std::string>& destinations, uint32_t port, const Route& route,
                 const v1::DownloadService* download) {
    for (const std::string& address : destinations) {
      PlannedAttempt attempt;
      attempt.region = region;
      attempt.relay = id;
      attempt.address = address;
      attempt.port = static_cast<uint16_t>(port);
      attempt.route = &route;
      attempt.download = download;
      plan.push_back(std::move(attempt));
    }
  };
  // Port preference rank first, then route preference, then region order:
  // breadth before depth.
  for (int rank = 0; rank < max_ports; ++rank) {
    for (const Route& route : routes) {
      for (const v1::Region& region : catalogue.regions()) {
        for (const v1::Relay& relay : region.relays()) {
          if (rank >= relay.ports_size() || !allowed(relay.ports(rank))) continue;
          std::vector<std::string> destinations(relay.addresses().begin(), relay.addresses().end());
          if (destinations.empty()) destinations.push_back(relay.host());
          add(region.id(), relay.id(), destinations, relay.ports(rank), route, nullptr);
        }
      }
      for (const v1::DownloadService& service : catalogue.downloads()) {
        if (rank >= service.ports_size() || !allowed(service.ports(rank))) continue;
        std::vector<std::string> destinations(service.addresses().begin(),
                                              service.addresses().end());
        if (ProxyResolvesNames(route.endpoint) || destinations.empty()) {
          destinations = {service.host()};
        }
        add(service.region(), service.id(), destinations, service.ports(rank), route, &service);
      }
    }
  }
  return plan;
}

}  // namespace relayscope::agent
