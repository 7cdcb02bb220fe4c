// RunAttempt against real components: a real relay, squid, dante, an
// interceptor and iptables, in the test's own network namespace. Every
// outcome of the seed scenario, named exactly.
#include "absl/time/clock.h"
#include "agent/attempt/attempt.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "relay/relay_server.h"
#include "tests/rig/dante.h"
#include "tests/rig/firewall.h"
#include "tests/rig/fixture.h"
#include "tests/rig/interceptor.h"
#include "tests/rig/squid.h"

namespace relayscope::agent {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kRelay[] = "127.0.10.1";
constexpr char kPassword[] = "Tr0ub4dor&3";

class AttemptOnRig : public rig::RigTest {
 protected:
  void SetUp() override {
    RigTest::SetUp();
    if (IsSkipped()) return;
    relay::RelayOptions options;
    options.listen = {absl::StrCat(kRelay, ":8200"), absl::StrCat(kRelay, ":8443"), "[::1]:8200"};
    auto relay = relay::RelayServer::Start(options, nullptr);
    ASSERT_TRUE(relay.ok()) << relay.status();
    relay_ = *std::move(relay);
  }
  void TearDown() override {
    relay_.reset();
    RigTest::TearDown();
  }

  static v1::Attempt Run(const std::string& host, uint16_t port,
                         ProxyUrl proxy = ProxyUrl::Direct(),
                         absl::Duration timeout = absl::Seconds(3)) {
    return RunAttempt(Destination{host, port}, proxy, absl::Now() + timeout);
  }
  static ProxyUrl Proxy(v1::RouteKind kind, const std::string& host, uint16_t port,
                        const std::string& user = "", const std::string& password = "") {
    ProxyUrl p;
    p.kind = kind;
    p.host = host;
    p.port = port;
    p.username = user;
    p.password = password;
    return p;
  }

  std::unique_ptr<relay::RelayServer> relay_;
};

TEST_F(AttemptOnRig, DirectToARealRelayIsOkWithPhaseTimings) {
  v1::Attempt a = Run(kRelay, 8200);
  EXPECT_EQ(a.outcome(), v1::OUTCOME_OK) << a.detail();
  ASSERT_EQ(a.phases_size(), 2);
  EXPECT_EQ(a.phases(0).phase(), v1::PHASE_TCP_CONNECT);
  EXPECT_EQ(a.phases(1).phase(), v1::PHASE_HANDSHAKE);
  EXPECT_TRUE(a.phases(1).completed());
  EXPECT_EQ(a.bytes_sent(), 768u + 32u);
  EXPECT_EQ(a.bytes_received(), 288u);
  EXPECT_EQ(a.failed_phase(), v1::PHASE_UNSPECIFIED);
}

TEST_F(AttemptOnRig, DirectOverIpv6IsOk) { EXPECT_EQ(Run("::1", 8200).outcome(), v1::OUTCOME_OK); }

TEST_F(AttemptOnRig, DroppedPortIsAConnectTimeoutBoundedByTheDeadline) {
  rig::Firewall firewall;
  ASSERT_TRUE(firewall.Drop(kRelay, 8200).ok());
  const absl::Time start = absl::Now();
  v1::Attempt a = Run(kRelay, 8200, {}, absl::Milliseconds(500));
  EXPECT_EQ(a.outcome(), v1::OUTCOME_CONNECT_TIMEOUT) << a.detail();
  EXPECT_EQ(a.failed_phase(), v1::PHASE_TCP_CONNECT);
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(900));
}

TEST_F(AttemptOnRig, RejectedPortIsRefusedAtOnce) {
  rig::Firewall firewall;
  ASSERT_TRUE(firewall.Reject(kRelay, 8443).ok());
  v1::Attempt a = Run(kRelay, 8443);
  EXPECT_EQ(a.outcome(), v1::OUTCOME_CONNECTION_REFUSED);
  EXPECT_EQ(a.os_error_name(), "ECONNREFUSED");
  EXPECT_EQ(a.failed_phase(), v1::PHASE_TCP_CONNECT);
}

TEST_F(AttemptOnRig, IcmpUnreachableIsNamedHostOrNetwork) {
  rig::Firewall firewall;
  ASSERT_TRUE(firewall.Unreachable(kRelay, 8200, /*network=*/false).ok());
  ASSERT_TRUE(firewall.Unreachable(kRelay, 8443, /*network=*/true).ok());
  v1::Attempt host = Run(kRelay, 8200);
  EXPECT_EQ(host.outcome(), v1::OUTCOME_HOST_UNREACHABLE) << host.detail();
  EXPECT_EQ(host.os_error_name(), "EHOSTUNREACH");
  v1::Attempt network = Run(kRelay, 8443);
  EXPECT_EQ(network.outcome(), v1::OUTCOME_NETWORK_UNREACHABLE) << network.detail();
  EXPECT_EQ(network.os_error_name(), "ENETUNREACH");
}

TEST_F(AttemptOnRig, UnresolvableRelayNameIsADnsFailure) {
  // The namespace has no DNS server: nothing resolves but literals.
  v1::Attempt a = Run("relay.relayscope.invalid", 8200);
  EXPECT_EQ(a.outcome(), v1::OUTCOME_DNS_FAILURE) << a.detail();
  EXPECT_EQ(a.failed_phase(), v1::PHASE_DNS);
  ASSERT_GE(a.phases_size(), 1);
  EXPECT_EQ(a.phases(0).phase(), v1::PHASE_DNS);
  EXPECT_FALSE(a.phases(0).completed());
}

TEST_F(AttemptOnRig, HttpsProxyThatDoesNotSpeakTlsIsATlsFailure) {
  // A plain HTTP proxy given as https://: the TLS handshake cannot succeed.
  rig::Squid::Options options;
  options.address = "127.0.20.1";
  auto squid = rig::Squid::Start(options, dir());
  ASSERT_TRUE(squid.ok()) << squid.status();
  v1::Attempt a = Run(kRelay, 8200, Proxy(v1::ROUTE_KIND_HTTPS_PROXY, "127.0.20.1", 3128));
  EXPECT_EQ(a.outcome(), v1::OUTCOME_TLS_FAILURE) << a.detail();
  EXPECT_EQ(a.failed_phase(), v1::PHASE_TLS);
}

TEST_F(AttemptOnRig, TransparentProxyOnPort80IsInterferenceNeverConnected) {
  rig::Interceptor::Options options;
  options.address = kRelay;
  options.port = 8080;
  options.read_bytes = 768;
  auto interceptor = rig::Interceptor::Start(options);
  ASSERT_TRUE(interceptor.ok()) << interceptor.status();
  v1::Attempt a = Run(kRelay, 8080);
  EXPECT_EQ(a.outcome(), v1::OUTCOME_PROTOCOL_INTERFERENCE) << a.detail();
  EXPECT_EQ(a.failed_phase(), v1::PHASE_HANDSHAKE);
  EXPECT_EQ(a.interference().status_line(), "HTTP/1.0 400 Bad Request");
  EXPECT_EQ(a.interference().page_title(), "Request Error");
  EXPECT_EQ(a.interference().server(), "relayscope-rig-interceptor");
}

TEST_F(AttemptOnRig, SilentMiddleboxIsAHandshakeTimeout) {
  rig::Interceptor::Options options;
  options.mode = rig::Interceptor::Mode::kSilent;
  options.address = kRelay;
  options.port = 8081;
  auto interceptor = rig::Interceptor::Start(options);
  ASSERT_TRUE(interceptor.ok());
  v1::Attempt a = Run(kRelay, 8081, {}, absl::Milliseconds(600));
  EXPECT_EQ(a.outcome(), v1::OUTCOME_HANDSHAKE_TIMEOUT) << a.detail();
}

TEST_F(AttemptOnRig, TruncatedOrAlteredReplyIsInvalid) {
  rig::Interceptor::Options truncated;
  truncated.mode = rig::Interceptor::Mode::kFixedReply;
  truncated.address = kRelay;
  truncated.port = 8082;
  truncated.read_bytes = 768;
  truncated.reply = std::string(100, '\x01');
  auto t = rig::Interceptor::Start(truncated);
  ASSERT_TRUE(t.ok());
  v1::Attempt a = Run(kRelay, 8082);
  EXPECT_EQ(a.outcome(), v1::OUTCOME_HANDSHAKE_INVALID);
  EXPECT_THAT(a.detail(), HasSubstr("after 100 of 288"));

  rig::Interceptor::Options forged = truncated;
  forged.port = 8083;
  forged.reply = std::string(288, '\x02');  // a full-size reply that is not the relay's
  auto f = rig::Interceptor::Start(forged);
  ASSERT_TRUE(f.ok());
  v1::Attempt b = Run(kRelay, 8083);
  EXPECT_EQ(b.outcome(), v1::OUTCOME_HANDSHAKE_INVALID);
}

TEST_F(AttemptOnRig, RelayKilledMidHandshakeIsAConnectionReset) {
  rig::Interceptor::Options options;
  options.mode = rig::Interceptor::Mode::kReset;
  options.address = kRelay;
  options.port = 8084;
  options.read_bytes = 768;
  auto killed = rig::Interceptor::Start(options);
  ASSERT_TRUE(killed.ok());
  v1::Attempt a = Run(kRelay, 8084);
  EXPECT_EQ(a.outcome(), v1::OUTCOME_CONNECTION_RESET) << a.detail();
  EXPECT_EQ(a.failed_phase(), v1::PHASE_HANDSHAKE);
  EXPECT_EQ(a.os_error_name(), "ECONNRESET");
}

TEST_F(AttemptOnRig, ProxyWithBasicAuthNeedsTheRightCredentials) {
  rig::Squid::Options options;
  options.address = "127.0.20.1";
  options.users = {{"alice", kPassword}};
  auto squid = rig::Squid::Start(options, dir());
  ASSERT_TRUE(squid.ok()) << squid.status();

  v1::Attempt none = Run(kRelay, 8200, Proxy(v1::ROUTE_KIND_HTTP_CONNECT, "127.0.20.1", 3128));
  EXPECT_EQ(none.outcome(), v1::OUTCOME_PROXY_AUTH_REQUIRED) << none.detail();
  EXPECT_EQ(none.proxy_status(), 407u);
  EXPECT_EQ(none.failed_phase(), v1::PHASE_PROXY_NEGOTIATION);

  v1::Attempt wrong =
      Run(kRelay, 8200, Proxy(v1::ROUTE_KIND_HTTP_CONNECT, "127.0.20.1", 3128, "alice", "nope"));
  EXPECT_EQ(wrong.outcome(), v1::OUTCOME_PROXY_AUTH_FAILED) << wrong.detail();

  v1::Attempt right =
      Run(kRelay, 8200, Proxy(v1::ROUTE_KIND_HTTP_CONNECT, "127.0.20.1", 3128, "alice", kPassword));
  EXPECT_EQ(right.outcome(), v1::OUTCOME_OK) << right.detail();
  EXPECT_EQ(right.proxy_status(), 200u);
  ASSERT_EQ(right.phases_size(), 3);
  EXPECT_EQ(right.phases(1).phase(), v1::PHASE_PROXY_NEGOTIATION);
  for (const v1::Attempt* a : {&none, &wrong, &right}) {
    EXPECT_THAT(a->SerializeAsString(), Not(HasSubstr(kPassword)));
  }
}

TEST_F(AttemptOnRig, ProxyRedirectIsAProxyErrorWithItsStatus) {
  rig::Squid::Options options;
  options.address = "127.0.20.1";
  options.redirect_ports = {8443};
  auto squid = rig::Squid::Start(options, dir());
  ASSERT_TRUE(squid.ok()) << squid.status();
  v1::Attempt a = Run(kRelay, 8443, Proxy(v1::ROUTE_KIND_HTTP_CONNECT, "127.0.20.1", 3128));
  EXPECT_EQ(a.outcome(), v1::OUTCOME_PROXY_ERROR) << a.detail();
  EXPECT_EQ(a.proxy_status(), 302u);
  // The same proxy tunnels port 8200 to the relay.
  EXPECT_EQ(Run(kRelay, 8200, Proxy(v1::ROUTE_KIND_HTTP_CONNECT, "127.0.20.1", 3128)).outcome(),
            v1::OUTCOME_OK);
}

// Found by fuzzing (tests/fuzz/corpus/connect_reply/crash-*): a status of
// 2000 went into proxy_status, and the collector refuses such an attempt.
TEST_F(AttemptOnRig, ProxyWithAMalformedStatusIsAProxyErrorTheCollectorAccepts) {
  rig::Interceptor::Options options;
  options.mode = rig::Interceptor::Mode::kFixedReply;
  options.address = "127.0.20.2";
  options.port = 3128;
  options.reply = "HTTP/1.0 2000 OK\r\nProxy-agent: Apache\r\n\r\n";
  auto proxy = rig::Interceptor::Start(options);
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  v1::Attempt a = Run(kRelay, 8200, Proxy(v1::ROUTE_KIND_HTTP_CONNECT, "127.0.20.2", 3128));
  EXPECT_EQ(a.outcome(), v1::OUTCOME_PROXY_ERROR) << a.detail();
  EXPECT_LE(a.proxy_status(), 999u);
}

TEST_F(AttemptOnRig, InterceptorBehindAProxyIsStillNamed) {
  rig::Interceptor::Options options;
  options.address = kRelay;
  options.port = 8080;
  options.read_bytes = 768;
  auto interceptor = rig::Interceptor::Start(options);
  ASSERT_TRUE(interceptor.ok());
  rig::Squid::Options squid_options;
  squid_options.address = "127.0.20.1";
  auto squid = rig::Squid::Start(squid_options, dir());
  ASSERT_TRUE(squid.ok()) << squid.status();
  v1::Attempt a = Run(kRelay, 8080, Proxy(v1::ROUTE_KIND_HTTP_CONNECT, "127.0.20.1", 3128));
  EXPECT_EQ(a.outcome(), v1::OUTCOME_PROTOCOL_INTERFERENCE) << a.detail();
  EXPECT_EQ(a.interference().page_title(), "Request Error");
}

TEST_F(AttemptOnRig, SocksRoutesReachTheRelayAndNameARefusedPort) {
  rig::Dante::Options options;
  options.address = "127.0.30.1";
  auto dante = rig::Dante::Start(options, dir());
  ASSERT_TRUE(dante.ok()) << dante.status();
  // SOCKS4a and SOCKS5 with remote DNS send the relay's name for the proxy
  // to resolve; the rig has no DNS, and dante refuses a literal sent as a
  // name, so those two are covered where names resolve.
  for (v1::RouteKind kind : {v1::ROUTE_KIND_SOCKS5, v1::ROUTE_KIND_SOCKS4}) {
    v1::Attempt a = Run(kRelay, 8200, Proxy(kind, "127.0.30.1", 1080));
    EXPECT_EQ(a.outcome(), v1::OUTCOME_OK) << v1::RouteKind_Name(kind) << ": " << a.detail();
  }
  v1::Attempt refused = Run(kRelay, 9, Proxy(v1::ROUTE_KIND_SOCKS5, "127.0.30.1", 1080));
  EXPECT_EQ(refused.outcome(), v1::OUTCOME_CONNECTION_REFUSED) << refused.detail();
  EXPECT_EQ(refused.proxy_status(), 5u);
  EXPECT_EQ(refused.failed_phase(), v1::PHASE_PROXY_NEGOTIATION);
  v1::Attempt socks4_refused = Run(kRelay, 9, Proxy(v1::ROUTE_KIND_SOCKS4, "127.0.30.1", 1080));
  EXPECT_EQ(socks4_refused.outcome(), v1::OUTCOME_PROXY_ERROR) << socks4_refused.detail();
  EXPECT_EQ(socks4_refused.proxy_status(), 91u);
}

TEST_F(AttemptOnRig, ProxyThatIsDownIsRefusedAndSaysSo) {
  v1::Attempt a = Run(kRelay, 8200, Proxy(v1::ROUTE_KIND_HTTP_CONNECT, "127.0.20.99", 3128));
  EXPECT_EQ(a.outcome(), v1::OUTCOME_CONNECTION_REFUSED);
  EXPECT_THAT(a.detail(), HasSubstr("proxy 127.0.20.99:3128"));
}

TEST_F(AttemptOnRig, ProxyThatAcceptsAndNeverAnswersIsBoundedInTime) {
  rig::Interceptor::Options options;
  options.mode = rig::Interceptor::Mode::kSilent;
  options.address = "127.0.20.2";
  options.port = 3128;
  auto black_hole = rig::Interceptor::Start(options);
  ASSERT_TRUE(black_hole.ok());
  const absl::Time start = absl::Now();
  v1::Attempt a = Run(kRelay, 8200, Proxy(v1::ROUTE_KIND_HTTP_CONNECT, "127.0.20.2", 3128),
                      absl::Milliseconds(500));
  EXPECT_EQ(a.outcome(), v1::OUTCOME_CONNECT_TIMEOUT) << a.detail();
  EXPECT_EQ(a.failed_phase(), v1::PHASE_PROXY_NEGOTIATION);
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(1000));
}

TEST_F(AttemptOnRig, ProxyThatClosesMidConnectIsAProxyError) {
  rig::Interceptor::Options options;
  options.mode = rig::Interceptor::Mode::kFixedReply;
  options.address = "127.0.20.3";
  options.port = 3128;
  options.reply = "HTTP/1.1 200 Conn";  // cut in the middle of the status line
  auto liar = rig::Interceptor::Start(options);
  ASSERT_TRUE(liar.ok());
  v1::Attempt a = Run(kRelay, 8200, Proxy(v1::ROUTE_KIND_HTTP_CONNECT, "127.0.20.3", 3128));
  EXPECT_EQ(a.outcome(), v1::OUTCOME_PROXY_ERROR) << a.detail();
  EXPECT_EQ(a.failed_phase(), v1::PHASE_PROXY_NEGOTIATION);
}

}  // namespace
}  // namespace relayscope::agent
