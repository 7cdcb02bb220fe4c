// The seed scenario, end to end on the rig: port 8200 dropped on two relays,
// "port 80" answered by a transparent proxy, and an HTTP proxy that wants
// credentials (asked for slowly, right or wrong). The diagnosis names each
// and costs about one timeout. And the DNS check against a sinkholed name.
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/session/diagnose.h"
#include "common/proto_time.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "relay/relay_server.h"
#include "tests/rig/firewall.h"
#include "tests/rig/fixture.h"
#include "tests/rig/hosts_override.h"
#include "tests/rig/interceptor.h"
#include "tests/rig/squid.h"

namespace relayscope::agent {
namespace {

using ::testing::HasSubstr;

constexpr char kCatalogue[] = R"pb(
  name: "seed"
  regions {
    id: "americas"
    display_name: "Americas"
    relays {
      id: "americas-1"
      addresses: "127.0.11.1"
      ports: [ 8200, 8080 ]
    }
  }
  regions {
    id: "emea"
    display_name: "EMEA"
    relays {
      id: "emea-1"
      addresses: "127.0.12.1"
      ports: [ 8200, 8443, 8080 ]
    }
  }
)pb";

class SeedScenario : public rig::RigTest {
 protected:
  void SetUp() override {
    RigTest::SetUp();
    if (IsSkipped()) return;
    ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(kCatalogue, &catalogue_));
    relay::RelayOptions options;
    // emea-1:8080 is taken by the transparent proxy below.
    options.listen = {"127.0.11.1:8200", "127.0.11.1:8080", "127.0.12.1:8200", "127.0.12.1:8443"};
    auto relay = relay::RelayServer::Start(options, nullptr);
    ASSERT_TRUE(relay.ok()) << relay.status();
    relay_ = *std::move(relay);
    rig::Interceptor::Options interceptor;
    interceptor.address = "127.0.12.1";
    interceptor.port = 8080;
    interceptor.read_bytes = 768;
    auto started = rig::Interceptor::Start(interceptor);
    ASSERT_TRUE(started.ok()) << started.status();
    interceptor_ = *std::move(started);
    ASSERT_TRUE(firewall_.Drop("127.0.11.1", 8200).ok());
    ASSERT_TRUE(firewall_.Drop("127.0.12.1", 8200).ok());
  }
  void TearDown() override {
    interceptor_.reset();
    relay_.reset();
    firewall_.Clear();
    RigTest::TearDown();
  }

  v1::SessionReport Run(const std::vector<Route>& routes, bool sequential) {
    DiagnoseOptions options;
    options.race.attempt_timeout = absl::Seconds(1);
    options.race.stagger = absl::Milliseconds(50);
    options.race.sequential = sequential;
    options.agent.set_agent_id("test-agent");
    return Diagnose(catalogue_, routes, {}, options);
  }

  v1::Catalogue catalogue_;
  std::unique_ptr<relay::RelayServer> relay_;
  std::unique_ptr<rig::Interceptor> interceptor_;
  rig::Firewall firewall_;
};

// Squid on 127.0.20.1:3128 wanting Basic credentials alice/"correct horse".
absl::StatusOr<std::unique_ptr<rig::Squid>> StartSquidForAlice(const std::string& dir) {
  rig::Squid::Options options;
  options.address = "127.0.20.1";
  options.users = {{"alice", "correct horse"}};
  return rig::Squid::Start(options, dir);
}

const v1::Attempt& Find(const v1::SessionReport& report, const std::string& relay, uint32_t port) {
  for (const v1::Attempt& a : report.attempts()) {
    if (a.relay() == relay && a.port() == port) return a;
  }
  static const v1::Attempt kNone;
  ADD_FAILURE() << "no attempt for " << relay << ":" << port;
  return kNone;
}

TEST_F(SeedScenario, DirectDiagnosisNamesEveryBlockerInAboutOneTimeout) {
  const absl::Time start = absl::Now();
  v1::SessionReport report = Run({DirectRoute()}, /*sequential=*/false);
  const absl::Duration raced = absl::Now() - start;

  ASSERT_EQ(report.attempts_size(), 5);
  EXPECT_EQ(Find(report, "americas-1", 8200).outcome(), v1::OUTCOME_CONNECT_TIMEOUT);
  EXPECT_EQ(Find(report, "emea-1", 8200).outcome(), v1::OUTCOME_CONNECT_TIMEOUT);
  EXPECT_EQ(Find(report, "americas-1", 8080).outcome(), v1::OUTCOME_OK);
  EXPECT_EQ(Find(report, "emea-1", 8443).outcome(), v1::OUTCOME_OK);
  const v1::Attempt& intercepted = Find(report, "emea-1", 8080);
  EXPECT_EQ(intercepted.outcome(), v1::OUTCOME_PROTOCOL_INTERFERENCE);
  EXPECT_EQ(intercepted.interference().page_title(), "Request Error");
  for (int i = 0; i < report.attempts_size(); ++i) {
    EXPECT_EQ(report.attempts(i).sequence(), static_cast<uint64_t>(i + 1));
    EXPECT_EQ(report.attempts(i).session_id(), report.session_id());
  }

  EXPECT_EQ(report.verdict().status(), v1::VERDICT_STATUS_REACHABLE);
  ASSERT_EQ(report.verdict().blockers_size(), 2);
  EXPECT_THAT(report.verdict().blockers(0).advice(), HasSubstr("outbound TCP port 8200"));
  EXPECT_THAT(report.verdict().blockers(1).explanation(),
              HasSubstr("HTTP/1.0 400 Bad Request \"Request Error\""));

  // Two dropped ports cost one timeout, not two (the seed lost 37 s here).
  EXPECT_LT(raced, absl::Milliseconds(1900)) << raced;
  const absl::Time sequential_start = absl::Now();
  Run({DirectRoute()}, /*sequential=*/true);
  const absl::Duration sequential = absl::Now() - sequential_start;
  EXPECT_GE(sequential, absl::Seconds(2));
  EXPECT_LT(raced * 1.5, sequential) << "raced " << raced << " sequential " << sequential;
}

Route ProxyRoute(const std::string& host, uint16_t port) {
  ProxyUrl url;
  url.kind = v1::ROUTE_KIND_HTTP_CONNECT;
  url.host = host;
  url.port = port;
  return agent::ProxyRoute(url, v1::PROXY_SOURCE_FLAG, "");
}

TEST_F(SeedScenario, ProxyAuthIsAskedOnceOnFirst407ThenRetriedWithCredentials) {
  auto squid = StartSquidForAlice(dir());
  ASSERT_TRUE(squid.ok()) << squid.status();

  // Nobody to ask: the 407 stands.
  v1::SessionReport refused = Run({ProxyRoute("127.0.20.1", 3128)}, false);
  EXPECT_EQ(Find(refused, "emea-1", 8443).outcome(), v1::OUTCOME_PROXY_AUTH_REQUIRED);
  EXPECT_EQ(refused.verdict().status(), v1::VERDICT_STATUS_UNREACHABLE);
  EXPECT_THAT(refused.verdict().summary(),
              HasSubstr("requires authentication (407; it offers Basic, realm \"relayscope-rig\") "
                        "and no credentials were given"));

  // The user answers once; the challenged attempt is retried and works.
  DiagnoseOptions options;
  options.race.attempt_timeout = absl::Seconds(1);
  options.race.stagger = absl::Milliseconds(50);
  std::atomic<int> asked{0};
  options.ask_credentials = [&](const v1::Proxy& proxy) {
    ++asked;
    EXPECT_EQ(proxy.host(), "127.0.20.1");
    return std::make_optional(std::make_pair(std::string("alice"), std::string("correct horse")));
  };
  v1::SessionReport accepted = Diagnose(catalogue_, {ProxyRoute("127.0.20.1", 3128)}, {}, options);
  EXPECT_EQ(asked.load(), 1);
  int challenges = 0, ok_with_credentials = 0;
  for (const v1::Attempt& a : accepted.attempts()) {
    if (a.outcome() == v1::OUTCOME_PROXY_AUTH_REQUIRED) {
      ++challenges;
      EXPECT_FALSE(a.proxy().has_credentials());
    }
    if (a.outcome() == v1::OUTCOME_OK) {
      ++ok_with_credentials;
      EXPECT_TRUE(a.proxy().has_credentials());
    }
  }
  EXPECT_GE(challenges, 1);  // the 407 stays in the telemetry
  for (const v1::Attempt& a : accepted.attempts()) {
    EXPECT_EQ(a.retried(), a.outcome() == v1::OUTCOME_PROXY_AUTH_REQUIRED) << a.ShortDebugString();
  }
  // emea-1:8443 and americas-1:8080; both 8200s are dropped and emea-1:8080
  // is intercepted.
  EXPECT_EQ(ok_with_credentials, 2);
  for (int i = 0; i < accepted.attempts_size(); ++i) {
    EXPECT_EQ(accepted.attempts(i).sequence(), static_cast<uint64_t>(i + 1));
  }
  EXPECT_EQ(accepted.verdict().status(), v1::VERDICT_STATUS_REACHABLE);
  EXPECT_THAT(accepted.SerializeAsString(), ::testing::Not(HasSubstr("correct horse")));
}

TEST_F(SeedScenario, ProxyRedirectFallsBackToDirect) {
  rig::Squid::Options squid_options;
  squid_options.address = "127.0.20.1";
  squid_options.redirect_ports = {8443};
  auto squid = rig::Squid::Start(squid_options, dir());
  ASSERT_TRUE(squid.ok()) << squid.status();
  v1::SessionReport report = Run({ProxyRoute("127.0.20.1", 3128), DirectRoute()}, false);
  int via_proxy_302 = 0, direct_ok = 0;
  for (const v1::Attempt& a : report.attempts()) {
    if (a.relay() != "emea-1" || a.port() != 8443) continue;
    if (a.route_kind() == v1::ROUTE_KIND_HTTP_CONNECT) {
      EXPECT_EQ(a.outcome(), v1::OUTCOME_PROXY_ERROR);
      EXPECT_EQ(a.proxy_status(), 302u);
      ++via_proxy_302;
    } else if (a.outcome() == v1::OUTCOME_OK) {
      ++direct_ok;
    }
  }
  EXPECT_EQ(via_proxy_302, 1);
  EXPECT_EQ(direct_ok, 1);
  EXPECT_EQ(report.verdict().status(), v1::VERDICT_STATUS_REACHABLE);
  bool named = false;
  for (const v1::Blocker& b : report.verdict().blockers()) {
    named |= absl::StrContains(
        b.explanation(), "redirects CONNECT to port 8443 (HTTP/1.1 302 Found, Server: squid/");
  }
  EXPECT_TRUE(named);
}

// The attempts on relay:port over one kind of route, in start order.
std::vector<v1::Attempt> On(const v1::SessionReport& report, const std::string& relay,
                            uint32_t port, v1::RouteKind kind) {
  std::vector<v1::Attempt> out;
  for (const v1::Attempt& a : report.attempts()) {
    if (a.relay() == relay && a.port() == port && a.route_kind() == kind) out.push_back(a);
  }
  return out;
}

DiagnoseOptions SlowPromptOptions(std::atomic<int>* asked, std::string password) {
  DiagnoseOptions options;
  options.race.attempt_timeout = absl::Seconds(1);
  options.race.stagger = absl::Milliseconds(50);
  options.ask_credentials = [asked, password](const v1::Proxy&) {
    ++*asked;
    absl::SleepFor(absl::Seconds(3));  // the user types slowly
    return std::make_optional(std::make_pair(std::string("alice"), password));
  };
  return options;
}

TEST_F(SeedScenario, ASlowPasswordPromptLeavesDirectWorkingAndTheProxyRouteEndsOkAfterTheRetry) {
  auto squid = StartSquidForAlice(dir());
  ASSERT_TRUE(squid.ok()) << squid.status();
  std::atomic<int> asked{0};
  const absl::Time start = absl::Now();
  v1::SessionReport report = Diagnose(catalogue_, {ProxyRoute("127.0.20.1", 3128), DirectRoute()},
                                      {}, SlowPromptOptions(&asked, "correct horse"));
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(asked.load(), 1);
  // DIRECT raced on while the user typed: the working ports are OK, not
  // timeouts, and took no prompt time.
  for (const auto& [relay, port] :
       {std::pair<std::string, uint32_t>{"americas-1", 8080}, {"emea-1", 8443}}) {
    const auto direct = On(report, relay, port, v1::ROUTE_KIND_DIRECT);
    ASSERT_EQ(direct.size(), 1u) << relay << ":" << port;
    EXPECT_EQ(direct[0].outcome(), v1::OUTCOME_OK) << direct[0].ShortDebugString();
    EXPECT_LT(FromProtoDuration(direct[0].total_duration()), absl::Seconds(1));
    // Through squid: the 407, marked retried, then its retry, which works.
    const auto proxied = On(report, relay, port, v1::ROUTE_KIND_HTTP_CONNECT);
    ASSERT_EQ(proxied.size(), 2u) << relay << ":" << port;
    EXPECT_EQ(proxied[0].outcome(), v1::OUTCOME_PROXY_AUTH_REQUIRED);
    EXPECT_TRUE(proxied[0].retried());
    EXPECT_EQ(proxied[1].outcome(), v1::OUTCOME_OK) << proxied[1].ShortDebugString();
    EXPECT_TRUE(proxied[1].proxy().has_credentials());
    EXPECT_FALSE(proxied[1].retried());
  }
  EXPECT_EQ(On(report, "emea-1", 8200, v1::ROUTE_KIND_DIRECT)[0].outcome(),
            v1::OUTCOME_CONNECT_TIMEOUT);
  EXPECT_EQ(report.verdict().status(), v1::VERDICT_STATUS_REACHABLE);
  // The prompt, then one round of retries: not a prompt plus every timeout.
  EXPECT_LT(took, absl::Seconds(3) + absl::Milliseconds(2500)) << took;
  EXPECT_THAT(report.SerializeAsString(), ::testing::Not(HasSubstr("correct horse")));
}

TEST_F(SeedScenario, WrongCredentialsThroughSquidAreProxyAuthFailedAfterTheRetry) {
  auto squid = StartSquidForAlice(dir());
  ASSERT_TRUE(squid.ok()) << squid.status();
  std::atomic<int> asked{0};
  DiagnoseOptions options = SlowPromptOptions(&asked, "Wr0ng-pass");
  v1::SessionReport report = Diagnose(catalogue_, {ProxyRoute("127.0.20.1", 3128)}, {}, options);
  EXPECT_EQ(asked.load(), 1);
  const auto attempts = On(report, "emea-1", 8443, v1::ROUTE_KIND_HTTP_CONNECT);
  ASSERT_EQ(attempts.size(), 2u);
  EXPECT_EQ(attempts[0].outcome(), v1::OUTCOME_PROXY_AUTH_REQUIRED);
  EXPECT_TRUE(attempts[0].retried());
  EXPECT_EQ(attempts[1].outcome(), v1::OUTCOME_PROXY_AUTH_FAILED) << attempts[1].ShortDebugString();
  EXPECT_EQ(attempts[1].proxy_status(), 407u);
  EXPECT_TRUE(attempts[1].proxy().has_credentials());
  EXPECT_EQ(report.verdict().status(), v1::VERDICT_STATUS_UNREACHABLE);
  EXPECT_THAT(report.SerializeAsString(), ::testing::Not(HasSubstr("Wr0ng-pass")));
}

// The DNS check against this machine's real resolver: the catalogue lists
// each relay's name and address; the test's hosts file answers one name
// with a sinkhole and the other with the listed address.
constexpr char kNamedCatalogue[] = R"pb(
  name: "named"
  regions {
    id: "americas"
    relays { id: "americas-1" host: "relay.sinkhole.test" addresses: "127.0.11.1" ports: 8080 }
  }
  regions {
    id: "emea"
    relays { id: "emea-1" host: "relay.good.test" addresses: "127.0.12.1" ports: 8443 }
  }
)pb";

TEST_F(SeedScenario, ARelayNameResolvingToASinkholeIsNamedOnEveryAttemptOfTheRelay) {
  auto hosts = rig::HostsOverride::Start(
      {{"relay.sinkhole.test", "0.0.0.0"}, {"relay.good.test", "127.0.12.1"}}, dir());
  ASSERT_TRUE(hosts.ok()) << hosts.status();
  v1::Catalogue catalogue;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(kNamedCatalogue, &catalogue));
  DiagnoseOptions options;
  options.race.attempt_timeout = absl::Seconds(1);
  v1::SessionReport report = Diagnose(catalogue, {DirectRoute()}, {}, options);
  ASSERT_EQ(report.attempts_size(), 2);
  const v1::Attempt& sinkholed = Find(report, "americas-1", 8080);
  // The attempt goes to the catalogue's address and works; DNS would have
  // sent it nowhere.
  EXPECT_EQ(sinkholed.outcome(), v1::OUTCOME_OK);
  EXPECT_EQ(sinkholed.dns().status(), v1::DnsEvidence::STATUS_SINKHOLE);
  EXPECT_EQ(sinkholed.dns().host(), "relay.sinkhole.test");
  EXPECT_THAT(sinkholed.dns().answers(), ::testing::ElementsAre("0.0.0.0"));
  const v1::Attempt& consistent = Find(report, "emea-1", 8443);
  EXPECT_EQ(consistent.outcome(), v1::OUTCOME_OK);
  EXPECT_EQ(consistent.dns().status(), v1::DnsEvidence::STATUS_CONSISTENT);
  EXPECT_THAT(consistent.dns().answers(), ::testing::ElementsAre("127.0.12.1"));
}

}  // namespace
}  // namespace relayscope::agent
