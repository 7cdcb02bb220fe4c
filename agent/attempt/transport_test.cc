// CurlTransport's classification of proxy replies, with the first hop a
// rig::CannedPeer (a loopback connection already holding the proxy's
// answer). The real squid, dante and middleboxes are in attempt_rig_test.
#include "agent/attempt/transport.h"

#include <cerrno>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/attempt/proxy_evidence.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/rig/canned_peer.h"

namespace relayscope::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

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

TEST(CurlTransport, RecordsTheProxysStatusLineServerAndViaOnSuccess) {
  OpenResult result = OpenAgainst(
      "HTTP/1.1 200 Connection established\r\nServer: squid/5.7\r\n"
      "Via: 1.1 proxy.corp (squid/5.7)\r\n\r\n",
      HttpProxy(false));
  ASSERT_EQ(result.outcome, v1::OUTCOME_OK) << result.detail;
  EXPECT_EQ(result.proxy_reply.status_line(), "HTTP/1.1 200 Connection established");
  EXPECT_EQ(result.proxy_reply.server(), "squid/5.7");
  EXPECT_EQ(result.proxy_reply.via(), "1.1 proxy.corp (squid/5.7)");
  EXPECT_EQ(result.proxy_auth.offered_size(), 0);
}

TEST(CurlTransport, A407RecordsTheSchemesOfferedAndTheRealm) {
  const std::string reply =
      "HTTP/1.1 407 Proxy Authentication Required\r\nServer: squid/5.7\r\n"
      "Proxy-Authenticate: NTLM\r\nProxy-Authenticate: Basic realm=\"corp\"\r\n"
      "Content-Length: 0\r\n\r\n";
  OpenResult without = OpenAgainst(reply, HttpProxy(false));
  EXPECT_EQ(without.outcome, v1::OUTCOME_PROXY_AUTH_REQUIRED) << without.detail;
  EXPECT_EQ(without.proxy_reply.status_line(), "HTTP/1.1 407 Proxy Authentication Required");
  EXPECT_THAT(without.proxy_auth.offered(),
              ElementsAre(v1::PROXY_AUTH_SCHEME_NTLM, v1::PROXY_AUTH_SCHEME_BASIC));
  EXPECT_EQ(without.proxy_auth.realm(), "corp");
  // No credentials: nothing was sent.
  EXPECT_EQ(without.proxy_auth.used(), v1::PROXY_AUTH_SCHEME_UNSPECIFIED);
}

TEST(CurlTransport, UsedIsTheSchemeLibcurlAnswersWith) {
  // The canned proxy closes after its 407, so libcurl's retry with the
  // credentials fails; what it would have sent is still the scheme it
  // picked: Basic when only Basic is offered.
  OpenResult basic = OpenAgainst(
      "HTTP/1.1 407 Proxy Authentication Required\r\n"
      "Proxy-Authenticate: Basic realm=\"corp\"\r\nContent-Length: 0\r\n\r\n",
      HttpProxy(true));
  EXPECT_EQ(basic.proxy_auth.used(), v1::PROXY_AUTH_SCHEME_BASIC) << basic.detail;
  // Negotiate is never answered with a password; NTLM wins over Basic.
  OpenResult ntlm = OpenAgainst(
      "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Negotiate\r\n"
      "Proxy-Authenticate: Basic realm=\"corp\"\r\nProxy-Authenticate: NTLM\r\n"
      "Content-Length: 0\r\n\r\n",
      HttpProxy(true));
  EXPECT_EQ(ntlm.proxy_auth.used(), v1::PROXY_AUTH_SCHEME_NTLM) << ntlm.detail;
}

TEST(CurlTransport, HostileHeadersAreEscapedCappedAndHarmless) {
  std::string reply =
      "HTTP/1.1 407 Proxy \x01"
      "Authentication Required\r\n";
  // libcurl gives up on a CONNECT header line past 16 KiB (the status
  // line then decides); this one is long but within that.
  absl::StrAppend(&reply, "Server: ", std::string(15000, 'S'), "\r\n");
  absl::StrAppend(&reply,
                  "Via: 1.1 \x7f"
                  "del\xff\r\n");
  for (int i = 0; i < 1000; ++i) absl::StrAppend(&reply, "X-Filler-", i, ": ", i, "\r\n");
  absl::StrAppend(&reply, "Proxy-Authenticate: Basic realm=\"", std::string(1000, 'R'),
                  "\"\r\nProxy-Authenticate: Bogus, NTLM\r\nContent-Length: 0\r\n\r\n");
  OpenResult result = OpenAgainst(reply, HttpProxy(false));
  EXPECT_EQ(result.outcome, v1::OUTCOME_PROXY_AUTH_REQUIRED) << result.detail;
  EXPECT_EQ(result.proxy_reply.status_line(), "HTTP/1.1 407 Proxy \\x01Authentication Required");
  EXPECT_EQ(result.proxy_reply.server(), std::string(256, 'S'));
  EXPECT_EQ(result.proxy_reply.via(), "1.1 \\x7fdel\\xff");
  EXPECT_THAT(result.proxy_auth.offered(),
              ElementsAre(v1::PROXY_AUTH_SCHEME_BASIC, v1::PROXY_AUTH_SCHEME_NTLM));
  EXPECT_EQ(result.proxy_auth.realm(), std::string(128, 'R'));
}

TEST(CurlTransport, AMalformedHeaderEndsTheReplyButKeepsWhatCameBefore) {
  // libcurl stops reading a CONNECT reply at a header holding a NUL or
  // lacking a colon; the status decides and the evidence so far stays.
  for (const std::string& bad : {std::string("Via: 1.1 \0nul", 13), std::string("no colon")}) {
    SCOPED_TRACE(bad);
    OpenResult result =
        OpenAgainst(absl::StrCat("HTTP/1.1 407 Proxy Authentication Required\r\nServer: squid\r\n",
                                 bad, "\r\nProxy-Authenticate: NTLM\r\n\r\n"),
                    HttpProxy(false));
    EXPECT_EQ(result.outcome, v1::OUTCOME_PROXY_AUTH_REQUIRED) << result.detail;
    EXPECT_EQ(result.proxy_reply.status_line(), "HTTP/1.1 407 Proxy Authentication Required");
    EXPECT_EQ(result.proxy_reply.server(), "squid");
    EXPECT_EQ(result.proxy_reply.via(), "");
  }
}

TEST(CurlTransport, EvidenceNeverShowsThePassword) {
  OpenResult result =
      OpenAgainst(absl::StrCat("HTTP/1.1 407 Proxy Authentication Required ", kPassword,
                               "\r\nServer: ", kPassword, "\r\nProxy-Authenticate: Basic realm=\"",
                               kPassword, "\"\r\nContent-Length: 0\r\n\r\n"),
                  HttpProxy(true));
  EXPECT_EQ(result.proxy_reply.status_line(), "HTTP/1.1 407 Proxy Authentication Required ****");
  EXPECT_EQ(result.proxy_reply.server(), "****");
  EXPECT_EQ(result.proxy_auth.realm(), "****");
}

ProxyUrl Socks5Proxy(bool with_credentials) {
  ProxyUrl proxy = HttpProxy(with_credentials);
  proxy.kind = v1::ROUTE_KIND_SOCKS5;
  proxy.port = 1080;
  return proxy;
}

TEST(CurlTransport, SocksRepliesAreNamedInWords) {
  // Method "no authentication", then connect reply 2: not allowed.
  OpenResult ruleset = OpenAgainst(
      std::string("\x05\x00\x05\x02\x00\x01\x00\x00\x00\x00\x00\x00", 12), Socks5Proxy(false));
  EXPECT_EQ(ruleset.outcome, v1::OUTCOME_PROXY_ERROR) << ruleset.detail;
  EXPECT_EQ(ruleset.proxy_status, 2u);
  EXPECT_EQ(ruleset.proxy_reply.socks_reply(), "SOCKS5 reply 2: connection not allowed by ruleset");

  OpenResult refused = OpenAgainst(
      std::string("\x05\x00\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00", 12), Socks5Proxy(false));
  EXPECT_EQ(refused.proxy_reply.socks_reply(),
            "SOCKS5 reply 5: connection refused (by the relay, to the proxy)");

  ProxyUrl socks4 = Socks5Proxy(false);
  socks4.kind = v1::ROUTE_KIND_SOCKS4;
  OpenResult rejected = OpenAgainst(std::string("\x00\x5b\x00\x00\x00\x00\x00\x00", 8), socks4);
  EXPECT_EQ(rejected.outcome, v1::OUTCOME_PROXY_ERROR) << rejected.detail;
  EXPECT_EQ(rejected.proxy_status, 91u);
  EXPECT_EQ(rejected.proxy_reply.socks_reply(), "SOCKS4 reply 91: request rejected or failed");
}

TEST(CurlTransport, Socks5MethodAndPasswordRefusalsAreNamed) {
  OpenResult no_method = OpenAgainst(std::string("\x05\xff", 2), Socks5Proxy(false));
  EXPECT_EQ(no_method.outcome, v1::OUTCOME_PROXY_AUTH_REQUIRED) << no_method.detail;
  EXPECT_EQ(no_method.proxy_reply.socks_reply(), std::string(kSocks5NoAcceptableMethod));

  // The proxy picks user/password (2), then rejects it (status 1).
  OpenResult rejected = OpenAgainst(std::string("\x05\x02\x01\x01", 4), Socks5Proxy(true));
  EXPECT_EQ(rejected.outcome, v1::OUTCOME_PROXY_AUTH_FAILED) << rejected.detail;
  EXPECT_THAT(rejected.proxy_reply.socks_reply(), HasSubstr("rejected the user name and password"));
  EXPECT_THAT(rejected.proxy_auth.offered(), ElementsAre(v1::PROXY_AUTH_SCHEME_SOCKS_USERPASS));
  EXPECT_EQ(rejected.proxy_auth.used(), v1::PROXY_AUTH_SCHEME_SOCKS_USERPASS);
  EXPECT_EQ(rejected.detail.find(kPassword), std::string::npos);
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
