#include "agent/discovery/discover.h"

#include <cstdlib>
#include <cstring>
#include <optional>
#include <set>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "agent/discovery/desktop_sources.h"
#include "agent/discovery/no_proxy.h"
#include "agent/discovery/sources.h"
#include "agent/discovery/system_proxy.h"
#include "agent/discovery/windows_source.h"
#include "agent/discovery/wpad.h"
#include "agent/pac/pac_fetch.h"
#include "common/catalogue.h"

namespace relayscope::agent {
namespace {

[[maybe_unused]] std::string Env(const char* name) {  // unused on Windows
  // No part of relayscope calls setenv, so reading the environment from
  // any thread is safe.
  const char* value = std::getenv(name);  // NOLINT(concurrency-mt-unsafe)
  return value != nullptr ? value : "";
}

}  // namespace

std::vector<std::unique_ptr<ProxySource>> DefaultSources(const std::string& home,
                                                         const std::string& proxy_file,
                                                         const std::string& windows_reg) {
  std::vector<std::unique_ptr<ProxySource>> sources;
  sources.push_back(MakeFirefoxSource(home));
#ifdef _WIN32
  // Windows has no XDG or /etc: the user's roaming folder, then the file
  // the seed's users kept at the root of C: (opened by its UTF-8 path).
  std::vector<std::string> manual_files;
  if (const std::string appdata = RoamingAppData(); !appdata.empty()) {
    manual_files.push_back(appdata + "\\relayscope\\proxy.txt");
  }
  manual_files.push_back("C:\\proxy_ibm.txt");
#else
  const std::string xdg = Env("XDG_CONFIG_HOME");
  std::vector<std::string> manual_files = {
      (xdg.empty() ? home + "/.config" : xdg) + "/relayscope/proxy.txt",
      "/etc/relayscope/proxy.txt"};
#endif
  sources.push_back(MakeManualFileSource(proxy_file, std::move(manual_files)));
#ifdef _WIN32
  // An export given on the command line stands in for the registry.
  sources.push_back(std::make_unique<WindowsSource>(windows_reg));
#else
  if (!windows_reg.empty()) sources.push_back(std::make_unique<WindowsSource>(windows_reg));
#endif
#ifndef _WIN32
  // The Linux desktops' settings (desktop_sources.cc, not built for
  // Windows: there the registry and WinHTTP speak for the desktop).
  sources.push_back(std::make_unique<GnomeSource>());
  sources.push_back(std::make_unique<KdeSource>(KdeSource::DefaultConfigDir(home)));
#endif
#ifdef __APPLE__
  sources.push_back(std::make_unique<MacosSource>());
#endif
  sources.push_back(MakeEnvSource());
  return sources;
}

DiscoverOptions::DiscoverOptions() : second_opinion(MakeSystemProxyResolver()) {}
DiscoverOptions::~DiscoverOptions() = default;
DiscoverOptions::DiscoverOptions(DiscoverOptions&&) noexcept = default;
DiscoverOptions& DiscoverOptions::operator=(DiscoverOptions&&) noexcept = default;

PacQuery RelayPacQuery(const v1::Relay& relay) {
  std::string host =
      relay.host().empty() && relay.addresses_size() > 0 ? relay.addresses(0) : relay.host();
  // Browsers hand FindProxyForURL the canonical host: lower-case.
  host = absl::AsciiStrToLower(host);
  const uint32_t port = relay.ports_size() > 0 ? relay.ports(0) : 443;
  const bool ipv6 = host.find(':') != std::string::npos;
  return {absl::StrCat("https://", ipv6 ? absl::StrCat("[", host, "]") : host, ":", port, "/"),
          host};
}

namespace {

std::string SourceLabel(v1::ProxySource source) {
  return absl::AsciiStrToLower(v1::ProxySource_Name(source).substr(strlen("PROXY_SOURCE_")));
}

std::string BypassWhy(const BypassMatch& match, BypassRules rules, v1::ProxySource source,
                      bool reversed) {
  const std::string setting = BypassSettingName(rules);
  if (match.entry.empty() && reversed) {
    return absl::StrCat("bypassed: not listed in ", setting, " with ReversedException (",
                        SourceLabel(source), ")");
  }
  return absl::StrCat("bypassed by ", setting, " entry `", match.entry, "` (", SourceLabel(source),
                      ")");
}

using RouteKey = std::tuple<int, std::string, int>;
RouteKey KeyOf(const ProxyCandidate& c) { return {c.url.kind, c.url.host, c.url.port}; }

// Builds one relay's list: in order, first occurrence wins; bypassed
// proxies come back at the end as alternatives.
class RelayListBuilder {
 public:
  void AddProxy(const ProxyCandidate& candidate, std::string why) {
    if (!seen_.insert(KeyOf(candidate)).second) return;
    RelayRoute route;
    route.proxy = candidate;
    route.why = std::move(why);
    routes_.push_back(std::move(route));
  }
  void AddDirect(std::string why, const BypassMatch* match = nullptr,
                 v1::ProxySource bypass_source = v1::PROXY_SOURCE_UNSPECIFIED) {
    if (have_direct_) return;
    have_direct_ = true;
    RelayRoute route;
    route.direct = true;
    route.why = std::move(why);
    if (match != nullptr) {
      route.bypassed = true;
      route.bypass_entry = match->entry;
      route.bypass_source = bypass_source;
    }
    routes_.push_back(std::move(route));
  }
  void AddSkipped(const ProxyCandidate& candidate, std::string why, const BypassMatch& match,
                  v1::ProxySource bypass_source) {
    RelayRoute route;
    route.proxy = candidate;
    route.why = std::move(why);
    route.bypassed = true;
    route.bypass_entry = match.entry;
    route.bypass_source = bypass_source;
    route.alternative = true;
    skipped_.push_back(std::move(route));
  }
  std::vector<RelayRoute> Finish() {
    AddDirect("last, when the routes before it fail");
    for (RelayRoute& route : skipped_) {
      if (seen_.insert(KeyOf(route.proxy)).second) routes_.push_back(std::move(route));
    }
    return std::move(routes_);
  }

 private:
  std::vector<RelayRoute> routes_;
  std::vector<RelayRoute> skipped_;
  std::set<RouteKey> seen_;
  bool have_direct_ = false;
};

// What one PAC answered, per relay (nullopt entries are DIRECT).
struct PacRoutes {
  PacLocation location;
  std::vector<std::vector<std::optional<ProxyCandidate>>> per_relay;
  std::vector<std::string> returned;
};

// Fetches and evaluates each PAC once for every relay (the first WPAD
// candidate that answers wins), recording reports in `setup` and every
// proxy answered in `ordered`.
std::vector<PacRoutes> AskPacs(const std::vector<PacLocation>& expanded,
                               const std::vector<PacQuery>& queries, const PacOptions& pac_options,
                               ProxySetup* out, std::vector<ProxyCandidate>* ordered_out) {
  ProxySetup& setup = *out;
  std::vector<ProxyCandidate>& ordered = *ordered_out;
  std::vector<PacRoutes> pac_routes;
  std::set<std::string> seen_pac;
  bool wpad_found = false;
  for (const PacLocation& location : expanded) {
    if (!seen_pac.insert(location.url).second) continue;
    const bool is_wpad = location.source == v1::PROXY_SOURCE_WPAD;
    if (is_wpad && wpad_found) continue;  // the first WPAD answer wins
    PacReport report;
    report.location = location;
    PacFetchOptions fetch;
    if (is_wpad) fetch.timeout = absl::Seconds(2);  // candidates are guesses
    auto script = FetchPac(location.url, fetch);
    if (script.ok() && is_wpad) wpad_found = true;
    if (!script.ok()) {
      report.error = std::string(script.status().message());
      setup.pac.push_back(std::move(report));
      continue;
    }
    auto evaluation = EvaluatePac(*script, queries, pac_options);
    if (!evaluation.ok()) {
      report.error = std::string(evaluation.status().message());
      setup.pac.push_back(std::move(report));
      continue;
    }
    report.alerts = evaluation->alerts;
    PacRoutes routes;
    routes.location = location;
    routes.per_relay.resize(queries.size());
    routes.returned.resize(queries.size());
    for (size_t i = 0; i < queries.size(); ++i) {
      PacRelayAnswer answer;
      answer.relay = setup.relays[i].relay;
      answer.url = queries[i].url;
      const auto& result = evaluation->answers[i].result;
      answer.limits = evaluation->answers[i].warnings;
      if (!result.ok()) {
        answer.error = std::string(result.status().message());
      } else {
        answer.returned = *result;
        routes.returned[i] = *result;
        answer.routes = ParsePacResult(*result);
        for (const PacRoute& route : answer.routes.routes) {
          if (route.direct) {
            routes.per_relay[i].push_back(std::nullopt);
            continue;
          }
          ProxyCandidate candidate;
          candidate.url = route.proxy;
          // A PAC that WPAD found is a WPAD proxy, named by how it was
          // found; one given explicitly (--pac-url, a browser's
          // autoconfig URL) is a PAC proxy, named by its URL.
          if (is_wpad) {
            candidate.source = v1::PROXY_SOURCE_WPAD;
            candidate.detail = absl::StrCat(WpadFoundBy(location), " (", route.text, ")");
          } else {
            candidate.source = v1::PROXY_SOURCE_PAC;
            candidate.detail =
                absl::StrCat(UrlWithoutUserInfo(location.url), " (", route.text, ")");
          }
          candidate.scope = "https";
          ordered.push_back(candidate);
          routes.per_relay[i].push_back(std::move(candidate));
        }
      }
      report.answers.push_back(std::move(answer));
    }
    pac_routes.push_back(std::move(routes));
    setup.pac.push_back(std::move(report));
  }
  return pac_routes;
}

// One relay's list: what its PAC answers say, then the configured proxies
// unless their own bypass list sends the relay direct.
std::vector<RelayRoute> RelayList(const std::vector<PacRoutes>& pac_routes,
                                  const std::vector<const ProxyCandidate*>& configured,
                                  size_t relay, const BypassTarget& target) {
  RelayListBuilder list;
  for (const PacRoutes& pac : pac_routes) {
    const v1::ProxySource list_source = pac.location.bypass_from != v1::PROXY_SOURCE_UNSPECIFIED
                                            ? pac.location.bypass_from
                                            : pac.location.source;
    const BypassRules rules = BypassRulesFor(list_source);
    // Only a list the setting has (GNOME's ignore-hosts): no_proxies_on
    // is Firefox's manual mode only, and its implicit loopback bypass is
    // left to the PAC (relays are never loopback; the rig's are).
    const BypassMatch match = pac.location.bypass.empty()
                                  ? BypassMatch{}
                                  : MatchBypass(rules, pac.location.bypass, target);
    // A PAC that WPAD found says how (DHCP option 252 and its URL, or the
    // wpad name DNS answered), so a reader can tell it from one they set.
    const std::string pac_name =
        pac.location.source == v1::PROXY_SOURCE_WPAD
            ? absl::StrCat("found by WPAD (", WpadFoundBy(pac.location), ")")
            : UrlWithoutUserInfo(pac.location.url);
    if (match.bypassed) {
      list.AddDirect(absl::StrCat(BypassWhy(match, rules, list_source, false),
                                  ", before asking PAC ", pac_name),
                     &match, list_source);
      for (const auto& candidate : pac.per_relay[relay]) {
        if (candidate)
          list.AddSkipped(*candidate,
                          absl::StrCat("PAC ", pac_name, ", not asked: ",
                                       BypassWhy(match, rules, list_source, false)),
                          match, list_source);
      }
      continue;
    }
    const std::string why =
        absl::StrCat("PAC ", pac_name, " answered \"", pac.returned[relay], "\"");
    for (const auto& candidate : pac.per_relay[relay]) {
      if (candidate) {
        list.AddProxy(*candidate, why);
      } else {
        list.AddDirect(why);
      }
    }
  }
  for (const ProxyCandidate* candidate : configured) {
    const BypassRules rules = BypassRulesFor(candidate->source);
    const BypassMatch match =
        MatchBypass(rules, candidate->bypass, target, candidate->bypass_reversed);
    const std::string where =
        absl::StrCat(candidate->detail, " (", SourceLabel(candidate->source), ")");
    if (match.bypassed) {
      list.AddDirect(BypassWhy(match, rules, candidate->source, candidate->bypass_reversed), &match,
                     candidate->source);
      list.AddSkipped(
          *candidate,
          absl::StrCat(where, ", skipped: ",
                       BypassWhy(match, rules, candidate->source, candidate->bypass_reversed)),
          match, candidate->source);
    } else {
      list.AddProxy(*candidate, where);
    }
  }
  return list.Finish();
}

}  // namespace

ProxySetup DiscoverProxies(const v1::Catalogue& catalogue, DiscoverOptions options) {
  ProxySetup setup;
  std::vector<PacLocation> pac_locations;
  for (const std::string& url : options.pac_urls) {
    pac_locations.push_back({url, v1::PROXY_SOURCE_FLAG, "--pac-url"});
  }
  for (auto& source : options.sources) {
    SourceReport report{source->name(), source->Discover()};
    for (const PacLocation& pac : report.result.pac) pac_locations.push_back(pac);
    setup.sources.push_back(std::move(report));
  }

  // Every relay asked as a browser asks, on its first port; each download
  // service too, by its name, as a browser downloading from it would.
  std::vector<std::pair<std::string, v1::Relay>> asked;
  for (const v1::Region& region : catalogue.regions()) {
    for (const v1::Relay& relay : region.relays()) asked.emplace_back(region.id(), relay);
  }
  for (const v1::DownloadService& service : catalogue.downloads()) {
    asked.emplace_back(service.region(), DownloadAsRelay(service));
  }
  std::vector<PacQuery> queries;
  std::vector<BypassTarget> targets;
  for (const auto& [region_id, relay] : asked) {
    queries.push_back(RelayPacQuery(relay));
    RelayRoutes relay_routes;
    relay_routes.region = region_id;
    relay_routes.relay = relay.id();
    relay_routes.host = queries.back().host;
    relay_routes.port = static_cast<uint16_t>(relay.ports_size() > 0 ? relay.ports(0) : 443);
    setup.relays.push_back(std::move(relay_routes));
    BypassTarget target;
    target.host = queries.back().host;
    target.port = setup.relays.back().port;
    target.addresses.assign(relay.addresses().begin(), relay.addresses().end());
    targets.push_back(std::move(target));
  }

  // Auto-detect ("wpad") is followed only where a source turned it on, as
  // browsers do: the WPAD source's DHCP and DNS candidates take its place.
  std::vector<PacLocation> expanded;
  bool wpad_done = false;
  for (const PacLocation& location : pac_locations) {
    if (location.url != "wpad") {
      expanded.push_back(location);
      continue;
    }
    if (wpad_done || !options.wpad) continue;
    wpad_done = true;
    SourceReport report{options.wpad->name(), options.wpad->Discover()};
    for (PacLocation candidate : report.result.pac) {
      // The bypass list of the setting that turned auto-detect on.
      if (candidate.bypass.empty() && !location.bypass.empty()) {
        candidate.bypass = location.bypass;
        candidate.bypass_from = location.source;
      }
      expanded.push_back(std::move(candidate));
    }
    setup.sources.push_back(std::move(report));
  }

  std::vector<ProxyCandidate> ordered;
  // Per PAC that answered: its location and the candidates per relay
  // (nullopt entries are DIRECT).
  std::vector<PacRoutes> pac_routes = AskPacs(expanded, queries, options.pac, &setup, &ordered);
  // Then the proxies the sources name for https destinations (relays are
  // reached like https), SOCKS proxies and catch-alls; plain-http-only
  // settings last, since a CONNECT through them may still work.
  std::vector<const ProxyCandidate*> configured;
  for (const char* pass : {"primary", "http"}) {
    for (const SourceReport& source : setup.sources) {
      for (const ProxyCandidate& candidate : source.result.proxies) {
        const bool primary = candidate.scope != "http";
        if (primary == (std::string(pass) == "primary")) {
          ordered.push_back(candidate);
          configured.push_back(&candidate);
        }
      }
    }
  }
  std::set<RouteKey> seen;
  for (ProxyCandidate& candidate : ordered) {
    if (seen.insert(KeyOf(candidate)).second) setup.routes.push_back(std::move(candidate));
  }

  for (size_t i = 0; i < setup.relays.size(); ++i) {
    setup.relays[i].routes = RelayList(pac_routes, configured, i, targets[i]);
  }
  if (options.second_opinion != nullptr) {
    SourceReport opinion{options.second_opinion->name(), {}};
    opinion.result.warnings =
        CompareWithSystem(setup, *options.second_opinion, options.second_opinion_timeout);
    setup.sources.push_back(std::move(opinion));
  }
  return setup;
}

}  // namespace relayscope::agent
