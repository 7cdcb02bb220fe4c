// Telemetry that gets out the way the diagnosis did: the real agent and the
// real collector in the test's own network namespace, with DIRECT to the
// collector closed (iptables: only squid, running as nobody, may reach it)
// and a real squid requiring Basic authentication on the only open path.
// The upload is gRPC's wire format over libcurl's HTTP/2 inside squid's
// CONNECT tunnel; the collector, a gRPC C++ server, is unchanged.
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/upload/uploader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/stack.h"
#include "tests/rig/dante.h"
#include "tests/rig/firewall.h"
#include "tests/rig/fixture.h"
#include "tests/rig/process.h"
#include "tests/rig/squid.h"
#include "tests/support/telemetry_builders.h"

namespace relayscope {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kToken[] = "e2e-upload-route-token-7e21";
constexpr char kCollectorAddress[] = "127.0.74.1";
constexpr char kSquidAddress[] = "127.0.73.1";

class UploadRouteTest : public rig::RigTest {
 protected:
  void SetUp() override {
    RigTest::SetUp();
    if (IsSkipped()) return;
    stack_ = std::make_unique<e2e::Stack>(
        dir(), e2e::Binaries{.relay = RELAY_BINARY, .collector = COLLECTOR_BINARY});
    ASSERT_TRUE(stack_->WriteCatalogue(e2e::CatalogueText("127.0.72.1")).ok());
    ASSERT_TRUE(stack_->WriteTokens("tokens", {{"e2e-agents", kToken}}).ok());
    ASSERT_TRUE(stack_->WriteSecret("token", kToken).ok());
    auto relay = stack_->StartRelay("127.0.72.1:8200");
    ASSERT_TRUE(relay.ok()) << relay.status();
    auto collector = stack_->StartCollector(
        {.tokens = dir() + "/tokens", .listen = absl::StrCat(kCollectorAddress, ":0")});
    ASSERT_TRUE(collector.ok()) << collector.status();
    collector_ = *collector;

    rig::Squid::Options proxy;
    proxy.address = kSquidAddress;
    proxy.users = {{"alice", "s3cret pass"}};
    auto squid = rig::Squid::Start(proxy, dir());
    ASSERT_TRUE(squid.ok()) << squid.status();
    squid_ = *std::move(squid);
    // DIRECT to the collector is closed: only squid (nobody) gets there.
    ASSERT_TRUE(firewall_.DropUnlessFromUser(kCollectorAddress, rig::NobodyUid()).ok());
  }
  void TearDown() override {
    firewall_.Clear();
    squid_.reset();
    stack_.reset();
    RigTest::TearDown();
  }

  // One diagnosis that uploads through --proxy (no credentials in the
  // URL): the diagnosis meets squid's 407 and takes the credentials from
  // RELAYSCOPE_PROXY_USER / RELAYSCOPE_PROXY_PASSWORD, as a person would
  // type them; the upload must reuse them.
  rig::CommandResult RunAgent(const std::string& password) {
    std::vector<std::string> argv = {AGENT_BINARY,
                                     "diagnose",
                                     "--catalogue=" + stack_->catalogue(),
                                     "--discover=false",
                                     "--proxy=" + squid_->Url(),
                                     "--collector=" + collector_->address(),
                                     "--insecure",
                                     "--token-file=" + dir() + "/token",
                                     "--spool-dir=" + dir() + "/spool",
                                     "--agent-id-file=" + dir() + "/agent-id",
                                     "--report-dir=" + dir() + "/reports",
                                     "--timeout=2s",
                                     "--upload-timeout=4s"};
    auto result =
        rig::RunCommand(argv, absl::Seconds(60),
                        {"RELAYSCOPE_PROXY_USER=alice", "RELAYSCOPE_PROXY_PASSWORD=" + password});
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : rig::CommandResult{};
  }

  int64_t Stored() { return collector_->QueryInt("SELECT count(*) FROM attempts").value_or(-1); }
  size_t SpoolFiles() {
    const std::string spool = dir() + "/spool";
    if (!std::filesystem::exists(spool)) return 0;
    return static_cast<size_t>(std::distance(std::filesystem::directory_iterator(spool),
                                             std::filesystem::directory_iterator()));
  }

  std::unique_ptr<e2e::Stack> stack_;
  e2e::Collector* collector_ = nullptr;
  std::unique_ptr<rig::Squid> squid_;
  rig::Firewall firewall_;
};

TEST_F(UploadRouteTest, AgentUploadsThroughSquidWithTheDiagnosisCredentialsAndTheSpoolCountsOnce) {
  // Wrong password: squid refuses, DIRECT is closed. The verdict is still
  // given, the error says what happened on each route, nothing is lost.
  rig::CommandResult refused = RunAgent("wrong");
  EXPECT_THAT(refused.output, HasSubstr("telemetry not delivered"));
  EXPECT_THAT(refused.output, HasSubstr("via http://alice:****@127.0.73.1:3128: the proxy answered "
                                        "CONNECT with 407 (it refused the credentials)"));
  EXPECT_THAT(refused.output, HasSubstr("DIRECT: "));
  EXPECT_THAT(refused.output, Not(HasSubstr("wrong")));  // the password never shows
  EXPECT_GT(SpoolFiles(), 0u);
  EXPECT_EQ(Stored(), 0);

  // The right password: the spool and this run go through squid, each
  // attempt stored once.
  rig::CommandResult delivered = RunAgent("s3cret pass");
  EXPECT_THAT(delivered.output,
              HasSubstr(absl::StrCat("attempts delivered to ", collector_->address(),
                                     " over http://alice:****@127.0.73.1:3128")));
  EXPECT_THAT(delivered.output, HasSubstr("spooled batch(es) from earlier runs"));
  EXPECT_THAT(delivered.output, Not(HasSubstr("s3cret")));
  EXPECT_EQ(SpoolFiles(), 0u);
  // What the agent says it delivered is what the store holds: the spooled
  // batches of the first run and this run's, none twice.
  std::smatch delivered_count;
  ASSERT_TRUE(std::regex_search(
      delivered.output, delivered_count,
      std::regex(R"(Telemetry: (\d+) attempts delivered .* \(0 already known\))")))
      << delivered.output;
  EXPECT_EQ(Stored(), std::stoll(delivered_count[1]));
  EXPECT_EQ(collector_->QueryInt("SELECT count(DISTINCT session_id) FROM attempts").value_or(-1),
            2);
  EXPECT_THAT(squid_->WaitForAccessLog(collector_->address(), absl::Seconds(8)),
              HasSubstr(absl::StrCat("CONNECT ", collector_->address())));
}

// The uploader itself against the real collector binary through squid: a
// resend of batches whose ack was lost (the same session again) is counted
// once, and the route that delivered is named.
// A session of 12 attempts (each keyed by agent, session and sequence).
v1::SessionReport Session(const std::string& session_id) {
  v1::SessionReport report;
  report.mutable_agent()->set_agent_id("agent-resend");
  report.set_session_id(session_id);
  report.mutable_verdict()->set_status(v1::VERDICT_STATUS_REACHABLE);
  const v1::Attempt ok =
      test::AttemptBuilder().Session(session_id).StartedAt(absl::Now() - absl::Seconds(2)).Build();
  for (v1::Attempt& a : test::Sequenced(ok, 1, 12)) *report.add_attempts() = std::move(a);
  return report;
}

TEST_F(UploadRouteTest, ResendThroughSquidIsCountedOnce) {
  v1::SessionReport report = Session("s-resend");
  agent::UploadOptions options;
  options.target = collector_->address();
  options.insecure = true;
  options.token = kToken;
  options.attempts_per_batch = 5;
  options.deadline = absl::Seconds(5);
  options.spool_dir = dir() + "/uploader-spool";
  agent::UploadRoute via_squid;
  via_squid.proxy.kind = v1::ROUTE_KIND_HTTP_CONNECT;
  via_squid.proxy.host = kSquidAddress;
  via_squid.proxy.port = squid_->port();
  via_squid.proxy.username = "alice";
  via_squid.proxy.password = "s3cret pass";
  options.routes = {agent::UploadRoute{}, via_squid};  // DIRECT first: closed

  agent::UploadResult first = agent::Upload(report, options);
  EXPECT_EQ(first.error, "");
  EXPECT_EQ(first.delivered_batches, 3u);
  EXPECT_EQ(first.accepted, 12u);
  EXPECT_EQ(first.route, "http://alice:****@127.0.73.1:3128");
  agent::UploadResult again = agent::Upload(report, options);
  EXPECT_EQ(again.error, "");
  EXPECT_EQ(again.accepted, 0u);
  EXPECT_EQ(again.duplicates, 12u);
  EXPECT_EQ(Stored(), 12);

  // Without credentials, and nobody to ask: a clear error, the batches spooled.
  options.routes[1].proxy.username.clear();
  options.routes[1].proxy.password.clear();
  options.deadline = absl::Seconds(2);
  report = Session("s-no-credentials");
  agent::UploadResult refused = agent::Upload(report, options);
  EXPECT_THAT(refused.error, HasSubstr(absl::StrCat("collector ", collector_->address(),
                                                    " unavailable: DIRECT: ")));
  EXPECT_THAT(refused.error, HasSubstr("via http://127.0.73.1:3128: the proxy answered CONNECT "
                                       "with 407 (it wants credentials)"));
  EXPECT_EQ(refused.spooled, 3u);
  EXPECT_EQ(Stored(), 12);

  // Someone to ask: asked once, the spool and the session go through.
  int asked = 0;
  options.ask_credentials = [&asked](const v1::Proxy& proxy) {
    ++asked;
    EXPECT_EQ(proxy.host(), kSquidAddress);
    return std::optional<std::pair<std::string, std::string>>({"alice", "s3cret pass"});
  };
  options.deadline = absl::Seconds(5);
  report = Session("s-asked");
  agent::UploadResult answered = agent::Upload(report, options);
  EXPECT_EQ(answered.error, "");
  EXPECT_EQ(asked, 1);
  EXPECT_EQ(answered.delivered_from_spool, 3u);
  EXPECT_EQ(answered.accepted, 24u);
  EXPECT_EQ(Stored(), 36);
}

// Discovery decides the collector's route as it does a relay's: no_proxy
// sends the relay DIRECT, while the collector, not listed, goes through the
// https_proxy (credentials in its URL), since DIRECT to it is closed.
TEST_F(UploadRouteTest, TheCollectorsOwnRouteListComesFromDiscovery) {
  std::filesystem::create_directories(dir() + "/home");
  std::vector<std::string> argv = {AGENT_BINARY,
                                   "diagnose",
                                   "--catalogue=" + stack_->catalogue(),
                                   "--collector=" + collector_->address(),
                                   "--insecure",
                                   "--token-file=" + dir() + "/token",
                                   "--spool-dir=" + dir() + "/spool",
                                   "--agent-id-file=" + dir() + "/agent-id",
                                   "--report-dir=" + dir() + "/reports",
                                   "--timeout=2s",
                                   "--upload-timeout=4s"};
  auto result = rig::RunCommand(
      argv, absl::Seconds(60),
      {"HOME=" + dir() + "/home", "https_proxy=http://alice:s3cret%20pass@127.0.73.1:3128",
       "no_proxy=127.0.72.1"});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(result->output, HasSubstr("works:   emea-1 127.0.72.1:8200 via direct"));
  EXPECT_THAT(result->output,
              HasSubstr(absl::StrCat("attempts delivered to ", collector_->address(),
                                     " over http://alice:****@127.0.73.1:3128")));
  EXPECT_THAT(result->output, Not(HasSubstr("s3cret")));
  EXPECT_GT(Stored(), 0);
  EXPECT_EQ(SpoolFiles(), 0u);
}

// A real dante SOCKS5 server (as nobody, so allowed past the firewall):
// socks5h hands it the collector's name, and h2c goes through it as it is.
TEST_F(UploadRouteTest, UploadGoesThroughDanteSocks5) {
  rig::Dante::Options socks;
  socks.address = "127.0.75.1";
  auto dante = rig::Dante::Start(socks, dir());
  ASSERT_TRUE(dante.ok()) << dante.status();
  agent::UploadOptions options;
  options.target = collector_->address();
  options.insecure = true;
  options.token = kToken;
  options.deadline = absl::Seconds(5);
  agent::UploadRoute via_dante;
  via_dante.proxy.kind = v1::ROUTE_KIND_SOCKS5;
  via_dante.proxy.remote_dns = true;
  via_dante.proxy.host = socks.address;
  via_dante.proxy.port = socks.port;
  options.routes = {via_dante};
  agent::UploadResult result = agent::Upload(Session("s-socks"), options);
  EXPECT_EQ(result.error, "");
  EXPECT_EQ(result.route, "socks5h://127.0.75.1:1080");
  EXPECT_EQ(result.accepted, 12u);
  EXPECT_EQ(Stored(), 12);
  EXPECT_THAT((*dante)->Log(), HasSubstr(kCollectorAddress));
}

}  // namespace
}  // namespace relayscope
