// The seed scenario end to end, with the real binaries: relayscope-relay,
// relayscope-agent, squid, an interceptor and iptables, in the test's own
// network namespace.
//
// Relay A answers on 8200, 563 and 80, but 8200 and 563 are dropped and 80
// is answered by a transparent proxy. Relay B answers on 443 and 8200, but
// only the proxy may reach it, and the proxy wants credentials and answers
// 302 to CONNECT for every port but 443. The agent must name each cause,
// find the working route, and take about one attempt timeout, not the sum.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "relayscope/v1/telemetry.pb.h"
#include "tests/rig/firewall.h"
#include "tests/rig/fixture.h"
#include "tests/rig/interceptor.h"
#include "tests/rig/process.h"
#include "tests/rig/squid.h"

namespace relayscope {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kPassword[] = "Seed-Secret-7f3a";
constexpr absl::Duration kTimeout = absl::Seconds(2);

constexpr char kCatalogue[] = R"pb(name: "seed"
regions { id: "a" display_name: "Region A"
          relays { id: "relay-a" addresses: "127.0.61.1" ports: [8200, 563, 80] } }
regions { id: "b" display_name: "Region B"
          relays { id: "relay-b" addresses: "127.0.62.1" ports: [8200, 443] } }
)pb";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class SeedEndToEnd : public rig::RigTest {
 protected:
  void SetUp() override {
    RigTest::SetUp();
    if (IsSkipped()) return;
    catalogue_ = dir() + "/seed.textproto";
    std::ofstream(catalogue_) << kCatalogue;

    for (const auto& [name, listen] :
         {std::pair<std::string, std::string>{"relay-a", "127.0.61.1:8200,127.0.61.1:563"},
          {"relay-b", "127.0.62.1:8200,127.0.62.1:443"}}) {
      const std::string ready = absl::StrCat(dir(), "/", name, ".ready");
      rig::Process::Options options;
      options.argv = {RELAY_BINARY, "--listen=" + listen, "--ready-file=" + ready};
      options.log_path = absl::StrCat(dir(), "/", name, ".log");
      auto relay = rig::Process::Start(options);
      ASSERT_TRUE(relay.ok()) << relay.status();
      const absl::Status up = rig::WaitForFile(ready, absl::Seconds(10), relay->get());
      ASSERT_TRUE(up.ok()) << up;
      relays_.push_back(*std::move(relay));
    }
    rig::Interceptor::Options port80;
    port80.address = "127.0.61.1";
    port80.port = 80;
    port80.read_bytes = 768;
    auto interceptor = rig::Interceptor::Start(port80);
    ASSERT_TRUE(interceptor.ok()) << interceptor.status();
    interceptor_ = *std::move(interceptor);

    rig::Squid::Options proxy;
    proxy.address = "127.0.63.1";
    proxy.users = {{"alice", kPassword}};
    proxy.redirect_ports = {8200, 563, 80};
    auto squid = rig::Squid::Start(proxy, dir());
    ASSERT_TRUE(squid.ok()) << squid.status();
    squid_ = *std::move(squid);

    ASSERT_TRUE(firewall_.Drop("127.0.61.1", 8200).ok());
    ASSERT_TRUE(firewall_.Drop("127.0.61.1", 563).ok());
    ASSERT_TRUE(firewall_.DropUnlessFromUser("127.0.62.1", rig::NobodyUid()).ok());
  }
  void TearDown() override {
    squid_.reset();
    interceptor_.reset();
    relays_.clear();
    firewall_.Clear();
    RigTest::TearDown();
  }

  // Runs the agent; returns its combined output.
  std::string RunAgent(const std::vector<std::string>& extra, absl::Duration* elapsed) {
    std::vector<std::string> argv = {AGENT_BINARY,
                                     "diagnose",
                                     "--catalogue=" + catalogue_,
                                     "--proxy=http://127.0.63.1:3128",
                                     absl::StrCat("--timeout=", absl::FormatDuration(kTimeout)),
                                     "--report-dir=" + dir() + "/reports",
                                     "--agent-id-file=" + dir() + "/agent-id"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    const absl::Time start = absl::Now();
    auto result = rig::RunCommand(argv, absl::Seconds(60),
                                  {"RELAYSCOPE_PROXY_USER=alice",
                                   absl::StrCat("RELAYSCOPE_PROXY_PASSWORD=", kPassword)});
    *elapsed = absl::Now() - start;
    EXPECT_TRUE(result.ok());
    last_exit_code_ = result->exit_code;
    return result->output;
  }

  std::string catalogue_;
  std::vector<std::unique_ptr<rig::Process>> relays_;
  std::unique_ptr<rig::Interceptor> interceptor_;
  std::unique_ptr<rig::Squid> squid_;
  rig::Firewall firewall_;
  int last_exit_code_ = -1;
};

std::vector<const v1::Attempt*> Matching(const v1::SessionReport& report, const std::string& relay,
                                         uint32_t port, v1::RouteKind kind) {
  std::vector<const v1::Attempt*> out;
  for (const v1::Attempt& a : report.attempts()) {
    if (a.relay() == relay && a.port() == port && a.route_kind() == kind) out.push_back(&a);
  }
  return out;
}

TEST_F(SeedEndToEnd, VerdictNamesEveryCauseInAboutOneTimeoutAndLeaksNoSecret) {
  absl::Duration raced;
  const std::string output = RunAgent({"--json"}, &raced);
  EXPECT_EQ(last_exit_code_, 1) << output;  // degraded: region A has no route
  v1::SessionReport report;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(output, &report).ok()) << output;

  constexpr auto kDirect = v1::ROUTE_KIND_DIRECT;
  constexpr auto kProxy = v1::ROUTE_KIND_HTTP_CONNECT;
  // Relay A directly: two drops and the transparent proxy.
  ASSERT_EQ(Matching(report, "relay-a", 8200, kDirect).size(), 1u);
  EXPECT_EQ(Matching(report, "relay-a", 8200, kDirect)[0]->outcome(), v1::OUTCOME_CONNECT_TIMEOUT);
  EXPECT_EQ(Matching(report, "relay-a", 563, kDirect)[0]->outcome(), v1::OUTCOME_CONNECT_TIMEOUT);
  const v1::Attempt* intercepted = Matching(report, "relay-a", 80, kDirect)[0];
  EXPECT_EQ(intercepted->outcome(), v1::OUTCOME_PROTOCOL_INTERFERENCE);
  EXPECT_EQ(intercepted->interference().status_line(), "HTTP/1.0 400 Bad Request");
  EXPECT_EQ(intercepted->interference().page_title(), "Request Error");
  // Relay B directly: only the proxy may go out.
  EXPECT_EQ(Matching(report, "relay-b", 443, kDirect)[0]->outcome(), v1::OUTCOME_CONNECT_TIMEOUT);
  // Through the proxy: 302 for every port but 443; 443 answers 407, the
  // credentials are given once, and the retry reaches the relay.
  for (uint32_t port : {8200u, 563u, 80u}) {
    auto attempts = Matching(report, "relay-a", port, kProxy);
    ASSERT_FALSE(attempts.empty()) << port;
    EXPECT_EQ(attempts.back()->proxy_status(), 302u) << port;
    EXPECT_EQ(attempts.back()->outcome(), v1::OUTCOME_PROXY_ERROR) << port;
  }
  auto tls_port = Matching(report, "relay-b", 443, kProxy);
  ASSERT_EQ(tls_port.size(), 2u);
  EXPECT_EQ(tls_port[0]->outcome(), v1::OUTCOME_PROXY_AUTH_REQUIRED);
  EXPECT_EQ(tls_port[1]->outcome(), v1::OUTCOME_OK) << tls_port[1]->detail();
  EXPECT_TRUE(tls_port[1]->proxy().has_credentials());

  const v1::Verdict& verdict = report.verdict();
  EXPECT_EQ(verdict.status(), v1::VERDICT_STATUS_DEGRADED);
  EXPECT_THAT(verdict.summary(), HasSubstr("no route to Region A"));
  ASSERT_FALSE(verdict.working().empty());
  EXPECT_THAT(verdict.working(0), HasSubstr("relay-b 127.0.62.1:443 via HTTP proxy 127.0.63.1:3128"));
  std::string explanations;
  for (const v1::Blocker& b : verdict.blockers()) absl::StrAppend(&explanations, b.explanation(), "\n");
  EXPECT_THAT(explanations, HasSubstr("No answer from 127.0.61.1:8200"));
  EXPECT_THAT(explanations, HasSubstr("No answer from 127.0.61.1:563"));
  EXPECT_THAT(explanations, HasSubstr("HTTP/1.0 400 Bad Request \"Request Error\""));
  EXPECT_THAT(explanations, HasSubstr("redirects CONNECT to port 8200 (HTTP 302)"));

  // About one attempt timeout: four routes hang to their deadline, and each
  // delays the next start by at most one stagger (250 ms).
  EXPECT_LT(raced, kTimeout + absl::Milliseconds(1800)) << raced;

  // Secrets: the password appears in no output and no report.
  EXPECT_THAT(output, Not(HasSubstr(kPassword)));
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir() + "/reports")) {
    ++files;
    EXPECT_THAT(ReadFile(entry.path()), Not(HasSubstr(kPassword))) << entry.path();
  }
  EXPECT_EQ(files, 3);
  const std::string log = ReadFile(dir() + "/reports/relayscope-" + report.session_id() + ".log");
  EXPECT_THAT(log, HasSubstr("]-->    Y  = "));
  EXPECT_THAT(log, HasSubstr("]-->VERDICT: DEGRADED"));

  // The human form says the same, and also leaks nothing.
  absl::Duration human_elapsed;
  const std::string human = RunAgent({}, &human_elapsed);
  EXPECT_THAT(human, HasSubstr("Verdict: DEGRADED"));
  EXPECT_THAT(human, HasSubstr("connrpt.html"));
  EXPECT_THAT(human, Not(HasSubstr(kPassword)));

  // The old client's order, as a baseline in the same run.
  absl::Duration sequential;
  RunAgent({"--sequential", "--json"}, &sequential);
  std::printf("seed scenario: raced %s, sequential %s, speed-up %.1fx\n",
              absl::FormatDuration(raced).c_str(), absl::FormatDuration(sequential).c_str(),
              absl::FDivDuration(sequential, raced));
  EXPECT_GE(sequential, 4 * kTimeout);
  EXPECT_GT(absl::FDivDuration(sequential, raced), 2.0);
}

}  // namespace
}  // namespace relayscope
