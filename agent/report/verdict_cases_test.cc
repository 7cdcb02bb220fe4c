// The verdict over realistic multi-attempt sessions, one per class of
// network the agent meets: each case states the attempts as an agent
// records them and what a customer must read — the main cause, the hop it
// blames, the key words of its explanation and remedy, and what must not be
// said (the wrong hop, a retry counted as a failure).
#include <algorithm>
#include <functional>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "agent/report/verdict.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace relayscope::agent {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Two regions, two ports each, relays listed with their names (for the DNS
// check) and addresses.
v1::Catalogue Catalogue() {
  v1::Catalogue c;
  google::protobuf::TextFormat::ParseFromString(R"pb(
                                                  name: "cases"
                                                  regions {
                                                    id: "americas"
                                                    display_name: "Americas"
                                                    relays {
                                                      id: "americas-1"
                                                      host: "relay.americas.example"
                                                      addresses: "72.15.208.234"
                                                      ports: [ 8200, 443 ]
                                                    }
                                                  }
                                                  regions {
                                                    id: "emea"
                                                    display_name: "EMEA"
                                                    relays {
                                                      id: "emea-1"
                                                      host: "relay.emea.example"
                                                      addresses: "81.144.208.229"
                                                      ports: [ 8200, 443 ]
                                                    }
                                                  }
                                                )pb",
                                                &c);
  return c;
}

struct RelayAt {
  const char* region;
  const char* relay;
  const char* address;
};
constexpr RelayAt kAmericas{"americas", "americas-1", "72.15.208.234"};
constexpr RelayAt kEmea{"emea", "emea-1", "81.144.208.229"};

// An attempt as the agent records it; the route is DIRECT until Via().
class A {
 public:
  A(RelayAt at, uint32_t port, v1::Outcome outcome, int64_t millis = 40) {
    a_.set_region(at.region);
    a_.set_relay(at.relay);
    a_.set_address(at.address);
    a_.set_port(port);
    a_.set_route_kind(v1::ROUTE_KIND_DIRECT);
    a_.set_outcome(outcome);
    a_.mutable_total_duration()->set_seconds(millis / 1000);
    a_.mutable_total_duration()->set_nanos(static_cast<int32_t>((millis % 1000) * 1000000));
    if (outcome != v1::OUTCOME_OK) a_.set_failed_phase(v1::PHASE_TCP_CONNECT);
  }
  A& Via(v1::RouteKind kind, const char* host, uint32_t port, v1::ProxySource source,
         const char* detail) {
    a_.set_route_kind(kind);
    a_.mutable_proxy()->set_kind(kind);
    a_.mutable_proxy()->set_host(host);
    a_.mutable_proxy()->set_port(port);
    a_.mutable_proxy()->set_source(source);
    a_.mutable_proxy()->set_source_detail(detail);
    return *this;
  }
  A& Squid() {
    return Via(v1::ROUTE_KIND_HTTP_CONNECT, "10.0.0.8", 3128, v1::PROXY_SOURCE_ENV, "https_proxy");
  }
  A& Phase(v1::Phase phase) {
    a_.set_failed_phase(phase);
    return *this;
  }
  A& Status(uint32_t status, const char* line = "") {
    a_.set_proxy_status(status);
    if (*line != 0) a_.mutable_proxy_reply()->set_status_line(line);
    return *this;
  }
  A& Server(const char* server) {
    a_.mutable_proxy_reply()->set_server(server);
    return *this;
  }
  A& Socks(const char* meaning) {
    a_.mutable_proxy_reply()->set_socks_reply(meaning);
    return *this;
  }
  A& Offers(std::vector<v1::ProxyAuthScheme> schemes, const char* realm = "") {
    for (auto s : schemes) a_.mutable_proxy_auth()->add_offered(s);
    if (*realm != 0) a_.mutable_proxy_auth()->set_realm(realm);
    return *this;
  }
  A& Used(v1::ProxyAuthScheme scheme) {
    a_.mutable_proxy_auth()->set_used(scheme);
    a_.mutable_proxy()->set_has_credentials(true);
    return *this;
  }
  // How the route stands for the relay in the user's settings.
  A& Role(v1::RouteRole role, const char* bypass_entry = "",
          v1::ProxySource bypass_source = v1::PROXY_SOURCE_UNSPECIFIED) {
    a_.set_route_role(role);
    a_.set_bypass_entry(bypass_entry);
    a_.set_bypass_source(bypass_source);
    return *this;
  }
  A& Retried() {
    a_.set_retried(true);
    return *this;
  }
  A& Certificate(const char* subject, const char* issuer, bool trusted, const char* error) {
    v1::CertificateEvidence* c = a_.mutable_proxy_certificate();
    c->set_subject(subject);
    c->set_issuer(issuer);
    c->set_trusted(trusted);
    c->set_verify_error(error);
    return *this;
  }
  A& Dns(v1::DnsEvidence::Status status, const char* host, std::vector<const char*> answers) {
    a_.mutable_dns()->set_status(status);
    a_.mutable_dns()->set_host(host);
    for (const char* answer : answers) a_.mutable_dns()->add_answers(answer);
    return *this;
  }
  A& Detail(const char* detail) {
    a_.set_detail(detail);
    return *this;
  }
  A& Interference(const char* status_line, const char* title, const char* server) {
    a_.mutable_interference()->set_status_line(status_line);
    a_.mutable_interference()->set_page_title(title);
    a_.mutable_interference()->set_server(server);
    a_.set_failed_phase(v1::PHASE_HANDSHAKE);
    return *this;
  }
  operator v1::Attempt() const { return a_; }  // NOLINT: reads as a table

 private:
  v1::Attempt a_;
};

// DIRECT to every relay and port, all with `outcome`.
std::vector<v1::Attempt> DirectEverywhere(v1::Outcome outcome) {
  std::vector<v1::Attempt> out;
  for (RelayAt at : {kAmericas, kEmea}) {
    for (uint32_t port : {8200u, 443u}) out.push_back(A(at, port, outcome, 5000));
  }
  return out;
}

// Through `proxy` to every relay and port: `make` builds each attempt.
std::vector<v1::Attempt> ProxyEverywhere(const std::function<A(RelayAt, uint32_t)>& make) {
  std::vector<v1::Attempt> out;
  for (RelayAt at : {kAmericas, kEmea}) {
    for (uint32_t port : {8200u, 443u}) out.push_back(make(at, port));
  }
  return out;
}

std::vector<v1::Attempt> Join(std::vector<std::vector<v1::Attempt>> parts) {
  std::vector<v1::Attempt> out;
  for (auto& part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

struct Case {
  const char* name;
  std::vector<v1::Attempt> attempts;
  v1::VerdictStatus status;
  // The main cause (the first blocker that is not context); UNSPECIFIED
  // when there must be none.
  v1::CauseKind main_kind;
  v1::Hop main_hop;
  std::vector<std::string> explanation_has;
  std::vector<std::string> advice_has;
  // Not anywhere in the verdict's text (summary, working, every blocker
  // but context).
  std::vector<std::string> never_says;
  std::vector<std::string> summary_has = {};
  std::vector<std::string> working_has = {};
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

const v1::Blocker* MainCause(const v1::Verdict& v) {
  for (const v1::Blocker& b : v.blockers()) {
    if (!b.context()) return &b;
  }
  return nullptr;
}

// What the verdict says, but for context (DIRECT closed behind a proxy is
// stated as it is, and is not blamed).
std::string AllText(const v1::Verdict& v) {
  std::vector<std::string> parts = {v.summary()};
  for (const std::string& w : v.working()) parts.push_back(w);
  for (const v1::Blocker& b : v.blockers()) {
    if (b.context()) continue;
    parts.push_back(b.explanation());
    parts.push_back(b.advice());
  }
  return absl::StrJoin(parts, "\n");
}

std::vector<Case> Cases() {
  using v1::ProxySource;
  const auto pac_proxy = [](A a) {
    return a.Via(v1::ROUTE_KIND_HTTP_CONNECT, "127.0.12.100", 3128, v1::PROXY_SOURCE_PAC,
                 "http://wpad.corp.example/proxy.pac");
  };
  std::vector<Case> cases;

  cases.push_back(
      {"PacProxyDeadThenDirectOk",
       Join({ProxyEverywhere([&](RelayAt at, uint32_t port) {
               return pac_proxy(A(at, port, v1::OUTCOME_CONNECT_TIMEOUT, 5000))
                   .Phase(v1::PHASE_TCP_CONNECT);
             }),
             DirectEverywhere(v1::OUTCOME_OK)}),
       v1::VERDICT_STATUS_REACHABLE,
       v1::CAUSE_KIND_PROXY_UNREACHABLE,
       v1::HOP_PROXY,
       {"HTTP proxy 127.0.12.100:3128", "does not answer"},
       {"remove it from the PAC file http://wpad.corp.example/proxy.pac", "DIRECT works"},
       {"firewall is silently dropping", "allow outbound TCP"}});

  // no_proxy names emea-1: the user's software goes direct, which is
  // closed; the proxy it skips (tried as an alternative) works. The entry
  // is the cause, not the firewall.
  cases.push_back(
      {"NoProxySendsARelayDirectWhereOnlyTheProxyWorks",
       Join({{A(kEmea, 8200, v1::OUTCOME_CONNECT_TIMEOUT, 5000)
                  .Role(v1::ROUTE_ROLE_CONFIGURED, ".corp.example", v1::PROXY_SOURCE_ENV),
              A(kEmea, 443, v1::OUTCOME_CONNECT_TIMEOUT, 5000)
                  .Role(v1::ROUTE_ROLE_CONFIGURED, ".corp.example", v1::PROXY_SOURCE_ENV),
              A(kEmea, 8200, v1::OUTCOME_OK)
                  .Squid()
                  .Role(v1::ROUTE_ROLE_ALTERNATIVE, ".corp.example", v1::PROXY_SOURCE_ENV),
              A(kAmericas, 8200, v1::OUTCOME_OK).Squid().Role(v1::ROUTE_ROLE_CONFIGURED),
              A(kAmericas, 8200, v1::OUTCOME_CONNECT_TIMEOUT, 5000)
                  .Role(v1::ROUTE_ROLE_CONFIGURED)}}),
       v1::VERDICT_STATUS_REACHABLE,
       v1::CAUSE_KIND_BYPASS_SENDS_DIRECT,
       v1::HOP_LOCAL,
       {"no_proxy (environment) sends emea-1 direct, which is blocked",
        "through HTTP proxy 10.0.0.8:3128", "it works"},
       {"remove `.corp.example` from no_proxy (environment)"},
       {"firewall is silently dropping"}});

  // The same DIRECT failure without a bypass entry behind it is no
  // bypass cause.
  cases.push_back(
      {"DirectClosedWithoutABypassEntryIsNoBypassCause",
       Join({{A(kEmea, 8200, v1::OUTCOME_CONNECT_TIMEOUT, 5000).Role(v1::ROUTE_ROLE_CONFIGURED),
              A(kEmea, 8200, v1::OUTCOME_OK).Squid().Role(v1::ROUTE_ROLE_CONFIGURED),
              A(kAmericas, 8200, v1::OUTCOME_OK).Squid().Role(v1::ROUTE_ROLE_CONFIGURED)}}),
       v1::VERDICT_STATUS_REACHABLE,
       v1::CAUSE_KIND_UNSPECIFIED,
       v1::HOP_UNSPECIFIED,
       {},
       {},
       {"no_proxy", "remove `"}});

  cases.push_back({"ProxiedSiteWithDirectClosed",
                   Join({DirectEverywhere(v1::OUTCOME_CONNECT_TIMEOUT),
                         ProxyEverywhere([](RelayAt at, uint32_t port) {
                           return A(at, port, v1::OUTCOME_OK).Squid();
                         })}),
                   v1::VERDICT_STATUS_REACHABLE,
                   v1::CAUSE_KIND_UNSPECIFIED,
                   v1::HOP_UNSPECIFIED,
                   {},
                   {},
                   {"Main cause", "things are blocked"},
                   {"all 2 regions work", "DIRECT is closed, as usual"}});

  // DIRECT is not closed here (443 works): the closed port is a cause.
  cases.push_back({"DirectPortClosedWhereDirectOtherwiseWorks",
                   Join({{A(kEmea, 8200, v1::OUTCOME_CONNECT_TIMEOUT, 5000),
                          A(kEmea, 443, v1::OUTCOME_OK), A(kAmericas, 443, v1::OUTCOME_OK)},
                         ProxyEverywhere([](RelayAt at, uint32_t port) {
                           return A(at, port, v1::OUTCOME_OK).Squid();
                         })}),
                   v1::VERDICT_STATUS_REACHABLE,
                   v1::CAUSE_KIND_FIREWALL_DROP,
                   v1::HOP_NETWORK,
                   {"No answer from 81.144.208.229:8200"},
                   {"allow outbound TCP to 81.144.208.229:8200"},
                   {"DIRECT is closed"}});

  cases.push_back({"ProxiedSiteDirectClosedProxyWantsNtlm",
                   Join({DirectEverywhere(v1::OUTCOME_CONNECT_TIMEOUT),
                         ProxyEverywhere([](RelayAt at, uint32_t port) {
                           return A(at, port, v1::OUTCOME_PROXY_AUTH_REQUIRED)
                               .Squid()
                               .Phase(v1::PHASE_PROXY_NEGOTIATION)
                               .Status(407, "HTTP/1.1 407 Proxy Authentication Required")
                               .Offers({v1::PROXY_AUTH_SCHEME_NTLM});
                         })}),
                   v1::VERDICT_STATUS_UNREACHABLE,
                   v1::CAUSE_KIND_PROXY_AUTH_REQUIRED,
                   v1::HOP_PROXY,
                   {"requires authentication", "NTLM"},
                   {"Windows domain account", "--proxy-user DOMAIN\\user"},
                   {"Main cause: No answer"},
                   {"Main cause: The HTTP proxy 10.0.0.8:3128", "DIRECT is closed"}});

  cases.push_back(
      {"ChallengeThenCredentialsThenOk",
       Join({{A(kEmea, 443, v1::OUTCOME_PROXY_AUTH_REQUIRED)
                  .Squid()
                  .Phase(v1::PHASE_PROXY_NEGOTIATION)
                  .Status(407)
                  .Offers({v1::PROXY_AUTH_SCHEME_BASIC}, "corp")
                  .Retried(),
              A(kEmea, 443, v1::OUTCOME_OK).Squid().Used(v1::PROXY_AUTH_SCHEME_BASIC),
              A(kAmericas, 443, v1::OUTCOME_OK).Squid().Used(v1::PROXY_AUTH_SCHEME_BASIC)}}),
       v1::VERDICT_STATUS_REACHABLE,
       v1::CAUSE_KIND_UNSPECIFIED,
       v1::HOP_UNSPECIFIED,
       {},
       {},
       {"no credentials were given", "blocked"},
       {"all 2 regions work"},
       {"asked for Basic and accepted the credentials given"}});

  cases.push_back(
      {"ChallengeThenWrongCredentials",
       {A(kEmea, 443, v1::OUTCOME_PROXY_AUTH_REQUIRED)
            .Squid()
            .Phase(v1::PHASE_PROXY_NEGOTIATION)
            .Status(407)
            .Offers({v1::PROXY_AUTH_SCHEME_BASIC}, "corp")
            .Retried(),
        A(kEmea, 443, v1::OUTCOME_PROXY_AUTH_FAILED)
            .Squid()
            .Phase(v1::PHASE_PROXY_NEGOTIATION)
            .Status(407)
            .Used(v1::PROXY_AUTH_SCHEME_BASIC),
        A(kAmericas, 443, v1::OUTCOME_PROXY_AUTH_FAILED)
            .Squid()
            .Phase(v1::PHASE_PROXY_NEGOTIATION)
            .Status(407)
            .Used(v1::PROXY_AUTH_SCHEME_BASIC)},
       v1::VERDICT_STATUS_UNREACHABLE,
       v1::CAUSE_KIND_PROXY_AUTH_REJECTED,
       v1::HOP_PROXY,
       {"rejected the credentials sent with Basic", "it offers Basic", "realm \"corp\""},
       {"Check the user name and password", "--proxy-user"},
       {"no credentials were given"}});

  cases.push_back({"NtlmOnlyProxyWithoutDirect",
                   ProxyEverywhere([](RelayAt at, uint32_t port) {
                     return A(at, port, v1::OUTCOME_PROXY_AUTH_REQUIRED)
                         .Squid()
                         .Phase(v1::PHASE_PROXY_NEGOTIATION)
                         .Status(407)
                         .Offers({v1::PROXY_AUTH_SCHEME_NTLM, v1::PROXY_AUTH_SCHEME_NEGOTIATE});
                   }),
                   v1::VERDICT_STATUS_UNREACHABLE,
                   v1::CAUSE_KIND_PROXY_AUTH_REQUIRED,
                   v1::HOP_PROXY,
                   {"it offers NTLM, Negotiate"},
                   {"--proxy-user DOMAIN\\user"},
                   {"firewall"}});

  cases.push_back({"InspectingHttpsProxy",
                   Join({DirectEverywhere(v1::OUTCOME_CONNECTION_REFUSED),
                         ProxyEverywhere([](RelayAt at, uint32_t port) {
                           return A(at, port, v1::OUTCOME_TLS_FAILURE)
                               .Via(v1::ROUTE_KIND_HTTPS_PROXY, "127.0.12.100", 3129,
                                    v1::PROXY_SOURCE_FLAG, "")
                               .Phase(v1::PHASE_TLS)
                               .Certificate("CN=127.0.12.100", "CN=Example Inspection CA,O=Example",
                                            false, "unable to get local issuer certificate")
                               .Detail("proxy 127.0.12.100:3129: SSL certificate problem");
                         })}),
                   v1::VERDICT_STATUS_UNREACHABLE,
                   v1::CAUSE_KIND_PROXY_CERTIFICATE_UNTRUSTED,
                   v1::HOP_PROXY,
                   {"HTTPS proxy 127.0.12.100:3129",
                    "presents a certificate issued by 'CN=Example Inspection CA,O=Example'",
                    "which this machine does not trust", "unable to get local issuer certificate"},
                   {"--proxy-ca FILE"},
                   {"--proxy_ca"}});

  cases.push_back({"HangingProxyDirectOk",
                   Join({ProxyEverywhere([](RelayAt at, uint32_t port) {
                           return A(at, port, v1::OUTCOME_CONNECT_TIMEOUT, 5000)
                               .Squid()
                               .Phase(v1::PHASE_PROXY_NEGOTIATION);
                         }),
                         DirectEverywhere(v1::OUTCOME_OK)}),
                   v1::VERDICT_STATUS_REACHABLE,
                   v1::CAUSE_KIND_PROXY_BROKEN,
                   v1::HOP_PROXY,
                   {"HTTP proxy 10.0.0.8:3128", "did not answer CONNECT", "5000 ms"},
                   {"check the proxy", "environment variable https_proxy", "DIRECT works"},
                   {"firewall", "allow outbound TCP"}});

  cases.push_back(
      {"ProxyAnswers200ThenRelaysNothing",
       Join({DirectEverywhere(v1::OUTCOME_CONNECT_TIMEOUT),
             ProxyEverywhere([](RelayAt at, uint32_t port) {
               return A(at, port, v1::OUTCOME_HANDSHAKE_TIMEOUT, 5000)
                   .Squid()
                   .Phase(v1::PHASE_HANDSHAKE)
                   .Status(200, "HTTP/1.1 200 Connection established")
                   .Server("FakeBox/1.0");
             })}),
       v1::VERDICT_STATUS_UNREACHABLE,
       v1::CAUSE_KIND_PROXY_BROKEN,
       v1::HOP_PROXY,
       {"HTTP proxy 10.0.0.8:3128", "accepted CONNECT",
        "HTTP/1.1 200 Connection established, Server: FakeBox/1.0", "relayed nothing back"},
       {"pass unmodified"},
       {"a device in the path holds"}});

  cases.push_back(
      {"DnsSinkhole",
       {A(kEmea, 443, v1::OUTCOME_OK)
            .Dns(v1::DnsEvidence::STATUS_SINKHOLE, "relay.emea.example", {"0.0.0.0"}),
        A(kAmericas, 443, v1::OUTCOME_OK)
            .Dns(v1::DnsEvidence::STATUS_CONSISTENT, "relay.americas.example", {"72.15.208.234"})},
       v1::VERDICT_STATUS_REACHABLE,
       v1::CAUSE_KIND_DNS_FILTERED,
       v1::HOP_LOCAL,
       {"relay.emea.example resolves to 0.0.0.0", "sinkhole", "the catalogue lists 81.144.208.229"},
       {"stop filtering relay.emea.example"},
       {"relay.americas.example"}});

  cases.push_back(
      {"SocksRefusedByRuleset",
       Join({DirectEverywhere(v1::OUTCOME_CONNECT_TIMEOUT),
             ProxyEverywhere([](RelayAt at, uint32_t port) {
               return A(at, port, v1::OUTCOME_PROXY_ERROR)
                   .Via(v1::ROUTE_KIND_SOCKS5, "10.0.0.9", 1080, v1::PROXY_SOURCE_KDE, "kioslaverc")
                   .Phase(v1::PHASE_PROXY_NEGOTIATION)
                   .Status(2)
                   .Socks("SOCKS5 reply 2: connection not allowed by ruleset");
             })}),
       v1::VERDICT_STATUS_UNREACHABLE,
       v1::CAUSE_KIND_PROXY_DENIED,
       v1::HOP_PROXY,
       {"SOCKS5 proxy 10.0.0.9:1080", "SOCKS5 reply 2: connection not allowed by ruleset"},
       {"allow connections to"},
       {"firewall is silently"}});

  cases.push_back(
      {"ProxyCannotReachTheRelay",
       ProxyEverywhere([](RelayAt at, uint32_t port) {
         return A(at, port, v1::OUTCOME_PROXY_ERROR)
             .Squid()
             .Phase(v1::PHASE_PROXY_NEGOTIATION)
             .Status(503, "HTTP/1.1 503 Service Unavailable")
             .Server("squid/5.7");
       }),
       v1::VERDICT_STATUS_UNREACHABLE,
       v1::CAUSE_KIND_PROXY_UPSTREAM_FAILED,
       v1::HOP_RELAY,
       {"cannot reach", "itself", "HTTP/1.1 503 Service Unavailable, Server: squid/5.7"},
       {"the proxy's own outbound firewall"},
       {}});

  cases.push_back(
      {"ProxyForbidsNamesItsProduct",
       {A(kEmea, 8200, v1::OUTCOME_PROXY_ERROR)
            .Squid()
            .Phase(v1::PHASE_PROXY_NEGOTIATION)
            .Status(403, "HTTP/1.1 403 Forbidden")
            .Server("squid/5.7"),
        A(kEmea, 443, v1::OUTCOME_OK).Squid(), A(kAmericas, 443, v1::OUTCOME_OK).Squid()},
       v1::VERDICT_STATUS_REACHABLE,
       v1::CAUSE_KIND_PROXY_DENIED,
       v1::HOP_PROXY,
       {"refuses CONNECT to 81.144.208.229:8200", "HTTP/1.1 403 Forbidden, Server: squid/5.7"},
       {"allow CONNECT to 81.144.208.229:8200"},
       {}});

  cases.push_back({"TransparentProxyNamed",
                   {A(kEmea, 443, v1::OUTCOME_PROTOCOL_INTERFERENCE)
                        .Interference("HTTP/1.0 400 Bad Request", "Request Error", "BlueCoat-SG"),
                    A(kEmea, 8200, v1::OUTCOME_OK), A(kAmericas, 443, v1::OUTCOME_OK)},
                   v1::VERDICT_STATUS_REACHABLE,
                   v1::CAUSE_KIND_INTERCEPTED,
                   v1::HOP_NETWORK,
                   {"HTTP/1.0 400 Bad Request \"Request Error\", Server: BlueCoat-SG"},
                   {"exempted from HTTP interception"},
                   {}});

  cases.push_back({"OutOfRangeR2IsAFakeRelay",
                   {A(kEmea, 443, v1::OUTCOME_HANDSHAKE_INVALID)
                        .Phase(v1::PHASE_HANDSHAKE)
                        .Detail("R2 is out of range"),
                    A(kAmericas, 443, v1::OUTCOME_OK)},
                   v1::VERDICT_STATUS_DEGRADED,
                   v1::CAUSE_KIND_INVALID_REPLY,
                   v1::HOP_RELAY,
                   {"not a valid relay reply", "broken or fake relay"},
                   {"really a relay"},
                   {"in transit"},
                   {"1 of 2 regions work; no route to EMEA"}});

  // The cause that leaves a region without any route outranks one that
  // only closes a port where another port works, whatever the enum order
  // (FIREWALL_DROP comes before FIREWALL_REJECT).
  cases.push_back(
      {"RegionImpactOutranksEnumOrder",
       {A(kAmericas, 8200, v1::OUTCOME_CONNECT_TIMEOUT), A(kAmericas, 443, v1::OUTCOME_OK),
        A(kEmea, 8200, v1::OUTCOME_CONNECTION_REFUSED),
        A(kEmea, 443, v1::OUTCOME_CONNECTION_REFUSED)},
       v1::VERDICT_STATUS_DEGRADED,
       v1::CAUSE_KIND_FIREWALL_REJECT,
       v1::HOP_NETWORK,
       {"81.144.208.229:443 refused the connection"},
       {"allow outbound TCP to 81.144.208.229:443"},
       {},
       {"no route to EMEA. Main cause: 81.144.208.229:443 refused"}});
  // With equal impact the earlier hop and then the kind decide, never the
  // order the attempts came in (checked by the order test below).
  cases.push_back(
      {"EqualImpactFallsToTheDocumentedTieBreak",
       {A(kEmea, 8200, v1::OUTCOME_CONNECTION_REFUSED),
        A(kEmea, 443, v1::OUTCOME_NETWORK_UNREACHABLE), A(kAmericas, 443, v1::OUTCOME_OK)},
       v1::VERDICT_STATUS_DEGRADED,
       v1::CAUSE_KIND_NO_ROUTE,
       v1::HOP_LOCAL,
       {"no route from this machine to 81.144.208.229:443"},
       {"routing, VPN or default gateway"},
       {}});
  return cases;
}

class VerdictCase : public ::testing::TestWithParam<Case> {};

TEST_P(VerdictCase, NamesTheMainCauseItsHopAndTheRemedy) {
  const Case& c = GetParam();
  const v1::Verdict v = ComputeVerdict(Catalogue(), c.attempts);
  const std::string all = AllText(v);
  SCOPED_TRACE(all);
  EXPECT_EQ(v.status(), c.status);
  const v1::Blocker* main = MainCause(v);
  if (c.main_kind == v1::CAUSE_KIND_UNSPECIFIED) {
    EXPECT_EQ(main, nullptr);
  } else {
    ASSERT_NE(main, nullptr);
    EXPECT_EQ(main->kind(), c.main_kind) << v1::CauseKind_Name(main->kind());
    EXPECT_EQ(main->hop(), c.main_hop) << v1::Hop_Name(main->hop());
    for (const std::string& w : c.explanation_has) EXPECT_THAT(main->explanation(), HasSubstr(w));
    for (const std::string& w : c.advice_has) EXPECT_THAT(main->advice(), HasSubstr(w));
  }
  for (const std::string& w : c.never_says) EXPECT_THAT(all, Not(HasSubstr(w)));
  for (const std::string& w : c.summary_has) EXPECT_THAT(v.summary(), HasSubstr(w));
  for (const std::string& w : c.working_has) {
    EXPECT_THAT(absl::StrJoin(v.working(), "\n"), HasSubstr(w));
  }
}

// The same attempts in any order give the same verdict.
TEST_P(VerdictCase, DoesNotDependOnTheOrderOfUnrelatedAttempts) {
  const Case& c = GetParam();
  const v1::Verdict reference = ComputeVerdict(Catalogue(), c.attempts);
  std::vector<v1::Attempt> shuffled = c.attempts;
  std::mt19937 random(7);
  for (int round = 0; round < 5; ++round) {
    std::shuffle(shuffled.begin(), shuffled.end(), random);
    // A retry still follows its 407: move each 407 before its route's retry.
    for (size_t i = 0; i < shuffled.size(); ++i) {
      if (!shuffled[i].retried()) continue;
      for (size_t j = 0; j < i; ++j) {
        if (shuffled[j].relay() == shuffled[i].relay() &&
            shuffled[j].port() == shuffled[i].port() &&
            shuffled[j].route_kind() == shuffled[i].route_kind()) {
          std::swap(shuffled[i], shuffled[j]);
          break;
        }
      }
    }
    const v1::Verdict again = ComputeVerdict(Catalogue(), shuffled);
    ASSERT_EQ(again.blockers_size(), reference.blockers_size());
    for (int i = 0; i < reference.blockers_size(); ++i) {
      EXPECT_EQ(again.blockers(i).kind(), reference.blockers(i).kind()) << i;
      EXPECT_EQ(again.blockers(i).explanation(), reference.blockers(i).explanation()) << i;
    }
    EXPECT_EQ(again.status(), reference.status());
  }
}

INSTANTIATE_TEST_SUITE_P(Sessions, VerdictCase, ::testing::ValuesIn(Cases()),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(VerdictWording, OneRegionAndOneAttemptAreSingular) {
  v1::Catalogue one;
  *one.add_regions() = Catalogue().regions(1);
  v1::Verdict ok = ComputeVerdict(one, {A(kEmea, 443, v1::OUTCOME_OK)});
  EXPECT_THAT(ok.summary(), HasSubstr("the one region works"));
  EXPECT_THAT(ok.summary(), Not(HasSubstr("all 1 regions")));
  v1::Verdict down = ComputeVerdict(one, {A(kEmea, 443, v1::OUTCOME_CONNECTION_REFUSED)});
  EXPECT_THAT(down.summary(), HasSubstr("(1 attempt)"));
}

TEST(VerdictStructure, CausesCarryScopeImpactAndEvidence) {
  const v1::Verdict v =
      ComputeVerdict(Catalogue(), Join({ProxyEverywhere([](RelayAt at, uint32_t port) {
                                          return A(at, port, v1::OUTCOME_PROXY_AUTH_REQUIRED)
                                              .Squid()
                                              .Phase(v1::PHASE_PROXY_NEGOTIATION)
                                              .Status(407)
                                              .Offers({v1::PROXY_AUTH_SCHEME_NTLM});
                                        }),
                                        DirectEverywhere(v1::OUTCOME_CONNECT_TIMEOUT)}));
  ASSERT_EQ(v.blockers_size(), 3);  // the proxy, then DIRECT closed on 443 and 8200
  const v1::Blocker& auth = v.blockers(0);
  EXPECT_EQ(auth.kind(), v1::CAUSE_KIND_PROXY_AUTH_REQUIRED);
  EXPECT_FALSE(auth.context());
  EXPECT_EQ(auth.proxy().host(), "10.0.0.8");
  EXPECT_EQ(auth.proxy().source(), v1::PROXY_SOURCE_ENV);
  EXPECT_EQ(auth.regions_blocked(), 2u);
  EXPECT_EQ(auth.routes_blocked(), 4u);
  EXPECT_EQ(auth.attempts(), 4u);
  EXPECT_THAT(auth.relays(), ::testing::ElementsAre("americas-1", "emea-1"));
  EXPECT_THAT(auth.ports(), ::testing::ElementsAre(443u, 8200u));
  EXPECT_EQ(auth.port(), 0u);  // every port
  EXPECT_EQ(auth.evidence().proxy_status(), 407u);
  ASSERT_EQ(auth.evidence().proxy_auth().offered_size(), 1);
  EXPECT_EQ(auth.evidence().proxy_auth().offered(0), v1::PROXY_AUTH_SCHEME_NTLM);
  // DIRECT closed is context, after the cause, one per port.
  for (int i : {1, 2}) {
    EXPECT_TRUE(v.blockers(i).context());
    EXPECT_EQ(v.blockers(i).kind(), v1::CAUSE_KIND_FIREWALL_DROP);
    EXPECT_EQ(v.blockers(i).hop(), v1::HOP_NETWORK);
  }
  EXPECT_EQ(v.blockers(1).port(), 443u);
  EXPECT_EQ(v.blockers(2).port(), 8200u);
}

TEST(VerdictStructure, RetriedChallengeIsNotCountedAsAnAttemptOfTheCause) {
  const v1::Verdict v = ComputeVerdict(Catalogue(), {A(kEmea, 443, v1::OUTCOME_PROXY_AUTH_REQUIRED)
                                                         .Squid()
                                                         .Phase(v1::PHASE_PROXY_NEGOTIATION)
                                                         .Status(407)
                                                         .Retried(),
                                                     A(kEmea, 443, v1::OUTCOME_PROXY_AUTH_FAILED)
                                                         .Squid()
                                                         .Phase(v1::PHASE_PROXY_NEGOTIATION)
                                                         .Status(407)});
  ASSERT_EQ(v.blockers_size(), 1);
  EXPECT_EQ(v.blockers(0).kind(), v1::CAUSE_KIND_PROXY_AUTH_REJECTED);
  EXPECT_EQ(v.blockers(0).attempts(), 1u);
}

// Every sentence stays within what the collector accepts, however long the
// proxy's words and the setting's name are (each already at its own bound).
TEST(VerdictStructure, LongEvidenceKeepsSentencesWithinTheCollectorsBounds) {
  const std::string detail(512, 'd');
  const std::string words(256, 'w');
  v1::Attempt a =
      A(kEmea, 443, v1::OUTCOME_PROXY_ERROR)
          .Via(v1::ROUTE_KIND_HTTP_CONNECT, "10.0.0.8", 3128, v1::PROXY_SOURCE_PAC, detail.c_str())
          .Phase(v1::PHASE_PROXY_NEGOTIATION)
          .Status(403, words.c_str())
          .Server(words.c_str());
  a.mutable_proxy_reply()->set_via(words + "\xc3\xa9");
  const v1::Verdict v = ComputeVerdict(Catalogue(), {a});
  ASSERT_EQ(v.blockers_size(), 1);
  EXPECT_LE(v.blockers(0).explanation().size(), 1024u);
  EXPECT_LE(v.blockers(0).advice().size(), 1024u);
  EXPECT_LE(v.summary().size(), 2048u);
  EXPECT_TRUE(absl::EndsWith(v.blockers(0).explanation(), "..."));
}

}  // namespace
}  // namespace relayscope::agent
