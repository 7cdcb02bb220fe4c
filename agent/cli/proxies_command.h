// `relayscope-agent proxies`: what proxy discovery found, per source, what
// each PAC file answers for each relay, and per relay the routes in the
// order the user's software would try them and why (the --proxy routes
// first), as text or JSON.
#ifndef AGENT_CLI_PROXIES_COMMAND_H_
#define AGENT_CLI_PROXIES_COMMAND_H_

#include <string>
#include <vector>

#include "agent/discovery/discover.h"
#include "agent/plan/plan.h"

namespace relayscope::agent {

// `flag_routes`: the --proxy routes, tried first for every relay.
std::string RenderProxySetupText(const ProxySetup& setup,
                                 const std::vector<Route>& flag_routes = {});
std::string RenderProxySetupJson(const ProxySetup& setup,
                                 const std::vector<Route>& flag_routes = {});

}  // namespace relayscope::agent

#endif  // AGENT_CLI_PROXIES_COMMAND_H_
