// `relayscope-agent proxies`: what proxy discovery found, per source, and
// what each PAC file answers for each relay, as text or JSON.
#ifndef AGENT_CLI_PROXIES_COMMAND_H_
#define AGENT_CLI_PROXIES_COMMAND_H_

#include <string>

#include "agent/discovery/discover.h"

namespace relayscope::agent {

std::string RenderProxySetupText(const ProxySetup& setup);
std::string RenderProxySetupJson(const ProxySetup& setup);

}  // namespace relayscope::agent

#endif  // AGENT_CLI_PROXIES_COMMAND_H_
