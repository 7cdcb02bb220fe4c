// RunAttempt over every outcome class, through the scripted FakeTransport on
// a FakeClock: no network, no root, and exact timings (each step costs the
// transport's fixed latency; waiting for what never comes costs exactly the
// time to the deadline). The real path is attempt_rig_test.
#include "agent/attempt/attempt.h"

#include <cerrno>
#include <string>

#include "agent/attempt/fake_transport.h"
#include "common/fake_clock.h"
#include "common/proto_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "protocol/handshake/handshake.h"

namespace relayscope::agent {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Connect = FakeTransport::Connect;
using Peer = FakeTransport::Peer;

constexpr char kPassword[] = "correct horse";
const Destination kRelay{"192.0.2.10", 8200};

ProxyUrl HttpProxy(const std::string& user = "", const std::string& password = "") {
  ProxyUrl proxy;
  proxy.kind = v1::ROUTE_KIND_HTTP_CONNECT;
  proxy.host = "10.0.0.1";
  proxy.port = 3128;
  proxy.username = user;
  proxy.password = password;
  return proxy;
}

class AttemptTest : public ::testing::Test {
 protected:
  AttemptTest() : transport_(&clock_) { clock_.AdvanceOnSleep(true); }

  v1::Attempt Run(const Destination& destination, const ProxyUrl& proxy,
                  absl::Duration timeout = absl::Seconds(3)) {
    start_ = clock_.Now();
    return RunAttempt(destination, proxy, start_ + timeout, transport_);
  }

  FakeClock clock_;
  FakeTransport transport_;
  absl::Time start_;
};

absl::Duration DurationOf(const v1::PhaseTiming& phase) {
  return FromProtoDuration(phase.duration());
}

TEST_F(AttemptTest, ARealRelayHandshakeIsOkWithEveryPhaseTimed) {
  transport_.Script(kRelay, ProxyUrl::Direct(), Connect::Open(), Peer::kRelay);
  v1::Attempt a = Run(kRelay, ProxyUrl::Direct());
  EXPECT_EQ(a.outcome(), v1::OUTCOME_OK) << a.detail();
  EXPECT_EQ(a.failed_phase(), v1::PHASE_UNSPECIFIED);
  EXPECT_EQ(a.route_kind(), v1::ROUTE_KIND_DIRECT);
  EXPECT_EQ(a.address(), "192.0.2.10");
  EXPECT_EQ(a.port(), 8200u);
  ASSERT_EQ(a.phases_size(), 2);
  EXPECT_EQ(a.phases(0).phase(), v1::PHASE_TCP_CONNECT);
  EXPECT_TRUE(a.phases(0).completed());
  EXPECT_EQ(DurationOf(a.phases(0)), absl::Milliseconds(10));
  EXPECT_EQ(a.phases(1).phase(), v1::PHASE_HANDSHAKE);
  EXPECT_TRUE(a.phases(1).completed());
  EXPECT_EQ(DurationOf(a.phases(1)), absl::Milliseconds(20));  // one round trip
  EXPECT_EQ(FromProtoTimestamp(a.start_time()), start_);
  EXPECT_EQ(FromProtoDuration(a.total_duration()), absl::Milliseconds(30));
  EXPECT_EQ(a.bytes_sent(), handshake::kHelloSize + handshake::kConfirmSize);
  EXPECT_EQ(a.bytes_received(), handshake::kReplySize);
  // The relay verified the agent's key confirmation.
  EXPECT_EQ(transport_.confirmations(), 1);
}

TEST_F(AttemptTest, AnHttpPageInPlaceOfTheRelayIsInterferenceWithItsStatusLineAndTitle) {
  transport_.Script(kRelay, ProxyUrl::Direct(), Connect::Open(), Peer::kHttpPage);
  v1::Attempt a = Run(kRelay, ProxyUrl::Direct());
  EXPECT_EQ(a.outcome(), v1::OUTCOME_PROTOCOL_INTERFERENCE) << a.detail();
  EXPECT_EQ(a.failed_phase(), v1::PHASE_HANDSHAKE);
  EXPECT_EQ(a.interference().status_line(), "HTTP/1.0 400 Bad Request");
  EXPECT_EQ(a.interference().page_title(), "Request Error");
  EXPECT_EQ(a.bytes_received(), std::string(kInterceptorPage).size());
  EXPECT_FALSE(a.phases(a.phases_size() - 1).completed());
  EXPECT_EQ(transport_.confirmations(), 0);
}

TEST_F(AttemptTest, ATruncatedReplyIsAnInvalidHandshakeNeverOk) {
  transport_.Script(kRelay, ProxyUrl::Direct(), Connect::Open(), Peer::kTruncated);
  v1::Attempt a = Run(kRelay, ProxyUrl::Direct());
  EXPECT_EQ(a.outcome(), v1::OUTCOME_HANDSHAKE_INVALID) << a.detail();
  EXPECT_EQ(a.failed_phase(), v1::PHASE_HANDSHAKE);
  EXPECT_EQ(a.bytes_received(), FakeTransport::kTruncatedBytes);
}

TEST_F(AttemptTest, ASilentRelayIsAHandshakeTimeoutExactlyAtTheDeadline) {
  transport_.Script(kRelay, ProxyUrl::Direct(), Connect::Open(), Peer::kSilent);
  v1::Attempt a = Run(kRelay, ProxyUrl::Direct(), absl::Seconds(3));
  EXPECT_EQ(a.outcome(), v1::OUTCOME_HANDSHAKE_TIMEOUT) << a.detail();
  EXPECT_EQ(a.failed_phase(), v1::PHASE_HANDSHAKE);
  EXPECT_EQ(clock_.Now(), start_ + absl::Seconds(3));
  EXPECT_EQ(FromProtoDuration(a.total_duration()), absl::Seconds(3));
  ASSERT_EQ(a.phases_size(), 2);
  EXPECT_EQ(DurationOf(a.phases(1)), absl::Seconds(3) - absl::Milliseconds(10));
  EXPECT_FALSE(a.phases(1).completed());
  EXPECT_EQ(a.bytes_received(), 0u);
}

TEST_F(AttemptTest, AResetDuringTheHandshakeIsAConnectionReset) {
  transport_.Script(kRelay, ProxyUrl::Direct(), Connect::Open(), Peer::kReset);
  v1::Attempt a = Run(kRelay, ProxyUrl::Direct());
  EXPECT_EQ(a.outcome(), v1::OUTCOME_CONNECTION_RESET) << a.detail();
  EXPECT_EQ(a.failed_phase(), v1::PHASE_HANDSHAKE);
  EXPECT_EQ(a.os_error(), ECONNRESET);
  EXPECT_EQ(a.os_error_name(), "ECONNRESET");
}

TEST_F(AttemptTest, ARefusedConnectIsConnectionRefusedNamingTheErrno) {
  transport_.Script(kRelay, ProxyUrl::Direct(), Connect::Refused());
  v1::Attempt a = Run(kRelay, ProxyUrl::Direct());
  EXPECT_EQ(a.outcome(), v1::OUTCOME_CONNECTION_REFUSED);
  EXPECT_EQ(a.failed_phase(), v1::PHASE_TCP_CONNECT);
  EXPECT_EQ(a.os_error(), ECONNREFUSED);
  EXPECT_EQ(a.os_error_name(), "ECONNREFUSED");
  EXPECT_THAT(a.detail(), HasSubstr("192.0.2.10:8200: ECONNREFUSED"));
  ASSERT_EQ(a.phases_size(), 1);
  EXPECT_FALSE(a.phases(0).completed());
}

TEST_F(AttemptTest, ADroppedConnectIsAConnectTimeoutExactlyAtTheDeadline) {
  transport_.Script(kRelay, ProxyUrl::Direct(), Connect::Timeout());
  v1::Attempt a = Run(kRelay, ProxyUrl::Direct(), absl::Milliseconds(500));
  EXPECT_EQ(a.outcome(), v1::OUTCOME_CONNECT_TIMEOUT);
  EXPECT_EQ(a.failed_phase(), v1::PHASE_TCP_CONNECT);
  EXPECT_EQ(a.os_error_name(), "ETIMEDOUT");
  EXPECT_EQ(FromProtoDuration(a.total_duration()), absl::Milliseconds(500));
  ASSERT_EQ(a.phases_size(), 1);
  EXPECT_EQ(DurationOf(a.phases(0)), absl::Milliseconds(500));
}

TEST_F(AttemptTest, ARelayNameThatDoesNotResolveIsADnsFailure) {
  const Destination named{"relay.example", 8200};
  transport_.Script(named, ProxyUrl::Direct(), Connect::DnsFailure());
  v1::Attempt a = Run(named, ProxyUrl::Direct());
  EXPECT_EQ(a.outcome(), v1::OUTCOME_DNS_FAILURE);
  EXPECT_EQ(a.failed_phase(), v1::PHASE_DNS);
  ASSERT_EQ(a.phases_size(), 1);
  EXPECT_EQ(a.phases(0).phase(), v1::PHASE_DNS);
}

TEST_F(AttemptTest, ProxyRefusalsAreNamedWithTheirStatusAtProxyNegotiation) {
  struct Case {
    int status;
    v1::Outcome outcome;
    const char* detail;
  };
  for (const Case& c :
       {Case{407, v1::OUTCOME_PROXY_AUTH_REQUIRED,
             "proxy 10.0.0.1:3128 requires authentication (407)"},
        Case{403, v1::OUTCOME_PROXY_ERROR, "proxy 10.0.0.1:3128 refused CONNECT with HTTP 403"},
        Case{502, v1::OUTCOME_PROXY_ERROR, "proxy 10.0.0.1:3128 refused CONNECT with HTTP 502"}}) {
    transport_.Script(kRelay, HttpProxy(), Connect::ProxyStatus(c.status));
    v1::Attempt a = Run(kRelay, HttpProxy());
    EXPECT_EQ(a.outcome(), c.outcome) << c.status;
    EXPECT_EQ(a.route_kind(), v1::ROUTE_KIND_HTTP_CONNECT);
    EXPECT_EQ(a.proxy_status(), static_cast<uint32_t>(c.status));
    EXPECT_EQ(a.failed_phase(), v1::PHASE_PROXY_NEGOTIATION);
    EXPECT_EQ(a.detail(), c.detail);
    ASSERT_EQ(a.phases_size(), 2) << c.status;
    EXPECT_TRUE(a.phases(0).completed());
    EXPECT_EQ(a.phases(1).phase(), v1::PHASE_PROXY_NEGOTIATION);
    EXPECT_FALSE(a.phases(1).completed());
  }
}

TEST_F(AttemptTest, ProxyCredentialsOpenTheTunnelAndWrongOnesAreAuthFailedWithoutThePassword) {
  transport_.Script(kRelay, HttpProxy(), Connect::ProxyAuth("alice", kPassword));
  v1::Attempt challenged = Run(kRelay, HttpProxy());
  EXPECT_EQ(challenged.outcome(), v1::OUTCOME_PROXY_AUTH_REQUIRED);

  v1::Attempt accepted = Run(kRelay, HttpProxy("alice", kPassword));
  EXPECT_EQ(accepted.outcome(), v1::OUTCOME_OK) << accepted.detail();
  EXPECT_EQ(accepted.proxy_status(), 200u);
  ASSERT_EQ(accepted.phases_size(), 3);
  EXPECT_EQ(accepted.phases(1).phase(), v1::PHASE_PROXY_NEGOTIATION);
  EXPECT_TRUE(accepted.phases(1).completed());

  v1::Attempt rejected = Run(kRelay, HttpProxy("alice", "Tr0ub4dor&3"));
  EXPECT_EQ(rejected.outcome(), v1::OUTCOME_PROXY_AUTH_FAILED);
  EXPECT_EQ(rejected.proxy_status(), 407u);
  EXPECT_THAT(rejected.detail(), HasSubstr("rejected the credentials (407)"));
  EXPECT_THAT(rejected.SerializeAsString(), Not(HasSubstr("Tr0ub4dor&3")));
  EXPECT_THAT(accepted.SerializeAsString(), Not(HasSubstr(kPassword)));
}

ProxyUrl ProxyOf(v1::RouteKind kind, const std::string& user = "",
                 const std::string& password = "") {
  ProxyUrl proxy = HttpProxy(user, password);
  proxy.kind = kind;
  return proxy;
}

TEST_F(AttemptTest, AProxysWordsAreKeptOnTheAttemptWhenItLetsTheRouteThrough) {
  transport_.Script(kRelay, HttpProxy(), Connect::Open().Says("squid/5.7", "1.1 proxy (squid)"));
  v1::Attempt a = Run(kRelay, HttpProxy());
  EXPECT_EQ(a.outcome(), v1::OUTCOME_OK) << a.detail();
  EXPECT_EQ(a.proxy_reply().status_line(), "HTTP/1.1 200 Connection established");
  EXPECT_EQ(a.proxy_reply().server(), "squid/5.7");
  EXPECT_EQ(a.proxy_reply().via(), "1.1 proxy (squid)");
  EXPECT_FALSE(a.has_proxy_auth());
  EXPECT_FALSE(a.has_proxy_certificate());
}

TEST_F(AttemptTest, A407OfferingNtlmIsRecordedAndUsedOnceCredentialsAreSent) {
  transport_.Script(kRelay, HttpProxy(),
                    Connect::ProxyStatus(407).Offers({v1::PROXY_AUTH_SCHEME_NTLM}));
  v1::Attempt a = Run(kRelay, HttpProxy());
  EXPECT_EQ(a.outcome(), v1::OUTCOME_PROXY_AUTH_REQUIRED);
  EXPECT_EQ(a.proxy_reply().status_line(), "HTTP/1.1 407 Proxy Authentication Required");
  EXPECT_THAT(a.proxy_auth().offered(), ::testing::ElementsAre(v1::PROXY_AUTH_SCHEME_NTLM));
  EXPECT_EQ(a.proxy_auth().used(), v1::PROXY_AUTH_SCHEME_UNSPECIFIED);

  const ProxyUrl with = HttpProxy("alice", kPassword);
  transport_.Script(
      kRelay, with,
      Connect::ProxyAuth("alice", "other").Offers({v1::PROXY_AUTH_SCHEME_BASIC}, "corp"));
  v1::Attempt failed = Run(kRelay, with);
  EXPECT_EQ(failed.outcome(), v1::OUTCOME_PROXY_AUTH_FAILED);
  EXPECT_EQ(failed.proxy_auth().used(), v1::PROXY_AUTH_SCHEME_BASIC);
  EXPECT_EQ(failed.proxy_auth().realm(), "corp");
}

TEST_F(AttemptTest, AnUntrustedProxyCertificateIsATlsFailureNamingItsIssuer) {
  const ProxyUrl proxy = ProxyOf(v1::ROUTE_KIND_HTTPS_PROXY);
  transport_.Script(kRelay, proxy, Connect::UntrustedCertificate("CN=Example Inspection CA"));
  v1::Attempt a = Run(kRelay, proxy);
  EXPECT_EQ(a.outcome(), v1::OUTCOME_TLS_FAILURE) << a.detail();
  EXPECT_EQ(a.failed_phase(), v1::PHASE_TLS);
  EXPECT_EQ(a.proxy_certificate().issuer(), "CN=Example Inspection CA");
  EXPECT_FALSE(a.proxy_certificate().trusted());
  EXPECT_EQ(a.proxy_certificate().verify_error(), "unable to get local issuer certificate");
  EXPECT_FALSE(a.has_proxy_reply());
}

TEST_F(AttemptTest, ASocksRulesetRefusalIsAProxyErrorInWords) {
  const ProxyUrl proxy = ProxyOf(v1::ROUTE_KIND_SOCKS5);
  transport_.Script(kRelay, proxy, Connect::SocksReply(2));
  v1::Attempt a = Run(kRelay, proxy);
  EXPECT_EQ(a.outcome(), v1::OUTCOME_PROXY_ERROR) << a.detail();
  EXPECT_EQ(a.proxy_status(), 2u);
  EXPECT_EQ(a.proxy_reply().socks_reply(), "SOCKS5 reply 2: connection not allowed by ruleset");
  EXPECT_THAT(a.detail(), HasSubstr("not allowed by ruleset"));

  transport_.Script(kRelay, proxy, Connect::SocksReply(5));
  EXPECT_EQ(Run(kRelay, proxy).outcome(), v1::OUTCOME_CONNECTION_REFUSED);
}

}  // namespace
}  // namespace relayscope::agent
