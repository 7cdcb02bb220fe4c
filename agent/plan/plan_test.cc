#include "agent/plan/plan.h"

#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace relayscope::agent {
namespace {

v1::Catalogue Seed() {
  v1::Catalogue c;
  google::protobuf::TextFormat::ParseFromString(R"pb(
                                                  regions {
                                                    id: "americas"
                                                    relays {
                                                      id: "americas-1"
                                                      host: "aos.us.ihost.com"
                                                      addresses: "72.15.208.234"
                                                      ports: [ 8200, 80 ]
                                                    }
                                                  }
                                                  regions {
                                                    id: "emea"
                                                    relays {
                                                      id: "emea-1"
                                                      addresses: "81.144.208.229"
                                                      ports: [ 8200, 443, 80 ]
                                                    }
                                                  }
                                                  regions {
                                                    id: "apac"
                                                    relays {
                                                      id: "apac-1"
                                                      host: "apac.example"
                                                      ports: [ 8200, 443, 80 ]
                                                    }
                                                  }
                                                )pb",
                                                &c);
  return c;
}

std::string Key(const PlannedAttempt& a) {
  return a.relay + ":" + std::to_string(a.port) + ":" +
         (a.route->endpoint.kind == v1::ROUTE_KIND_DIRECT ? "direct" : a.route->proxy.host());
}

TEST(Plan, CoversEveryRelayPortAndRouteBreadthFirst) {
  Route proxy;
  proxy.endpoint.kind = v1::ROUTE_KIND_HTTP_CONNECT;
  proxy.proxy.set_host("proxy");
  std::vector<Route> routes = {proxy, DirectRoute()};
  auto plan = Plan(Seed(), routes);
  ASSERT_EQ(plan.size(), 2u * (2 + 3 + 3));
  std::vector<std::string> first;
  for (size_t i = 0; i < 6; ++i) first.push_back(Key(plan[i]));
  // Every region's preferred port over every route before any second port.
  EXPECT_EQ(first, (std::vector<std::string>{"americas-1:8200:proxy", "emea-1:8200:proxy",
                                             "apac-1:8200:proxy", "americas-1:8200:direct",
                                             "emea-1:8200:direct", "apac-1:8200:direct"}));
  EXPECT_EQ(Key(plan[6]), "americas-1:80:proxy");
  EXPECT_EQ(Key(plan.back()), "apac-1:80:direct");
}

TEST(Plan, RelayWithoutAddressIsTriedByHostName) {
  std::vector<Route> routes = {DirectRoute()};
  auto plan = Plan(Seed(), routes);
  EXPECT_EQ(plan[0].address, "72.15.208.234");
  EXPECT_EQ(plan[2].relay, "apac-1");
  EXPECT_EQ(plan[2].address, "apac.example");
}

TEST(Plan, ProxyRouteKeepsCredentialsOutOfTelemetry) {
  auto url = ParseProxyUrl("socks5h://me:secret@127.0.0.9:1080");
  ASSERT_TRUE(url.ok());
  Route route = ProxyRoute(*url, v1::PROXY_SOURCE_ENV, "all_proxy");
  EXPECT_EQ(route.endpoint.kind, v1::ROUTE_KIND_SOCKS5);
  EXPECT_TRUE(route.endpoint.remote_dns);
  EXPECT_EQ(route.endpoint.password, "secret");
  EXPECT_TRUE(route.proxy.has_credentials());
  EXPECT_EQ(route.proxy.source_detail(), "all_proxy");
  EXPECT_EQ(route.proxy.SerializeAsString().find("secret"), std::string::npos);
}

TEST(Plan, AllowedPortsRestrictThePlan) {
  std::vector<Route> routes = {DirectRoute()};
  auto plan = Plan(Seed(), routes, {443});
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(Key(plan[0]), "emea-1:443:direct");
  EXPECT_EQ(Key(plan[1]), "apac-1:443:direct");
}

// A download service is checked beside the relays of the same port rank:
// by address over DIRECT and SOCKS4, by name through proxies that resolve
// names (as a browser asks them).
TEST(Plan, DownloadServicesAreCheckedBesideTheRelaysByNameThroughProxies) {
  v1::Catalogue catalogue = Seed();
  v1::DownloadService* d = catalogue.add_downloads();
  d->set_id("plugin");
  d->set_region("americas");
  d->set_host("aos.us.ihost.com");
  d->add_addresses("72.15.208.234");
  d->add_ports(8200);
  Route http;
  http.endpoint.kind = v1::ROUTE_KIND_HTTP_CONNECT;
  http.proxy.set_host("proxy");
  Route socks4;
  socks4.endpoint.kind = v1::ROUTE_KIND_SOCKS4;
  socks4.proxy.set_host("socks");
  std::vector<Route> routes = {http, socks4, DirectRoute()};
  auto plan = Plan(catalogue, routes);
  std::vector<const PlannedAttempt*> checks;
  for (const PlannedAttempt& p : plan) {
    if (p.download != nullptr) checks.push_back(&p);
  }
  ASSERT_EQ(checks.size(), 3u);
  EXPECT_EQ(checks[0]->address, "aos.us.ihost.com");  // HTTP CONNECT: by name
  EXPECT_EQ(checks[1]->address, "72.15.208.234");     // SOCKS4: the agent resolves
  EXPECT_EQ(checks[2]->address, "72.15.208.234");     // DIRECT
  EXPECT_EQ(checks[0]->relay, "plugin");
  EXPECT_EQ(checks[0]->region, "americas");
  // Port rank 0 of every route comes before any relay's second port.
  // (3 routes x (3 relays + 1 download) attempts of rank 0.)
  EXPECT_LT(checks[2] - plan.data(), 12);
}

}  // namespace
}  // namespace relayscope::agent
