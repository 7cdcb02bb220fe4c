#include "agent/report/verdict.h"

#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace relayscope::agent {
namespace {

using ::testing::HasSubstr;

v1::Catalogue SeedCatalogue() {
  v1::Catalogue c;
  google::protobuf::TextFormat::ParseFromString(R"pb(
                                                  name: "aos"
                                                  regions {
                                                    id: "americas"
                                                    display_name: "Americas"
                                                    relays {
                                                      id: "americas-1"
                                                      addresses: "72.15.208.234"
                                                      ports: [ 8200, 80 ]
                                                    }
                                                  }
                                                  regions {
                                                    id: "emea"
                                                    display_name: "EMEA"
                                                    relays {
                                                      id: "emea-1"
                                                      addresses: "81.144.208.229"
                                                      ports: [ 8200, 443, 80 ]
                                                    }
                                                  }
                                                )pb",
                                                &c);
  return c;
}

v1::Attempt MakeAttempt(const std::string& region, const std::string& relay,
                        const std::string& address, uint32_t port, v1::Outcome outcome,
                        int64_t millis = 10) {
  v1::Attempt a;
  a.set_region(region);
  a.set_relay(relay);
  a.set_address(address);
  a.set_port(port);
  a.set_route_kind(v1::ROUTE_KIND_DIRECT);
  a.set_outcome(outcome);
  a.mutable_total_duration()->set_nanos(static_cast<int32_t>(millis * 1000000));
  return a;
}

TEST(Verdict, SeedScenarioNamesTheTransparentProxyAndTheDroppedPort) {
  std::vector<v1::Attempt> attempts = {
      MakeAttempt("americas", "americas-1", "72.15.208.234", 8200, v1::OUTCOME_CONNECT_TIMEOUT),
      MakeAttempt("americas", "americas-1", "72.15.208.234", 80, v1::OUTCOME_OK, 30),
      MakeAttempt("emea", "emea-1", "81.144.208.229", 8200, v1::OUTCOME_CONNECT_TIMEOUT),
      MakeAttempt("emea", "emea-1", "81.144.208.229", 443, v1::OUTCOME_OK, 20),
      MakeAttempt("emea", "emea-1", "81.144.208.229", 80, v1::OUTCOME_PROTOCOL_INTERFERENCE),
  };
  attempts[4].mutable_interference()->set_status_line("HTTP/1.0 400 Bad Request");
  attempts[4].mutable_interference()->set_page_title("Request Error");

  v1::Verdict v = ComputeVerdict(SeedCatalogue(), attempts);
  EXPECT_EQ(v.status(), v1::VERDICT_STATUS_REACHABLE);
  ASSERT_EQ(v.working_size(), 2);
  EXPECT_THAT(v.working(0), HasSubstr("emea-1 81.144.208.229:443 via direct"));  // fastest first
  EXPECT_THAT(v.summary(), HasSubstr("all 2 regions work"));
  ASSERT_EQ(v.blockers_size(), 2);
  // Port 8200 dropped on both relays: one blocker for all, naming the port.
  EXPECT_EQ(v.blockers(0).outcome(), v1::OUTCOME_CONNECT_TIMEOUT);
  EXPECT_EQ(v.blockers(0).relay(), "");
  EXPECT_THAT(v.blockers(0).explanation(), HasSubstr("On every relay"));
  EXPECT_THAT(v.blockers(0).advice(), HasSubstr("outbound TCP port 8200"));
  EXPECT_THAT(v.blockers(0).advice(), HasSubstr("72.15.208.234, 81.144.208.229"));
  // Port 80 intercepted on one relay.
  EXPECT_EQ(v.blockers(1).relay(), "emea-1");
  EXPECT_THAT(v.blockers(1).explanation(), HasSubstr("HTTP/1.0 400 Bad Request \"Request Error\""));
  EXPECT_THAT(v.blockers(1).explanation(), HasSubstr("transparent proxy"));
}

TEST(Verdict, RegionWithoutAnyWorkingRouteMakesItDegraded) {
  std::vector<v1::Attempt> attempts = {
      MakeAttempt("americas", "americas-1", "72.15.208.234", 8200, v1::OUTCOME_OK),
      MakeAttempt("emea", "emea-1", "81.144.208.229", 8200, v1::OUTCOME_CONNECTION_REFUSED),
  };
  v1::Verdict v = ComputeVerdict(SeedCatalogue(), attempts);
  EXPECT_EQ(v.status(), v1::VERDICT_STATUS_DEGRADED);
  EXPECT_THAT(v.summary(), HasSubstr("1 of 2 regions work; no route to EMEA"));
  ASSERT_EQ(v.blockers_size(), 1);
  EXPECT_THAT(v.blockers(0).advice(), HasSubstr("allow outbound TCP to 81.144.208.229:8200"));
}

TEST(Verdict, NothingWorkingIsUnreachableWithTheMainCause) {
  v1::Attempt a =
      MakeAttempt("emea", "emea-1", "81.144.208.229", 443, v1::OUTCOME_PROXY_AUTH_REQUIRED);
  a.set_route_kind(v1::ROUTE_KIND_HTTP_CONNECT);
  a.mutable_proxy()->set_host("127.0.0.9");
  a.mutable_proxy()->set_port(3128);
  a.mutable_proxy()->set_source(v1::PROXY_SOURCE_ENV);
  a.mutable_proxy()->set_source_detail("https_proxy");
  a.set_proxy_status(407);
  a.set_failed_phase(v1::PHASE_PROXY_NEGOTIATION);
  v1::Verdict v = ComputeVerdict(SeedCatalogue(), {a});
  EXPECT_EQ(v.status(), v1::VERDICT_STATUS_UNREACHABLE);
  EXPECT_THAT(v.summary(), HasSubstr("requires authentication (407)"));
  EXPECT_THAT(v.summary(), HasSubstr("(1 attempt)"));
  EXPECT_THAT(v.blockers(0).advice(), HasSubstr("--proxy-user"));
  EXPECT_EQ(DescribeRoute(a), "HTTP proxy 127.0.0.9:3128 (from env https_proxy)");
}

TEST(Verdict, EmptyAttemptListSaysNothingWasTried) {
  v1::Verdict v = ComputeVerdict(SeedCatalogue(), {});
  EXPECT_EQ(v.status(), v1::VERDICT_STATUS_UNREACHABLE);
  EXPECT_THAT(v.summary(), HasSubstr("Nothing was tried"));
}

TEST(Verdict, ProxyRedirectIsExplainedAsPolicyPage) {
  v1::Attempt a = MakeAttempt("emea", "emea-1", "81.144.208.229", 8200, v1::OUTCOME_PROXY_ERROR);
  a.set_route_kind(v1::ROUTE_KIND_HTTP_CONNECT);
  a.mutable_proxy()->set_host("127.0.0.9");
  a.mutable_proxy()->set_port(3128);
  a.set_proxy_status(302);
  v1::Verdict v = ComputeVerdict(SeedCatalogue(), {a});
  EXPECT_THAT(v.blockers(0).explanation(), HasSubstr("redirects CONNECT to port 8200 (HTTP 302)"));
  EXPECT_THAT(v.blockers(0).advice(), HasSubstr("allow CONNECT to 81.144.208.229:8200"));
}

TEST(Verdict, EveryOutcomeHasAnExplanationAndAdvice) {
  for (int o = v1::OUTCOME_DNS_FAILURE; o <= v1::OUTCOME_HANDSHAKE_INVALID; ++o) {
    v1::Attempt a =
        MakeAttempt("emea", "emea-1", "81.144.208.229", 80, static_cast<v1::Outcome>(o));
    v1::Verdict v = ComputeVerdict(SeedCatalogue(), {a});
    ASSERT_EQ(v.blockers_size(), 1) << o;
    EXPECT_FALSE(v.blockers(0).explanation().empty()) << v1::Outcome_Name(o);
    EXPECT_FALSE(v.blockers(0).advice().empty()) << v1::Outcome_Name(o);
  }
}

}  // namespace
}  // namespace relayscope::agent
