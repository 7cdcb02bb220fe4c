// What a diagnosis tries, from the command line and discovery: the ordered
// route list (--proxy flags, then the discovered proxies not already given,
// then DIRECT), the proxies reported with the session, and the --ports
// filter. Bad flag values are INVALID_ARGUMENT, a usage error.
//
//   ASSIGN_OR_RETURN(RouteList routes, RoutesFromProxyFlags(flags));
//   AddDiscoveredRoutes(setup.routes, &routes);
//   RETURN_IF_ERROR(AddDirectRoute(direct, &routes));
#ifndef AGENT_CLI_ROUTES_H_
#define AGENT_CLI_ROUTES_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/discovery/discover.h"
#include "agent/discovery/source.h"
#include "agent/plan/plan.h"
#include "agent/session/diagnose.h"
#include "relayscope/v1/telemetry.pb.h"

namespace relayscope::agent {

struct RouteList {
  // In the order they are tried.
  std::vector<Route> routes;
  // Every proxy route, with its bypass list, for the SessionReport.
  std::vector<v1::DiscoveredProxy> discovered;
};

// One route per --proxy value, in order (source PROXY_SOURCE_FLAG, detail
// "--proxy"). INVALID_ARGUMENT "--proxy: <what is wrong>" for the first
// value that is not a proxy URL (the message never holds its password).
absl::StatusOr<RouteList> RoutesFromProxyFlags(const std::vector<std::string>& proxy_flags);

// Appends the discovered candidates, in order, skipping any whose kind,
// host and port are already in `list` (a --proxy or an earlier source wins).
void AddDiscoveredRoutes(const std::vector<ProxyCandidate>& candidates, RouteList* list);

// Appends DIRECT when `direct`. INVALID_ARGUMENT when the list is then
// still empty: there would be nothing to try.
absl::Status AddDirectRoute(bool direct, RouteList* list);

// Each relay's route order for Diagnose (DiagnoseOptions::relay_routes):
// the --proxy routes first (the first `flag_routes` of `list`), then the
// relay's own list from discovery, then its alternatives, each as an index
// into list.routes. Routes of the relay's list that `list` lacks (DIRECT
// with --direct=false) are left out.
std::map<std::string, std::vector<RelayRouteChoice>> RelayRouteOrder(
    const std::vector<RelayRoutes>& relays, const RouteList& list, size_t flag_routes);

// The --ports values as ports; empty is every port of the catalogue.
// INVALID_ARGUMENT "--ports: \"<value>\" is not a port" for the first value
// that is not a number in 1..65535.
absl::StatusOr<std::vector<uint16_t>> ParsePortFlags(const std::vector<std::string>& ports);

}  // namespace relayscope::agent

#endif  // AGENT_CLI_ROUTES_H_
