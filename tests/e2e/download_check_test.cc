// The download check end to end: the real relayscope-agent binary checks
// TLS to a download service beside the relay, in the test's network
// namespace, against a genuine server (nginx with a certificate from the
// test's "Rig Genuine CA", pinned in the catalogue) reached directly and
// through squid, an intercepting box (nginx with the test's "Rig
// Inspection CA"), both trusted by the agent's trust store and not, an SNI filter (iptables string
// match on the service's name), a plain-HTTP answer on the TLS port, a server that refuses TLS 1.2
// and 1.3, and a dropped port. Each test asserts the outcome, the evidence and the download line
// the customer reads.
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "relayscope/v1/telemetry.pb.h"
#include "tests/e2e/agent_run.h"
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

constexpr char kHost[] = "downloads.rig.example";
constexpr char kAddress[] = "127.0.75.1";
constexpr uint16_t kPort = 8443;

using e2e::AgentRun;
using Pki = rig::TestPki;

class DownloadCheckOnTheRig : public rig::RigTest {
 protected:
  void SetUp() override {
    RigTest::SetUp();
    if (IsSkipped()) return;
    auto hosts = rig::HostsOverride::Start({{kHost, kAddress}}, dir());
    ASSERT_TRUE(hosts.ok()) << hosts.status();
    hosts_ = *std::move(hosts);
    StartRelay();
  }

  void TearDown() override {
    squid_.reset();
    servers_.clear();
    interceptor_.reset();
    firewall_.Clear();
    hosts_.reset();
    RigTest::TearDown();
  }

  void StartRelay() {
    const std::string ready = dir() + "/relay.ready";
    rig::Process::Options options;
    options.argv = {RELAY_BINARY, "--listen=127.0.71.1:8200", "--ready-file=" + ready};
    options.log_path = dir() + "/relay.log";
    auto relay = rig::Process::Start(options);
    ASSERT_TRUE(relay.ok()) << relay.status();
    ASSERT_TRUE(rig::WaitForFile(ready, absl::Seconds(10), relay->get()).ok());
    servers_.push_back(*std::move(relay));
  }

  // A CA "CN=<ca_name>,O=Example" and a certificate it issued for kHost.
  Pki MakePki(const std::string& stem, const std::string& ca_name) {
    auto pki = rig::MakeTestPki(dir(), stem, ca_name, absl::StrCat("DNS:", kHost));
    EXPECT_TRUE(pki.ok()) << pki.status();
    return pki.ok() ? *pki : Pki{};
  }

  static std::string SpkiPin(const std::string& pem) {
    auto pin = rig::SpkiSha256Of(pem);
    EXPECT_TRUE(pin.ok()) << pin.status();
    return pin.value_or("");
  }

  // openssl s_server on kAddress:kPort with `pki`'s certificate, plus
  // `extra` arguments.
  void StartTlsServer(const Pki& pki, const std::vector<std::string>& extra) {
    auto server = rig::StartOpenSslServer(pki, kAddress, kPort, dir() + "/s_server.log", extra);
    ASSERT_TRUE(server.ok()) << server.status();
    servers_.push_back(*std::move(server));
  }

  // nginx serving TLS on kAddress:kPort with `pki`'s certificate: a real
  // server that takes connections concurrently, as a download server does
  // (openssl s_server serves one at a time, so a connection a filter cut
  // on the client side would hold up the next).
  void StartNginx(const Pki& pki) {
    const std::string conf = dir() + "/nginx.conf";
    std::ofstream(conf) << "daemon off;\nuser root;\nworker_processes 1;\npid " << dir()
                        << "/nginx.pid;\nerror_log " << dir() << "/nginx.err;\n"
                        << "events { worker_connections 64; }\n"
                        << "http {\n  access_log off;\n"
                        << "  client_body_temp_path " << dir() << "/nginx-body;\n"
                        << "  proxy_temp_path " << dir() << "/nginx-proxy;\n"
                        << "  fastcgi_temp_path " << dir() << "/nginx-fastcgi;\n"
                        << "  uwsgi_temp_path " << dir() << "/nginx-uwsgi;\n"
                        << "  scgi_temp_path " << dir() << "/nginx-scgi;\n"
                        << "  server {\n    listen " << kAddress << ":" << kPort << " ssl;\n"
                        << "    server_name " << kHost << ";\n"
                        << "    ssl_certificate " << pki.cert << ";\n"
                        << "    ssl_certificate_key " << pki.key << ";\n"
                        << "    return 200 \"plugin\\n\";\n  }\n}\n";
    rig::Process::Options options;
    options.argv = {"/usr/sbin/nginx", "-p", dir(), "-c", conf};
    options.log_path = dir() + "/nginx.log";
    auto server = rig::Process::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    ASSERT_TRUE(rig::WaitForPort(kAddress, kPort, absl::Seconds(10), server->get()).ok());
    servers_.push_back(*std::move(server));
  }

  // Relay emea-1 on 127.0.71.1:8200 and the download service "plugin" at
  // kHost (kAddress), port kPort, pinned to `pin` (a CA's SPKI).
  std::string WriteCatalogue(const std::string& pin) {
    const std::string path = dir() + "/catalogue.textproto";
    std::ofstream(path) << "name: \"download\"\n"
                        << "regions { id: \"emea\" display_name: \"EMEA\" relays { id: \"emea-1\" "
                        << "addresses: \"127.0.71.1\" ports: [ 8200 ] } }\n"
                        << "downloads { id: \"plugin\" display_name: \"plugin download\" "
                        << "region: \"emea\" host: \"" << kHost << "\" addresses: \"" << kAddress
                        << "\" ports: [ " << kPort << " ] expected { spki_sha256: \"" << pin
                        << "\" } }\n";
    return path;
  }

  // Runs `relayscope-agent diagnose` (e2e::RunDiagnose); `trust` is the PEM
  // file the agent's OpenSSL trusts (SSL_CERT_FILE), the test's own trust
  // store.
  AgentRun RunAgent(const std::string& catalogue, const std::string& trust,
                    const std::vector<std::string>& args = {}) {
    return e2e::RunDiagnose(AGENT_BINARY, dir(), catalogue, args, {"SSL_CERT_FILE=" + trust});
  }

  static std::vector<const v1::Attempt*> Downloads(const v1::SessionReport& report) {
    std::vector<const v1::Attempt*> out;
    for (const v1::Attempt& a : report.attempts()) {
      if (a.target() == v1::TARGET_DOWNLOAD) out.push_back(&a);
    }
    return out;
  }

  // The one download line, and its main cause.
  static const v1::DownloadCheck& Check(const AgentRun& run) {
    static const v1::DownloadCheck kNone;
    if (run.report.verdict().downloads_size() != 1) {
      ADD_FAILURE() << "expected one download line: " << run.output;
      return kNone;
    }
    return run.report.verdict().downloads(0);
  }

  std::unique_ptr<rig::HostsOverride> hosts_;
  std::vector<std::unique_ptr<rig::Process>> servers_;
  std::unique_ptr<rig::Squid> squid_;
  std::unique_ptr<rig::Interceptor> interceptor_;
  rig::Firewall firewall_;
};

// The genuine server, directly and through squid CONNECT: both routes OK,
// the pin matched, the relay verdict untouched.
TEST_F(DownloadCheckOnTheRig, GenuineServerDirectAndThroughSquidIsOkWithThePinMatched) {
  const Pki genuine = MakePki("genuine", "Rig Genuine CA");
  StartNginx(genuine);
  rig::Squid::Options squid;
  squid.address = "127.0.74.1";
  auto started = rig::Squid::Start(squid, dir());
  ASSERT_TRUE(started.ok()) << started.status();
  squid_ = *std::move(started);
  const AgentRun run =
      RunAgent(WriteCatalogue(SpkiPin(genuine.ca)), genuine.ca, {"--proxy=http://127.0.74.1:3128"});
  EXPECT_EQ(run.exit_code, 0) << run.output;
  const auto downloads = Downloads(run.report);
  ASSERT_EQ(downloads.size(), 2u) << run.output;
  for (const v1::Attempt* a : downloads) {
    SCOPED_TRACE(a->DebugString());
    EXPECT_EQ(a->outcome(), v1::OUTCOME_OK);
    EXPECT_EQ(a->relay(), "plugin");
    EXPECT_EQ(a->tls().sni(), kHost);
    EXPECT_TRUE(a->tls().pin_matched());
    EXPECT_TRUE(a->tls().name_matched());
    EXPECT_TRUE(a->tls().certificate().trusted());
    EXPECT_EQ(a->tls().certificate().issuer(), "CN=Rig Genuine CA,O=Example");
    EXPECT_THAT(a->tls().version(), HasSubstr("TLSv1."));
    EXPECT_EQ(a->phases(a->phases_size() - 1).phase(), v1::PHASE_SERVER_TLS);
  }
  // Through the proxy, CONNECT names the host, as a browser's does.
  EXPECT_TRUE(std::any_of(downloads.begin(), downloads.end(), [](const v1::Attempt* a) {
    return a->route_kind() == v1::ROUTE_KIND_HTTP_CONNECT && a->address() == kHost;
  }));
  const v1::DownloadCheck& check = Check(run);
  EXPECT_TRUE(check.reachable());
  EXPECT_THAT(check.summary(), HasSubstr("plugin download: works via"));
  EXPECT_EQ(run.report.verdict().status(), v1::VERDICT_STATUS_REACHABLE);
  EXPECT_THAT(run.output, HasSubstr("Download check: OK"));
}

// An intercepting box re-signs with its own CA: interception named with
// the issuer, both when the machine trusts that CA and when not.
TEST_F(DownloadCheckOnTheRig, InterceptingBoxIsNamedWithItsIssuerTrustedOrNot) {
  const Pki genuine = MakePki("genuine", "Rig Genuine CA");
  const Pki inspection = MakePki("inspection", "Rig Inspection CA");
  StartNginx(inspection);
  const std::string catalogue = WriteCatalogue(SpkiPin(genuine.ca));

  const AgentRun trusted = RunAgent(catalogue, inspection.ca);
  {
    const auto downloads = Downloads(trusted.report);
    ASSERT_EQ(downloads.size(), 1u) << trusted.output;
    const v1::Attempt& a = *downloads[0];
    EXPECT_EQ(a.outcome(), v1::OUTCOME_TLS_INTERCEPTED) << a.DebugString();
    EXPECT_EQ(a.failed_phase(), v1::PHASE_SERVER_TLS);
    EXPECT_TRUE(a.tls().certificate().trusted());
    EXPECT_FALSE(a.tls().pin_matched());
    const v1::DownloadCheck& check = Check(trusted);
    EXPECT_FALSE(check.reachable());
    ASSERT_GT(check.blockers_size(), 0);
    EXPECT_EQ(check.blockers(0).kind(), v1::CAUSE_KIND_TLS_INTERCEPTED);
    EXPECT_EQ(check.blockers(0).hop(), v1::HOP_NETWORK);
    EXPECT_THAT(check.summary(), HasSubstr("plugin download: blocked, TLS to 127.0.75.1:8443"));
    EXPECT_THAT(check.summary(), HasSubstr("intercepted"));
    EXPECT_THAT(check.summary(), HasSubstr("'CN=Rig Inspection CA,O=Example'"));
    EXPECT_THAT(check.summary(), HasSubstr("this machine trusts it"));
    EXPECT_THAT(check.summary(), HasSubstr("corporate TLS inspection device"));
    EXPECT_THAT(check.blockers(0).advice(),
                HasSubstr(absl::StrCat("TLS-inspection exemption for ", kHost)));
    // The relay is still reachable: the download line does not change it.
    EXPECT_EQ(trusted.report.verdict().status(), v1::VERDICT_STATUS_REACHABLE);
    EXPECT_THAT(trusted.output, HasSubstr("Download check: BLOCKED"));
  }

  const AgentRun untrusted = RunAgent(catalogue, genuine.ca);
  {
    const auto downloads = Downloads(untrusted.report);
    ASSERT_EQ(downloads.size(), 1u) << untrusted.output;
    const v1::Attempt& a = *downloads[0];
    EXPECT_EQ(a.outcome(), v1::OUTCOME_TLS_INTERCEPTED) << a.DebugString();
    EXPECT_FALSE(a.tls().certificate().trusted());
    EXPECT_FALSE(a.tls().certificate().verify_error().empty());
    const v1::DownloadCheck& check = Check(untrusted);
    EXPECT_THAT(check.summary(), HasSubstr("'CN=Rig Inspection CA,O=Example'"));
    EXPECT_THAT(check.summary(), HasSubstr("this machine does not trust it"));
    EXPECT_THAT(check.summary(), Not(HasSubstr("trusts it:")));
  }
}

// A firewall resets a ClientHello naming the service; the control name
// passes: SNI filtering, not a blocked port.
TEST_F(DownloadCheckOnTheRig, ResetOfTheServiceNameWhileAnotherPassesIsSniFiltering) {
  const Pki genuine = MakePki("genuine", "Rig Genuine CA");
  StartNginx(genuine);
  ASSERT_TRUE(firewall_.BlockCarrying(kAddress, kPort, kHost, /*drop=*/false).ok());
  const AgentRun run = RunAgent(WriteCatalogue(SpkiPin(genuine.ca)), genuine.ca);
  const auto downloads = Downloads(run.report);
  ASSERT_EQ(downloads.size(), 1u) << run.output;
  const v1::Attempt& a = *downloads[0];
  EXPECT_EQ(a.outcome(), v1::OUTCOME_SNI_FILTERED) << a.DebugString();
  EXPECT_EQ(a.tls().control().result(), v1::SniControl::RESULT_ANSWERED);
  const v1::DownloadCheck& check = Check(run);
  ASSERT_GT(check.blockers_size(), 0);
  EXPECT_EQ(check.blockers(0).kind(), v1::CAUSE_KIND_SNI_FILTERED);
  EXPECT_THAT(check.summary(), HasSubstr("filters TLS by server name (SNI)"));
  EXPECT_THAT(check.blockers(0).advice(), HasSubstr(absl::StrCat("allow TLS to ", kHost)));
}

// The filter drops the ClientHello instead: silence, and the control
// (given its grace beyond the deadline) is answered.
TEST_F(DownloadCheckOnTheRig, SilenceAfterTheServiceNameWhileAnotherPassesIsSniFiltering) {
  const Pki genuine = MakePki("genuine", "Rig Genuine CA");
  StartNginx(genuine);
  ASSERT_TRUE(firewall_.BlockCarrying(kAddress, kPort, kHost, /*drop=*/true).ok());
  const AgentRun run = RunAgent(WriteCatalogue(SpkiPin(genuine.ca)), genuine.ca);
  const auto downloads = Downloads(run.report);
  ASSERT_EQ(downloads.size(), 1u) << run.output;
  EXPECT_EQ(downloads[0]->outcome(), v1::OUTCOME_SNI_FILTERED) << downloads[0]->DebugString();
  EXPECT_EQ(downloads[0]->os_error_name(), "ETIMEDOUT");
  EXPECT_THAT(Check(run).summary(), HasSubstr("is dropped when the ClientHello names"));
}

// The same filter on the whole port (every ClientHello reset): the control
// fails too, so it is the port, not the name.
TEST_F(DownloadCheckOnTheRig, ResetOfEveryClientHelloIsNotCalledSniFiltering) {
  const Pki genuine = MakePki("genuine", "Rig Genuine CA");
  StartNginx(genuine);
  // Every ClientHello carries the TLS 1.2 legacy version in its record.
  ASSERT_TRUE(firewall_.BlockCarrying(kAddress, kPort, "\x16\x03\x01", /*drop=*/false).ok());
  const AgentRun run = RunAgent(WriteCatalogue(SpkiPin(genuine.ca)), genuine.ca);
  const auto downloads = Downloads(run.report);
  ASSERT_EQ(downloads.size(), 1u) << run.output;
  const v1::Attempt& a = *downloads[0];
  EXPECT_EQ(a.outcome(), v1::OUTCOME_CONNECTION_RESET) << a.DebugString();
  EXPECT_EQ(a.tls().control().result(), v1::SniControl::RESULT_FAILED);
  EXPECT_THAT(Check(run).summary(), Not(HasSubstr("SNI")));
}

// A plain-HTTP device answers on the TLS port: interference, quoted.
TEST_F(DownloadCheckOnTheRig, HttpAnswerOnTheTlsPortIsInterference) {
  rig::Interceptor::Options options;
  options.address = kAddress;
  options.port = kPort;
  auto interceptor = rig::Interceptor::Start(options);
  ASSERT_TRUE(interceptor.ok()) << interceptor.status();
  interceptor_ = *std::move(interceptor);
  const AgentRun run = RunAgent(WriteCatalogue(std::string(64, 'a')), "/dev/null");
  const auto downloads = Downloads(run.report);
  ASSERT_EQ(downloads.size(), 1u) << run.output;
  const v1::Attempt& a = *downloads[0];
  EXPECT_EQ(a.outcome(), v1::OUTCOME_PROTOCOL_INTERFERENCE) << a.DebugString();
  EXPECT_EQ(a.interference().status_line(), "HTTP/1.0 400 Bad Request");
  EXPECT_EQ(a.interference().page_title(), "Request Error");
  const v1::DownloadCheck& check = Check(run);
  ASSERT_GT(check.blockers_size(), 0);
  EXPECT_EQ(check.blockers(0).kind(), v1::CAUSE_KIND_INTERCEPTED);
  EXPECT_THAT(check.summary(), HasSubstr("does not speak TLS"));
  EXPECT_THAT(check.summary(), HasSubstr("HTTP/1.0 400 Bad Request"));
}

// A server that speaks only TLS 1.1 and older refuses what a browser
// offers: named as TLS refused, with the alert.
TEST_F(DownloadCheckOnTheRig, ServerWithoutTls12Or13IsTlsRefused) {
  const Pki genuine = MakePki("genuine", "Rig Genuine CA");
  StartTlsServer(genuine, {"-no_tls1_2", "-no_tls1_3"});
  const AgentRun run = RunAgent(WriteCatalogue(SpkiPin(genuine.ca)), genuine.ca);
  const auto downloads = Downloads(run.report);
  ASSERT_EQ(downloads.size(), 1u) << run.output;
  const v1::Attempt& a = *downloads[0];
  EXPECT_EQ(a.outcome(), v1::OUTCOME_TLS_REFUSED) << a.DebugString();
  EXPECT_FALSE(a.tls().alert().empty());
  const v1::DownloadCheck& check = Check(run);
  ASSERT_GT(check.blockers_size(), 0);
  EXPECT_EQ(check.blockers(0).kind(), v1::CAUSE_KIND_TLS_REFUSED);
  EXPECT_THAT(check.summary(), HasSubstr("refuses the TLS handshake"));
  EXPECT_THAT(check.summary(), HasSubstr("TLS 1.2 and 1.3"));
}

// A dropped download port times out, raced beside the relay: the whole
// run costs about one timeout, and the relay works meanwhile.
TEST_F(DownloadCheckOnTheRig, DroppedDownloadPortTimesOutWithinAboutOneTimeout) {
  ASSERT_TRUE(firewall_.Drop(kAddress, kPort).ok());
  const AgentRun run = RunAgent(WriteCatalogue(std::string(64, 'a')), "/dev/null");
  const auto downloads = Downloads(run.report);
  ASSERT_EQ(downloads.size(), 1u) << run.output;
  EXPECT_EQ(downloads[0]->outcome(), v1::OUTCOME_CONNECT_TIMEOUT);
  const v1::DownloadCheck& check = Check(run);
  ASSERT_GT(check.blockers_size(), 0);
  EXPECT_EQ(check.blockers(0).kind(), v1::CAUSE_KIND_FIREWALL_DROP);
  EXPECT_THAT(check.summary(), HasSubstr("silently dropping"));
  EXPECT_EQ(run.report.verdict().status(), v1::VERDICT_STATUS_REACHABLE);
  // --timeout=2s: one timeout plus the agent's start and reports.
  EXPECT_LT(run.wall, absl::Seconds(4)) << run.wall;
}

}  // namespace
}  // namespace relayscope
