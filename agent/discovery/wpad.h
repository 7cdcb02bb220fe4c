// WPAD (Web Proxy Auto-Discovery): where a machine set to "detect proxy
// settings automatically" looks for its PAC file. First the URL a DHCP
// server handed out in option 252, then http://wpad.<domain>/wpad.dat for
// the host's domain and each parent domain, stopping above the registrable
// domain so that no query ever leaves the organisation (wpad.com and
// wpad.co.uk belong to strangers: the classic WPAD hijack).
//
// WpadSource only names the candidates; fetching and evaluating them is
// the PAC stage's job.
#ifndef AGENT_DISCOVERY_WPAD_H_
#define AGENT_DISCOVERY_WPAD_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "agent/discovery/source.h"

namespace relayscope::agent {

// The WPAD URLs in a DHCP lease file, oldest lease first (latest last),
// each URL once (at its latest place). Understands dhclient leases
// (`option wpad "http://...";` as declared by `option wpad code 252 =
// text;`, or undeclared `option unknown-252 "..."` or in hex
// `68:74:74:70:...`) and NetworkManager's internal ones (`WPAD=http://...`,
// `OPTION_252=...`, text or hex). A trailing NUL, as Windows DHCP servers
// send, is dropped; values that are not http(s) URLs are skipped.
std::vector<std::string> ParseDhcpWpadOption(absl::string_view lease_text);

// The DNS walk: for "a.b.corp.example.co.uk" →
//   http://wpad.a.b.corp.example.co.uk/wpad.dat
//   http://wpad.b.corp.example.co.uk/wpad.dat
//   http://wpad.corp.example.co.uk/wpad.dat
//   http://wpad.example.co.uk/wpad.dat
// then the same for each of `search_domains`, without repeats, in order.
// Never a candidate at or above a public suffix.
//
// Limitation: public suffixes come from a small built-in list of common
// two-label ones (co.uk, com.au, co.jp, ...); any other domain's last
// label is taken as its public suffix. A domain under an unlisted
// multi-label suffix (a three-label one such as "pvt.k12.ma.us", or a
// private one such as "github.io") therefore gets one candidate too many
// (wpad.k12.ma.us); a single-label domain ("corp", "lan") gets none.
std::vector<std::string> WpadDnsCandidates(absl::string_view fqdn_or_domain,
                                           const std::vector<std::string>& search_domains);

// The search list of a resolv.conf: the last "search" or "domain" line
// wins, as in the resolver. Trailing dots are dropped, and so is
// systemd-resolved's "." (no search domain).
std::vector<std::string> ParseResolvConfSearch(absl::string_view resolv_conf);

// `url` without user-info ("http://u:p@wpad/wpad.dat" -> "http://wpad/wpad.dat"),
// so that a URL can be shown and uploaded. Anything without "scheme://" is
// returned as it is.
std::string UrlWithoutUserInfo(absl::string_view url);

// How WPAD found `location` (one of WpadSource's), in words for the proxies
// its PAC file names: "DHCP option 252 http://wpad.corp.example/wpad.dat"
// (the URL without user-info) or "DNS wpad.corp.example" (the name the DNS
// walk asked).
std::string WpadFoundBy(const PacLocation& location);

// Where WpadSource looks; tests point it at their own files.
struct WpadPlaces {
  // dhclient's "dhclient*.leases" (Debian; Red Hat).
  std::vector<std::string> dhclient_dirs = {"/var/lib/dhcp", "/var/lib/dhclient"};
  // NetworkManager's "*.lease*" (its internal client's and its dhclient's).
  std::vector<std::string> networkmanager_dirs = {"/var/lib/NetworkManager"};
  std::string resolv_conf = "/etc/resolv.conf";
  // The host's DNS domain; unset: what follows the first dot of the host
  // name (none for a single-label host name).
  std::optional<std::string> host_domain;
};

// PacLocations (PROXY_SOURCE_WPAD): each lease file's URLs, latest first
// (detail "<lease file> (DHCP option 252)"), then the DNS walk of the host
// domain and the resolv.conf search domains. Missing files are silently
// skipped; unreadable ones are warnings. Downloads nothing.
class WpadSource final : public ProxySource {
 public:
  explicit WpadSource(WpadPlaces places = {}) : places_(std::move(places)) {}

  std::string name() const override { return "wpad"; }
  DiscoveryResult Discover() override;

 private:
  WpadPlaces places_;
};

}  // namespace relayscope::agent

#endif  // AGENT_DISCOVERY_WPAD_H_
