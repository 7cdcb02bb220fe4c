#include "agent/cli/collector_routes.h"

#include <algorithm>
#include <cstdint>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace relayscope::agent {
namespace {

std::tuple<int, std::string, int> KeyOf(const ProxyUrl& url) {
  return {url.kind, url.host, url.port};
}

bool Literal(absl::string_view host) {
  if (host.find(':') != absl::string_view::npos) return true;  // IPv6
  return !host.empty() && std::all_of(host.begin(), host.end(),
                                      [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

UploadRoute FromRoute(const Route& route) {
  UploadRoute out;
  out.proxy = route.endpoint;
  out.why = route.proxy.source_detail();
  return out;
}

}  // namespace

absl::StatusOr<v1::Catalogue> WithCollector(const v1::Catalogue& catalogue,
                                            const std::string& target) {
  absl::string_view rest = target;
  std::string host;
  const size_t colon = rest.rfind(':');
  if (colon == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--collector: \"", target, "\" is not host:port"));
  }
  absl::string_view host_part = rest.substr(0, colon);
  if (host_part.size() >= 2 && host_part.front() == '[' && host_part.back() == ']') {
    host_part = host_part.substr(1, host_part.size() - 2);
  }
  host = std::string(host_part);
  uint32_t port = 0;
  if (host.empty() || !absl::SimpleAtoi(rest.substr(colon + 1), &port) || port == 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--collector: \"", target, "\" is not host:port"));
  }
  v1::Catalogue out = catalogue;
  v1::Region* region = out.add_regions();
  region->set_id(kCollectorDestinationId);
  v1::Relay* relay = region->add_relays();
  relay->set_id(kCollectorDestinationId);
  if (Literal(host)) {
    relay->add_addresses(host);
  } else {
    relay->set_host(host);
  }
  relay->add_ports(port);
  return out;
}

std::optional<RelayRoutes> TakeCollectorRoutes(ProxySetup* setup) {
  std::optional<RelayRoutes> collector;
  for (auto it = setup->relays.begin(); it != setup->relays.end(); ++it) {
    if (it->relay == kCollectorDestinationId) {
      collector = std::move(*it);
      setup->relays.erase(it);
      break;
    }
  }
  if (!collector) return collector;
  for (PacReport& pac : setup->pac) {
    std::erase_if(pac.answers,
                  [](const PacRelayAnswer& a) { return a.relay == kCollectorDestinationId; });
  }
  // Every proxy a relay may use is in some relay's list (as a route or an
  // alternative); one that is only in the collector's is not the
  // diagnosis's business.
  std::set<std::tuple<int, std::string, int>> used;
  for (const RelayRoutes& relay : setup->relays) {
    for (const RelayRoute& route : relay.routes) {
      if (!route.direct) used.insert(KeyOf(route.proxy.url));
    }
  }
  std::erase_if(setup->routes,
                [&](const ProxyCandidate& c) { return used.count(KeyOf(c.url)) == 0; });
  return collector;
}

std::vector<UploadRoute> CollectorUploadRoutes(const RouteList& list, size_t flag_routes,
                                               const std::optional<RelayRoutes>& collector,
                                               bool direct) {
  std::vector<UploadRoute> out;
  std::set<std::tuple<int, std::string, int>> seen;
  bool have_direct = false;
  auto add_proxy = [&](UploadRoute route) {
    if (seen.insert(KeyOf(route.proxy)).second) out.push_back(std::move(route));
  };
  auto add_direct = [&](std::string why) {
    if (!direct || have_direct) return;
    have_direct = true;
    UploadRoute route;
    route.why = std::move(why);
    out.push_back(std::move(route));
  };
  for (size_t i = 0; i < flag_routes && i < list.routes.size(); ++i) {
    if (!list.routes[i].endpoint.direct()) add_proxy(FromRoute(list.routes[i]));
  }
  if (collector) {
    for (const RelayRoute& route : collector->routes) {
      if (route.alternative) continue;
      if (route.direct) {
        add_direct(route.why);
        continue;
      }
      UploadRoute proxy;
      proxy.proxy = route.proxy.url;
      proxy.why = route.why;
      add_proxy(std::move(proxy));
    }
  }
  add_direct("last, when the routes before it fail");
  return out;
}

ProxyCredentialsQuestion ProxyCredentialMemory::Remembering(ProxyCredentialsQuestion ask) {
  return [this, ask = std::move(ask)](const v1::Proxy& proxy) -> Answer {
    const Key key{proxy.kind(), proxy.host(), static_cast<int>(proxy.port())};
    {
      absl::MutexLock lock(&mu_);
      if (auto it = answers_.find(key); it != answers_.end()) return it->second;
    }
    // Asked without the lock: a person may take their time.
    Answer answer = ask ? ask(proxy) : std::nullopt;
    absl::MutexLock lock(&mu_);
    answers_[key] = answer;
    return answer;
  };
}

void ProxyCredentialMemory::Apply(std::vector<UploadRoute>* routes) const {
  absl::MutexLock lock(&mu_);
  for (UploadRoute& route : *routes) {
    if (route.proxy.direct() || !route.proxy.username.empty()) continue;
    auto it = answers_.find(KeyOf(route.proxy));
    if (it != answers_.end() && it->second) {
      route.proxy.username = it->second->first;
      route.proxy.password = it->second->second;
    }
  }
}

}  // namespace relayscope::agent
