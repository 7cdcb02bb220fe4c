// The command line every relayscope binary shares (common/cli.h), through
// the real binaries: --help lists the binary's own flags, --version the
// relayscope version; the agent's list flags add up when repeated, and
// --wpad finds a PAC by DHCP option 252 or the DNS walk from lease files,
// a resolv.conf and a domain the test names.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "relayscope/v1/telemetry.pb.h"
#include "tests/rig/fixture.h"
#include "tests/rig/hosts_override.h"
#include "tests/rig/interceptor.h"
#include "tests/rig/process.h"

namespace relayscope {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct Binary {
  std::string path;
  std::string own_flag;  // one flag the binary defines
};

rig::CommandResult RunBinary(const std::vector<std::string>& argv,
                             std::vector<std::string> env = {}) {
  auto result = rig::RunCommand(argv, absl::Seconds(30), env);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : rig::CommandResult{};
}

TEST(CommandLine, HelpListsEachBinarysOwnFlagsAndVersionTheRelayscopeVersion) {
  const std::vector<Binary> binaries = {{AGENT_BINARY, "--proxy_ca"},
                                        {COLLECTOR_BINARY, "--store"},
                                        {RELAY_BINARY, "--listen"},
                                        {DASHBOARD_BINARY, "--collector"},
                                        {MIDDLEBOX_BINARY, "--mode"}};
  for (const Binary& b : binaries) {
    SCOPED_TRACE(b.path);
    const rig::CommandResult help = RunBinary({b.path, "--help"});
    EXPECT_THAT(help.output, HasSubstr(b.own_flag));
    EXPECT_THAT(help.output, Not(HasSubstr("No flags matched")));
    // abseil's own flags stay under --helpfull.
    EXPECT_THAT(help.output, Not(HasSubstr("--flagfile")));
    const rig::CommandResult version = RunBinary({b.path, "--version"});
    EXPECT_EQ(version.exit_code, 0);
    EXPECT_THAT(version.output, HasSubstr(absl::StrCat("(relayscope ", RELAYSCOPE_VERSION, ")")));
    EXPECT_THAT(version.output, Not(HasSubstr("Debug build")));
  }
  // Dashes work in --help=substring as in any flag name.
  EXPECT_THAT(RunBinary({AGENT_BINARY, "--help"}).output, HasSubstr("--wpad_lease_dirs"));
}

class AgentCommandLine : public rig::RigTest {
 protected:
  std::string WriteCatalogue() {
    const std::string path = dir() + "/catalogue.textproto";
    std::ofstream(path) << "name: \"cli\"\nregions { id: \"emea\" display_name: \"EMEA\" "
                           "relays { id: \"emea-1\" addresses: \"127.0.81.1\" ports: [ 8200 ] } "
                           "}\n";
    return path;
  }

  std::vector<std::string> Agent(const std::string& command, std::vector<std::string> args) {
    std::vector<std::string> argv = {AGENT_BINARY,
                                     command,
                                     "--catalogue=" + WriteCatalogue(),
                                     "--timeout=1s",
                                     "--report-dir=" + dir() + "/reports",
                                     "--agent-id-file=" + dir() + "/agent-id",
                                     "--proxy-file=" + dir() + "/no-proxy-file"};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  // Serves `pac` as http://<address>/wpad.dat (one answer per connection).
  void ServePac(const std::string& address, const std::string& pac) {
    rig::Interceptor::Options options;
    options.address = address;
    options.port = 80;
    options.mode = rig::Interceptor::Mode::kFixedReply;
    options.read_bytes = 16;
    options.reply = absl::StrCat(
        "HTTP/1.1 200 OK\r\nContent-Type: application/x-ns-proxy-autoconfig\r\nContent-Length: ",
        pac.size(), "\r\nConnection: close\r\n\r\n", pac);
    auto server = rig::Interceptor::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    pac_server_ = *std::move(server);
  }

  std::unique_ptr<rig::Interceptor> pac_server_;
};

// No arguments at all, as a customer double-clicks it: the built-in
// production catalogue, the reports in the temp dir, and nothing else left
// anywhere (no identity file, no spool). The test's namespace has only
// loopback, so the production relays fail at once and nothing leaves it.
TEST_F(AgentCommandLine, NoArgumentsRunsTheBuiltInCatalogueAndLeavesOnlyItsReports) {
  const std::string home = dir() + "/home";
  const std::string tmp = dir() + "/tmp";
  std::filesystem::create_directories(home);
  std::filesystem::create_directories(tmp);
  const rig::CommandResult run = RunBinary({AGENT_BINARY}, {"HOME=" + home, "TMPDIR=" + tmp});
  EXPECT_EQ(run.exit_code, 2) << run.output;  // unreachable: nothing routes out of here
  EXPECT_THAT(run.output, HasSubstr("catalogue \"aos\""));
  EXPECT_THAT(run.output, HasSubstr("Report: " + tmp + "/connrpt.html"));

  std::set<std::string> left;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir())) {
    if (!entry.is_directory()) {
      left.insert(std::filesystem::relative(entry.path(), dir()).string());
    }
  }
  std::set<std::string> reports;
  v1::SessionReport report;
  for (const std::string& path : left) {
    EXPECT_TRUE(absl::StartsWith(path, "tmp/")) << path << " was left behind";
    if (absl::EndsWith(path, ".json")) {
      const std::string json = ReadFileToString(dir() + "/" + path).value_or("");
      ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &report).ok()) << json;
    }
  }
  EXPECT_EQ(left.size(), 3u);  // connrpt.html, relayscope-<session>.log and .json
  EXPECT_TRUE(left.count("tmp/connrpt.html"));
  // Every relay of deploy/catalogue/aos.textproto was tried, and its
  // plugin download server was checked.
  std::set<std::string> relays, downloads;
  for (const v1::Attempt& a : report.attempts()) {
    (a.target() == v1::TARGET_DOWNLOAD ? downloads : relays).insert(a.relay());
  }
  EXPECT_EQ(relays, (std::set<std::string>{"americas-1", "emea-1", "apac-1"}));
  EXPECT_EQ(downloads, (std::set<std::string>{"plugin"}));
  ASSERT_EQ(report.verdict().downloads_size(), 1);
  EXPECT_EQ(report.verdict().downloads(0).service(), "plugin");
  EXPECT_FALSE(report.agent().agent_id().empty());
}

// --proxy=A --proxy B: both are tried (absl alone keeps only B).
TEST_F(AgentCommandLine, RepeatedProxyFlagsAreAllTried) {
  const rig::CommandResult run =
      RunBinary(Agent("diagnose", {"--direct=false", "--proxy=http://127.0.82.1:3128", "--proxy",
                                   "http://127.0.82.2:3128"}),
                {"HOME=" + dir()});
  v1::SessionReport report;
  for (const auto& entry : std::filesystem::directory_iterator(dir() + "/reports")) {
    if (entry.path().extension() != ".json") continue;
    const std::string json = ReadFileToString(entry.path()).value_or("");
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &report).ok()) << json;
  }
  ASSERT_GT(report.attempts_size(), 0) << run.output;
  std::set<std::string> proxies;
  for (const v1::Attempt& a : report.attempts()) proxies.insert(a.proxy().host());
  EXPECT_EQ(proxies, (std::set<std::string>{"127.0.82.1", "127.0.82.2"}));
}

// --wpad with a lease file naming a PAC in DHCP option 252: the PAC's
// proxy is a route, reported as found by WPAD over DHCP.
TEST_F(AgentCommandLine, WpadForcedFindsThePacOfALeaseFileTheTestNames) {
  ServePac("127.0.83.1",
           "function FindProxyForURL(url, host) { return \"PROXY 127.0.83.2:3128\"; }");
  const std::string leases = dir() + "/leases";
  ASSERT_EQ(mkdir(leases.c_str(), 0755), 0);
  std::ofstream(leases + "/dhclient.eth0.leases")
      << "lease {\n  interface \"eth0\";\n  fixed-address 10.0.0.5;\n"
         "  option wpad \"http://127.0.83.1/wpad.dat\";\n}\n";
  std::ofstream(dir() + "/resolv.conf") << "nameserver 127.0.0.1\n";
  const std::vector<std::string> wpad = {"--wpad", "--wpad-lease-dirs=" + leases,
                                         "--wpad-resolv-conf=" + dir() + "/resolv.conf",
                                         "--wpad-domain=unused.test"};
  const rig::CommandResult without = RunBinary(Agent("proxies", {}), {"HOME=" + dir()});
  EXPECT_THAT(without.output, Not(HasSubstr("127.0.83.2")));
  const rig::CommandResult with = RunBinary(Agent("proxies", wpad), {"HOME=" + dir()});
  EXPECT_THAT(with.output, HasSubstr("127.0.83.2:3128"));
  EXPECT_THAT(with.output, HasSubstr("DHCP option 252 http://127.0.83.1/wpad.dat"));
}

// --wpad with no lease: the DNS walk of the domain given finds wpad.<domain>.
TEST_F(AgentCommandLine, WpadForcedWalksTheDomainTheTestNames) {
  ServePac("127.0.84.1",
           "function FindProxyForURL(url, host) { return \"PROXY 127.0.84.2:3128\"; }");
  auto hosts = rig::HostsOverride::Start({{"wpad.corp.example.test", "127.0.84.1"}}, dir());
  ASSERT_TRUE(hosts.ok()) << hosts.status();
  std::ofstream(dir() + "/resolv.conf") << "nameserver 127.0.0.1\n";
  const rig::CommandResult run =
      RunBinary(Agent("proxies", {"--wpad", "--wpad-lease-dirs=" + dir() + "/no-leases",
                                  "--wpad-resolv-conf=" + dir() + "/resolv.conf",
                                  "--wpad-domain=corp.example.test"}),
                {"HOME=" + dir()});
  EXPECT_THAT(run.output, HasSubstr("127.0.84.2:3128"));
  EXPECT_THAT(run.output, HasSubstr("DNS wpad.corp.example.test"));
}

}  // namespace
}  // namespace relayscope
