// The release's Linux agent, as a customer runs it: the static
// relayscope-agent-linux-x86_64 (deploy/dev/release.sh linux) on a machine
// that has nothing it could lean on. Each run gets a private mount
// namespace with a fresh tmpfs root that holds only the binary, the test's
// catalogue, PAC and /etc/hosts (the relay's name), and an empty /tmp; the
// agent runs chrooted into it, in the test's network namespace where the
// real relayscope-relay listens and iptables drops one of its ports. No
// shared library, no NSS module, no nsswitch.conf or resolv.conf, no /dev,
// no /proc: a dynamic link or a file the agent reads from the system would
// fail here.
//
// The binary's path comes from RELAYSCOPE_STATIC_AGENT (deploy/dev/test.sh's
// release-linux gate sets it); without it the tests skip.
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "relayscope/v1/telemetry.pb.h"
#include "tests/rig/firewall.h"
#include "tests/rig/fixture.h"
#include "tests/rig/process.h"

namespace relayscope {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

constexpr char kRelayAddress[] = "127.0.81.1";
// Resolved by static glibc's built-in `files` source from the root's
// /etc/hosts (glibc's default order without nsswitch.conf: dns, which
// finds no server, then files).
constexpr char kRelayName[] = "emea-1.static.test";
constexpr uint32_t kOpenPort = 8200;
constexpr uint32_t kDroppedPort = 8201;
// A proxy the PAC names that nothing listens on (refused at once).
constexpr char kPacProxy[] = "127.0.81.9:3128";
// Serves the PAC over HTTPS (openssl s_server) in the TLS test.
constexpr char kPacServer[] = "127.0.81.5";

// Makes the root, runs the agent chrooted into it, then copies what the
// agent left in the root to $out (the tmpfs dies with the namespace) and
// lists every file the root held. Run under `unshare --mount --propagation
// private`, so the tmpfs is never seen outside.
constexpr char kChrootScript[] = R"sh(
set -eu
root=$1 out=$2 agent=$3 catalogue=$4 pac=$5 hosts=$6 extra=$7
shift 7
mount -t tmpfs -o size=64m,mode=0755 relayscope-static-root "$root"
cp "$agent" "$root/relayscope-agent"
cp "$catalogue" "$root/catalogue.textproto"
cp "$pac" "$root/proxy.pac"
mkdir "$root/etc"
cp "$hosts" "$root/etc/hosts"
if [ -n "$extra" ]; then cp -a "$extra/." "$root/"; fi
mkdir -m 1777 "$root/tmp"
rc=0
chroot "$root" /relayscope-agent "$@" || rc=$?
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort) >"$out/files"
cp -a "$root/tmp/." "$out/tmp/"
exit $rc
)sh";

struct RootRun {
  int exit_code = -1;
  std::string output;
  std::vector<std::string> files;  // every path in the root afterwards
  std::string tmp;                 // the root's /tmp, copied out
};

class StaticAgentInAnEmptyRoot : public rig::RigTest {
 protected:
  void SetUp() override {
    const char* binary = std::getenv("RELAYSCOPE_STATIC_AGENT");  // NOLINT(concurrency-mt-unsafe)
    if (binary == nullptr || *binary == '\0') {
      GTEST_SKIP() << "RELAYSCOPE_STATIC_AGENT is not set: the path of the static agent "
                      "(deploy/dev/release.sh linux; deploy/dev/test.sh's release-linux gate "
                      "sets it)";
    }
    binary_ = binary;
    ASSERT_TRUE(std::filesystem::is_regular_file(binary_))
        << "RELAYSCOPE_STATIC_AGENT=" << binary_ << " is not a file";
    RigTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    const std::string catalogue = dir() + "/catalogue.textproto";
    std::ofstream(catalogue) << "name: \"static\"\nregions { id: \"emea\" display_name: \"EMEA\" "
                             << "relays { id: \"emea-1\" host: \"" << kRelayName
                             << "\" addresses: \"" << kRelayAddress << "\" ports: [ " << kOpenPort
                             << ", " << kDroppedPort << " ] } }\n";
    std::ofstream(dir() + "/hosts") << kRelayAddress << " " << kRelayName << "\n";
    std::ofstream(dir() + "/proxy.pac") << "function FindProxyForURL(url, host) {\n"
                                        << "  if (isInNet(host, \"127.0.81.0\", \"255.255.255.0\"))"
                                        << " return \"PROXY " << kPacProxy << "; DIRECT\";\n"
                                        << "  return \"DIRECT\";\n}\n";
  }

  void TearDown() override {
    relay_.reset();
    firewall_.Clear();
    RigTest::TearDown();
  }

  // Both relay ports listen; the firewall drops one.
  void StartRelay() {
    const std::string ready = dir() + "/relay.ready";
    rig::Process::Options options;
    options.argv = {RELAY_BINARY,
                    absl::StrCat("--listen=", kRelayAddress, ":", kOpenPort, ",", kRelayAddress,
                                 ":", kDroppedPort),
                    "--ready-file=" + ready};
    options.log_path = dir() + "/relay.log";
    auto relay = rig::Process::Start(options);
    ASSERT_TRUE(relay.ok()) << relay.status();
    relay_ = *std::move(relay);
    ASSERT_TRUE(rig::WaitForFile(ready, absl::Seconds(10), relay_.get()).ok()) << relay_->LogTail();
    ASSERT_TRUE(firewall_.Drop(kRelayAddress, kDroppedPort).ok());
  }

  // Runs `/relayscope-agent args...` in a fresh root; `env` (NAME=value)
  // is all the agent's environment has beyond PATH. The tree under
  // `extra`, when given, is copied into the root too.
  RootRun RunInRoot(const std::vector<std::string>& args, std::vector<std::string> env = {},
                    const std::string& extra = "") {
    const std::string root = dir() + "/root";
    const std::string out = dir() + "/out";
    std::filesystem::remove_all(out);
    std::filesystem::create_directories(out + "/tmp");
    std::filesystem::create_directories(root);
    std::vector<std::string> argv = {"/usr/bin/unshare",
                                     "--mount",
                                     "--propagation",
                                     "private",
                                     "/bin/sh",
                                     "-c",
                                     kChrootScript,
                                     "sh",
                                     root,
                                     out,
                                     binary_,
                                     dir() + "/catalogue.textproto",
                                     dir() + "/proxy.pac",
                                     dir() + "/hosts",
                                     extra};
    argv.insert(argv.end(), args.begin(), args.end());
    env.push_back("HOME=/tmp");
    RootRun run;
    auto result = rig::RunCommand(argv, absl::Seconds(60), env);
    EXPECT_TRUE(result.ok()) << result.status();
    if (!result.ok()) return run;
    run.exit_code = result->exit_code;
    run.output = result->output;
    run.files =
        absl::StrSplit(ReadFileToString(out + "/files").value_or(""), '\n', absl::SkipEmpty());
    run.tmp = out + "/tmp";
    return run;
  }

  std::string binary_;
  std::unique_ptr<rig::Process> relay_;
  rig::Firewall firewall_;
};

TEST_F(StaticAgentInAnEmptyRoot, PrintsItsVersion) {
  const RootRun run = RunInRoot({"--version"});
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("relayscope"));
  EXPECT_THAT(run.output, HasSubstr("0."));
  // Nothing but what the test put there: the agent wrote no file.
  EXPECT_THAT(run.files, UnorderedElementsAre("./catalogue.textproto", "./etc", "./etc/hosts",
                                              "./proxy.pac", "./relayscope-agent", "./tmp"));
}

// `proxies` shows what this machine says, here only the environment.
TEST_F(StaticAgentInAnEmptyRoot, ProxiesNamesTheEnvironmentsProxy) {
  const RootRun run = RunInRoot({"proxies", "--catalogue=/catalogue.textproto"},
                                {"https_proxy=http://127.0.81.7:3128"});
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("127.0.81.7:3128"));
  EXPECT_THAT(run.output, HasSubstr("https_proxy"));
}

// The whole diagnosis in the root: the relay's open port works (a real
// handshake), the dropped one is named as blocked by a firewall, and the PAC
// was evaluated in the sandbox (fork + seccomp + Duktape, inside the static
// binary): its proxy was tried; the relay's name resolved (the DNS check). The sandbox child
// answers nothing unless its seccomp filter loaded (agent/pac/pac_sandbox.cc), so an answer proves
// the filter works in the static file. The reports go to the temp dir (/tmp of
// the root: TMPDIR is not set).
TEST_F(StaticAgentInAnEmptyRoot, DiagnosesTheRelayNamesTheDroppedPortAndEvaluatesThePac) {
  StartRelay();
  const RootRun run = RunInRoot({"diagnose", "--catalogue=/catalogue.textproto", "--timeout=2s",
                                 "--pac-url=file:///proxy.pac", "--agent-id-file=/tmp/agent-id"});
  // One port of the only relay works: the region is reachable (exit 0).
  EXPECT_EQ(run.exit_code, 0) << run.output;
  v1::SessionReport report;
  std::vector<std::string> reports;
  for (const auto& entry : std::filesystem::directory_iterator(run.tmp)) {
    reports.push_back(entry.path().filename().string());
    if (entry.path().extension() != ".json") continue;
    const std::string json = ReadFileToString(entry.path()).value_or("");
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &report).ok()) << json;
  }
  SCOPED_TRACE("reports in the root's /tmp: " + absl::StrJoin(reports, " "));
  ASSERT_GT(report.attempts_size(), 0) << run.output;
  EXPECT_EQ(report.verdict().status(), v1::VERDICT_STATUS_REACHABLE);
  EXPECT_THAT(reports, Contains("connrpt.html"));

  bool open_port_ok = false;
  bool dropped_port_timed_out = false;
  bool pac_proxy_tried = false;
  bool name_resolved = false;
  for (const v1::Attempt& a : report.attempts()) {
    if (a.dns().status() == v1::DnsEvidence::STATUS_CONSISTENT) {
      EXPECT_EQ(a.dns().host(), kRelayName);
      EXPECT_THAT(a.dns().answers(), Contains(kRelayAddress));
      name_resolved = true;
    }
    if (a.route_kind() == v1::ROUTE_KIND_DIRECT && a.port() == kOpenPort) {
      open_port_ok |= a.outcome() == v1::OUTCOME_OK;
    }
    if (a.route_kind() == v1::ROUTE_KIND_DIRECT && a.port() == kDroppedPort) {
      dropped_port_timed_out |= a.outcome() == v1::OUTCOME_CONNECT_TIMEOUT;
    }
    if (a.route_kind() == v1::ROUTE_KIND_HTTP_CONNECT &&
        absl::StrCat(a.proxy().host(), ":", a.proxy().port()) == kPacProxy) {
      EXPECT_EQ(a.proxy().source(), v1::PROXY_SOURCE_PAC);
      pac_proxy_tried = true;
    }
  }
  EXPECT_TRUE(open_port_ok) << run.output;
  EXPECT_TRUE(dropped_port_timed_out) << run.output;
  EXPECT_TRUE(pac_proxy_tried) << "the PAC's proxy was not tried: " << run.output;
  EXPECT_TRUE(name_resolved) << "the relay's name did not resolve in the root: " << run.output;

  const v1::Blocker* drop = nullptr;
  for (const v1::Blocker& b : report.verdict().blockers()) {
    if (b.kind() == v1::CAUSE_KIND_FIREWALL_DROP) drop = &b;
  }
  ASSERT_NE(drop, nullptr) << run.output;
  EXPECT_THAT(drop->ports(), Contains(kDroppedPort));
  EXPECT_THAT(drop->explanation(), HasSubstr(absl::StrCat(kDroppedPort)));
  EXPECT_THAT(drop->explanation(), HasSubstr("silently dropping"));
  EXPECT_THAT(report.verdict().working(), Contains(HasSubstr(absl::StrCat(kOpenPort))));
}

// The static agent has no CA path compiled in: it trusts the bundle it finds
// where the distribution keeps it (common/ca_bundle.h). Here the root is laid
// out like RHEL (/etc/pki/tls/certs/ca-bundle.crt, no Debian path) and holds
// the test's CA, and the PAC comes over HTTPS from openssl s_server with a
// certificate that CA issued: fetched and evaluated. Without the bundle the
// same fetch fails on the certificate, so the trust came from the probe.
TEST_F(StaticAgentInAnEmptyRoot, TrustsTheCaBundleWhereRhelKeepsIt) {
  const std::string www = dir() + "/www";
  std::filesystem::create_directories(www);
  std::filesystem::copy_file(dir() + "/proxy.pac", www + "/proxy.pac");
  const std::string ca_key = dir() + "/ca.key", ca = dir() + "/ca.pem";
  const std::string key = dir() + "/server.key", csr = dir() + "/server.csr";
  const std::string cert = dir() + "/server.pem", ext = dir() + "/server.ext";
  std::ofstream(ext) << "subjectAltName=IP:" << kPacServer << "\n";
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=Static Test CA"},
           {"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
            key, "-out", csr, "-subj", absl::StrCat("/CN=", kPacServer)},
           {"x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out",
            cert, "-days", "2", "-extfile", ext}}) {
    std::vector<std::string> argv = {"/usr/bin/openssl"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto result = rig::RunCommand(argv, absl::Seconds(30));
    ASSERT_TRUE(result.ok()) << result.status();
    ASSERT_EQ(result->exit_code, 0) << result->output;
  }
  rig::Process::Options options;
  options.argv = {"/usr/bin/openssl",
                  "s_server",
                  "-quiet",
                  "-WWW",
                  "-accept",
                  absl::StrCat(kPacServer, ":8443"),
                  "-cert",
                  cert,
                  "-key",
                  key};
  options.working_dir = www;
  options.log_path = dir() + "/s_server.log";
  auto server = rig::Process::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE(rig::WaitForPort(kPacServer, 8443, absl::Seconds(10), server->get()).ok());

  const std::string rhel = dir() + "/rhel";
  std::filesystem::create_directories(rhel + "/etc/pki/tls/certs");
  std::filesystem::copy_file(ca, rhel + "/etc/pki/tls/certs/ca-bundle.crt");
  const std::vector<std::string> args = {
      "proxies", "--catalogue=/catalogue.textproto",
      absl::StrCat("--pac-url=https://", kPacServer, ":8443/proxy.pac")};
  const RootRun trusted = RunInRoot(args, {}, rhel);
  EXPECT_EQ(trusted.exit_code, 0) << trusted.output;
  EXPECT_THAT(trusted.output,
              HasSubstr(absl::StrCat("answered \"PROXY ", kPacProxy, "; DIRECT\"")));
  EXPECT_THAT(trusted.output, Not(HasSubstr("SSL certificate problem")));

  const RootRun untrusted = RunInRoot(args);
  EXPECT_THAT(untrusted.output, HasSubstr("SSL certificate problem"));
  EXPECT_THAT(untrusted.output, Not(HasSubstr(absl::StrCat("answered \"PROXY ", kPacProxy))));
}

}  // namespace
}  // namespace relayscope
