// The download check's line in the verdict: its own causes (interception
// trusted or not, SNI filtering, TLS refused), the hop they blame, and that
// download attempts never enter the relays' verdict.
#include <string>
#include <vector>

#include "agent/report/verdict.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace relayscope::agent {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

v1::Catalogue Catalogue() {
  v1::Catalogue c;
  google::protobuf::TextFormat::ParseFromString(
      R"pb(
        name: "dl"
        regions {
          id: "americas"
          display_name: "Americas"
          relays {
            id: "americas-1"
            addresses: "72.15.208.234"
            ports: [ 8200 ]
          }
        }
        downloads {
          id: "plugin"
          display_name: "plugin download"
          region: "americas"
          host: "aos.us.ihost.com"
          addresses: "72.15.208.234"
          ports: [ 8200, 80 ]
        }
      )pb",
      &c);
  return c;
}

v1::Attempt Parse(const std::string& text) {
  v1::Attempt a;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &a)) << text;
  return a;
}

constexpr char kRelayOk[] = R"pb(
  region: "americas"
  relay: "americas-1"
  address: "72.15.208.234"
  port: 8200
  route_kind: ROUTE_KIND_DIRECT
  outcome: OUTCOME_OK
  target: TARGET_RELAY
)pb";

constexpr char kInterceptedDirect[] = R"pb(
  region: "americas"
  relay: "plugin"
  address: "72.15.208.234"
  port: 8200
  route_kind: ROUTE_KIND_DIRECT
  outcome: OUTCOME_TLS_INTERCEPTED
  failed_phase: PHASE_SERVER_TLS
  target: TARGET_DOWNLOAD
  tls {
    sni: "aos.us.ihost.com"
    version: "TLSv1.3"
    certificate {
      subject: "CN=aos.us.ihost.com"
      issuer: "CN=Corp Inspection CA,O=Acme"
      trusted: true
    }
    pin_matched: false
    name_matched: true
  }
)pb";

TEST(DownloadVerdict, TrustedInterceptionIsNamedWithItsIssuerAndTheExemptionToAskFor) {
  const v1::Verdict v = ComputeVerdict(Catalogue(), {Parse(kRelayOk), Parse(kInterceptedDirect)});
  // The relays' verdict knows nothing of the download.
  EXPECT_EQ(v.status(), v1::VERDICT_STATUS_REACHABLE);
  EXPECT_EQ(v.blockers_size(), 0);
  ASSERT_EQ(v.downloads_size(), 1);
  const v1::DownloadCheck& d = v.downloads(0);
  EXPECT_EQ(d.service(), "plugin");
  EXPECT_FALSE(d.reachable());
  ASSERT_EQ(d.blockers_size(), 1);
  EXPECT_EQ(d.blockers(0).kind(), v1::CAUSE_KIND_TLS_INTERCEPTED);
  EXPECT_EQ(d.blockers(0).hop(), v1::HOP_NETWORK);
  EXPECT_EQ(d.blockers(0).evidence().tls().certificate().issuer(), "CN=Corp Inspection CA,O=Acme");
  EXPECT_THAT(d.summary(), HasSubstr("plugin download: blocked, TLS to 72.15.208.234:8200"));
  EXPECT_THAT(d.summary(), HasSubstr("intercepted"));
  EXPECT_THAT(d.summary(), HasSubstr("'CN=Corp Inspection CA,O=Acme'"));
  EXPECT_THAT(d.summary(), HasSubstr("this machine trusts it: a corporate TLS inspection device"));
  EXPECT_THAT(d.summary(), HasSubstr("TLS-inspection exemption for aos.us.ihost.com"));
}

TEST(DownloadVerdict, InterceptionByTheProxyBlamesTheProxyAndDirectClosedIsContext) {
  const v1::Verdict v = ComputeVerdict(
      Catalogue(),
      {Parse(R"pb(region: "americas"
                  relay: "plugin"
                  address: "aos.us.ihost.com"
                  port: 8200
                  route_kind: ROUTE_KIND_HTTP_CONNECT
                  proxy {
                    kind: ROUTE_KIND_HTTP_CONNECT
                    host: "10.0.0.1"
                    port: 3128
                    source: PROXY_SOURCE_ENV
                    source_detail: "https_proxy"
                  }
                  outcome: OUTCOME_TLS_INTERCEPTED
                  failed_phase: PHASE_SERVER_TLS
                  target: TARGET_DOWNLOAD
                  tls {
                    sni: "aos.us.ihost.com"
                    certificate { issuer: "CN=Proxy CA" subject: "CN=aos.us.ihost.com" }
                  })pb"),
       Parse(R"pb(region: "americas"
                  relay: "plugin"
                  address: "72.15.208.234"
                  port: 8200
                  route_kind: ROUTE_KIND_DIRECT
                  outcome: OUTCOME_CONNECT_TIMEOUT
                  failed_phase: PHASE_TCP_CONNECT
                  target: TARGET_DOWNLOAD)pb")});
  ASSERT_EQ(v.downloads_size(), 1);
  const v1::DownloadCheck& d = v.downloads(0);
  ASSERT_GE(d.blockers_size(), 2);
  EXPECT_EQ(d.blockers(0).kind(), v1::CAUSE_KIND_TLS_INTERCEPTED);
  EXPECT_EQ(d.blockers(0).hop(), v1::HOP_PROXY);
  EXPECT_THAT(d.blockers(0).explanation(), HasSubstr("through the HTTP proxy 10.0.0.1:3128"));
  EXPECT_THAT(d.blockers(0).explanation(), HasSubstr("does not trust it"));
  EXPECT_THAT(d.blockers(0).advice(), HasSubstr("proxy administrator"));
  EXPECT_TRUE(d.blockers(1).context());
  EXPECT_THAT(d.summary(), Not(HasSubstr("silently dropping")));
}

TEST(DownloadVerdict, SniFilteringAndTlsRefusedAreExplainedAsSuch) {
  const v1::Verdict sni = ComputeVerdict(
      Catalogue(),
      {Parse(R"pb(region: "americas"
                  relay: "plugin"
                  address: "72.15.208.234"
                  port: 8200
                  route_kind: ROUTE_KIND_DIRECT
                  outcome: OUTCOME_SNI_FILTERED
                  failed_phase: PHASE_SERVER_TLS
                  os_error_name: "ECONNRESET"
                  target: TARGET_DOWNLOAD
                  tls {
                    sni: "aos.us.ihost.com"
                    control { sni: "sni-control.relayscope.invalid" result: RESULT_ANSWERED }
                  })pb")});
  ASSERT_EQ(sni.downloads_size(), 1);
  EXPECT_THAT(sni.downloads(0).summary(), HasSubstr("is cut when the ClientHello names "
                                                    "aos.us.ihost.com"));
  EXPECT_THAT(sni.downloads(0).summary(), HasSubstr("filters TLS by server name (SNI)"));
  EXPECT_THAT(sni.downloads(0).summary(), HasSubstr("allow TLS to aos.us.ihost.com"));

  const v1::Verdict refused = ComputeVerdict(
      Catalogue(), {Parse(R"pb(region: "americas"
                               relay: "plugin"
                               address: "72.15.208.234"
                               port: 8200
                               route_kind: ROUTE_KIND_DIRECT
                               outcome: OUTCOME_TLS_REFUSED
                               failed_phase: PHASE_SERVER_TLS
                               target: TARGET_DOWNLOAD
                               tls { sni: "aos.us.ihost.com" alert: "protocol version" })pb")});
  ASSERT_EQ(refused.downloads_size(), 1);
  EXPECT_EQ(refused.downloads(0).blockers(0).hop(), v1::HOP_RELAY);
  EXPECT_THAT(refused.downloads(0).summary(), HasSubstr("alert 'protocol version'"));
}

TEST(DownloadVerdict, AWorkingRouteMakesItReachableAndAServiceNotTriedSaysSo) {
  v1::Attempt ok = Parse(kInterceptedDirect);
  ok.set_outcome(v1::OUTCOME_OK);
  ok.set_failed_phase(v1::PHASE_UNSPECIFIED);
  const v1::Verdict v = ComputeVerdict(Catalogue(), {ok});
  ASSERT_EQ(v.downloads_size(), 1);
  EXPECT_TRUE(v.downloads(0).reachable());
  EXPECT_THAT(v.downloads(0).summary(), HasSubstr("plugin download: works via plugin "
                                                  "72.15.208.234:8200 via direct"));

  const v1::Verdict none = ComputeVerdict(Catalogue(), {Parse(kRelayOk)});
  ASSERT_EQ(none.downloads_size(), 1);
  EXPECT_FALSE(none.downloads(0).reachable());
  EXPECT_THAT(none.downloads(0).summary(), HasSubstr("not checked"));
}

}  // namespace
}  // namespace relayscope::agent
