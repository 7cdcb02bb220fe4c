// The collector's routes for the upload: asked of discovery as one more
// relay, taken back out of what the diagnosis sees, ordered after the
// --proxy routes, with the credentials the diagnosis was given.
#include "agent/cli/collector_routes.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace relayscope::agent {
namespace {

using ::testing::HasSubstr;

ProxyCandidate Candidate(const std::string& host, uint16_t port) {
  ProxyCandidate c;
  c.url.kind = v1::ROUTE_KIND_HTTP_CONNECT;
  c.url.host = host;
  c.url.port = port;
  c.source = v1::PROXY_SOURCE_ENV;
  c.detail = "https_proxy";
  return c;
}

RelayRoute Via(const ProxyCandidate& c, bool alternative = false) {
  RelayRoute r;
  r.proxy = c;
  r.why = c.detail;
  r.alternative = alternative;
  return r;
}

RelayRoute Direct() {
  RelayRoute r;
  r.direct = true;
  r.why = "last";
  return r;
}

TEST(WithCollector, AddsTheCollectorAsARelayOfItsOwn) {
  v1::Catalogue catalogue;
  catalogue.add_regions()->set_id("emea");
  auto named = WithCollector(catalogue, "collector.example:50051");
  ASSERT_TRUE(named.ok()) << named.status();
  ASSERT_EQ(named->regions_size(), 2);
  const v1::Relay& relay = named->regions(1).relays(0);
  EXPECT_EQ(relay.id(), kCollectorDestinationId);
  EXPECT_EQ(relay.host(), "collector.example");
  EXPECT_EQ(relay.ports(0), 50051u);
  auto v6 = WithCollector(catalogue, "[2001:db8::1]:443");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->regions(1).relays(0).addresses(0), "2001:db8::1");
  EXPECT_EQ(WithCollector(catalogue, "10.0.0.1:9")->regions(1).relays(0).addresses(0), "10.0.0.1");
  for (const char* bad : {"collector", "collector:0", "collector:99999", ":50051", "h:x"}) {
    auto status = WithCollector(catalogue, bad).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(status.message(), HasSubstr("--collector:")) << bad;
  }
}

TEST(TakeCollectorRoutes, LeavesTheDiagnosisOnlyTheRelays) {
  ProxySetup setup;
  const ProxyCandidate shared = Candidate("proxy", 3128);
  const ProxyCandidate only_collector = Candidate("upload-proxy", 8080);
  setup.routes = {shared, only_collector};
  setup.relays.push_back({"emea", "emea-1", "relay", 8200, {Via(shared), Direct()}});
  setup.relays.push_back(
      {kCollectorDestinationId, kCollectorDestinationId, "c", 1, {Via(only_collector), Direct()}});
  PacReport pac;
  pac.answers.push_back({"emea-1", "https://relay:8200/", "DIRECT", {}, "", {}});
  pac.answers.push_back(
      {kCollectorDestinationId, "https://c:1/", "PROXY upload-proxy:8080", {}, "", {}});
  setup.pac.push_back(pac);

  std::optional<RelayRoutes> collector = TakeCollectorRoutes(&setup);
  ASSERT_TRUE(collector.has_value());
  EXPECT_EQ(collector->routes.size(), 2u);
  ASSERT_EQ(setup.relays.size(), 1u);
  EXPECT_EQ(setup.relays[0].relay, "emea-1");
  ASSERT_EQ(setup.routes.size(), 1u);
  EXPECT_EQ(setup.routes[0].url.host, "proxy");
  ASSERT_EQ(setup.pac[0].answers.size(), 1u);
  EXPECT_EQ(setup.pac[0].answers[0].relay, "emea-1");
  EXPECT_FALSE(TakeCollectorRoutes(&setup).has_value());
}

TEST(CollectorUploadRoutes, FlagsFirstThenTheCollectorsListWithoutAlternatives) {
  auto list = RoutesFromProxyFlags({"http://alice:pw@flag-proxy:3128"});
  ASSERT_TRUE(list.ok());
  ASSERT_TRUE(AddDirectRoute(true, &*list).ok());
  RelayRoutes collector;
  collector.routes = {Via(Candidate("pac-proxy", 8080)), Via(Candidate("flag-proxy", 3128)),
                      Direct(), Via(Candidate("bypassed", 1), /*alternative=*/true)};
  std::vector<UploadRoute> routes = CollectorUploadRoutes(*list, 1, collector, true);
  ASSERT_EQ(routes.size(), 3u);
  EXPECT_EQ(routes[0].proxy.host, "flag-proxy");
  EXPECT_EQ(routes[0].proxy.password, "pw");  // the flag's credentials go along
  EXPECT_EQ(routes[1].proxy.host, "pac-proxy");
  EXPECT_TRUE(routes[2].proxy.direct());

  std::vector<UploadRoute> no_direct = CollectorUploadRoutes(*list, 1, collector, false);
  ASSERT_EQ(no_direct.size(), 2u);
  EXPECT_FALSE(no_direct[1].proxy.direct());

  std::vector<UploadRoute> undiscovered = CollectorUploadRoutes(*list, 1, std::nullopt, true);
  ASSERT_EQ(undiscovered.size(), 2u);
  EXPECT_TRUE(undiscovered[1].proxy.direct());
}

TEST(ProxyCredentialMemory, AnAnswerIsGivenOnceAndReusedForTheUpload) {
  ProxyCredentialMemory memory;
  int asked = 0;
  ProxyCredentialsQuestion ask = memory.Remembering([&asked](const v1::Proxy& proxy) {
    ++asked;
    return proxy.host() == "proxy" ? ProxyCredentialMemory::Answer({"alice", "secret"})
                                   : std::nullopt;
  });
  v1::Proxy proxy;
  proxy.set_kind(v1::ROUTE_KIND_HTTP_CONNECT);
  proxy.set_host("proxy");
  proxy.set_port(3128);
  EXPECT_EQ(ask(proxy)->first, "alice");
  EXPECT_EQ(ask(proxy)->second, "secret");
  v1::Proxy other = proxy;
  other.set_host("other");
  EXPECT_FALSE(ask(other).has_value());
  EXPECT_FALSE(ask(other).has_value());  // a refusal is remembered too
  EXPECT_EQ(asked, 2);

  std::vector<UploadRoute> routes(3);
  routes[0].proxy = Candidate("proxy", 3128).url;
  routes[1].proxy = Candidate("other", 3128).url;
  memory.Apply(&routes);
  EXPECT_EQ(routes[0].proxy.username, "alice");
  EXPECT_EQ(routes[0].proxy.password, "secret");
  EXPECT_EQ(routes[1].proxy.username, "");
  EXPECT_TRUE(routes[2].proxy.direct());
}

}  // namespace
}  // namespace relayscope::agent
