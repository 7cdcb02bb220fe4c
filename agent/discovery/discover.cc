#include "agent/discovery/discover.h"

#include <cstdlib>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "agent/discovery/desktop_sources.h"
#include "agent/discovery/sources.h"
#include "agent/discovery/windows_source.h"
#include "agent/discovery/wpad.h"
#include "agent/pac/pac_fetch.h"

namespace relayscope::agent {
namespace {

std::string Env(const char* name) {
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
  const std::string xdg = Env("XDG_CONFIG_HOME");
  std::vector<std::string> manual_files = {
      (xdg.empty() ? home + "/.config" : xdg) + "/relayscope/proxy.txt",
      "/etc/relayscope/proxy.txt"};
#ifdef _WIN32
  manual_files.push_back("C:\\proxy_ibm.txt");  // where the seed's users kept it
#endif
  sources.push_back(MakeManualFileSource(proxy_file, std::move(manual_files)));
  if (!windows_reg.empty()) sources.push_back(std::make_unique<WindowsSource>(windows_reg));
  sources.push_back(std::make_unique<GnomeSource>());
  sources.push_back(std::make_unique<KdeSource>(KdeSource::DefaultConfigDir(home)));
#ifdef __APPLE__
  sources.push_back(std::make_unique<MacosSource>());
#endif
  sources.push_back(MakeEnvSource());
  return sources;
}

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

  // Every relay asked as an https URL on its first port.
  std::vector<PacQuery> queries;
  std::vector<std::string> relay_names;
  for (const v1::Region& region : catalogue.regions()) {
    for (const v1::Relay& relay : region.relays()) {
      const std::string host =
          relay.host().empty() && relay.addresses_size() > 0 ? relay.addresses(0) : relay.host();
      const uint32_t port = relay.ports_size() > 0 ? relay.ports(0) : 443;
      queries.push_back({absl::StrCat("https://", host, ":", port, "/"), host});
      relay_names.push_back(relay.id());
    }
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
    for (const PacLocation& candidate : report.result.pac) expanded.push_back(candidate);
    setup.sources.push_back(std::move(report));
  }

  std::vector<ProxyCandidate> ordered;
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
    auto evaluation = EvaluatePac(*script, queries, options.pac);
    if (!evaluation.ok()) {
      report.error = std::string(evaluation.status().message());
      setup.pac.push_back(std::move(report));
      continue;
    }
    report.alerts = evaluation->alerts;
    for (size_t i = 0; i < queries.size(); ++i) {
      PacRelayAnswer answer;
      answer.relay = relay_names[i];
      answer.url = queries[i].url;
      const auto& result = evaluation->answers[i].result;
      if (!result.ok()) {
        answer.error = std::string(result.status().message());
      } else {
        answer.returned = *result;
        answer.routes = ParsePacResult(*result);
        for (const PacRoute& route : answer.routes.routes) {
          if (route.direct) continue;
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
          ordered.push_back(std::move(candidate));
        }
      }
      report.answers.push_back(std::move(answer));
    }
    setup.pac.push_back(std::move(report));
  }
  // Then the proxies the sources name for https destinations (relays are
  // reached like https), SOCKS proxies and catch-alls; plain-http-only
  // settings last, since a CONNECT through them may still work.
  for (const char* pass : {"primary", "http"}) {
    for (const SourceReport& source : setup.sources) {
      for (const ProxyCandidate& candidate : source.result.proxies) {
        const bool primary = candidate.scope != "http";
        if (primary == (std::string(pass) == "primary")) ordered.push_back(candidate);
      }
    }
  }
  std::set<std::tuple<int, std::string, int>> seen;
  for (ProxyCandidate& candidate : ordered) {
    if (seen.insert({candidate.url.kind, candidate.url.host, candidate.url.port}).second) {
      setup.routes.push_back(std::move(candidate));
    }
  }
  return setup;
}

}  // namespace relayscope::agent
