#include "agent/attempt/proxy_evidence.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace relayscope::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

ConnectReplyEvidence Fed(std::initializer_list<std::string> lines) {
  ConnectReplyEvidence evidence;
  for (const std::string& line : lines) evidence.AddHeaderLine(line);
  return evidence;
}

TEST(ConnectReplyEvidence, KeepsStatusLineServerAndVia) {
  ConnectReplyEvidence e =
      Fed({"HTTP/1.1 403 Forbidden\r\n", "Server: squid/5.7\r\n",
           "Via: 1.1 proxy.corp (squid/5.7)\r\n", "Content-Length: 0\r\n", "\r\n"});
  EXPECT_EQ(e.reply().status_line(), "HTTP/1.1 403 Forbidden");
  EXPECT_EQ(e.reply().server(), "squid/5.7");
  EXPECT_EQ(e.reply().via(), "1.1 proxy.corp (squid/5.7)");
  EXPECT_FALSE(e.challenged());
}

TEST(ConnectReplyEvidence, OffersSchemesInOrderWithoutDuplicatesAndIgnoresUnknownOnes) {
  ConnectReplyEvidence e =
      Fed({"HTTP/1.1 407 Proxy Authentication Required", "Proxy-Authenticate: Negotiate",
           "Proxy-Authenticate: NTLM", "proxy-authenticate: Bearer realm=\"api\"",
           "Proxy-Authenticate: Digest realm=\"corp, west\", nonce=\"abc\", "
           "qop=\"auth\", Basic realm=\"other\"",
           "Proxy-Authenticate: ntlm"});
  EXPECT_THAT(e.auth().offered(),
              ElementsAre(v1::PROXY_AUTH_SCHEME_NEGOTIATE, v1::PROXY_AUTH_SCHEME_NTLM,
                          v1::PROXY_AUTH_SCHEME_DIGEST, v1::PROXY_AUTH_SCHEME_BASIC));
  // The first Basic/Digest realm; the Bearer one is not a realm we keep.
  EXPECT_EQ(e.auth().realm(), "corp, west");
  EXPECT_EQ(e.auth().used(), v1::PROXY_AUTH_SCHEME_UNSPECIFIED);
}

TEST(ConnectReplyEvidence, TheLastReplysStatusWinsTheChallengesAccumulate) {
  ConnectReplyEvidence e = Fed({"HTTP/1.1 407 Proxy Authentication Required", "Server: squid/5.7",
                                "Proxy-Authenticate: Basic realm=\"relayscope-rig\"", "",
                                "HTTP/1.1 200 Connection established", ""});
  EXPECT_EQ(e.reply().status_line(), "HTTP/1.1 200 Connection established");
  EXPECT_EQ(e.reply().server(), "");
  EXPECT_THAT(e.auth().offered(), ElementsAre(v1::PROXY_AUTH_SCHEME_BASIC));
  EXPECT_EQ(e.auth().realm(), "relayscope-rig");
}

TEST(ConnectReplyEvidence, RealmUnquotesEscapesAndIsCappedAndEscaped) {
  ConnectReplyEvidence quoted = Fed({"Proxy-Authenticate: Basic realm=\"a \\\"b\\\" c\""});
  EXPECT_EQ(quoted.auth().realm(), "a \"b\" c");
  ConnectReplyEvidence token = Fed({"Proxy-Authenticate: Basic realm=corp"});
  EXPECT_EQ(token.auth().realm(), "corp");
  ConnectReplyEvidence hostile = Fed({std::string("Proxy-Authenticate: Basic realm=\"") +
                                      "\x01\xff" + std::string(500, 'r') + "\""});
  EXPECT_EQ(hostile.auth().realm().substr(0, 8), "\\x01\\xff");
  EXPECT_LE(hostile.auth().realm().size(), kMaxRealm);
  ConnectReplyEvidence unterminated = Fed({"Proxy-Authenticate: Digest realm=\"open"});
  EXPECT_EQ(unterminated.auth().realm(), "open");
}

TEST(ConnectReplyEvidence, HostileHeadersNeverOverflowOrCrash) {
  ConnectReplyEvidence e;
  e.AddHeaderLine(std::string("HTTP/1.1 407 \0evil\x7f", 19) + std::string(100000, 'x'));
  e.AddHeaderLine(std::string("Server: ") + std::string(100000, 's'));
  e.AddHeaderLine(std::string("Via: a\0b\r\n", 10));
  e.AddHeaderLine("no colon at all");
  e.AddHeaderLine("");
  e.AddHeaderLine(":");
  e.AddHeaderLine("Proxy-Authenticate:");
  e.AddHeaderLine("Proxy-Authenticate: ,,,=,\"\\");
  e.AddHeaderLine("Proxy-Authenticate: \"unterminated, Basic");
  e.AddHeaderLine(std::string("Proxy-Authenticate: ") + std::string(100000, ','));
  for (int i = 0; i < 1000; ++i) e.AddHeaderLine("Proxy-Authenticate: NTLM, Basic realm=x");
  EXPECT_EQ(e.reply().status_line().substr(0, 25), "HTTP/1.1 407 \\x00evil\\x7f");
  EXPECT_LE(e.reply().status_line().size(), kMaxReplyField);
  EXPECT_EQ(e.reply().server().size(), kMaxReplyField);
  EXPECT_EQ(e.reply().via(), "a\\x00b");
  EXPECT_THAT(e.auth().offered(),
              ElementsAre(v1::PROXY_AUTH_SCHEME_NTLM, v1::PROXY_AUTH_SCHEME_BASIC));
  EXPECT_EQ(e.auth().realm(), "x");
}

TEST(AuthSchemeNamed, KnowsTheFourHttpSchemesInAnyCase) {
  EXPECT_EQ(AuthSchemeNamed("basic"), v1::PROXY_AUTH_SCHEME_BASIC);
  EXPECT_EQ(AuthSchemeNamed("DIGEST"), v1::PROXY_AUTH_SCHEME_DIGEST);
  EXPECT_EQ(AuthSchemeNamed("Ntlm"), v1::PROXY_AUTH_SCHEME_NTLM);
  EXPECT_EQ(AuthSchemeNamed("Negotiate"), v1::PROXY_AUTH_SCHEME_NEGOTIATE);
  EXPECT_EQ(AuthSchemeNamed("Kerberos"), v1::PROXY_AUTH_SCHEME_UNSPECIFIED);
  EXPECT_THAT(Fed({"Proxy-Authenticate: Kerberos"}).auth().offered(), IsEmpty());
}

TEST(SocksReplyMeaning, NamesRfc1928CodesAndSocks4Replies) {
  EXPECT_EQ(SocksReplyMeaning(5, 1), "SOCKS5 reply 1: general SOCKS server failure");
  EXPECT_EQ(SocksReplyMeaning(5, 2), "SOCKS5 reply 2: connection not allowed by ruleset");
  EXPECT_EQ(SocksReplyMeaning(5, 3), "SOCKS5 reply 3: network unreachable (from the proxy)");
  EXPECT_EQ(SocksReplyMeaning(5, 4), "SOCKS5 reply 4: host unreachable (from the proxy)");
  EXPECT_EQ(SocksReplyMeaning(5, 5),
            "SOCKS5 reply 5: connection refused (by the relay, to the proxy)");
  EXPECT_EQ(SocksReplyMeaning(5, 6), "SOCKS5 reply 6: TTL expired");
  EXPECT_EQ(SocksReplyMeaning(5, 7), "SOCKS5 reply 7: command not supported");
  EXPECT_EQ(SocksReplyMeaning(5, 8), "SOCKS5 reply 8: address type not supported");
  EXPECT_EQ(SocksReplyMeaning(5, 42), "SOCKS5 reply 42: unassigned");
  EXPECT_EQ(SocksReplyMeaning(4, 91), "SOCKS4 reply 91: request rejected or failed");
  EXPECT_EQ(SocksReplyMeaning(4, 92),
            "SOCKS4 reply 92: request rejected: the proxy cannot reach identd on this machine");
  EXPECT_EQ(SocksReplyMeaning(4, 93),
            "SOCKS4 reply 93: request rejected: identd reports a different user");
}

}  // namespace
}  // namespace relayscope::agent
