// The string FindProxyForURL returns ("PROXY a:8080; SOCKS5 b:1080; DIRECT")
// as an ordered list of routes.
#ifndef AGENT_PAC_PAC_RESULT_H_
#define AGENT_PAC_PAC_RESULT_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "agent/proxy/proxy_url.h"

namespace relayscope::agent {

struct PacRoute {
  bool direct = false;
  ProxyUrl proxy;    // when !direct
  std::string text;  // the entry as the PAC wrote it, trimmed
};

struct PacResult {
  std::vector<PacRoute> routes;
  // Entries that were skipped, with why ("unknown type \"FTP\"").
  std::vector<std::string> warnings;
};

// Parses a PAC result. Tolerant of case and spacing, as browsers are:
// PROXY and HTTP mean an HTTP proxy (default port 80), HTTPS an HTTPS proxy
// (443), SOCKS and SOCKS4 a SOCKS4 proxy, SOCKS5 a SOCKS5 proxy (1080),
// DIRECT no proxy. Unknown or malformed entries become warnings, never
// errors; an empty result means DIRECT.
PacResult ParsePacResult(absl::string_view text);

}  // namespace relayscope::agent

#endif  // AGENT_PAC_PAC_RESULT_H_
