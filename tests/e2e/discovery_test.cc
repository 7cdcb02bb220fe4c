// Proxy discovery end to end: a Firefox profile (in the test's own HOME)
// points at a PAC file that nginx serves in the test's namespace; the PAC
// sends the relay through squid, and the direct path to the relay is
// dropped for everyone but squid. `relayscope-agent proxies` must show the
// chain, and `diagnose` must reach the relay through the PAC's proxy.
// The PAC and the Firefox profile are tests/e2e/testdata/.
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/stack.h"
#include "tests/rig/firewall.h"
#include "tests/rig/fixture.h"
#include "tests/rig/process.h"
#include "tests/rig/squid.h"
#include "tests/support/testdata.h"

namespace relayscope {
namespace {

using ::testing::HasSubstr;

constexpr char kCatalogue[] = R"pb(name: "e2e-discovery"
                                   regions {
                                     id: "emea"
                                     display_name: "EMEA"
                                     relays {
                                       id: "emea-1"
                                       addresses: "127.0.72.1"
                                       ports: [ 8200 ]
                                     }
                                   }
)pb";

class DiscoveryTest : public rig::RigTest {
 protected:
  void SetUp() override {
    RigTest::SetUp();
    if (IsSkipped()) return;
    stack_ = std::make_unique<e2e::Stack>(dir(), e2e::Binaries{.relay = RELAY_BINARY});
    ASSERT_TRUE(stack_->WriteCatalogue(kCatalogue).ok());

    // nginx serving the PAC on 127.0.64.1:8080 (one process, no daemon).
    std::filesystem::create_directories(dir() + "/www");
    std::ofstream(dir() + "/www/proxy.pac") << test::ReadTestdata("tests/e2e/testdata/proxy.pac");
    std::ofstream(dir() + "/nginx.conf")
        << "daemon off; master_process off; pid " << dir() << "/nginx.pid;\n"
        << "error_log " << dir() << "/nginx-error.log;\nevents {}\n"
        << "http { access_log " << dir() << "/nginx-access.log;\n"
        << "  types { application/x-ns-proxy-autoconfig pac; }\n"
        << "  client_body_temp_path " << dir() << "/nginx-tmp; proxy_temp_path " << dir()
        << "/nginx-tmp; fastcgi_temp_path " << dir() << "/nginx-tmp; uwsgi_temp_path " << dir()
        << "/nginx-tmp; scgi_temp_path " << dir() << "/nginx-tmp;\n"
        << "  server { listen 127.0.64.1:8080; root " << dir() << "/www; } }\n";
    rig::Process::Options nginx;
    nginx.argv = {"/usr/sbin/nginx", "-c", dir() + "/nginx.conf", "-p", dir()};
    nginx.log_path = dir() + "/nginx.log";
    auto started = rig::Process::Start(nginx);
    ASSERT_TRUE(started.ok()) << started.status();
    nginx_ = *std::move(started);
    const absl::Status nginx_up =
        rig::WaitForPort("127.0.64.1", 8080, absl::Seconds(10), nginx_.get());
    ASSERT_TRUE(nginx_up.ok()) << nginx_up;

    // Firefox: the default profile uses that PAC (network.proxy.type 2).
    const std::string base = dir() + "/home/.mozilla/firefox";
    std::filesystem::create_directories(base + "/k3y5.default-release");
    std::ofstream(base + "/profiles.ini") << test::ReadTestdata("tests/e2e/testdata/profiles.ini");
    std::ofstream(base + "/k3y5.default-release/prefs.js")
        << test::ReadTestdata("tests/e2e/testdata/prefs.js");

    auto relay = stack_->StartRelay("127.0.72.1:8200");
    ASSERT_TRUE(relay.ok()) << relay.status();

    rig::Squid::Options proxy;
    proxy.address = "127.0.63.1";
    auto squid = rig::Squid::Start(proxy, dir());
    ASSERT_TRUE(squid.ok()) << squid.status();
    squid_ = *std::move(squid);
    // Only squid (running as nobody) may reach the relay directly.
    ASSERT_TRUE(firewall_.DropUnlessFromUser("127.0.72.1", rig::NobodyUid()).ok());
  }
  void TearDown() override {
    firewall_.Clear();
    squid_.reset();
    stack_.reset();
    nginx_.reset();
    RigTest::TearDown();
  }

  rig::CommandResult Agent(std::vector<std::string> args) {
    args.insert(args.begin(), AGENT_BINARY);
    args.push_back("--catalogue=" + stack_->catalogue());
    auto result = rig::RunCommand(args, absl::Seconds(60), {"HOME=" + dir() + "/home"});
    EXPECT_TRUE(result.ok());
    return result.ok() ? *result : rig::CommandResult{};
  }

  std::unique_ptr<e2e::Stack> stack_;
  std::unique_ptr<rig::Process> nginx_;
  std::unique_ptr<rig::Squid> squid_;
  rig::Firewall firewall_;
};

TEST_F(DiscoveryTest, ProxiesShowsFirefoxPacAndItsAnswerPerRelay) {
  rig::CommandResult r = Agent({"proxies"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("PAC http://127.0.64.1:8080/proxy.pac  [prefs.js:3]"));
  EXPECT_THAT(r.output, HasSubstr("(from firefox prefs.js:3)"));
  EXPECT_THAT(r.output,
              HasSubstr("emea-1  https://127.0.72.1:8200/  ->  PROXY 127.0.63.1:3128; DIRECT"));
  EXPECT_THAT(r.output, HasSubstr("1. http_connect http://127.0.63.1:3128"));

  rig::CommandResult json = Agent({"proxies", "--json"});
  EXPECT_EQ(json.exit_code, 0);
  EXPECT_THAT(json.output, HasSubstr(R"("returned": "PROXY 127.0.63.1:3128; DIRECT")"));
}

TEST_F(DiscoveryTest, DiagnoseReachesTheRelayThroughThePacProxy) {
  rig::CommandResult r = Agent({"diagnose", "--timeout=2s", "--report-dir=" + dir() + "/reports",
                                "--agent-id-file=" + dir() + "/agent-id"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output,
              HasSubstr("works:   emea-1 127.0.72.1:8200 via HTTP proxy 127.0.63.1:3128"));
  EXPECT_THAT(squid_->WaitForAccessLog("127.0.72.1:8200", absl::Seconds(5)),
              HasSubstr("CONNECT 127.0.72.1:8200"));
}

TEST_F(DiscoveryTest, ABrokenPacIsReportedAndDirectIsStillTried) {
  std::ofstream(dir() + "/www/proxy.pac") << "function FindProxyForURL(u, h) { while (true) {} }";
  rig::CommandResult r = Agent({"proxies"});
  EXPECT_THAT(r.output, HasSubstr("error: the PAC file ran longer than 1s"));
  EXPECT_THAT(r.output, HasSubstr("1. direct"));
}

}  // namespace
}  // namespace relayscope
