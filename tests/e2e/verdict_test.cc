// The verdict a customer reads, end to end: the real relayscope-agent binary
// against the real relay, squid (Basic, NTLM, HTTPS with an inspection CA),
// dante, iptables, a proxy that opens a tunnel to nowhere and a name the
// test's own /etc/hosts sinkholes, in the test's network namespace. Each test builds
// one kind of network and asserts the main cause, the hop it blames and the
// words of the remedy in the session report the agent wrote.
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "relayscope/v1/telemetry.pb.h"
#include "tests/e2e/agent_run.h"
#include "tests/rig/dante.h"
#include "tests/rig/firewall.h"
#include "tests/rig/fixture.h"
#include "tests/rig/hosts_override.h"
#include "tests/rig/interceptor.h"
#include "tests/rig/pki.h"
#include "tests/rig/process.h"
#include "tests/rig/squid.h"

namespace relayscope {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kPassword[] = "Verdict-Secret-41c9";

using e2e::AgentRun;

const v1::Blocker* MainCause(const v1::Verdict& v) {
  for (const v1::Blocker& b : v.blockers()) {
    if (!b.context()) return &b;
  }
  return nullptr;
}

// Everything the verdict says, for "never says" checks.
std::string VerdictText(const v1::Verdict& v) {
  std::vector<std::string> parts = {v.summary()};
  for (const std::string& w : v.working()) parts.push_back(w);
  for (const v1::Blocker& b : v.blockers()) {
    parts.push_back(b.explanation());
    parts.push_back(b.advice());
  }
  return absl::StrJoin(parts, "\n");
}

class VerdictOnTheRig : public rig::RigTest {
 protected:
  void TearDown() override {
    squid_.reset();
    relays_.clear();
    firewall_.Clear();
    RigTest::TearDown();
  }

  // Starts the reference relay on `listen` ("127.0.71.1:8200,...").
  void StartRelay(const std::string& listen) {
    const std::string ready = absl::StrCat(dir(), "/relay", relays_.size(), ".ready");
    rig::Process::Options options;
    options.argv = {RELAY_BINARY, "--listen=" + listen, "--ready-file=" + ready};
    options.log_path = absl::StrCat(dir(), "/relay", relays_.size(), ".log");
    auto relay = rig::Process::Start(options);
    ASSERT_TRUE(relay.ok()) << relay.status();
    ASSERT_TRUE(rig::WaitForFile(ready, absl::Seconds(10), relay->get()).ok());
    relays_.push_back(*std::move(relay));
  }

  void StartSquidWithUsers(const std::map<std::string, std::string>& users) {
    rig::Squid::Options options;
    options.address = "127.0.74.1";
    options.users = users;
    StartSquid(options);
  }

  void StartSquid(const rig::Squid::Options& options) {
    auto squid = rig::Squid::Start(options, dir());
    ASSERT_TRUE(squid.ok()) << squid.status();
    squid_ = *std::move(squid);
  }

  // One region "emea" with relay "emea-1" at `address`:`port`, named `host`
  // when not empty.
  std::string WriteCatalogue(const std::string& address, uint32_t port,
                             const std::string& host = "") {
    const std::string path = dir() + "/catalogue.textproto";
    std::ofstream(path) << "name: \"verdict\"\nregions { id: \"emea\" display_name: \"EMEA\" "
                        << "relays { id: \"emea-1\" "
                        << (host.empty() ? "" : absl::StrCat("host: \"", host, "\" "))
                        << "addresses: \"" << address << "\" ports: [ " << port << " ] } }\n";
    return path;
  }

  // Runs `relayscope-agent diagnose` with `args` (e2e::RunDiagnose).
  AgentRun RunAgent(const std::string& catalogue, std::vector<std::string> args,
                    std::vector<std::string> env = {}) {
    AgentRun run = e2e::RunDiagnose(AGENT_BINARY, dir(), catalogue, args, std::move(env));
    EXPECT_GT(run.report.attempts_size(), 0) << run.output;
    return run;
  }

  // A TLS-inspection CA ("CN=Rig Inspection CA,O=Example") and a
  // certificate it issued for `address`, as PEM files in the scenario dir
  // that squid (running as nobody) can read.
  rig::TestPki MakeInspectionCa(const std::string& address) {
    auto pki = rig::MakeTestPki(dir(), "inspection", "Rig Inspection CA", "IP:" + address);
    EXPECT_TRUE(pki.ok()) << pki.status();
    return pki.ok() ? *pki : rig::TestPki{};
  }

  std::vector<std::unique_ptr<rig::Process>> relays_;
  std::unique_ptr<rig::Squid> squid_;
  rig::Firewall firewall_;
};

// A PAC names a proxy that does not answer its SYN; DIRECT works. The
// proxy is blamed, with the PAC it came from, and the relay is not.
TEST_F(VerdictOnTheRig, DeadProxyFromAPacWithDirectWorkingBlamesTheProxyAndItsPac) {
  StartRelay("127.0.71.1:8200");
  ASSERT_TRUE(firewall_.Drop("127.0.72.1", 3128).ok());
  const std::string pac = dir() + "/proxy.pac";
  std::ofstream(pac) << "function FindProxyForURL(url, host) {\n"
                        "  return \"PROXY 127.0.72.1:3128; DIRECT\";\n}\n";
  const AgentRun run = RunAgent(WriteCatalogue("127.0.71.1", 8200), {"--pac-url=file://" + pac});
  const v1::Verdict& v = run.report.verdict();
  SCOPED_TRACE(VerdictText(v));
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(v.status(), v1::VERDICT_STATUS_REACHABLE);
  const v1::Blocker* main = MainCause(v);
  ASSERT_NE(main, nullptr);
  EXPECT_EQ(main->kind(), v1::CAUSE_KIND_PROXY_UNREACHABLE);
  EXPECT_EQ(main->hop(), v1::HOP_PROXY);
  EXPECT_EQ(main->proxy().host(), "127.0.72.1");
  EXPECT_EQ(main->proxy().source(), v1::PROXY_SOURCE_PAC);
  EXPECT_THAT(main->explanation(), HasSubstr("HTTP proxy 127.0.72.1:3128"));
  EXPECT_THAT(main->explanation(), HasSubstr("does not answer"));
  EXPECT_THAT(main->advice(), HasSubstr("remove it from the PAC file file://" + pac));
  EXPECT_THAT(main->advice(), HasSubstr("DIRECT works"));
  EXPECT_THAT(VerdictText(v), Not(HasSubstr("firewall is silently dropping")));
  EXPECT_THAT(VerdictText(v), Not(HasSubstr("allow outbound TCP")));
}

// no_proxy names the relay: the agent goes direct first, as curl would;
// DIRECT is closed and squid (tried as the alternative no_proxy skips)
// works, so the verdict blames the no_proxy entry and says to remove it.
TEST_F(VerdictOnTheRig, NoProxyNamingTheRelayIsTriedDirectFirstAndBlamedWhenOnlyTheProxyWorks) {
  StartRelay("127.0.76.1:8200");
  ASSERT_TRUE(firewall_.DropUnlessFromUser("127.0.76.1", rig::NobodyUid()).ok());
  rig::Squid::Options options;
  options.address = "127.0.77.1";
  StartSquid(options);
  const AgentRun run =
      RunAgent(WriteCatalogue("127.0.76.1", 8200, "emea-1.corp.example"), {},
               {"https_proxy=" + squid_->Url(), "no_proxy=localhost,.corp.example"});
  const v1::Verdict& v = run.report.verdict();
  SCOPED_TRACE(VerdictText(v));
  ASSERT_GT(run.report.attempts_size(), 1) << run.output;
  const v1::Attempt& first = run.report.attempts(0);
  EXPECT_EQ(first.route_kind(), v1::ROUTE_KIND_DIRECT);
  EXPECT_EQ(first.route_role(), v1::ROUTE_ROLE_CONFIGURED);
  EXPECT_EQ(first.route_rank(), 1u);
  EXPECT_EQ(first.bypass_entry(), ".corp.example");
  EXPECT_EQ(first.bypass_source(), v1::PROXY_SOURCE_ENV);
  bool proxy_alternative_ok = false;
  for (const v1::Attempt& a : run.report.attempts()) {
    if (a.route_kind() == v1::ROUTE_KIND_HTTP_CONNECT && a.outcome() == v1::OUTCOME_OK) {
      EXPECT_EQ(a.route_role(), v1::ROUTE_ROLE_ALTERNATIVE);
      proxy_alternative_ok = true;
    }
  }
  EXPECT_TRUE(proxy_alternative_ok);
  const v1::Blocker* main = MainCause(v);
  ASSERT_NE(main, nullptr);
  EXPECT_EQ(main->kind(), v1::CAUSE_KIND_BYPASS_SENDS_DIRECT);
  EXPECT_THAT(main->explanation(), HasSubstr("no_proxy (environment) sends emea-1 direct"));
  EXPECT_THAT(main->explanation(), HasSubstr("HTTP proxy 127.0.77.1:3128"));
  EXPECT_THAT(main->advice(), HasSubstr("remove `.corp.example` from no_proxy"));
}

// Only the proxy may go out, and it wants Basic credentials: given right,
// the 407 and its retry are one working route, not a blocker.
TEST_F(VerdictOnTheRig, SquidBasicWithTheRightCredentialsIsAWorkingRoute) {
  StartRelay("127.0.73.1:8200");
  ASSERT_TRUE(firewall_.DropUnlessFromUser("127.0.73.1", rig::NobodyUid()).ok());
  StartSquidWithUsers({{"alice", kPassword}});
  const AgentRun run = RunAgent(
      WriteCatalogue("127.0.73.1", 8200), {"--proxy=" + squid_->Url()},
      {"RELAYSCOPE_PROXY_USER=alice", absl::StrCat("RELAYSCOPE_PROXY_PASSWORD=", kPassword)});
  const v1::Verdict& v = run.report.verdict();
  SCOPED_TRACE(VerdictText(v));
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(v.status(), v1::VERDICT_STATUS_REACHABLE);
  EXPECT_EQ(MainCause(v), nullptr);
  ASSERT_FALSE(v.working().empty());
  EXPECT_THAT(v.working(0), HasSubstr("via HTTP proxy 127.0.74.1:3128"));
  EXPECT_THAT(v.working(0), HasSubstr("accepted the credentials given"));
  EXPECT_THAT(VerdictText(v), Not(HasSubstr("no credentials were given")));
  EXPECT_THAT(run.output, Not(HasSubstr(kPassword)));
}

// The same proxy with a wrong password: "credentials rejected", once.
TEST_F(VerdictOnTheRig, SquidBasicWithWrongCredentialsSaysRejectedOnce) {
  StartRelay("127.0.73.1:8200");
  ASSERT_TRUE(firewall_.DropUnlessFromUser("127.0.73.1", rig::NobodyUid()).ok());
  StartSquidWithUsers({{"alice", kPassword}});
  const AgentRun run =
      RunAgent(WriteCatalogue("127.0.73.1", 8200), {"--proxy=" + squid_->Url(), "--direct=false"},
               {"RELAYSCOPE_PROXY_USER=alice", "RELAYSCOPE_PROXY_PASSWORD=wrong"});
  const v1::Verdict& v = run.report.verdict();
  SCOPED_TRACE(VerdictText(v));
  EXPECT_EQ(run.exit_code, 2) << run.output;
  const v1::Blocker* main = MainCause(v);
  ASSERT_NE(main, nullptr);
  EXPECT_EQ(main->kind(), v1::CAUSE_KIND_PROXY_AUTH_REJECTED);
  EXPECT_EQ(main->hop(), v1::HOP_PROXY);
  EXPECT_THAT(main->explanation(), HasSubstr("rejected the credentials"));
  EXPECT_THAT(main->advice(), HasSubstr("--proxy-user"));
  EXPECT_EQ(v.blockers_size(), 1);
  EXPECT_THAT(VerdictText(v), Not(HasSubstr("no credentials were given")));
}

// The relay's name resolves to 0.0.0.0 here (the test's own /etc/hosts):
// the attempts by address work, and the verdict names the DNS filtering.
TEST_F(VerdictOnTheRig, ARelayNameSinkholedByDnsIsNamed) {
  StartRelay("127.0.75.1:8200");
  auto hosts = rig::HostsOverride::Start({{"relay.sinkhole.test", "0.0.0.0"}}, dir());
  ASSERT_TRUE(hosts.ok()) << hosts.status();
  const AgentRun run = RunAgent(WriteCatalogue("127.0.75.1", 8200, "relay.sinkhole.test"), {});
  const v1::Verdict& v = run.report.verdict();
  SCOPED_TRACE(VerdictText(v));
  ASSERT_GT(run.report.attempts_size(), 0);
  EXPECT_EQ(run.report.attempts(0).dns().status(), v1::DnsEvidence::STATUS_SINKHOLE);
  const v1::Blocker* main = MainCause(v);
  ASSERT_NE(main, nullptr);
  EXPECT_EQ(main->kind(), v1::CAUSE_KIND_DNS_FILTERED);
  EXPECT_EQ(main->hop(), v1::HOP_LOCAL);
  EXPECT_THAT(main->explanation(), HasSubstr("relay.sinkhole.test resolves to 0.0.0.0"));
  EXPECT_THAT(main->explanation(), HasSubstr("the catalogue lists 127.0.75.1"));
  EXPECT_THAT(main->advice(), HasSubstr("stop filtering relay.sinkhole.test"));
}

// A squid that offers only NTLM: without credentials the verdict says a
// Windows domain account is needed and how to give it; with one (squid's
// fake NTLM helper takes any account) the route works.
TEST_F(VerdictOnTheRig, SquidOfferingOnlyNtlmAsksForADomainAccount) {
  StartRelay("127.0.73.1:8200");
  rig::Squid::Options options;
  options.address = "127.0.74.1";
  options.ntlm_only = true;
  StartSquid(options);
  const std::string catalogue = WriteCatalogue("127.0.73.1", 8200);
  const AgentRun refused = RunAgent(catalogue, {"--proxy=" + squid_->Url(), "--direct=false"});
  {
    const v1::Verdict& v = refused.report.verdict();
    SCOPED_TRACE(VerdictText(v));
    EXPECT_EQ(refused.exit_code, 2) << refused.output;
    ASSERT_GT(refused.report.attempts_size(), 0);
    EXPECT_THAT(refused.report.attempts(0).proxy_auth().offered(),
                ::testing::ElementsAre(v1::PROXY_AUTH_SCHEME_NTLM));
    const v1::Blocker* main = MainCause(v);
    ASSERT_NE(main, nullptr);
    EXPECT_EQ(main->kind(), v1::CAUSE_KIND_PROXY_AUTH_REQUIRED);
    EXPECT_EQ(main->hop(), v1::HOP_PROXY);
    EXPECT_THAT(main->explanation(), HasSubstr("requires authentication (407; it offers NTLM"));
    EXPECT_THAT(main->advice(), HasSubstr("Windows domain account"));
    EXPECT_THAT(main->advice(), HasSubstr("--proxy-user DOMAIN\\user"));
    EXPECT_THAT(VerdictText(v), Not(HasSubstr("Basic")));
  }
  const AgentRun accepted =
      RunAgent(catalogue, {"--proxy=" + squid_->Url(), "--direct=false"},
               {"RELAYSCOPE_PROXY_USER=CORP\\alice", "RELAYSCOPE_PROXY_PASSWORD=any"});
  const v1::Verdict& v = accepted.report.verdict();
  SCOPED_TRACE(VerdictText(v));
  EXPECT_EQ(accepted.exit_code, 0) << accepted.output;
  EXPECT_EQ(v.status(), v1::VERDICT_STATUS_REACHABLE);
  EXPECT_EQ(MainCause(v), nullptr);
}

// An HTTPS proxy whose certificate comes from an inspection CA this machine
// does not trust: the verdict names the issuer and --proxy-ca; given that
// CA with --proxy-ca, the same proxy is a working route.
TEST_F(VerdictOnTheRig, HttpsProxyFromAnUntrustedInspectionCaThenTrustedWithProxyCa) {
  StartRelay("127.0.73.1:8200");
  const rig::TestPki ca = MakeInspectionCa("127.0.76.1");
  if (HasFailure()) return;
  rig::Squid::Options options;
  options.address = "127.0.76.1";
  options.port = 3129;
  options.tls_cert = ca.cert;
  options.tls_key = ca.key;
  StartSquid(options);
  ASSERT_THAT(squid_->Url(), ::testing::StartsWith("https://"));
  const std::string catalogue = WriteCatalogue("127.0.73.1", 8200);
  const AgentRun untrusted = RunAgent(catalogue, {"--proxy=" + squid_->Url(), "--direct=false"});
  {
    const v1::Verdict& v = untrusted.report.verdict();
    SCOPED_TRACE(VerdictText(v));
    EXPECT_EQ(untrusted.exit_code, 2) << untrusted.output;
    ASSERT_GT(untrusted.report.attempts_size(), 0);
    const v1::CertificateEvidence& cert = untrusted.report.attempts(0).proxy_certificate();
    EXPECT_EQ(cert.issuer(), "CN=Rig Inspection CA,O=Example");
    EXPECT_EQ(cert.subject(), "CN=127.0.76.1");
    const v1::Blocker* main = MainCause(v);
    ASSERT_NE(main, nullptr);
    EXPECT_EQ(main->kind(), v1::CAUSE_KIND_PROXY_CERTIFICATE_UNTRUSTED);
    EXPECT_EQ(main->hop(), v1::HOP_PROXY);
    EXPECT_THAT(main->explanation(),
                HasSubstr("presents a certificate issued by 'CN=Rig Inspection CA,O=Example'"));
    EXPECT_THAT(main->explanation(), HasSubstr("which this machine does not trust"));
    EXPECT_THAT(main->advice(), HasSubstr("--proxy-ca FILE"));
  }
  const AgentRun trusted =
      RunAgent(catalogue, {"--proxy=" + squid_->Url(), "--direct=false", "--proxy-ca=" + ca.ca});
  const v1::Verdict& v = trusted.report.verdict();
  SCOPED_TRACE(VerdictText(v));
  EXPECT_EQ(trusted.exit_code, 0) << trusted.output;
  EXPECT_EQ(v.status(), v1::VERDICT_STATUS_REACHABLE);
  EXPECT_EQ(MainCause(v), nullptr);
  ASSERT_FALSE(v.working().empty());
  EXPECT_THAT(v.working(0), HasSubstr("127.0.76.1:3129"));
}

// A proxy that answers "200 Connection established" and then relays
// nothing: the proxy is named as the device that holds the traffic.
TEST_F(VerdictOnTheRig, AProxyThatAnswers200AndRelaysNothingIsNamed) {
  rig::Interceptor::Options options;
  options.address = "127.0.77.1";
  options.port = 3128;
  options.mode = rig::Interceptor::Mode::kAnswerThenHold;
  options.reply = "HTTP/1.1 200 Connection established\r\nVia: 1.1 rig-holding-proxy\r\n\r\n";
  auto proxy = rig::Interceptor::Start(options);
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  const AgentRun run = RunAgent(WriteCatalogue("127.0.73.1", 8200),
                                {"--proxy=http://127.0.77.1:3128", "--direct=false"});
  const v1::Verdict& v = run.report.verdict();
  SCOPED_TRACE(VerdictText(v));
  EXPECT_EQ(run.exit_code, 2) << run.output;
  EXPECT_GT((*proxy)->connections(), 0);
  const v1::Blocker* main = MainCause(v);
  ASSERT_NE(main, nullptr);
  EXPECT_EQ(main->kind(), v1::CAUSE_KIND_PROXY_BROKEN);
  EXPECT_EQ(main->hop(), v1::HOP_PROXY);
  EXPECT_THAT(main->explanation(), HasSubstr("The HTTP proxy 127.0.77.1:3128"));
  EXPECT_THAT(main->explanation(), HasSubstr("accepted CONNECT to"));
  EXPECT_THAT(main->explanation(), HasSubstr("but relayed nothing back within"));
  EXPECT_THAT(main->explanation(), HasSubstr("rig-holding-proxy"));
  EXPECT_THAT(VerdictText(v), Not(HasSubstr("a device in the path")));
}

// dante refuses the relay by its ruleset: the SOCKS reply is named.
TEST_F(VerdictOnTheRig, DanteRefusingByRulesetNamesTheSocksReply) {
  StartRelay("127.0.73.1:8200");
  rig::Dante::Options options;
  options.address = "127.0.78.1";
  options.blocked_destinations = {"127.0.73.1"};
  auto dante = rig::Dante::Start(options, dir());
  ASSERT_TRUE(dante.ok()) << dante.status();
  const AgentRun run = RunAgent(WriteCatalogue("127.0.73.1", 8200),
                                {"--proxy=socks5://127.0.78.1:1080", "--direct=false"});
  const v1::Verdict& v = run.report.verdict();
  SCOPED_TRACE(VerdictText(v));
  EXPECT_EQ(run.exit_code, 2) << run.output;
  const v1::Blocker* main = MainCause(v);
  ASSERT_NE(main, nullptr);
  EXPECT_EQ(main->kind(), v1::CAUSE_KIND_PROXY_DENIED);
  EXPECT_EQ(main->hop(), v1::HOP_PROXY);
  EXPECT_THAT(main->explanation(), HasSubstr("SOCKS5 proxy 127.0.78.1:1080"));
  EXPECT_THAT(main->explanation(), HasSubstr("not allowed by ruleset"));
  EXPECT_THAT(main->advice(), HasSubstr("allow connections to"));
}

}  // namespace
}  // namespace relayscope
