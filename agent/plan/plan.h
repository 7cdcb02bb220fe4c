// The plan: every relay × port × route of a catalogue as an ordered list of
// attempts to race.
//
// The order decides what is learned first: every region's preferred port
// over every route comes before anyone's second port, so the first working
// route is found within a few staggers even when whole ports are dropped.
#ifndef AGENT_PLAN_PLAN_H_
#define AGENT_PLAN_PLAN_H_

#include <string>
#include <vector>

#include "agent/proxy/proxy_url.h"
#include "relayscope/v1/catalogue.pb.h"
#include "relayscope/v1/telemetry.pb.h"

namespace relayscope::agent {

// One way out of this machine: DIRECT, or a proxy with its credentials
// (`endpoint`, secret) and its description for telemetry (`proxy`, never a
// secret).
struct Route {
  ProxyUrl endpoint = ProxyUrl::Direct();
  v1::Proxy proxy;
};

// The DIRECT route.
Route DirectRoute();

// The route through a proxy given as a URL, tagged with where it came from.
// Credentials in the URL go to the endpoint only; the telemetry side says
// has_credentials and nothing more.
Route ProxyRoute(const ProxyUrl& url, v1::ProxySource source, std::string source_detail);

// One attempt to make.
struct PlannedAttempt {
  std::string region;
  std::string relay;
  // A literal address, or the relay's host name when it has no address.
  std::string address;
  uint16_t port = 0;
  const Route* route = nullptr;  // points into the routes given to Plan
  // Set for a download check: the service (in the catalogue given to
  // Plan; `relay` is its id, `region` its region). Unset: a relay.
  const v1::DownloadService* download = nullptr;
};

// Plans attempts for every relay address and port of `catalogue` over every
// route of `routes` (in their preference order), and a download check for
// every download service's port over every route, each beside the relays'
// attempts of the same port rank. A download check goes to each listed
// address over DIRECT and through proxies that take addresses (SOCKS4,
// SOCKS5 with local DNS), and to the service's host name through proxies
// that resolve names (HTTP, HTTPS, SOCKS4a, socks5h), as a browser asks
// them. Ports are limited to `allowed_ports` when it is not empty.
// `catalogue` and `routes` must outlive the result.
std::vector<PlannedAttempt> Plan(const v1::Catalogue& catalogue, const std::vector<Route>& routes,
                                 const std::vector<uint16_t>& allowed_ports = {});

}  // namespace relayscope::agent

#endif  // AGENT_PLAN_PLAN_H_
