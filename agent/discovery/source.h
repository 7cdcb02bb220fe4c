// Proxy discovery: every place a user's machine keeps proxy settings is one
// ProxySource; each returns the proxies and PAC locations it found, tagged
// with where they came from, plus warnings for what it could not read.
// A broken source never stops the others: its problems become warnings
// naming the file and line.
#ifndef AGENT_DISCOVERY_SOURCE_H_
#define AGENT_DISCOVERY_SOURCE_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "agent/proxy/proxy_url.h"
#include "relayscope/v1/telemetry.pb.h"

namespace relayscope::agent {

// One proxy setting.
struct ProxyCandidate {
  ProxyUrl url;
  v1::ProxySource source = v1::PROXY_SOURCE_UNSPECIFIED;
  // Where exactly: "prefs.js:12", "HTTPS_PROXY", "/etc/relayscope/proxy.txt:3".
  std::string detail;
  // Which destination schemes the setting is for: "http", "https", "socks"
  // (a SOCKS proxy for everything) or "" (every scheme). Relays are
  // reached like "https" destinations.
  std::string scope;
  // Hosts that bypass this proxy, as the source wrote them
  // ("localhost", ".corp.example", "10.0.0.0/8", "<local>").
  std::vector<std::string> bypass;
  // KDE's ReversedException: the proxy is used only for the hosts `bypass`
  // lists, and every other host goes direct.
  bool bypass_reversed = false;
};

// A PAC file to evaluate (explicit, or found by WPAD).
struct PacLocation {
  PacLocation() = default;
  PacLocation(std::string url_in, v1::ProxySource source_in, std::string detail_in)
      : url(std::move(url_in)), source(source_in), detail(std::move(detail_in)) {}

  std::string url;
  v1::ProxySource source = v1::PROXY_SOURCE_UNSPECIFIED;
  std::string detail;
  // Hosts that never ask this PAC (GNOME's ignore-hosts apply in auto mode
  // too), read with the rules of `source` (agent/discovery/no_proxy.h).
  std::vector<std::string> bypass;
  // Whose list `bypass` is when not `source`'s own (WPAD turned on by
  // GNOME keeps GNOME's ignore-hosts); UNSPECIFIED: `source`.
  v1::ProxySource bypass_from = v1::PROXY_SOURCE_UNSPECIFIED;
};

struct DiscoveryResult {
  std::vector<ProxyCandidate> proxies;
  std::vector<PacLocation> pac;
  // The source explicitly says "no proxy" (Firefox type 0, ProxyEnable=0).
  bool explicitly_direct = false;
  // "file:line: message" for anything unreadable or malformed.
  std::vector<std::string> warnings;

  void Append(DiscoveryResult other);
};

class ProxySource {
 public:
  virtual ~ProxySource() = default;
  // Short name for output ("env", "firefox", ...).
  virtual std::string name() const = 0;
  // Reads the source. Never fails: problems become warnings.
  virtual DiscoveryResult Discover() = 0;
};

}  // namespace relayscope::agent

#endif  // AGENT_DISCOVERY_SOURCE_H_
