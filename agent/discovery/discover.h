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

#include "absl/time/time.h"
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
  // Every sandbox limit that changed what this query saw (a DNS lookup
  // refused past its budget...): the answer may differ from a browser's.
  std::vector<std::string> limits;
};

struct PacReport {
  PacLocation location;
  // Fetch or whole-script errors ("the PAC file ran longer than 1s ...");
  // DIRECT is still tried.
  std::string error;
  std::vector<PacRelayAnswer> answers;
  std::vector<std::string> alerts;
};

// One route of one relay: how the user's software would go there, and why.
struct RelayRoute {
  bool direct = false;
  ProxyCandidate proxy;  // unset when direct
  // For people: "PAC http://wpad/wpad.dat answered \"PROXY a:1; DIRECT\"",
  // "https_proxy (env)", "bypassed by no_proxy entry `.corp.example` (env)".
  std::string why;
  // When a bypass list sent this relay direct (or, for an alternative,
  // away from this proxy): the entry as configured ("" for KDE's
  // ReversedException, where the relay is simply not listed) and whose
  // list it is.
  bool bypassed = false;
  std::string bypass_entry;
  v1::ProxySource bypass_source = v1::PROXY_SOURCE_UNSPECIFIED;
  // Not a route the user's software takes to this relay (a proxy a bypass
  // list skips), tried so the verdict can say what the setting costs.
  bool alternative = false;
};

// Every relay's own ordered route list, as a browser or curl builds it:
// the PAC answers for that relay, then the configured proxies (or DIRECT
// where their bypass list names the relay), then DIRECT; alternatives
// last. --proxy flags are not in it (the command line puts them first).
struct RelayRoutes {
  std::string region;
  std::string relay;
  std::string host;  // as asked: lower-cased name, or the address
  uint16_t port = 0;
  std::vector<RelayRoute> routes;
};

struct ProxySetup {
  std::vector<SourceReport> sources;
  std::vector<PacReport> pac;
  // Every proxy any relay may use, deduplicated, in preference order, each
  // tagged with its first source.
  std::vector<ProxyCandidate> routes;
  // Per relay, in catalogue order.
  std::vector<RelayRoutes> relays;
};

class SystemProxyResolver;  // system_proxy.h

struct DiscoverOptions {
  DiscoverOptions();
  ~DiscoverOptions();
  DiscoverOptions(DiscoverOptions&&) noexcept;
  DiscoverOptions& operator=(DiscoverOptions&&) noexcept;

  std::vector<std::unique_ptr<ProxySource>> sources;  // read in this order
  // Extra PAC URLs (--pac-url), evaluated first.
  std::vector<std::string> pac_urls;
  // Consulted only when a source turns auto-detect on (Firefox type 4,
  // Windows AutoDetect, KDE/GNOME/macOS auto): its DHCP and DNS candidates
  // are fetched in order and the first that answers is used.
  std::unique_ptr<ProxySource> wpad;
  PacOptions pac;
  // The system's own answer, compared with ours (system_proxy.h): WinHTTP
  // on Windows by default, none elsewhere. Each difference becomes a
  // warning of a source report named after it ("WinHTTP").
  std::unique_ptr<SystemProxyResolver> second_opinion;
  absl::Duration second_opinion_timeout = absl::Seconds(5);
};

// The sources an agent reads by default: Firefox under `home` (on
// Windows: under %APPDATA%), the manual file (`proxy_file` or the XDG /
// /etc defaults; on Windows also C:\proxy_ibm.txt), a Windows .reg export
// if given (on Windows: the registry when none is), GNOME (gsettings), KDE
// (kioslaverc), macOS (scutil, on macOS), then the environment.
std::vector<std::unique_ptr<ProxySource>> DefaultSources(const std::string& home,
                                                         const std::string& proxy_file,
                                                         const std::string& windows_reg);

// The host and URL a browser passes to FindProxyForURL for a relay: the
// relay's name lower-cased (or its first address when it has no name), and
// "https://<host>:<port>/" with an IPv6 address in brackets.
PacQuery RelayPacQuery(const v1::Relay& relay);

// Reads every source, fetches and evaluates every PAC for every relay of
// `catalogue` (RelayPacQuery on its first port), applies each source's
// bypass list with that source's rules, and orders the routes per relay.
ProxySetup DiscoverProxies(const v1::Catalogue& catalogue, DiscoverOptions options);

}  // namespace relayscope::agent

#endif  // AGENT_DISCOVERY_DISCOVER_H_
