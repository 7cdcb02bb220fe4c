// The release's Windows agent, as a customer runs it:
// relayscope-agent-windows-x86_64.exe (deploy/dev/release.sh windows) under
// wine64, in the test's own network namespace, against the real
// relayscope-relay, squid, the collector and iptables. Each test has its own
// Wine prefix (a copy of RELAYSCOPE_WINE_TEMPLATE when given, else a fresh
// `wineboot`), so its registry is the test's and its wineserver runs in the
// test's namespace; the wineserver is stopped at the end (`wineserver -k`).
//
// What the registry holds is written as Windows keeps it: the Internet
// Settings' Connections\DefaultConnectionSettings blob, which both WinINet
// and WinHTTP read (Wine's WinHTTP reads nothing else).
//
// Not covered under Wine (README, "The Windows agent"): Schannel and the
// Windows root store (Wine accepts an untrusted certificate), and SSPI's
// single sign-on (NTLM/Negotiate with the logon's credentials needs a
// domain; Wine's NTLM needs Samba's winbind).
//
// The binary's path comes from RELAYSCOPE_WINDOWS_AGENT (deploy/dev/test.sh's
// windows gate sets it); without it, or without wine64, the tests skip.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "relayscope/v1/telemetry.pb.h"
#include "tests/e2e/stack.h"
#include "tests/rig/firewall.h"
#include "tests/rig/fixture.h"
#include "tests/rig/interceptor.h"
#include "tests/rig/pki.h"
#include "tests/rig/process.h"
#include "tests/rig/squid.h"

namespace relayscope {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kRelayAddress[] = "127.0.91.1";
constexpr uint32_t kOpenPort = 8200;
constexpr uint32_t kDroppedPort = 8201;
constexpr uint32_t kInterceptedPort = 8202;
constexpr char kSquidAddress[] = "127.0.91.3";
constexpr char kPacServer[] = "127.0.91.5";
constexpr uint16_t kPacPort = 8080;
constexpr char kCollectorAddress[] = "127.0.91.7";
constexpr char kToken[] = "e2e-windows-agent-token-5c1d";
constexpr char kWine[] = "/usr/lib/wine/wine64";
constexpr char kWineserver[] = "/usr/lib/wine/wineserver";
constexpr char kInternetSettings[] =
    R"(HKCU\Software\Microsoft\Windows\CurrentVersion\Internet Settings)";

// A DefaultConnectionSettings blob as WinINet writes it: version, counter,
// flags (1 direct, 2 proxy, 4 PAC URL, 8 auto-detect), then three
// length-prefixed strings (proxy, bypass, PAC URL) and 32 zero bytes of
// detection state.
std::string ConnectionSettingsHex(uint32_t flags, const std::string& proxy,
                                  const std::string& bypass, const std::string& pac_url) {
  std::string blob;
  auto dword = [&blob](uint32_t v) {
    for (int i = 0; i < 4; ++i) blob.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  dword(0x46);
  dword(7);
  dword(flags);
  for (const std::string* s : {&proxy, &bypass, &pac_url}) {
    dword(static_cast<uint32_t>(s->size()));
    blob += *s;
  }
  blob.append(32, '\0');
  std::string hex;
  for (const char c : blob)
    absl::StrAppend(&hex, absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
  return hex;
}

class WindowsAgentUnderWine : public rig::RigTest {
 protected:
  void SetUp() override {
    const char* exe = std::getenv("RELAYSCOPE_WINDOWS_AGENT");  // NOLINT(concurrency-mt-unsafe)
    if (exe == nullptr || *exe == '\0') {
      GTEST_SKIP() << "RELAYSCOPE_WINDOWS_AGENT is not set: the path of "
                      "relayscope-agent-windows-x86_64.exe (deploy/dev/release.sh windows; "
                      "deploy/dev/test.sh's windows gate sets it)";
    }
    if (!std::filesystem::exists(kWine)) GTEST_SKIP() << kWine << " is missing (wine64)";
    exe_ = exe;
    ASSERT_TRUE(std::filesystem::is_regular_file(exe_)) << exe_ << " is not a file";
    RigTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    prefix_ = dir() + "/wine";
    const char* tmpl = std::getenv("RELAYSCOPE_WINE_TEMPLATE");  // NOLINT(concurrency-mt-unsafe)
    if (tmpl != nullptr && std::filesystem::is_directory(tmpl)) {
      auto copied = rig::RunCommand({"/bin/cp", "-a", tmpl, prefix_}, absl::Seconds(60));
      ASSERT_TRUE(copied.ok() && copied->exit_code == 0) << (copied.ok() ? copied->output : "");
    } else {
      auto booted = Wine({"wineboot", "-i"}, absl::Seconds(120));
      ASSERT_EQ(booted.exit_code, 0) << booted.output;
    }
    stack_ = std::make_unique<e2e::Stack>(
        dir(), e2e::Binaries{.relay = RELAY_BINARY, .collector = COLLECTOR_BINARY});
    ASSERT_TRUE(stack_
                    ->WriteCatalogue(absl::StrCat(
                        "name: \"wine\"\nregions { id: \"emea\" display_name: \"EMEA\" relays { "
                        "id: \"emea-1\" addresses: \"",
                        kRelayAddress, "\" ports: [ ", kOpenPort, ", ", kDroppedPort, ", ",
                        kInterceptedPort, " ] } }\n"))
                    .ok());
  }

  void TearDown() override {
    if (!prefix_.empty()) {
      // This prefix's wineserver, started in this namespace, by its prefix.
      (void)rig::RunCommand({kWineserver, "-k"}, absl::Seconds(20), WineEnv());
    }
    interceptor_.reset();
    squid_.reset();
    pac_server_.reset();
    stack_.reset();
    firewall_.Clear();
    RigTest::TearDown();
  }

  std::vector<std::string> WineEnv(std::vector<std::string> extra = {}) const {
    extra.push_back("WINEPREFIX=" + prefix_);
    extra.push_back("WINEDEBUG=-all");
    // No Mono or Gecko installer: the agent needs neither.
    extra.push_back("WINEDLLOVERRIDES=mscoree=d;mshtml=d");
    extra.push_back("HOME=" + dir());
    return extra;
  }

  rig::CommandResult Wine(const std::vector<std::string>& args, absl::Duration timeout,
                          std::vector<std::string> env = {}) {
    std::vector<std::string> argv = {kWine};
    argv.insert(argv.end(), args.begin(), args.end());
    auto result = rig::RunCommand(argv, timeout, WineEnv(std::move(env)));
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : rig::CommandResult{};
  }

  // The agent with `args`; reports to the test dir, never opened.
  rig::CommandResult Agent(std::vector<std::string> args, std::vector<std::string> env = {}) {
    std::vector<std::string> argv = {exe_};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("--report-dir=Z:" + dir() + "/reports");
    argv.push_back("--no-open");
    return Wine(argv, absl::Seconds(120), std::move(env));
  }

  std::vector<std::string> Diagnose(std::vector<std::string> more = {}) const {
    std::vector<std::string> args = {"diagnose", "--catalogue=Z:" + stack_->catalogue(),
                                     "--timeout=2s"};
    args.insert(args.end(), more.begin(), more.end());
    return args;
  }

  void SetConnectionSettings(uint32_t flags, const std::string& proxy, const std::string& pac_url) {
    const auto added = Wine({"reg", "add", absl::StrCat(kInternetSettings, R"(\Connections)"), "/v",
                             "DefaultConnectionSettings", "/t", "REG_BINARY", "/d",
                             ConnectionSettingsHex(flags, proxy, "<local>", pac_url), "/f"},
                            absl::Seconds(60));
    ASSERT_EQ(added.exit_code, 0) << added.output;
  }

  void StartRelay() {
    auto relay = stack_->StartRelay(
        absl::StrCat(kRelayAddress, ":", kOpenPort, ",", kRelayAddress, ":", kDroppedPort));
    ASSERT_TRUE(relay.ok()) << relay.status();
    ASSERT_TRUE(firewall_.Drop(kRelayAddress, kDroppedPort).ok());
    rig::Interceptor::Options intercept;
    intercept.address = kRelayAddress;
    intercept.port = kInterceptedPort;
    auto interceptor = rig::Interceptor::Start(intercept);
    ASSERT_TRUE(interceptor.ok()) << interceptor.status();
    interceptor_ = *std::move(interceptor);
  }

  void StartSquid() {
    rig::Squid::Options proxy;
    proxy.address = kSquidAddress;
    proxy.users = {{"alice", "s3cret pass"}};
    auto squid = rig::Squid::Start(proxy, dir());
    ASSERT_TRUE(squid.ok()) << squid.status();
    squid_ = *std::move(squid);
  }

  // Serves dir()/www over HTTP (python3's http.server).
  void StartPacServer(const std::string& pac) {
    const std::string www = dir() + "/www";
    std::filesystem::create_directories(www);
    std::ofstream(www + "/proxy.pac") << pac;
    rig::Process::Options options;
    options.argv = {"/usr/bin/python3", "-m",          "http.server", "--bind",
                    kPacServer,         "--directory", www,           absl::StrCat(kPacPort)};
    options.log_path = dir() + "/pac-server.log";
    auto server = rig::Process::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    pac_server_ = *std::move(server);
    ASSERT_TRUE(rig::WaitForPort(kPacServer, kPacPort, absl::Seconds(10), pac_server_.get()).ok());
  }

  // The JSON report of the last run.
  v1::SessionReport LastReport() {
    v1::SessionReport report;
    const std::string reports = dir() + "/reports";
    if (!std::filesystem::is_directory(reports)) return report;
    for (const auto& entry : std::filesystem::directory_iterator(reports)) {
      if (entry.path().extension() != ".json") continue;
      const std::string json = ReadFileToString(entry.path()).value_or("");
      v1::SessionReport parsed;
      if (google::protobuf::util::JsonStringToMessage(json, &parsed).ok() &&
          parsed.attempts_size() > 0) {
        report = parsed;
      }
    }
    return report;
  }

  std::string exe_;
  std::string prefix_;
  std::unique_ptr<e2e::Stack> stack_;
  std::unique_ptr<rig::Interceptor> interceptor_;
  std::unique_ptr<rig::Squid> squid_;
  std::unique_ptr<rig::Process> pac_server_;
  rig::Firewall firewall_;
};

// The download check from the .exe: OpenSSL over Winsock with the Windows
// trust store added; a genuine server (pinned) works, a re-signing one on
// the next port is named as interception with its issuer.
TEST_F(WindowsAgentUnderWine, DownloadCheckNamesTheGenuineAndTheReSigningServer) {
  StartRelay();
  constexpr char kHost[] = "downloads.wine.example";
  constexpr char kDownload[] = "127.0.75.1";
  auto genuine = rig::MakeTestPki(dir(), "genuine", "Rig Genuine CA", "DNS:downloads.wine.example");
  auto inspection =
      rig::MakeTestPki(dir(), "inspection", "Rig Inspection CA", "DNS:downloads.wine.example");
  ASSERT_TRUE(genuine.ok() && inspection.ok());
  auto pin = rig::SpkiSha256Of(genuine->ca);
  ASSERT_TRUE(pin.ok()) << pin.status();
  std::vector<std::unique_ptr<rig::Process>> servers;
  for (const auto& [pki, port] : {std::pair{&*genuine, 8443}, std::pair{&*inspection, 8444}}) {
    auto server = rig::StartOpenSslServer(*pki, kDownload, static_cast<uint16_t>(port),
                                          absl::StrCat(dir(), "/s_server-", port, ".log"));
    ASSERT_TRUE(server.ok()) << server.status();
    servers.push_back(*std::move(server));
  }
  ASSERT_TRUE(stack_
                  ->WriteCatalogue(absl::StrCat(
                      "name: \"wine\"\nregions { id: \"emea\" display_name: \"EMEA\" relays { "
                      "id: \"emea-1\" addresses: \"",
                      kRelayAddress, "\" ports: [ ", kOpenPort, " ] } }\n",
                      "downloads { id: \"plugin\" region: \"emea\" host: \"", kHost,
                      "\" addresses: \"", kDownload,
                      "\" ports: [ 8443, 8444 ] expected { "
                      "spki_sha256: \"",
                      *pin, "\" } }\n"))
                  .ok());
  const rig::CommandResult run = Agent(Diagnose({"--discover=false"}));
  EXPECT_EQ(run.exit_code, 0) << run.output;
  const v1::SessionReport report = LastReport();
  std::map<uint32_t, const v1::Attempt*> download;
  for (const v1::Attempt& a : report.attempts()) {
    if (a.target() == v1::TARGET_DOWNLOAD) download[a.port()] = &a;
  }
  ASSERT_EQ(download.size(), 2u) << run.output;
  EXPECT_EQ(download[8443]->outcome(), v1::OUTCOME_OK) << download[8443]->DebugString();
  EXPECT_EQ(download[8443]->tls().sni(), kHost);
  EXPECT_EQ(download[8444]->outcome(), v1::OUTCOME_TLS_INTERCEPTED)
      << download[8444]->DebugString();
  EXPECT_EQ(download[8444]->tls().certificate().issuer(), "CN=Rig Inspection CA,O=Example");
  ASSERT_EQ(report.verdict().downloads_size(), 1);
  EXPECT_TRUE(report.verdict().downloads(0).reachable());
  EXPECT_THAT(run.output, HasSubstr("Download check: OK"));
}

TEST_F(WindowsAgentUnderWine, PrintsItsVersion) {
  const rig::CommandResult run = Wine({exe_, "--version"}, absl::Seconds(60));
  EXPECT_EQ(run.exit_code, 0) << run.output;
  // Its own name, as on Linux: no drive, folder or ".exe".
  EXPECT_THAT(run.output, HasSubstr("relayscope-agent-windows-x86_64 (relayscope 0."));
  EXPECT_THAT(run.output, Not(HasSubstr(".exe")));
}

// The three ports as on Linux: the open one works (a real handshake over
// Winsock), the dropped one is a firewall dropping, the intercepted one an
// HTTP device answering in the relay's place. Reports are written, and
// their paths printed with Windows names.
TEST_F(WindowsAgentUnderWine, NamesTheWorkingTheDroppedAndTheInterceptedPort) {
  StartRelay();
  const rig::CommandResult run = Agent(Diagnose({"--discover=false"}));
  // One port of the only relay works: the region is reachable (exit 0), as on Linux.
  EXPECT_EQ(run.exit_code, 0) << run.output;
  const v1::SessionReport report = LastReport();
  ASSERT_GT(report.attempts_size(), 0) << run.output;
  EXPECT_EQ(report.agent().os(), "windows");
  std::map<uint32_t, v1::Outcome> outcome;
  for (const v1::Attempt& a : report.attempts()) outcome[a.port()] = a.outcome();
  EXPECT_EQ(outcome[kOpenPort], v1::OUTCOME_OK) << run.output;
  EXPECT_EQ(outcome[kDroppedPort], v1::OUTCOME_CONNECT_TIMEOUT) << run.output;
  EXPECT_EQ(outcome[kInterceptedPort], v1::OUTCOME_PROTOCOL_INTERFERENCE) << run.output;
  std::set<v1::CauseKind> kinds;
  for (const v1::Blocker& b : report.verdict().blockers()) kinds.insert(b.kind());
  EXPECT_THAT(kinds, Contains(v1::CAUSE_KIND_FIREWALL_DROP)) << run.output;
  EXPECT_THAT(run.output, HasSubstr(absl::StrCat(kDroppedPort)));
  EXPECT_THAT(run.output, HasSubstr("connrpt.html"));
  EXPECT_TRUE(std::filesystem::exists(dir() + "/reports/connrpt.html"));
}

// A proxy set in Internet Settings (the DefaultConnectionSettings blob) is
// found in the registry and used, through squid with Basic authentication,
// with DIRECT to the relay closed; WinHTTP's answer is shown beside ours.
TEST_F(WindowsAgentUnderWine, RegistryProxyIsUsedThroughSquidWithBasicAuthentication) {
  StartRelay();
  StartSquid();
  ASSERT_TRUE(firewall_.DropUnlessFromUser(kRelayAddress, rig::NobodyUid()).ok());
  SetConnectionSettings(0x3, absl::StrCat(kSquidAddress, ":", squid_->port()), "");

  const rig::CommandResult proxies = Agent({"proxies", "--catalogue=Z:" + stack_->catalogue()});
  EXPECT_EQ(proxies.exit_code, 0) << proxies.output;
  EXPECT_THAT(proxies.output, HasSubstr(absl::StrCat(kSquidAddress, ":", squid_->port())));
  EXPECT_THAT(proxies.output, HasSubstr("DefaultConnectionSettings"));
  EXPECT_THAT(proxies.output, HasSubstr("WinHTTP"));

  const rig::CommandResult run =
      Agent(Diagnose(), {"RELAYSCOPE_PROXY_USER=alice", "RELAYSCOPE_PROXY_PASSWORD=s3cret pass"});
  const v1::SessionReport report = LastReport();
  bool through_squid = false;
  for (const v1::Attempt& a : report.attempts()) {
    if (a.route_kind() == v1::ROUTE_KIND_HTTP_CONNECT && a.port() == kOpenPort &&
        a.outcome() == v1::OUTCOME_OK) {
      EXPECT_EQ(a.proxy().source(), v1::PROXY_SOURCE_WINDOWS);
      EXPECT_EQ(a.proxy().host(), kSquidAddress);
      through_squid = true;
    }
  }
  EXPECT_TRUE(through_squid) << run.output;
  EXPECT_THAT(run.output, Not(HasSubstr("s3cret")));
  EXPECT_THAT(squid_->WaitForAccessLog(absl::StrCat(kRelayAddress, ":", kOpenPort)),
              HasSubstr("alice"));
}

// AutoConfigURL from the registry: the PAC is fetched and evaluated in the
// Windows sandbox child (the agent's own executable in a Job object); its
// proxy is tried.
TEST_F(WindowsAgentUnderWine, AutoConfigUrlPacIsEvaluatedInTheSandboxChild) {
  StartRelay();
  StartSquid();
  StartPacServer(absl::StrCat("function FindProxyForURL(url, host) {\n",
                              "  if (isInNet(host, \"127.0.91.0\", \"255.255.255.0\"))",
                              " return \"PROXY ", kSquidAddress, ":3128\";\n",
                              "  return \"DIRECT\";\n}\n"));
  SetConnectionSettings(0x5, "", absl::StrCat("http://", kPacServer, ":", kPacPort, "/proxy.pac"));
  const rig::CommandResult run = Agent({"proxies", "--catalogue=Z:" + stack_->catalogue()});
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr(absl::StrCat("answered \"PROXY ", kSquidAddress, ":3128\"")));
  EXPECT_THAT(run.output, HasSubstr(absl::StrCat(kPacServer, ":", kPacPort, "/proxy.pac")));
}

// Hostile PACs are stopped by the sandbox's limits (the Job object's CPU
// time and memory, the parent's deadline), named, and the diagnosis goes on
// without them.
TEST_F(WindowsAgentUnderWine, EndlessAndUnboundedPacsAreStoppedAndNamed) {
  StartRelay();
  StartPacServer("function FindProxyForURL(url, host) { while (true) {} }\n");
  SetConnectionSettings(0x5, "", absl::StrCat("http://", kPacServer, ":", kPacPort, "/proxy.pac"));
  const absl::Time start = absl::Now();
  const rig::CommandResult loop = Agent({"proxies", "--catalogue=Z:" + stack_->catalogue()});
  EXPECT_LT(absl::Now() - start, absl::Seconds(60));
  EXPECT_EQ(loop.exit_code, 0) << loop.output;
  EXPECT_THAT(loop.output, HasSubstr("ran longer than 1s"));
  EXPECT_THAT(loop.output, HasSubstr("was stopped"));

  // A gigabyte at once: refused at the heap cap, named as memory. Read from
  // a file:// AutoConfigURL this time (file:///Z:/...: a drive letter).
  std::ofstream(dir() + "/www/proxy.pac")
      << "function FindProxyForURL(url, host) { var b = new ArrayBuffer(1 << 30); "
         "return 'DIRECT'; }\n";
  SetConnectionSettings(0x5, "", "file:///Z:" + dir() + "/www/proxy.pac");
  const rig::CommandResult memory = Agent({"proxies", "--catalogue=Z:" + stack_->catalogue()});
  EXPECT_EQ(memory.exit_code, 0) << memory.output;
  EXPECT_THAT(memory.output, HasSubstr("MB of memory")) << memory.output;
}

// Telemetry from behind the proxy: DIRECT to the collector is closed, the
// upload goes through squid with the credentials the diagnosis used, and the
// collector stores each attempt once, also after a resend of the spool.
TEST_F(WindowsAgentUnderWine, TelemetryReachesTheCollectorThroughSquidAndCountsOnce) {
  StartRelay();
  StartSquid();
  ASSERT_TRUE(stack_->WriteTokens("tokens", {{"e2e-agents", kToken}}).ok());
  ASSERT_TRUE(stack_->WriteSecret("token", kToken).ok());
  auto collector = stack_->StartCollector(
      {.tokens = dir() + "/tokens", .listen = absl::StrCat(kCollectorAddress, ":0")});
  ASSERT_TRUE(collector.ok()) << collector.status();
  ASSERT_TRUE(firewall_.DropUnlessFromUser(kCollectorAddress, rig::NobodyUid()).ok());
  const std::vector<std::string> upload = {"--discover=false",
                                           "--proxy=http://" + std::string(kSquidAddress) + ":3128",
                                           "--collector=" + (*collector)->address(),
                                           "--insecure",
                                           "--token-file=Z:" + dir() + "/token",
                                           "--spool-dir=Z:" + dir() + "/spool",
                                           "--agent-id-file=Z:" + dir() + "/agent-id",
                                           "--upload-timeout=6s"};
  const rig::CommandResult refused =
      Agent(Diagnose(upload), {"RELAYSCOPE_PROXY_USER=alice", "RELAYSCOPE_PROXY_PASSWORD=wrong"});
  EXPECT_THAT(refused.output, HasSubstr("telemetry not delivered")) << refused.output;
  EXPECT_EQ((*collector)->QueryInt("SELECT count(*) FROM attempts").value_or(-1), 0);

  const rig::CommandResult run = Agent(
      Diagnose(upload), {"RELAYSCOPE_PROXY_USER=alice", "RELAYSCOPE_PROXY_PASSWORD=s3cret pass"});
  std::smatch delivered;
  ASSERT_TRUE(std::regex_search(run.output, delivered,
                                std::regex(R"(Telemetry: (\d+) attempts delivered .* over )")))
      << run.output;
  EXPECT_THAT(run.output, HasSubstr("spooled batch(es) from earlier runs"));
  EXPECT_EQ((*collector)->QueryInt("SELECT count(*) FROM attempts").value_or(-1),
            std::stoll(delivered[1]));
  EXPECT_EQ((*collector)->QueryInt("SELECT count(DISTINCT session_id) FROM attempts").value_or(-1),
            2);
}

}  // namespace
}  // namespace relayscope
