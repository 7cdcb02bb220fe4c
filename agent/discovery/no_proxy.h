// Bypass lists, each with the matching rules of the software that reads it:
// the environment's no_proxy as curl 7.88 reads it, KDE's NoProxyFor as KIO
// does, GNOME's ignore-hosts as glib-networking does, Windows'
// ProxyOverride as WinINet does, Firefox's no_proxies_on as Firefox does,
// and macOS's ExceptionsList as CFNetwork does. The agent asks, per relay
// and per configured proxy, whether the user's software would go direct.
//
//   BypassTarget target{"emea-1.relay.example", 443, {"81.144.208.229"}};
//   BypassMatch m = MatchBypass(BypassRulesFor(v1::PROXY_SOURCE_ENV), list, target);
//   if (m.bypassed) ... m.entry is the entry that decided ...
#ifndef AGENT_DISCOVERY_NO_PROXY_H_
#define AGENT_DISCOVERY_NO_PROXY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "relayscope/v1/telemetry.pb.h"

namespace relayscope::agent {

// Whose rules a bypass list is read with.
enum class BypassRules {
  // curl 7.88 (lib/noproxy.c): the whole value "*" bypasses everything;
  // entries separated by commas and blanks; a host name entry matches that
  // name and its subdomains on a label boundary, with one leading and one
  // trailing dot ignored on both sides ("example.com.", ".example.com");
  // "*.example.com" and "host:port" entries never match a host name; ports
  // play no part. An IPv4 host matches IPv4 entries exactly or by CIDR. An
  // IPv6 host (curl strips the URL's brackets) is compared as a host name,
  // so only the same text matches it: no CIDR, no bracketed form.
  kCurl,
  // KDE KIO (NoProxyFor, comma-separated): an entry is a plain suffix of
  // the lower-cased host, not on a label boundary ("kde.org" matches
  // "mykde.org"), or of "host:port"; "<local>" matches host names without
  // a dot; a CIDR block ("10.0.0.0/8") matches the host's address.
  kKde,
  // GNOME (ignore-hosts, glib-networking's rules): "example.com",
  // ".example.com" and "*.example.com" match the domain and every
  // subdomain; an IP literal matches only that address given as an
  // address; CIDR blocks ("fe80::/10") match addresses; an entry with
  // ":port" ("[::1]:443") only that port. Names never match addresses.
  kGnome,
  // WinINet (ProxyOverride, ';'-separated): '*' wildcards over the host
  // name or address as written ("*.corp.example", "10.*"), case-
  // insensitive; "<local>" matches host names without a dot; an entry may
  // carry a scheme ("https://host") or a port ("host:8200") that must then
  // match too.
  kWindows,
  // Firefox (network.proxy.no_proxies_on, comma or blank separated): an
  // entry is a suffix of the host (".corp.example", "corp.example",
  // "*.corp.example" with the '*' dropped), optionally ":port"; IP literals
  // and CIDR blocks match IP hosts; "<local>" matches host names without a
  // dot. Firefox also never proxies localhost, 127.0.0.0/8 and ::1.
  kFirefox,
  // macOS (ExceptionsList): '*' globs over host names ("*.local"), IP
  // literals, and CIDR blocks ("169.254/16", a short network allowed);
  // "<local>" (ExcludeSimpleHostnames) matches host names without a dot.
  kMacos,
};

// The rules a source's bypass list is read with: ENV curl, KDE, GNOME,
// WINDOWS, FIREFOX, MACOS their own; anything else curl's.
BypassRules BypassRulesFor(v1::ProxySource source);

// "no_proxy", "NoProxyFor", "ignore-hosts", "ProxyOverride",
// "no_proxies_on", "ExceptionsList": the setting's name, for people.
std::string BypassSettingName(BypassRules rules);

// What a connection would be made to: the host as the user's software has
// it (a relay's name, or its address when it has none), the port, and the
// addresses the name resolves to (for rules that match names by address,
// like KDE's CIDR entries).
struct BypassTarget {
  std::string host;
  uint16_t port = 443;
  std::vector<std::string> addresses;
};

struct BypassMatch {
  bool bypassed = false;
  // The entry that decided, as configured ("" when none did: not listed,
  // or, under KDE's ReversedException, bypassed because not listed).
  // Firefox's implicit localhost bypass reads "localhost (implicit)".
  std::string entry;
};

// Does the software whose `rules` these are go direct to `target`, given
// its bypass list `entries` (as the source wrote them, one entry each)?
// `reversed` is KDE's ReversedException: the proxy is then used only for
// the listed hosts. Never fails: an entry that cannot be read never
// matches.
BypassMatch MatchBypass(BypassRules rules, const std::vector<std::string>& entries,
                        const BypassTarget& target, bool reversed = false);

// curl 7.88's Curl_check_noproxy over the no_proxy value as it is in the
// environment: the entry that matched `host`, or nullopt.
std::optional<std::string> CurlNoProxyMatch(absl::string_view no_proxy, absl::string_view host);

// curl's rules over a list already split into entries (the environment
// source's form; they are re-joined with commas, which curl treats as it
// treats blanks). `port` plays no part in curl's rules; it is kept for the
// callers that have it.
bool BypassesProxy(const std::vector<std::string>& no_proxy, absl::string_view host, uint16_t port);

}  // namespace relayscope::agent

#endif  // AGENT_DISCOVERY_NO_PROXY_H_
