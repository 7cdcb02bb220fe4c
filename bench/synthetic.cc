#include "bench/synthetic.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/proto_time.h"

namespace relayscope::bench {
namespace {

constexpr const char* kRegionNames[] = {"americas", "emea", "apac", "china", "india", "oceania"};
constexpr uint32_t kPorts[] = {8200, 443, 80, 8443, 563, 8080};
constexpr v1::RouteKind kRoutes[] = {v1::ROUTE_KIND_DIRECT,      v1::ROUTE_KIND_HTTP_CONNECT,
                                     v1::ROUTE_KIND_HTTPS_PROXY, v1::ROUTE_KIND_SOCKS5,
                                     v1::ROUTE_KIND_SOCKS4,      v1::ROUTE_KIND_SOCKS4A};

// Failure outcomes, most common first (weights roughly as seen in support
// cases: firewalls drop, proxies refuse, middleboxes interfere).
constexpr v1::Outcome kFailures[] = {
    v1::OUTCOME_CONNECT_TIMEOUT,       v1::OUTCOME_CONNECTION_REFUSED,
    v1::OUTCOME_PROXY_ERROR,           v1::OUTCOME_PROXY_AUTH_REQUIRED,
    v1::OUTCOME_PROTOCOL_INTERFERENCE, v1::OUTCOME_DNS_FAILURE,
    v1::OUTCOME_CONNECTION_RESET,      v1::OUTCOME_HANDSHAKE_TIMEOUT,
    v1::OUTCOME_TLS_FAILURE,           v1::OUTCOME_PROXY_AUTH_FAILED,
    v1::OUTCOME_HOST_UNREACHABLE,      v1::OUTCOME_NETWORK_UNREACHABLE,
    v1::OUTCOME_HANDSHAKE_INVALID};
constexpr int kFailureCount = sizeof(kFailures) / sizeof(kFailures[0]);

// The phase a failure outcome ends in.
v1::Phase FailedPhase(v1::Outcome outcome, bool proxied) {
  switch (outcome) {
    case v1::OUTCOME_DNS_FAILURE:
      return v1::PHASE_DNS;
    case v1::OUTCOME_CONNECT_TIMEOUT:
    case v1::OUTCOME_CONNECTION_REFUSED:
    case v1::OUTCOME_HOST_UNREACHABLE:
    case v1::OUTCOME_NETWORK_UNREACHABLE:
      return v1::PHASE_TCP_CONNECT;
    case v1::OUTCOME_PROXY_ERROR:
    case v1::OUTCOME_PROXY_AUTH_REQUIRED:
    case v1::OUTCOME_PROXY_AUTH_FAILED:
      return proxied ? v1::PHASE_PROXY_NEGOTIATION : v1::PHASE_TCP_CONNECT;
    case v1::OUTCOME_TLS_FAILURE:
      return proxied ? v1::PHASE_TLS : v1::PHASE_HANDSHAKE;
    default:
      return v1::PHASE_HANDSHAKE;
  }
}

void AddPhase(v1::Attempt* a, v1::Phase phase, absl::Duration d, bool completed) {
  v1::PhaseTiming* p = a->add_phases();
  p->set_phase(phase);
  *p->mutable_duration() = ToProtoDuration(d);
  p->set_completed(completed);
}

}  // namespace

uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

std::string RegionName(const FleetShape& shape, int region) {
  (void)shape;
  return kRegionNames[region % 6];
}
int RegionOfRelay(const FleetShape& shape, int relay) { return relay % shape.regions; }
std::string RelayName(const FleetShape& shape, int relay) {
  return absl::StrCat(RegionName(shape, RegionOfRelay(shape, relay)), "-",
                      relay / shape.regions + 1);
}
uint32_t PortNumber(int port) { return kPorts[port % 6]; }
v1::RouteKind RouteOf(int route) { return kRoutes[route % 6]; }
std::string SiteName(int site) { return absl::StrFormat("site-%05d", site); }

std::string CatalogueText(const FleetShape& shape) {
  std::string text = "name: \"bench\"\n";
  for (int r = 0; r < shape.regions; ++r) {
    absl::StrAppend(&text, "regions { id: \"", RegionName(shape, r), "\" display_name: \"",
                    RegionName(shape, r), "\"\n");
    for (int relay = r; relay < shape.relays; relay += shape.regions) {
      absl::StrAppend(&text, "  relays { id: \"", RelayName(shape, relay),
                      "\" addresses: \"198.51.100.", relay + 1, "\" ports: [");
      for (int p = 0; p < shape.ports; ++p) absl::StrAppend(&text, p ? ", " : "", PortNumber(p));
      absl::StrAppend(&text, "] }\n");
    }
    absl::StrAppend(&text, "}\n");
  }
  return text;
}

void FillAttempt(const FleetShape& shape, uint64_t session_seed, uint64_t sequence,
                 const std::string& session_id, absl::Time start, v1::Attempt* a) {
  a->Clear();
  // A diagnosis walks relays x ports x routes; sessions start at different
  // points of the plan so every combination is covered.
  const uint64_t step = session_seed + sequence - 1;
  const int relay = static_cast<int>(step % static_cast<uint64_t>(shape.relays));
  const int port = static_cast<int>((step / shape.relays) % static_cast<uint64_t>(shape.ports));
  const int route =
      static_cast<int>((step / shape.relays / shape.ports) % static_cast<uint64_t>(shape.routes));
  const uint64_t dice = Mix(session_seed * 1315423911u + sequence);
  const double u = static_cast<double>(dice >> 11) / static_cast<double>(1ull << 53);
  v1::Outcome outcome = v1::OUTCOME_OK;
  if (u >= shape.ok_share) {
    // Geometric-ish spread: the first failure outcomes are the common ones.
    const int pick = static_cast<int>((dice & 0xffff) % (kFailureCount * (kFailureCount + 1) / 2));
    int index = 0;
    for (int sum = kFailureCount; pick >= sum && index < kFailureCount - 1;) {
      ++index;
      sum += kFailureCount - index;
    }
    outcome = kFailures[index];
  }
  const v1::RouteKind kind = RouteOf(route);
  const bool proxied = kind != v1::ROUTE_KIND_DIRECT;

  a->set_session_id(session_id);
  a->set_sequence(sequence);
  *a->mutable_start_time() = ToProtoTimestamp(start + absl::Milliseconds(sequence * 25));
  a->set_region(RegionName(shape, RegionOfRelay(shape, relay)));
  a->set_relay(RelayName(shape, relay));
  a->set_address(absl::StrCat("198.51.100.", relay + 1));
  a->set_port(PortNumber(port));
  a->set_route_kind(kind);
  if (proxied) {
    v1::Proxy* proxy = a->mutable_proxy();
    proxy->set_kind(kind == v1::ROUTE_KIND_SOCKS5 ? v1::ROUTE_KIND_SOCKS5
                                                  : v1::ROUTE_KIND_HTTP_CONNECT);
    proxy->set_host("proxy.corp.example");
    proxy->set_port(kind == v1::ROUTE_KIND_SOCKS5 ? 1080 : 3128);
    proxy->set_source(v1::PROXY_SOURCE_PAC);
    proxy->set_source_detail("http://wpad.corp.example/wpad.dat");
    proxy->set_has_credentials(outcome != v1::OUTCOME_PROXY_AUTH_REQUIRED);
  }
  const v1::Phase failed =
      outcome == v1::OUTCOME_OK ? v1::PHASE_UNSPECIFIED : FailedPhase(outcome, proxied);
  const absl::Duration rtt = absl::Microseconds(2000 + static_cast<int64_t>(dice % 180000));
  absl::Duration total;
  for (v1::Phase phase : {v1::PHASE_DNS, v1::PHASE_TCP_CONNECT, v1::PHASE_PROXY_NEGOTIATION,
                          v1::PHASE_TLS, v1::PHASE_HANDSHAKE}) {
    if ((phase == v1::PHASE_PROXY_NEGOTIATION && !proxied) ||
        (phase == v1::PHASE_TLS && kind != v1::ROUTE_KIND_HTTPS_PROXY)) {
      continue;
    }
    const bool ends_here = phase == failed;
    absl::Duration d = phase == v1::PHASE_DNS ? rtt / 4 : rtt;
    if (ends_here &&
        (outcome == v1::OUTCOME_CONNECT_TIMEOUT || outcome == v1::OUTCOME_HANDSHAKE_TIMEOUT)) {
      d = absl::Seconds(5);
    }
    if (phase == v1::PHASE_HANDSHAKE) d = 2 * rtt;
    AddPhase(a, phase, d, !ends_here);
    total += d;
    if (ends_here) break;
  }
  *a->mutable_total_duration() = ToProtoDuration(total);
  a->set_outcome(outcome);
  a->set_failed_phase(failed);
  switch (outcome) {
    case v1::OUTCOME_PROXY_ERROR:
      a->set_proxy_status(302);
      break;
    case v1::OUTCOME_PROXY_AUTH_REQUIRED:
    case v1::OUTCOME_PROXY_AUTH_FAILED:
      a->set_proxy_status(407);
      break;
    case v1::OUTCOME_CONNECTION_REFUSED:
      a->set_os_error(111);
      a->set_os_error_name("ECONNREFUSED");
      break;
    case v1::OUTCOME_CONNECTION_RESET:
      a->set_os_error(104);
      a->set_os_error_name("ECONNRESET");
      break;
    case v1::OUTCOME_PROTOCOL_INTERFERENCE: {
      v1::InterferenceEvidence* e = a->mutable_interference();
      e->set_status_line("HTTP/1.0 400 Bad Request");
      e->set_page_title("Request Error");
      e->set_server("BlueCoat-Security-Appliance");
      e->set_excerpt("HTTP/1.0 400 Bad Request\\r\\nServer: BlueCoat-Security-Appliance");
      break;
    }
    default:
      break;
  }
  if (proxied && a->proxy_status() == 0 && outcome == v1::OUTCOME_OK) a->set_proxy_status(200);
  if (outcome == v1::OUTCOME_OK || failed == v1::PHASE_HANDSHAKE) {
    a->set_bytes_sent(768);
    a->set_bytes_received(outcome == v1::OUTCOME_OK ? 288 : 97);
  }
  a->set_detail(outcome == v1::OUTCOME_OK
                    ? "relay handshake verified"
                    : absl::StrCat(v1::Outcome_Name(outcome), " in ", v1::Phase_Name(failed)));
}

void FillSessionMetadata(const FleetShape& shape, const std::string& agent_id, int site,
                         const std::string& session_id, absl::Time start, v1::SessionReport* s) {
  s->Clear();
  v1::AgentInfo* agent = s->mutable_agent();
  agent->set_agent_id(agent_id);
  agent->set_version("0.1.0");
  agent->set_os("linux debian 12");
  agent->set_site(SiteName(site));
  s->set_session_id(session_id);
  *s->mutable_start_time() = ToProtoTimestamp(start);
  *s->mutable_end_time() = ToProtoTimestamp(start + absl::Seconds(5));
  s->set_catalogue("bench");
  for (v1::RouteKind kind : {v1::ROUTE_KIND_HTTP_CONNECT, v1::ROUTE_KIND_SOCKS5}) {
    v1::DiscoveredProxy* d = s->add_proxies();
    d->mutable_proxy()->set_kind(kind);
    d->mutable_proxy()->set_host("proxy.corp.example");
    d->mutable_proxy()->set_port(kind == v1::ROUTE_KIND_SOCKS5 ? 1080 : 3128);
    d->mutable_proxy()->set_source(v1::PROXY_SOURCE_PAC);
    d->mutable_proxy()->set_source_detail("http://wpad.corp.example/wpad.dat");
    d->add_bypass("*.corp.example");
  }
  v1::Verdict* verdict = s->mutable_verdict();
  verdict->set_status(v1::VERDICT_STATUS_DEGRADED);
  verdict->set_summary(absl::StrCat("Reachable through the proxy; no route to ",
                                    RegionName(shape, 0), " directly."));
  verdict->add_working(absl::StrCat(RelayName(shape, 1), " 198.51.100.2:443 via HTTP proxy"));
  v1::Blocker* b = verdict->add_blockers();
  b->set_region(RegionName(shape, 0));
  b->set_port(8200);
  b->set_outcome(v1::OUTCOME_CONNECT_TIMEOUT);
  b->set_explanation("No answer from 198.51.100.1:8200 (a firewall drops the connection).");
  b->set_advice("Allow outbound TCP to 198.51.100.1:8200.");
}

}  // namespace relayscope::bench
