#include "agent/cli/routes.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace relayscope::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

ProxyCandidate Candidate(const std::string& url, v1::ProxySource source, const std::string& detail,
                         std::vector<std::string> bypass = {}) {
  ProxyCandidate candidate;
  candidate.url = *ParseProxyUrl(url);
  candidate.source = source;
  candidate.detail = detail;
  candidate.bypass = std::move(bypass);
  return candidate;
}

std::vector<std::string> Describe(const RouteList& list) {
  std::vector<std::string> out;
  for (const Route& route : list.routes) {
    out.push_back(route.proxy.kind() == v1::ROUTE_KIND_DIRECT
                      ? "direct"
                      : absl::StrCat(v1::RouteKind_Name(route.proxy.kind()), " ",
                                     route.proxy.host(), ":", route.proxy.port(), " ",
                                     route.proxy.source_detail()));
  }
  return out;
}

TEST(RoutesFromProxyFlags, KeepsTheFlagOrderAndTagsThemAsFlags) {
  auto list = RoutesFromProxyFlags({"http://a.corp:3128", "socks5://b.corp:1080"});
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_THAT(Describe(*list), ElementsAre("ROUTE_KIND_HTTP_CONNECT a.corp:3128 --proxy",
                                           "ROUTE_KIND_SOCKS5 b.corp:1080 --proxy"));
  ASSERT_EQ(list->discovered.size(), 2u);
  EXPECT_EQ(list->discovered[0].proxy().source(), v1::PROXY_SOURCE_FLAG);
  EXPECT_EQ(list->discovered[1].proxy().host(), "b.corp");
}

TEST(RoutesFromProxyFlags, ABadProxyIsAUsageErrorNamingTheFlag) {
  auto list = RoutesFromProxyFlags({"http://a.corp:3128", "ftp://b.corp:21"});
  EXPECT_EQ(list.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(list.status().message(), HasSubstr("--proxy: "));
  EXPECT_THAT(list.status().message(), HasSubstr("ftp"));
}

TEST(RoutesFromProxyFlags, TheErrorOfABadProxyNeverHoldsItsPassword) {
  auto list = RoutesFromProxyFlags({"http://me:Hunter2-secret@proxy.corp:99999"});
  ASSERT_EQ(list.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(list.status().message(), Not(HasSubstr("Hunter2-secret")));
}

TEST(RoutesFromProxyFlags, CredentialsGoToTheEndpointNotToTheTelemetry) {
  auto list = RoutesFromProxyFlags({"http://me:Hunter2-secret@proxy.corp:3128"});
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_TRUE(list->discovered[0].proxy().has_credentials());
  EXPECT_THAT(list->discovered[0].DebugString(), Not(HasSubstr("Hunter2-secret")));
}

TEST(AddDiscoveredRoutes, SkipsAProxyAlreadyGivenWithProxy) {
  auto list = RoutesFromProxyFlags({"http://proxy.corp:3128"});
  ASSERT_TRUE(list.ok());
  AddDiscoveredRoutes({Candidate("http://proxy.corp:3128", v1::PROXY_SOURCE_ENV, "https_proxy"),
                       Candidate("http://other.corp:8080", v1::PROXY_SOURCE_FIREFOX, "prefs.js:3")},
                      &*list);
  EXPECT_THAT(Describe(*list), ElementsAre("ROUTE_KIND_HTTP_CONNECT proxy.corp:3128 --proxy",
                                           "ROUTE_KIND_HTTP_CONNECT other.corp:8080 prefs.js:3"));
  ASSERT_EQ(list->discovered.size(), 2u);
}

// Kind, host and port together decide: the same host and port as SOCKS5
// is another route.
TEST(AddDiscoveredRoutes, TheSameHostAndPortOfAnotherKindIsKept) {
  auto list = RoutesFromProxyFlags({"http://proxy.corp:1080"});
  ASSERT_TRUE(list.ok());
  AddDiscoveredRoutes({Candidate("socks5://proxy.corp:1080", v1::PROXY_SOURCE_ENV, "all_proxy"),
                       Candidate("http://proxy.corp:1081", v1::PROXY_SOURCE_ENV, "http_proxy")},
                      &*list);
  EXPECT_THAT(Describe(*list), ElementsAre("ROUTE_KIND_HTTP_CONNECT proxy.corp:1080 --proxy",
                                           "ROUTE_KIND_SOCKS5 proxy.corp:1080 all_proxy",
                                           "ROUTE_KIND_HTTP_CONNECT proxy.corp:1081 http_proxy"));
}

TEST(AddDiscoveredRoutes, TheFirstSourceOfADuplicateWinsAndKeepsItsBypass) {
  RouteList list;
  AddDiscoveredRoutes(
      {Candidate("http://proxy.corp:3128", v1::PROXY_SOURCE_FIREFOX, "prefs.js:3", {".corp"}),
       Candidate("http://proxy.corp:3128", v1::PROXY_SOURCE_ENV, "https_proxy", {"localhost"})},
      &list);
  ASSERT_EQ(list.routes.size(), 1u);
  EXPECT_EQ(list.routes[0].proxy.source(), v1::PROXY_SOURCE_FIREFOX);
  ASSERT_EQ(list.discovered.size(), 1u);
  EXPECT_THAT(list.discovered[0].bypass(), ElementsAre(".corp"));
}

TEST(AddDirectRoute, DirectComesLast) {
  auto list = RoutesFromProxyFlags({"http://proxy.corp:3128"});
  ASSERT_TRUE(list.ok());
  AddDiscoveredRoutes({Candidate("socks5://s.corp:1080", v1::PROXY_SOURCE_ENV, "all_proxy")},
                      &*list);
  ASSERT_TRUE(AddDirectRoute(true, &*list).ok());
  EXPECT_THAT(Describe(*list), ElementsAre("ROUTE_KIND_HTTP_CONNECT proxy.corp:3128 --proxy",
                                           "ROUTE_KIND_SOCKS5 s.corp:1080 all_proxy", "direct"));
  // DIRECT is a route, not a proxy the session reports.
  EXPECT_EQ(list->discovered.size(), 2u);
}

TEST(AddDirectRoute, NoProxyAndNoDirectIsAUsageError) {
  RouteList list;
  absl::Status status = AddDirectRoute(false, &list);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "no route to try: give --proxy or keep --direct");
}

TEST(AddDirectRoute, ProxiesWithoutDirectAreEnough) {
  auto list = RoutesFromProxyFlags({"http://proxy.corp:3128"});
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(AddDirectRoute(false, &*list).ok());
  EXPECT_EQ(list->routes.size(), 1u);
}

TEST(ParsePortFlags, ParsesPortsInOrder) {
  auto ports = ParsePortFlags({"8200", "443", "1", "65535"});
  ASSERT_TRUE(ports.ok()) << ports.status();
  EXPECT_THAT(*ports, ElementsAre(8200, 443, 1, 65535));
}

TEST(ParsePortFlags, NoneIsEveryPort) {
  auto ports = ParsePortFlags({});
  ASSERT_TRUE(ports.ok());
  EXPECT_TRUE(ports->empty());
}

TEST(ParsePortFlags, ANonPortIsAUsageErrorQuotingIt) {
  for (const std::string bad : {"http", "0", "65536", "-1", "80x", ""}) {
    auto ports = ParsePortFlags({"8200", bad});
    EXPECT_EQ(ports.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(ports.status().message(), absl::StrCat("--ports: \"", bad, "\" is not a port"));
  }
}

}  // namespace
}  // namespace relayscope::agent
