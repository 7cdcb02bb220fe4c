#include "agent/proxy/proxy_url.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace relayscope::agent {
namespace {

TEST(ProxyUrl, ParsesEverySchemeWithCurlsDefaultPorts) {
  struct Case {
    const char* text;
    v1::RouteKind kind;
    uint16_t port;
    bool remote_dns;
  };
  for (const Case& c : {Case{"http://p", v1::ROUTE_KIND_HTTP_CONNECT, 1080, false},
                        Case{"p:3128", v1::ROUTE_KIND_HTTP_CONNECT, 3128, false},
                        Case{"https://p", v1::ROUTE_KIND_HTTPS_PROXY, 443, false},
                        Case{"socks4://p", v1::ROUTE_KIND_SOCKS4, 1080, false},
                        Case{"socks4a://p:1", v1::ROUTE_KIND_SOCKS4A, 1, true},
                        Case{"SOCKS5://p:2", v1::ROUTE_KIND_SOCKS5, 2, false},
                        Case{"socks5h://p:3/", v1::ROUTE_KIND_SOCKS5, 3, true}}) {
    auto url = ParseProxyUrl(c.text);
    ASSERT_TRUE(url.ok()) << c.text << ": " << url.status();
    EXPECT_EQ(url->kind, c.kind) << c.text;
    EXPECT_EQ(url->port, c.port) << c.text;
    EXPECT_EQ(url->remote_dns, c.remote_dns) << c.text;
    EXPECT_EQ(url->host, "p") << c.text;
  }
}

TEST(ProxyUrl, DecodesCredentialsAndNeverShowsThePassword) {
  auto url = ParseProxyUrl("http://dom%5Cal:p%40ss%3Aword@[::1]:3128");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->username, "dom\\al");
  EXPECT_EQ(url->password, "p@ss:word");
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->Redacted(), "http://dom\\al:****@[::1]:3128");
}

TEST(ProxyUrl, RejectsWhatCannotBeAProxy) {
  for (const char* bad :
       {"", "ftp://p:21", "http://:3128", "http://p:0", "http://p:99999", "http://p:abc",
        "fe80::1:3128", "http://[::1", "http://a b:1", "http://u:%zz@p:1"}) {
    EXPECT_FALSE(ParseProxyUrl(bad).ok()) << bad;
  }
  EXPECT_EQ(ParseProxyUrl("ftp://p").status().message(), "unknown proxy scheme \"ftp\"");
}

TEST(ProxyUrl, APasswordWithoutAUserNameIsAnErrorThatDoesNotShowIt) {
  const auto url = ParseProxyUrl("http://:S3cret-pw@proxy.corp:3128");
  ASSERT_FALSE(url.ok());
  EXPECT_THAT(url.status().message(), ::testing::HasSubstr("password without a user name"));
  EXPECT_THAT(url.status().message(), ::testing::Not(::testing::HasSubstr("S3cret")));
  // An empty user-info, or a user name alone, is still fine.
  EXPECT_TRUE(ParseProxyUrl("http://:@proxy.corp:3128").ok());
  EXPECT_TRUE(ParseProxyUrl("http://alice@proxy.corp:3128").ok());
}

}  // namespace
}  // namespace relayscope::agent
