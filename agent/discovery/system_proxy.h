// The operating system's own proxy answer, as a second opinion beside
// ours: on Windows, WinHTTP (WinHttpGetIEProxyConfigForCurrentUser, and
// WinHttpGetProxyForUrl with the PAC URL or with auto-detect). Where it
// differs from what relayscope found, the difference becomes a discovery
// note naming both answers, so a support engineer sees when the agent and
// the user's own software would not take the same route.
#ifndef AGENT_DISCOVERY_SYSTEM_PROXY_H_
#define AGENT_DISCOVERY_SYSTEM_PROXY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/discovery/discover.h"

namespace relayscope::agent {

// What WinHttpGetIEProxyConfigForCurrentUser hands out (UTF-8).
struct SystemProxyConfig {
  bool auto_detect = false;
  std::string auto_config_url;
  std::string proxy;  // "host:port" or "http=a:1;https=b:2"
  std::string bypass;
};

// The seam: WinHTTP on Windows, a fake in tests.
class SystemProxyResolver {
 public:
  virtual ~SystemProxyResolver() = default;
  // "WinHTTP".
  virtual std::string name() const = 0;
  // The current user's Internet Settings as the system reads them;
  // UNAVAILABLE naming the call when it fails.
  virtual absl::StatusOr<SystemProxyConfig> CurrentUserConfig() = 0;
  // The proxies the system would use for `url`, by the PAC at `pac_url`,
  // or by auto-detect (DHCP, then DNS) when `pac_url` is empty, waiting at
  // most `timeout`: "host:port;host:port", or "" for DIRECT. An error
  // (DEADLINE_EXCEEDED, or UNAVAILABLE naming the system's error) when it
  // has no answer.
  virtual absl::StatusOr<std::string> ProxyForUrl(const std::string& url,
                                                  const std::string& pac_url,
                                                  absl::Duration timeout) = 0;
};

// WinHTTP on Windows; nullptr elsewhere.
std::unique_ptr<SystemProxyResolver> MakeSystemProxyResolver();

// Compares `setup` (what relayscope found and its PAC answers) with
// `resolver`'s: the Windows source's settings with CurrentUserConfig, and
// every answer of a PAC the Windows settings named (AutoConfigURL, or WPAD
// when auto-detect is on) with ProxyForUrl for the same URL, each asked at
// most `timeout` and all of them at most three times that (the URLs left
// are named in one note). Returns one note per difference, naming both answers;
// empty when they agree. A one-entry system answer that is our first
// proxy agrees (Wine's WinHttpGetProxyForUrl returns only the first PROXY
// entry), and SOCKS entries are left out of the comparison (WinHTTP has no
// SOCKS).
std::vector<std::string> CompareWithSystem(const ProxySetup& setup, SystemProxyResolver& resolver,
                                           absl::Duration timeout);

}  // namespace relayscope::agent

#endif  // AGENT_DISCOVERY_SYSTEM_PROXY_H_
