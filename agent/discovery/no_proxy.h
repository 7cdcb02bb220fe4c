// curl's no_proxy semantics: does `host` (name or IP literal) at `port`
// bypass the proxy? Entries: "*" (everything), host-name suffixes matched on
// label boundaries ("example.com" and ".example.com" both match
// "a.example.com" and "example.com", never "badexample.com"), IP literals
// (exact), CIDR blocks ("10.0.0.0/8", "fd00::/8"), optionally with ":port"
// ("[::1]:8080", "proxy.corp:3128") to match only that port. Windows'
// "<local>" matches plain host names. Case-insensitive.
#ifndef AGENT_DISCOVERY_NO_PROXY_H_
#define AGENT_DISCOVERY_NO_PROXY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace relayscope::agent {

bool BypassesProxy(const std::vector<std::string>& no_proxy, absl::string_view host, uint16_t port);

}  // namespace relayscope::agent

#endif  // AGENT_DISCOVERY_NO_PROXY_H_
