#include "agent/report/verdict.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "common/host_port.h"
#include "google/protobuf/util/time_util.h"

namespace relayscope::agent {
namespace {

using google::protobuf::util::TimeUtil;

std::string SourceName(v1::ProxySource source) {
  std::string name = v1::ProxySource_Name(source);
  absl::StrReplaceAll({{"PROXY_SOURCE_", ""}}, &name);
  return absl::AsciiStrToLower(name);
}

int64_t Millis(const google::protobuf::Duration& d) { return TimeUtil::DurationToMilliseconds(d); }

// Why the route failed, for the explanation sentence.
std::string Explain(const v1::Attempt& a) {
  const std::string target = HostPort(a.address(), a.port());
  const bool proxied = a.route_kind() != v1::ROUTE_KIND_DIRECT;
  const std::string via = proxied ? absl::StrCat(" through ", DescribeRoute(a)) : "";
  switch (a.outcome()) {
    case v1::OUTCOME_DNS_FAILURE:
      return absl::StrCat("The name could not be resolved", via, " (", a.detail(), ").");
    case v1::OUTCOME_CONNECT_TIMEOUT:
      return absl::StrCat("No answer from ", target, via, " within ", Millis(a.total_duration()),
                          " ms: a firewall is silently dropping this traffic.");
    case v1::OUTCOME_CONNECTION_REFUSED:
      return absl::StrCat(target, via,
                          " refused the connection: a firewall rejects it, or nothing "
                          "listens on that port.");
    case v1::OUTCOME_HOST_UNREACHABLE:
    case v1::OUTCOME_NETWORK_UNREACHABLE:
      return absl::StrCat("There is no route to ", target, via, ".");
    case v1::OUTCOME_CONNECTION_RESET:
      return absl::StrCat("The connection to ", target, via,
                          " was reset: a firewall or intrusion-prevention device cut it.");
    case v1::OUTCOME_PROXY_ERROR:
      if (a.proxy_status() == 302 || a.proxy_status() == 301 || a.proxy_status() == 307) {
        return absl::StrCat("The proxy redirects CONNECT to port ", a.port(), " (HTTP ",
                            a.proxy_status(),
                            "), which usually means a policy page or captive portal.");
      }
      if (a.proxy_status() != 0) {
        return absl::StrCat("The proxy refused CONNECT to ", target, " with HTTP ",
                            a.proxy_status(), ".");
      }
      return absl::StrCat("The proxy failed: ", a.detail(), ".");
    case v1::OUTCOME_PROXY_AUTH_REQUIRED:
      return "The proxy requires authentication (407) and no credentials were given.";
    case v1::OUTCOME_PROXY_AUTH_FAILED:
      return "The proxy rejected the credentials that were given.";
    case v1::OUTCOME_TLS_FAILURE:
      return absl::StrCat("TLS with the HTTPS proxy failed: ", a.detail(), ".");
    case v1::OUTCOME_PROTOCOL_INTERFERENCE: {
      std::string what = a.interference().status_line();
      if (!a.interference().page_title().empty()) {
        absl::StrAppend(&what, " \"", a.interference().page_title(), "\"");
      }
      if (what.empty()) what = a.interference().excerpt();
      return absl::StrCat("Port ", a.port(), via,
                          " is answered by something other than the relay (", what,
                          "): a transparent proxy or filtering device intercepts it.");
    }
    case v1::OUTCOME_HANDSHAKE_TIMEOUT:
      return absl::StrCat("Connected to ", target, via,
                          ", but no handshake reply came back: a device in the path holds "
                          "the traffic.");
    case v1::OUTCOME_HANDSHAKE_INVALID:
      return absl::StrCat("The reply from ", target, via, " was truncated or altered in transit (",
                          a.detail(), ").");
    default:
      return a.detail();
  }
}

std::string Advise(const v1::Attempt& a) {
  const std::string target = HostPort(a.address(), a.port());
  switch (a.outcome()) {
    case v1::OUTCOME_DNS_FAILURE:
      return "Check DNS on this machine, or configure the relay by address.";
    case v1::OUTCOME_CONNECT_TIMEOUT:
    case v1::OUTCOME_CONNECTION_REFUSED:
    case v1::OUTCOME_CONNECTION_RESET:
      return absl::StrCat("Ask the network administrator to allow outbound TCP to ", target, ".");
    case v1::OUTCOME_HOST_UNREACHABLE:
    case v1::OUTCOME_NETWORK_UNREACHABLE:
      return "Check the routing, VPN or default gateway of this machine.";
    case v1::OUTCOME_PROXY_ERROR:
      return absl::StrCat("Ask the proxy administrator to allow CONNECT to ", target, ".");
    case v1::OUTCOME_PROXY_AUTH_REQUIRED:
      return "Give the proxy user name with --proxy_user (the password is asked for, "
             "never shown).";
    case v1::OUTCOME_PROXY_AUTH_FAILED:
      return "Check the proxy user name and password.";
    case v1::OUTCOME_TLS_FAILURE:
      return "Check the HTTPS proxy's certificate, or give its CA with --proxy_ca.";
    case v1::OUTCOME_PROTOCOL_INTERFERENCE:
      return absl::StrCat("Ask for ", target,
                          " to be exempted from HTTP interception, or use another port.");
    case v1::OUTCOME_HANDSHAKE_TIMEOUT:
    case v1::OUTCOME_HANDSHAKE_INVALID:
      return absl::StrCat("Ask for traffic to ", target,
                          " to pass unmodified (no inspection or filtering).");
    default:
      return "";
  }
}

}  // namespace

std::string DescribeOutcome(v1::Outcome outcome) {
  std::string name = v1::Outcome_Name(outcome);
  absl::StrReplaceAll({{"OUTCOME_", ""}, {"_", " "}}, &name);
  name = absl::AsciiStrToLower(name);
  return name == "ok" ? "OK" : name;
}

std::string DescribeRoute(const v1::Attempt& a) {
  if (a.route_kind() == v1::ROUTE_KIND_DIRECT || !a.has_proxy()) return "direct";
  std::string kind;
  switch (a.route_kind()) {
    case v1::ROUTE_KIND_HTTP_CONNECT:
      kind = "HTTP proxy";
      break;
    case v1::ROUTE_KIND_HTTPS_PROXY:
      kind = "HTTPS proxy";
      break;
    case v1::ROUTE_KIND_SOCKS4:
      kind = "SOCKS4 proxy";
      break;
    case v1::ROUTE_KIND_SOCKS4A:
      kind = "SOCKS4a proxy";
      break;
    case v1::ROUTE_KIND_SOCKS5:
      kind = "SOCKS5 proxy";
      break;
    default:
      kind = "proxy";
      break;
  }
  std::string out = absl::StrCat(kind, " ", HostPort(a.proxy().host(), a.proxy().port()));
  if (a.proxy().source() != v1::PROXY_SOURCE_UNSPECIFIED) {
    absl::StrAppend(&out, " (from ", SourceName(a.proxy().source()));
    if (!a.proxy().source_detail().empty()) absl::StrAppend(&out, " ", a.proxy().source_detail());
    absl::StrAppend(&out, ")");
  }
  return out;
}

std::string DescribeAttempt(const v1::Attempt& a) {
  return absl::StrCat(a.relay(), " ", HostPort(a.address(), a.port()), " via ", DescribeRoute(a));
}

v1::Verdict ComputeVerdict(const v1::Catalogue& catalogue,
                           const std::vector<v1::Attempt>& attempts) {
  v1::Verdict verdict;
  std::set<std::string> working_regions;
  std::vector<const v1::Attempt*> ok;
  for (const v1::Attempt& a : attempts) {
    if (a.outcome() == v1::OUTCOME_OK) {
      working_regions.insert(a.region());
      ok.push_back(&a);
    }
  }
  std::stable_sort(ok.begin(), ok.end(), [](const v1::Attempt* x, const v1::Attempt* y) {
    return Millis(x->total_duration()) < Millis(y->total_duration());
  });
  for (const v1::Attempt* a : ok) {
    verdict.add_working(
        absl::StrCat(DescribeAttempt(*a), " (", Millis(a->total_duration()), " ms)"));
  }

  // One blocker per distinct (port, route, outcome, evidence); when it hit
  // every relay tried on that port and route, it is reported once for all.
  using Key = std::tuple<uint32_t, int, std::string, int, uint32_t, std::string>;
  std::map<Key, std::vector<const v1::Attempt*>> failures;
  std::map<std::tuple<uint32_t, int, std::string>, std::set<std::string>> relays_tried;
  for (const v1::Attempt& a : attempts) {
    const std::string proxy = a.has_proxy() ? HostPort(a.proxy().host(), a.proxy().port()) : "";
    relays_tried[{a.port(), a.route_kind(), proxy}].insert(a.relay());
    if (a.outcome() == v1::OUTCOME_OK) continue;
    failures[{a.port(), a.route_kind(), proxy, a.outcome(), a.proxy_status(),
              a.interference().status_line()}]
        .push_back(&a);
  }
  std::vector<std::pair<Key, std::vector<const v1::Attempt*>>> ordered(failures.begin(),
                                                                       failures.end());
  // Most widespread first.
  std::stable_sort(ordered.begin(), ordered.end(),
                   [](const auto& x, const auto& y) { return x.second.size() > y.second.size(); });
  for (const auto& [key, group] : ordered) {
    std::set<std::string> relays, addresses;
    for (const v1::Attempt* a : group) {
      relays.insert(a->relay());
      addresses.insert(a->address());
    }
    const auto& tried = relays_tried[{std::get<0>(key), std::get<1>(key), std::get<2>(key)}];
    const bool everywhere = relays == tried && tried.size() > 1;
    for (const v1::Attempt* a : group) {
      v1::Blocker* blocker = verdict.add_blockers();
      blocker->set_port(a->port());
      blocker->set_route_kind(a->route_kind());
      blocker->set_outcome(a->outcome());
      blocker->set_explanation(Explain(*a));
      blocker->set_advice(Advise(*a));
      if (everywhere) {
        blocker->set_explanation(absl::StrCat("On every relay: ", Explain(*a)));
        if (a->outcome() == v1::OUTCOME_CONNECT_TIMEOUT ||
            a->outcome() == v1::OUTCOME_CONNECTION_REFUSED ||
            a->outcome() == v1::OUTCOME_CONNECTION_RESET) {
          blocker->set_advice(
              absl::StrCat("Ask the network administrator to allow outbound TCP port ", a->port(),
                           " to the relay addresses (", absl::StrJoin(addresses, ", "), ")."));
        }
        break;
      }
      blocker->set_region(a->region());
      blocker->set_relay(a->relay());
    }
  }

  const int regions = catalogue.regions_size();
  const int working = static_cast<int>(working_regions.size());
  if (attempts.empty()) {
    verdict.set_status(v1::VERDICT_STATUS_UNREACHABLE);
    verdict.set_summary("Nothing was tried: the catalogue or the route list is empty.");
  } else if (working == 0) {
    verdict.set_status(v1::VERDICT_STATUS_UNREACHABLE);
    verdict.set_summary(absl::StrCat(
        "No relay can be reached over any route (", attempts.size(), " attempts). Main cause: ",
        verdict.blockers().empty() ? "unknown" : verdict.blockers(0).explanation()));
  } else {
    std::vector<std::string> missing;
    for (const v1::Region& region : catalogue.regions()) {
      if (!working_regions.count(region.id())) missing.push_back(region.display_name());
    }
    verdict.set_status(missing.empty() ? v1::VERDICT_STATUS_REACHABLE
                                       : v1::VERDICT_STATUS_DEGRADED);
    std::string summary =
        missing.empty()
            ? absl::StrCat("Relays are reachable: all ", regions, " regions work.")
            : absl::StrCat("Relays are partly reachable: ", working, " of ", regions,
                           " regions work; no route to ", absl::StrJoin(missing, ", "), ".");
    absl::StrAppend(&summary, " Best route: ", DescribeAttempt(*ok.front()), ".");
    if (verdict.blockers_size() > 0) {
      absl::StrAppend(&summary, " ", verdict.blockers_size(),
                      verdict.blockers_size() == 1 ? " thing is" : " things are",
                      " blocked; see below.");
    }
    verdict.set_summary(summary);
  }
  return verdict;
}

}  // namespace relayscope::agent
