#include "agent/cli/routes.h"

#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/proxy/proxy_url.h"

namespace relayscope::agent {

absl::StatusOr<RouteList> RoutesFromProxyFlags(const std::vector<std::string>& proxy_flags) {
  RouteList list;
  for (const std::string& text : proxy_flags) {
    auto url = ParseProxyUrl(text);
    if (!url.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--proxy: ", url.status().message()));
    }
    list.routes.push_back(ProxyRoute(*url, v1::PROXY_SOURCE_FLAG, "--proxy"));
    *list.discovered.emplace_back().mutable_proxy() = list.routes.back().proxy;
  }
  return list;
}

void AddDiscoveredRoutes(const std::vector<ProxyCandidate>& candidates, RouteList* list) {
  for (const ProxyCandidate& candidate : candidates) {
    bool duplicate = false;
    for (const Route& route : list->routes) {
      duplicate = duplicate || (route.proxy.kind() == candidate.url.kind &&
                                route.proxy.host() == candidate.url.host &&
                                route.proxy.port() == candidate.url.port);
    }
    if (duplicate) continue;
    list->routes.push_back(ProxyRoute(candidate.url, candidate.source, candidate.detail));
    v1::DiscoveredProxy* discovered = &list->discovered.emplace_back();
    *discovered->mutable_proxy() = list->routes.back().proxy;
    for (const std::string& bypass : candidate.bypass) discovered->add_bypass(bypass);
  }
}

absl::Status AddDirectRoute(bool direct, RouteList* list) {
  if (direct) list->routes.push_back(DirectRoute());
  if (list->routes.empty()) {
    return absl::InvalidArgumentError("no route to try: give --proxy or keep --direct");
  }
  return absl::OkStatus();
}

std::map<std::string, std::vector<RelayRouteChoice>> RelayRouteOrder(
    const std::vector<RelayRoutes>& relays, const RouteList& list, size_t flag_routes) {
  auto index_of = [&](const RelayRoute& route) -> std::optional<size_t> {
    for (size_t i = 0; i < list.routes.size(); ++i) {
      const Route& r = list.routes[i];
      if (route.direct ? r.endpoint.direct()
                       : !r.endpoint.direct() && r.proxy.kind() == route.proxy.url.kind &&
                             r.proxy.host() == route.proxy.url.host &&
                             r.proxy.port() == route.proxy.url.port) {
        return i;
      }
    }
    return std::nullopt;
  };
  std::map<std::string, std::vector<RelayRouteChoice>> order;
  for (const RelayRoutes& relay : relays) {
    std::vector<RelayRouteChoice>& choices = order[relay.relay];
    auto listed = [&](size_t index) {
      for (const RelayRouteChoice& c : choices) {
        if (c.route == index) return true;
      }
      return false;
    };
    for (size_t i = 0; i < flag_routes && i < list.routes.size(); ++i) {
      RelayRouteChoice flag;
      flag.route = i;
      choices.push_back(std::move(flag));
    }
    for (bool alternatives : {false, true}) {
      for (const RelayRoute& route : relay.routes) {
        if (route.alternative != alternatives) continue;
        const std::optional<size_t> index = index_of(route);
        if (!index || listed(*index)) continue;
        RelayRouteChoice choice;
        choice.route = *index;
        choice.role = route.alternative ? v1::ROUTE_ROLE_ALTERNATIVE : v1::ROUTE_ROLE_CONFIGURED;
        choice.bypass_entry = route.bypass_entry;
        choice.bypass_source = route.bypass_source;
        choices.push_back(std::move(choice));
      }
    }
  }
  return order;
}

absl::StatusOr<std::vector<uint16_t>> ParsePortFlags(const std::vector<std::string>& ports) {
  std::vector<uint16_t> out;
  for (const std::string& port : ports) {
    uint32_t value = 0;
    if (!absl::SimpleAtoi(port, &value) || value == 0 || value > 65535) {
      return absl::InvalidArgumentError(absl::StrCat("--ports: \"", port, "\" is not a port"));
    }
    out.push_back(static_cast<uint16_t>(value));
  }
  return out;
}

}  // namespace relayscope::agent
