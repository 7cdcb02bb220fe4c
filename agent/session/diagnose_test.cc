// Diagnose through the scripted FakeTransport on a FakeClock: the 407
// retry (asked once per proxy, remembered, wrong credentials named, a slow
// prompt that stalls nothing else, retries within the budget), the DNS
// check beside the race (FakeResolver), that no
// password reaches the report, and how attempts are folded into the
// SessionReport. The same behaviour against squid and real relays is
// diagnose_rig_test.
#include "agent/session/diagnose.h"

#include <algorithm>
#include <atomic>
#include <string>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "agent/attempt/fake_resolver.h"
#include "agent/attempt/fake_transport.h"
#include "common/fake_clock.h"
#include "common/proto_time.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "tests/support/wait_until.h"

namespace relayscope::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using Connect = FakeTransport::Connect;
using Peer = FakeTransport::Peer;

constexpr char kPassword[] = "correct horse";
const Destination kEmea8200{"192.0.2.10", 8200};
const Destination kEmea443{"192.0.2.10", 443};
const Destination kAmericas8200{"192.0.2.20", 8200};

ProxyUrl OtherProxy() {
  ProxyUrl url;
  url.kind = v1::ROUTE_KIND_HTTP_CONNECT;
  url.host = "10.0.0.2";
  url.port = 8080;
  return url;
}

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
  EXPECT_TRUE(challenge.retried());
  const v1::Attempt& retry = report.attempts(1);
  EXPECT_EQ(retry.relay(), challenge.relay());
  EXPECT_EQ(retry.port(), challenge.port());
  EXPECT_GT(FromProtoTimestamp(retry.start_time()), FromProtoTimestamp(challenge.start_time()));
  for (int i = 1; i < 4; ++i) {
    EXPECT_EQ(report.attempts(i).outcome(), v1::OUTCOME_OK) << i;
    EXPECT_FALSE(report.attempts(i).retried()) << i;
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
  EXPECT_TRUE(report.attempts(0).retried());
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
    EXPECT_FALSE(a.retried());
  }
  EXPECT_EQ(report.verdict().status(), v1::VERDICT_STATUS_UNREACHABLE);
  EXPECT_THAT(
      report.verdict().summary(),
      HasSubstr("requires authentication (407; it offers Basic) and no credentials were given"));
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

// The seed's client froze every attempt while it asked for a password; here
// DIRECT and other proxies race on while the user takes 3 s to answer, and
// only the challenged proxy's 407s wait, off the race, for the answer.
TEST_F(DiagnoseTest, ASlowPromptLeavesDirectAndOtherProxiesAlone) {
  ScriptEveryRelay(CorporateProxy(), Connect::ProxyAuth("alice", kPassword));
  ScriptEveryRelay(OtherProxy(), Connect::Open());
  ScriptEveryRelay(ProxyUrl::Direct(), Connect::Open());
  options_.race.stagger = absl::ZeroDuration();  // all nine start at once
  options_.race.attempt_timeout = absl::Seconds(1);
  absl::Mutex mu;
  int others_done = 0;  // guarded by mu
  options_.on_attempt = [&](const v1::Attempt& a) {
    if (a.proxy().host() == "10.0.0.1") return;
    absl::MutexLock lock(&mu);
    ++others_done;
  };
  int asked = 0;
  absl::Time answered_at;
  options_.ask_credentials = [&](const v1::Proxy& proxy) {
    ++asked;
    EXPECT_EQ(proxy.host(), "10.0.0.1");
    // The user is still typing when all nine attempts have gone out and
    // every one not through this proxy has finished ...
    EXPECT_TRUE(test::WaitUntil(
        [&] {
          absl::MutexLock lock(&mu);
          return others_done == 6 && transport_.opened().size() == 9;
        },
        absl::Seconds(10), absl::Milliseconds(1)))
        << "DIRECT and the other proxy waited for the prompt";
    // ... and takes 3 s in all.
    clock_.SleepUntil(clock_.Now() + absl::Seconds(3));
    answered_at = clock_.Now();
    return std::make_optional(std::make_pair(std::string("alice"), std::string(kPassword)));
  };
  const v1::SessionReport report =
      Diagnose(catalogue_,
               {DirectRoute(), ProxyRoute(CorporateProxy(), v1::PROXY_SOURCE_FLAG, "--proxy"),
                ProxyRoute(OtherProxy(), v1::PROXY_SOURCE_ENV, "https_proxy")},
               {}, options_);
  EXPECT_EQ(asked, 1);
  ASSERT_EQ(report.attempts_size(), 12);
  int direct_ok = 0, other_ok = 0, challenged = 0, retried_ok = 0;
  for (const v1::Attempt& a : report.attempts()) {
    const absl::Time start = FromProtoTimestamp(a.start_time());
    if (a.route_kind() == v1::ROUTE_KIND_DIRECT) {
      EXPECT_EQ(a.outcome(), v1::OUTCOME_OK) << a.ShortDebugString();
      direct_ok += a.outcome() == v1::OUTCOME_OK;
    } else if (a.proxy().host() == "10.0.0.2") {
      EXPECT_EQ(a.outcome(), v1::OUTCOME_OK) << a.ShortDebugString();
      other_ok += a.outcome() == v1::OUTCOME_OK;
    } else if (a.outcome() == v1::OUTCOME_PROXY_AUTH_REQUIRED) {
      EXPECT_TRUE(a.retried());
      EXPECT_LT(start, answered_at);
      ++challenged;
    } else {
      EXPECT_EQ(a.outcome(), v1::OUTCOME_OK) << a.ShortDebugString();
      EXPECT_TRUE(a.proxy().has_credentials());
      EXPECT_FALSE(a.retried());
      // The retry's time starts after the answer: none was spent waiting.
      EXPECT_GE(start, answered_at);
      retried_ok += a.outcome() == v1::OUTCOME_OK;
    }
  }
  EXPECT_EQ(direct_ok, 3);
  EXPECT_EQ(other_ok, 3);
  EXPECT_EQ(challenged, 3);
  EXPECT_EQ(retried_ok, 3);
  // Each retried 407 is followed by its retry: the next attempt on the same
  // relay, address, port and route.
  for (int i = 0; i < report.attempts_size(); ++i) {
    const v1::Attempt& a = report.attempts(i);
    if (!a.retried()) continue;
    const v1::Attempt* next = nullptr;
    for (int j = i + 1; j < report.attempts_size() && next == nullptr; ++j) {
      const v1::Attempt& b = report.attempts(j);
      if (b.relay() == a.relay() && b.address() == a.address() && b.port() == a.port() &&
          b.route_kind() == a.route_kind() && b.proxy().host() == a.proxy().host()) {
        next = &b;
      }
    }
    ASSERT_NE(next, nullptr) << i;
    EXPECT_EQ(next->outcome(), v1::OUTCOME_OK);
    EXPECT_TRUE(next->proxy().has_credentials());
  }
  EXPECT_THAT(report.SerializeAsString(), Not(HasSubstr(kPassword)));
}

TEST_F(DiagnoseTest, TheRetryDeadlineIsCutAtTheEndOfTheBudget) {
  for (const Destination& d : {kEmea8200, kEmea443, kAmericas8200}) {
    transport_.Script(d, CorporateProxy(), Connect::ProxyAuth("alice", kPassword), Peer::kSilent);
  }
  options_.race.sequential = true;
  options_.race.attempt_timeout = absl::Seconds(1);
  options_.race.budget = absl::Seconds(2);
  int asked = 0;
  options_.ask_credentials = [&](const v1::Proxy&) {
    ++asked;
    clock_.SleepUntil(clock_.Now() + absl::Milliseconds(1500));
    return std::make_optional(std::make_pair(std::string("alice"), std::string(kPassword)));
  };
  const absl::Time t0 = clock_.Now();
  const v1::SessionReport report = RunThroughTheProxy();
  EXPECT_EQ(asked, 1);
  ASSERT_EQ(report.attempts_size(), 2);
  EXPECT_EQ(report.attempts(0).outcome(), v1::OUTCOME_PROXY_AUTH_REQUIRED);
  EXPECT_TRUE(report.attempts(0).retried());
  const v1::Attempt& retry = report.attempts(1);
  EXPECT_EQ(retry.outcome(), v1::OUTCOME_HANDSHAKE_TIMEOUT);
  EXPECT_TRUE(retry.proxy().has_credentials());
  const absl::Time retry_start = FromProtoTimestamp(retry.start_time());
  EXPECT_GE(retry_start, t0 + absl::Milliseconds(1500));
  // Its own timeout would end at retry_start + 1 s; the budget ends first.
  EXPECT_EQ(retry_start + FromProtoDuration(retry.total_duration()), t0 + absl::Seconds(2));
  EXPECT_THAT(report.verdict().summary(), HasSubstr("2 of 3 attempts were not started"));
}

TEST_F(DiagnoseTest, AnAnswerAfterTheBudgetLeavesThe407Standing) {
  ScriptEveryRelay(CorporateProxy(), Connect::ProxyAuth("alice", kPassword));
  options_.race.sequential = true;
  options_.race.budget = absl::Seconds(2);
  int asked = 0;
  options_.ask_credentials = [&](const v1::Proxy&) {
    ++asked;
    clock_.SleepUntil(clock_.Now() + absl::Seconds(3));
    return std::make_optional(std::make_pair(std::string("alice"), std::string(kPassword)));
  };
  const v1::SessionReport report = RunThroughTheProxy();
  EXPECT_EQ(asked, 1);
  ASSERT_EQ(report.attempts_size(), 1);
  EXPECT_EQ(report.attempts(0).outcome(), v1::OUTCOME_PROXY_AUTH_REQUIRED);
  EXPECT_FALSE(report.attempts(0).retried());
  EXPECT_EQ(transport_.opened().size(), 1u);
}

TEST_F(DiagnoseTest, RoutesThroughTheSameProxyShareOnePrompt) {
  ScriptEveryRelay(CorporateProxy(), Connect::ProxyAuth("alice", kPassword));
  options_.race.sequential = true;
  int asked = 0;
  options_.ask_credentials = [&](const v1::Proxy&) {
    ++asked;
    return std::make_optional(std::make_pair(std::string("alice"), std::string(kPassword)));
  };
  // The same proxy named by the command line and by the environment.
  const v1::SessionReport report =
      Diagnose(catalogue_,
               {ProxyRoute(CorporateProxy(), v1::PROXY_SOURCE_FLAG, "--proxy"),
                ProxyRoute(CorporateProxy(), v1::PROXY_SOURCE_ENV, "https_proxy")},
               {}, options_);
  EXPECT_EQ(asked, 1);
  ASSERT_EQ(report.attempts_size(), 7);
  int retried = 0, ok = 0;
  for (const v1::Attempt& a : report.attempts()) {
    retried += a.retried();
    ok += a.outcome() == v1::OUTCOME_OK;
  }
  EXPECT_EQ(retried, 1);
  EXPECT_EQ(ok, 6);
}

TEST_F(DiagnoseTest, TwoChallengingProxiesAreAskedOneAtATime) {
  ScriptEveryRelay(CorporateProxy(), Connect::ProxyAuth("alice", kPassword));
  ScriptEveryRelay(OtherProxy(), Connect::ProxyAuth("bob", "other pass"));
  options_.race.stagger = absl::ZeroDuration();  // both proxies challenge at once
  std::atomic<int> asked{0}, prompting{0}, most_at_once{0};
  options_.ask_credentials = [&](const v1::Proxy& proxy) {
    ++asked;
    const int now = ++prompting;
    most_at_once = std::max(most_at_once.load(), now);
    absl::SleepFor(absl::Milliseconds(50));  // real time: room for an overlap
    --prompting;
    return proxy.host() == "10.0.0.1"
               ? std::make_optional(std::make_pair(std::string("alice"), std::string(kPassword)))
               : std::make_optional(std::make_pair(std::string("bob"), std::string("other pass")));
  };
  const v1::SessionReport report =
      Diagnose(catalogue_,
               {ProxyRoute(CorporateProxy(), v1::PROXY_SOURCE_FLAG, "--proxy"),
                ProxyRoute(OtherProxy(), v1::PROXY_SOURCE_ENV, "https_proxy")},
               {}, options_);
  EXPECT_EQ(asked.load(), 2);
  EXPECT_EQ(most_at_once.load(), 1);
  ASSERT_EQ(report.attempts_size(), 12);
  int ok = 0;
  for (const v1::Attempt& a : report.attempts()) ok += a.outcome() == v1::OUTCOME_OK;
  EXPECT_EQ(ok, 6);
}

// Relays with a name and addresses: the name is looked up once per relay,
// and what this machine's resolver said goes on every attempt of the relay.
constexpr char kNamedCatalogue[] = R"pb(
  name: "named"
  regions {
    id: "emea"
    relays {
      id: "emea-1"
      host: "emea.relay.example"
      addresses: "192.0.2.10"
      ports: [ 8200, 443 ]
    }
  }
  regions {
    id: "americas"
    relays { id: "americas-1" host: "americas.relay.example" addresses: "192.0.2.20" ports: 8200 }
  }
  regions {
    id: "apac"
    relays { id: "apac-1" addresses: "192.0.2.30" ports: 8200 }
  }
)pb";
const Destination kApac8200{"192.0.2.30", 8200};

TEST_F(DiagnoseTest, DnsEvidenceIsOnEveryAttemptOfItsRelayFromOneLookup) {
  v1::Catalogue catalogue;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(kNamedCatalogue, &catalogue));
  for (const Destination& d : {kEmea8200, kEmea443, kAmericas8200, kApac8200}) {
    transport_.Script(d, ProxyUrl::Direct(), Connect::Open(), Peer::kRelay);
  }
  FakeResolver resolver(&clock_);
  resolver.Script("emea.relay.example", {"0.0.0.0"});
  resolver.Script("americas.relay.example", {"192.0.2.20"});
  options_.resolver = &resolver;
  const v1::SessionReport report = Diagnose(catalogue, {DirectRoute()}, {}, options_);
  ASSERT_EQ(report.attempts_size(), 4);
  for (const v1::Attempt& a : report.attempts()) {
    // The attempts go to the catalogue's addresses whatever DNS says.
    EXPECT_EQ(a.outcome(), v1::OUTCOME_OK) << a.relay();
    if (a.relay() == "emea-1") {
      EXPECT_EQ(a.dns().status(), v1::DnsEvidence::STATUS_SINKHOLE);
      EXPECT_EQ(a.dns().host(), "emea.relay.example");
      EXPECT_THAT(a.dns().answers(), ElementsAre("0.0.0.0"));
    } else if (a.relay() == "americas-1") {
      EXPECT_EQ(a.dns().status(), v1::DnsEvidence::STATUS_CONSISTENT);
      EXPECT_THAT(a.dns().answers(), ElementsAre("192.0.2.20"));
    } else {
      EXPECT_FALSE(a.has_dns()) << "apac-1 has no name to check";
    }
  }
  EXPECT_THAT(resolver.asked(),
              ::testing::UnorderedElementsAre("emea.relay.example", "americas.relay.example"));
}

TEST_F(DiagnoseTest, AHangingResolverDelaysNoAttemptAndFailsAtOneAttemptTimeout) {
  v1::Catalogue catalogue;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(kNamedCatalogue, &catalogue));
  transport_.Script(kEmea8200, ProxyUrl::Direct(), Connect::Timeout());
  for (const Destination& d : {kEmea443, kAmericas8200, kApac8200}) {
    transport_.Script(d, ProxyUrl::Direct(), Connect::Open(), Peer::kRelay);
  }
  FakeResolver resolver(&clock_);
  resolver.ScriptHang("emea.relay.example");
  resolver.ScriptError("americas.relay.example",
                       absl::NotFoundError("americas.relay.example: Name or service not known"));
  options_.resolver = &resolver;
  options_.race.sequential = true;
  options_.race.attempt_timeout = absl::Seconds(1);
  const absl::Time t0 = clock_.Now();
  const v1::SessionReport report = Diagnose(catalogue, {DirectRoute()}, {}, options_);
  ASSERT_EQ(report.attempts_size(), 4);
  EXPECT_EQ(FromProtoTimestamp(report.attempts(0).start_time()), t0);
  for (const v1::Attempt& a : report.attempts()) {
    if (a.relay() == "emea-1") {
      EXPECT_EQ(a.dns().status(), v1::DnsEvidence::STATUS_FAILED);
      EXPECT_THAT(a.dns().error(), HasSubstr("no answer before the deadline"));
    } else if (a.relay() == "americas-1") {
      EXPECT_EQ(a.dns().status(), v1::DnsEvidence::STATUS_FAILED);
      EXPECT_EQ(a.dns().error(), "americas.relay.example: Name or service not known");
      EXPECT_EQ(a.outcome(), v1::OUTCOME_OK);
    }
  }
  // One attempt timeout (the dropped port), then the rest: the lookup that
  // never answered added nothing.
  EXPECT_LT(FromProtoTimestamp(report.end_time()), t0 + absl::Milliseconds(1200));
}

// Each relay tries its own list first: no_proxy names emea-1, so emea-1
// goes direct first and through the proxy only as a labelled alternative,
// while americas-1 keeps the proxy first.
TEST_F(DiagnoseTest, EachRelayTriesItsOwnRouteOrderAndAttemptsSayWhy) {
  for (const Destination& d : {kEmea8200, kEmea443, kAmericas8200}) {
    transport_.Script(d, ProxyUrl::Direct(), Connect::Open(), Peer::kRelay);
    transport_.Script(d, CorporateProxy(), Connect::Open(), Peer::kRelay);
  }
  const std::vector<Route> routes = {
      ProxyRoute(CorporateProxy(), v1::PROXY_SOURCE_ENV, "https_proxy"), DirectRoute()};
  RelayRouteChoice direct;
  direct.route = 1;
  direct.bypass_entry = ".corp.example";
  direct.bypass_source = v1::PROXY_SOURCE_ENV;
  RelayRouteChoice skipped = direct;
  skipped.route = 0;
  skipped.role = v1::ROUTE_ROLE_ALTERNATIVE;
  options_.relay_routes["emea-1"] = {direct, skipped};
  RelayRouteChoice proxy_first;
  proxy_first.route = 0;
  RelayRouteChoice then_direct;
  then_direct.route = 1;
  options_.relay_routes["americas-1"] = {proxy_first, then_direct};
  const v1::SessionReport report = Diagnose(catalogue_, routes, {}, options_);

  // The first attempt each relay makes on its first port is its own first route.
  const auto opened = transport_.opened();
  ASSERT_EQ(opened.size(), 6u);
  std::map<std::string, bool> first_direct;
  for (const auto& o : opened) {
    if (o.destination.port != 8200) continue;
    first_direct.emplace(o.destination.host, o.proxy.direct());
  }
  EXPECT_TRUE(first_direct["192.0.2.10"]);   // emea-1: bypassed, direct first
  EXPECT_FALSE(first_direct["192.0.2.20"]);  // americas-1: the proxy first

  int labelled = 0;
  for (const v1::Attempt& a : report.attempts()) {
    if (a.relay() == "emea-1" && a.route_kind() == v1::ROUTE_KIND_DIRECT) {
      EXPECT_EQ(a.route_role(), v1::ROUTE_ROLE_CONFIGURED);
      EXPECT_EQ(a.route_rank(), 1u);
      EXPECT_EQ(a.bypass_entry(), ".corp.example");
      EXPECT_EQ(a.bypass_source(), v1::PROXY_SOURCE_ENV);
      ++labelled;
    } else if (a.relay() == "emea-1") {
      EXPECT_EQ(a.route_role(), v1::ROUTE_ROLE_ALTERNATIVE);
      EXPECT_EQ(a.route_rank(), 0u);
      EXPECT_EQ(a.bypass_entry(), ".corp.example");
      ++labelled;
    } else {
      EXPECT_EQ(a.route_role(), v1::ROUTE_ROLE_CONFIGURED);
      EXPECT_EQ(a.route_rank(), a.route_kind() == v1::ROUTE_KIND_DIRECT ? 2u : 1u);
      EXPECT_EQ(a.bypass_source(), v1::PROXY_SOURCE_UNSPECIFIED);
      ++labelled;
    }
  }
  EXPECT_EQ(labelled, 6);
}

}  // namespace
}  // namespace relayscope::agent
