// CurlTransport's classification of proxy replies, with the first hop a
// rig::CannedPeer (a loopback connection already holding the proxy's
// answer). The real squid, dante and middleboxes are in attempt_rig_test.
#include "agent/attempt/transport.h"

#include <cerrno>
#include <string>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/rig/canned_peer.h"

namespace relayscope::agent {
namespace {

constexpr char kPassword[] = "s3cret-Pw";

ProxyUrl HttpProxy(bool with_credentials) {
  ProxyUrl proxy;
  proxy.kind = v1::ROUTE_KIND_HTTP_CONNECT;
  proxy.host = "127.0.0.1";
  proxy.port = 3128;
  if (with_credentials) {
    proxy.username = "alice";
    proxy.password = kPassword;
  }
  return proxy;
}

// The transport whose first hop is `connect_first_hop`.
OpenResult OpenWith(FirstHopConnector connect_first_hop, const ProxyUrl& proxy) {
  CurlTransport::Options options;
  options.connect_first_hop = std::move(connect_first_hop);
  CurlTransport transport(std::move(options));
  return transport.Open({"192.0.2.10", 8200}, proxy, absl::Now() + absl::Seconds(5));
}

OpenResult OpenAgainst(const std::string& reply, const ProxyUrl& proxy) {
  auto peer = rig::CannedPeer::Create(reply);
  EXPECT_TRUE(peer.ok()) << peer.status();
  if (!peer.ok()) return {};
  return OpenWith([&peer] { return (*peer)->TakeClientEnd(); }, proxy);
}

bool HasPhase(const OpenResult& result, v1::Phase phase, bool completed) {
  for (const v1::PhaseTiming& timing : result.phases) {
    if (timing.phase() == phase) return timing.completed() == completed;
  }
  return false;
}

TEST(CurlTransport, ConnectionEstablishedKeepsTheBytesThatFollowIt) {
  // The relay's first bytes may arrive in the same segment as the proxy's
  // 200: libcurl must not swallow them with the headers.
  OpenResult result =
      OpenAgainst("HTTP/1.1 200 Connection established\r\n\r\nR2-bytes", HttpProxy(false));
  ASSERT_EQ(result.outcome, v1::OUTCOME_OK) << result.detail;
  ASSERT_NE(result.tunnel, nullptr);
  EXPECT_EQ(result.proxy_status, 200u);
  EXPECT_TRUE(HasPhase(result, v1::PHASE_TCP_CONNECT, true));
  EXPECT_TRUE(HasPhase(result, v1::PHASE_PROXY_NEGOTIATION, true));
  std::string received;
  uint8_t buffer[64];
  for (int i = 0; i < 10; ++i) {
    auto n = result.tunnel->Recv(absl::MakeSpan(buffer), absl::Now() + absl::Seconds(2));
    ASSERT_TRUE(n.ok()) << n.status();
    if (*n == 0) break;
    received.append(reinterpret_cast<const char*>(buffer), *n);
  }
  EXPECT_EQ(received, "R2-bytes");
}

TEST(CurlTransport, ProxyAuthenticationRequiredOrFailedDependsOnCredentials) {
  const std::string reply =
      "HTTP/1.1 407 Proxy Authentication Required\r\n"
      "Proxy-Authenticate: Basic realm=\"corp\"\r\nContent-Length: 0\r\n\r\n";
  OpenResult without = OpenAgainst(reply, HttpProxy(false));
  EXPECT_EQ(without.outcome, v1::OUTCOME_PROXY_AUTH_REQUIRED) << without.detail;
  EXPECT_EQ(without.proxy_status, 407u);
  EXPECT_EQ(without.failed_phase, v1::PHASE_PROXY_NEGOTIATION);
  EXPECT_TRUE(HasPhase(without, v1::PHASE_TCP_CONNECT, true));
  EXPECT_TRUE(HasPhase(without, v1::PHASE_PROXY_NEGOTIATION, false));
  EXPECT_EQ(without.tunnel, nullptr);

  OpenResult with = OpenAgainst(reply, HttpProxy(true));
  EXPECT_EQ(with.outcome, v1::OUTCOME_PROXY_AUTH_FAILED) << with.detail;
  EXPECT_EQ(with.detail.find(kPassword), std::string::npos);
}

TEST(CurlTransport, ProxyThatClosesBeforeAnsweringIsAProxyError) {
  OpenResult result = OpenAgainst("", HttpProxy(true));
  EXPECT_EQ(result.outcome, v1::OUTCOME_PROXY_ERROR) << result.detail;
  EXPECT_EQ(result.failed_phase, v1::PHASE_PROXY_NEGOTIATION);
  EXPECT_NE(result.detail.find("proxy 127.0.0.1:3128"), std::string::npos) << result.detail;
}

TEST(CurlTransport, SocksRefusalIsNamedWithItsReplyCode) {
  ProxyUrl proxy;
  proxy.kind = v1::ROUTE_KIND_SOCKS5;
  proxy.host = "127.0.0.1";
  proxy.port = 1080;
  // Method "no authentication", then connect reply 5: connection refused.
  const std::string reply("\x05\x00\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00", 12);
  OpenResult result = OpenAgainst(reply, proxy);
  EXPECT_EQ(result.outcome, v1::OUTCOME_CONNECTION_REFUSED) << result.detail;
  EXPECT_EQ(result.proxy_status, 5u);
  EXPECT_EQ(result.failed_phase, v1::PHASE_PROXY_NEGOTIATION);
}

TEST(CurlTransport, AFirstHopThatRefusesIsATcpConnectFailureNamingTheErrno) {
  OpenResult result = OpenWith(
      [] {
        errno = ECONNREFUSED;
        return -1;
      },
      HttpProxy(false));
  EXPECT_EQ(result.outcome, v1::OUTCOME_CONNECTION_REFUSED) << result.detail;
  EXPECT_EQ(result.failed_phase, v1::PHASE_TCP_CONNECT);
  EXPECT_EQ(result.os_error, ECONNREFUSED);
  EXPECT_NE(result.detail.find("ECONNREFUSED"), std::string::npos) << result.detail;
  EXPECT_TRUE(HasPhase(result, v1::PHASE_TCP_CONNECT, false));
}

}  // namespace
}  // namespace relayscope::agent
