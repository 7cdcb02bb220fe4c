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
      for (const v1::DownloadService& service : catalogue.downloads()) {
        if (rank >= service.ports_size() || !allowed(service.ports(rank))) continue;
        std::vector<std::string> destinations;
        if (ProxyResolvesNames(route.endpoint) || service.addresses().empty()) {
          destinations.push_back(service.host());
        } else {
          destinations.assign(service.addresses().begin(), service.addresses().end());
        }
        for (const std::string& address : destinations) {
          PlannedAttempt attempt;
          attempt.region = service.region();
          attempt.relay = service.id();
          attempt.address = address;
          attempt.port = static_cast<uint16_t>(service.ports(rank));
          attempt.route = &route;
          attempt.download = &service;
          plan.push_back(std::move(attempt));
        }
      }
    }
  }
  return plan;
}

}  // namespace relayscope::agent
