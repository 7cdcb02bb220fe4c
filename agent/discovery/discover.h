// The whole proxy picture of this machine: every source read, every PAC
// file fetched and evaluated for every relay, and the routes a diagnosis
// should try, in the order a user's software would use them: command-line
// flags, then PAC answers, then browser / system / environment / manual
// proxies, then DIRECT.
#ifndef AGENT_DISCOVERY_DISCOVER_H_
#define AGENT_DISCOVERY_DISCOVER_H_

#include <memory>
#include <string>
#include <vector>

#include "agent/discovery/source.h"
#include "agent/pac/pac_result.h"
#include "agent/pac/pac_sandbox.h"
#include "relayscope/v1/catalogue.pb.h"

namespace relayscope::agent {

struct SourceReport {
  std::string name;
  DiscoveryResult result;
};

// What one PAC file answered for one relay.
struct PacRelayAnswer {
  std::string relay;
  std::string url;       // what FindProxyForURL was asked
  std::string returned;  // its answer, verbatim
  PacResult routes;      // parsed
  std::string error;     // the query's error, if any
};

struct PacReport {
  PacLocation location;
  // Fetch or whole-script errors ("the PAC file ran longer than 1s ...");
  // DIRECT is still tried.
  std::string error;
  std::vector<PacRelayAnswer> answers;
  std::vector<std::string> alerts;
};

struct ProxySetup {
  std::vector<SourceReport> sources;
  std::vector<PacReport> pac;
  // Deduplicated proxies to try, in preference order, each tagged with its
  // first source.
  std::vector<ProxyCandidate> routes;
};

struct DiscoverOptions {
  std::vector<std::unique_ptr<ProxySource>> sources;  // read in this order
  // Extra PAC URLs (--pac-url), evaluated first.
  std::vector<std::string> pac_urls;
  // Consulted only when a source turns auto-detect on (Firefox type 4,
  // Windows AutoDetect, KDE/GNOME/macOS auto): its DHCP and DNS candidates
  // are fetched in order and the first that answers is used.
  std::unique_ptr<ProxySource> wpad;
  PacOptions pac;
};

// The sources a Linux agent reads by default: Firefox under `home`, the
// manual file (`proxy_file` or the XDG / /etc defaults), a Windows .reg
// export if given, GNOME (gsettings), KDE (kioslaverc), macOS (scutil, on
// macOS), then the environment.
std::vector<std::unique_ptr<ProxySource>> DefaultSources(const std::string& home,
                                                         const std::string& proxy_file,
                                                         const std::string& windows_reg);

// Reads every source, fetches and evaluates every PAC for every relay of
// `catalogue` (asking FindProxyForURL for "https://<host>:<port>/"), and
// orders the routes.
ProxySetup DiscoverProxies(const v1::Catalogue& catalogue, DiscoverOptions options);

}  // namespace relayscope::agent

#endif  // AGENT_DISCOVERY_DISCOVER_H_
