// Diagnose through the scripted FakeTransport on a FakeClock: the 407
// retry (asked once per proxy, remembered, wrong credentials named), that no
// password reaches the report, and how attempts are folded into the
// SessionReport. The same behaviour against squid and real relays is
// diagnose_rig_test.
#include "agent/session/diagnose.h"

#include <string>
#include <utility>

#include "agent/attempt/fake_transport.h"
#include "common/fake_clock.h"
#include "common/proto_time.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace relayscope::agent {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Connect = FakeTransport::Connect;
using Peer = FakeTransport::Peer;

constexpr char kPassword[] = "correct horse";
const Destination kEmea8200{"192.0.2.10", 8200};
const Destination kEmea443{"192.0.2.10", 443};
const Destination kAmericas8200{"192.0.2.20", 8200};

ProxyUrl CorporateProxy() {
  ProxyUrl url;
  url.kind = v1::ROUTE_KIND_HTTP_CONNECT;
  url.host = "10.0.0.1";
  url.port = 3128;
  return url;
}

class DiagnoseTest : public ::testing::Test {
 protected:
  DiagnoseTest() : transport_(&clock_) {
    clock_.AdvanceOnSleep(true);
    // Planned as emea-1:8200, americas-1:8200, then emea-1:443 (every
    // region's first port before anyone's second).
    EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(
        R"pb(name: "test"
             regions {
               id: "emea"
               relays { id: "emea-1" addresses: "192.0.2.10" ports: 8200 ports: 443 }
             }
             regions {
               id: "americas"
               relays { id: "americas-1" addresses: "192.0.2.20" ports: 8200 }
             })pb",
        &catalogue_));
    options_.transport = &transport_;
  }

  void ScriptEveryRelay(const ProxyUrl& proxy, const Connect& connect) {
    for (const Destination& d : {kEmea8200, kEmea443, kAmericas8200}) {
      transport_.Script(d, proxy, connect, Peer::kRelay);
    }
  }
  v1::SessionReport RunThroughTheProxy() {
    return Diagnose(catalogue_, {ProxyRoute(CorporateProxy(), v1::PROXY_SOURCE_FLAG, "--proxy")},
                    {}, options_);
  }

  FakeClock clock_;
  FakeTransport transport_;
  v1::Catalogue catalogue_;
  DiagnoseOptions options_;
};

TEST_F(DiagnoseTest, ProxyAuthIsAskedOnceOnTheFirst407ThenRetriedAndRemembered) {
  ScriptEveryRelay(CorporateProxy(), Connect::ProxyAuth("alice", kPassword));
  int asked = 0;
  options_.ask_credentials = [&](const v1::Proxy& proxy) {
    ++asked;
    EXPECT_EQ(proxy.host(), "10.0.0.1");
    EXPECT_EQ(proxy.port(), 3128u);
    return std::make_optional(std::make_pair(std::string("alice"), std::string(kPassword)));
  };
  const v1::SessionReport report = RunThroughTheProxy();
  EXPECT_EQ(asked, 1);
  // The challenge stays in the telemetry, before its retry; the later
  // attempts use the remembered credentials straight away.
  ASSERT_EQ(report.attempts_size(), 4);
  const v1::Attempt& challenge = report.attempts(0);
  EXPECT_EQ(challenge.outcome(), v1::OUTCOME_PROXY_AUTH_REQUIRED);
  EXPECT_EQ(challenge.proxy_status(), 407u);
  EXPECT_FALSE(challenge.proxy().has_credentials());
  const v1::Attempt& retry = report.attempts(1);
  EXPECT_EQ(retry.relay(), challenge.relay());
  EXPECT_EQ(retry.port(), challenge.port());
  EXPECT_GT(FromProtoTimestamp(retry.start_time()), FromProtoTimestamp(challenge.start_time()));
  for (int i = 1; i < 4; ++i) {
    EXPECT_EQ(report.attempts(i).outcome(), v1::OUTCOME_OK) << i;
    EXPECT_TRUE(report.attempts(i).proxy().has_credentials()) << i;
    EXPECT_EQ(report.attempts(i).proxy().source(), v1::PROXY_SOURCE_FLAG);
  }
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(report.attempts(i).sequence(), static_cast<uint64_t>(i + 1));
  }
  const auto opened = transport_.opened();
  ASSERT_EQ(opened.size(), 4u);
  EXPECT_EQ(opened[0].proxy.username, "");
  for (size_t i = 1; i < 4; ++i) EXPECT_EQ(opened[i].proxy.username, "alice") << i;
  EXPECT_EQ(transport_.confirmations(), 3);
  EXPECT_EQ(report.verdict().status(), v1::VERDICT_STATUS_REACHABLE);
  EXPECT_THAT(report.SerializeAsString(), Not(HasSubstr(kPassword)));
}

TEST_F(DiagnoseTest, WrongCredentialsAreProxyAuthFailedAndNeverShown) {
  ScriptEveryRelay(CorporateProxy(), Connect::ProxyAuth("alice", kPassword));
  int asked = 0;
  options_.ask_credentials = [&](const v1::Proxy&) {
    ++asked;
    return std::make_optional(std::make_pair(std::string("alice"), std::string("Wr0ng-pass")));
  };
  const v1::SessionReport report = RunThroughTheProxy();
  EXPECT_EQ(asked, 1);
  ASSERT_EQ(report.attempts_size(), 4);
  EXPECT_EQ(report.attempts(0).outcome(), v1::OUTCOME_PROXY_AUTH_REQUIRED);
  for (int i = 1; i < 4; ++i) {
    EXPECT_EQ(report.attempts(i).outcome(), v1::OUTCOME_PROXY_AUTH_FAILED) << i;
    EXPECT_THAT(report.attempts(i).detail(), HasSubstr("rejected the credentials (407)"));
  }
  EXPECT_EQ(report.verdict().status(), v1::VERDICT_STATUS_UNREACHABLE);
  EXPECT_THAT(report.SerializeAsString(), Not(HasSubstr("Wr0ng-pass")));
}

TEST_F(DiagnoseTest, WithNobodyToAskThe407Stands) {
  ScriptEveryRelay(CorporateProxy(), Connect::ProxyAuth("alice", kPassword));
  const v1::SessionReport report = RunThroughTheProxy();
  ASSERT_EQ(report.attempts_size(), 3);
  for (const v1::Attempt& a : report.attempts()) {
    EXPECT_EQ(a.outcome(), v1::OUTCOME_PROXY_AUTH_REQUIRED);
  }
  EXPECT_EQ(report.verdict().status(), v1::VERDICT_STATUS_UNREACHABLE);
  EXPECT_THAT(report.verdict().summary(), HasSubstr("requires authentication (407)"));
}

TEST_F(DiagnoseTest, AttemptsAreFoldedIntoTheReportInStartOrderWithTheirPhases) {
  transport_.Script(kEmea8200, ProxyUrl::Direct(), Connect::Timeout());
  transport_.Script(kAmericas8200, ProxyUrl::Direct(), Connect::Open(), Peer::kRelay);
  transport_.Script(kEmea443, ProxyUrl::Direct(), Connect::Open(), Peer::kHttpPage);
  // Sequential: each attempt's fake time is its own (racing attempts would
  // share the clock they each advance).
  options_.race.sequential = true;
  options_.race.attempt_timeout = absl::Seconds(2);
  options_.session_id = "session-1";
  const absl::Time t0 = clock_.Now();
  const v1::SessionReport report = Diagnose(catalogue_, {DirectRoute()}, {}, options_);

  EXPECT_EQ(report.session_id(), "session-1");
  EXPECT_EQ(FromProtoTimestamp(report.start_time()), t0);
  ASSERT_EQ(report.attempts_size(), 3);
  for (int i = 0; i < 3; ++i) {
    const v1::Attempt& a = report.attempts(i);
    EXPECT_EQ(a.sequence(), static_cast<uint64_t>(i + 1));
    EXPECT_EQ(a.session_id(), "session-1");
    EXPECT_EQ(a.route_kind(), v1::ROUTE_KIND_DIRECT);
    EXPECT_FALSE(a.has_proxy());
  }
  const v1::Attempt& dropped = report.attempts(0);
  EXPECT_EQ(dropped.region(), "emea");
  EXPECT_EQ(dropped.relay(), "emea-1");
  EXPECT_EQ(dropped.port(), 8200u);
  EXPECT_EQ(dropped.outcome(), v1::OUTCOME_CONNECT_TIMEOUT);
  EXPECT_EQ(FromProtoTimestamp(dropped.start_time()), t0);
  ASSERT_EQ(dropped.phases_size(), 1);
  EXPECT_EQ(dropped.phases(0).phase(), v1::PHASE_TCP_CONNECT);
  EXPECT_EQ(FromProtoDuration(dropped.phases(0).duration()), absl::Seconds(2));

  const v1::Attempt& ok = report.attempts(1);
  EXPECT_EQ(ok.relay(), "americas-1");
  EXPECT_EQ(ok.outcome(), v1::OUTCOME_OK);
  EXPECT_EQ(FromProtoTimestamp(ok.start_time()), t0 + absl::Seconds(2));
  ASSERT_EQ(ok.phases_size(), 2);
  EXPECT_EQ(ok.phases(0).phase(), v1::PHASE_TCP_CONNECT);
  EXPECT_EQ(ok.phases(1).phase(), v1::PHASE_HANDSHAKE);
  EXPECT_TRUE(ok.phases(1).completed());

  const v1::Attempt& intercepted = report.attempts(2);
  EXPECT_EQ(intercepted.relay(), "emea-1");
  EXPECT_EQ(intercepted.port(), 443u);
  EXPECT_EQ(intercepted.outcome(), v1::OUTCOME_PROTOCOL_INTERFERENCE);
  EXPECT_EQ(intercepted.interference().page_title(), "Request Error");
  EXPECT_EQ(FromProtoTimestamp(intercepted.start_time()),
            t0 + absl::Seconds(2) + absl::Milliseconds(30));

  EXPECT_EQ(FromProtoTimestamp(report.end_time()), t0 + absl::Seconds(2) + absl::Milliseconds(60));
  // americas works, emea does not (dropped, intercepted).
  EXPECT_EQ(report.verdict().status(), v1::VERDICT_STATUS_DEGRADED);
  EXPECT_GE(report.verdict().blockers_size(), 2);
}

}  // namespace
}  // namespace relayscope::agent
