// The seed scenario end to end, with the real binaries: relayscope-relay,
// relayscope-agent, squid, an interceptor and iptables, in the test's own
// network namespace (tests/e2e/seed_scenario.h sets it up).
//
// The agent must name each cause, find the working route, and take about
// one attempt timeout, not the sum.
#include "tests/e2e/seed_scenario.h"

#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/proto_time.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "relayscope/v1/telemetry.pb.h"
#include "tests/rig/fixture.h"
#include "tests/rig/process.h"

namespace relayscope {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kPassword = rig::SeedScenario::kPassword;
constexpr absl::Duration kTimeout = absl::Seconds(2);

// The file's content; empty if it cannot be read.
std::string ReadFile(const std::string& path) { return ReadFileToString(path).value_or(""); }

// The race as the agent timed it: from the session's start to its end (the
// report's own timestamps), without process start-up and report writing,
// which cost what the machine's disk costs (a cold start under CI's disk
// load once took 3.6 s more than the race; bench/ measures the wall time).
absl::Duration SessionSpan(const v1::SessionReport& report) {
  return FromProtoTimestamp(report.end_time()) - FromProtoTimestamp(report.start_time());
}

// When each attempt ran, relative to the agent's start, for a failure
// message: a slow run shows whether an attempt started late, overran its
// deadline, or the time went before or after the race.
std::string Timeline(const v1::SessionReport& report, absl::Time process_start) {
  auto ms = [](absl::Duration d) {
    return absl::FormatDuration(absl::Trunc(d, absl::Milliseconds(1)));
  };
  auto offset = [&](const google::protobuf::Timestamp& t) {
    return ms(FromProtoTimestamp(t) - process_start);
  };
  std::string out = absl::StrCat("session +", offset(report.start_time()), " .. +",
                                 offset(report.end_time()), "\n");
  for (const v1::Attempt& a : report.attempts()) {
    absl::StrAppend(&out, "  +", offset(a.start_time()), " ",
                    ms(FromProtoDuration(a.total_duration())), " ", a.relay(), ":", a.port(), " ",
                    v1::RouteKind_Name(a.route_kind()), " ", v1::Outcome_Name(a.outcome()), "\n");
  }
  return out;
}

class SeedEndToEnd : public rig::RigTest {
 protected:
  void SetUp() override {
    RigTest::SetUp();
    if (IsSkipped()) return;
    const absl::Status started = scenario_.Start(dir(), RELAY_BINARY);
    ASSERT_TRUE(started.ok()) << started;
  }
  void TearDown() override {
    scenario_.Stop();
    RigTest::TearDown();
  }

  // Runs the agent; returns its combined output.
  std::string RunAgent(const std::vector<std::string>& extra, absl::Duration* elapsed) {
    std::vector<std::string> argv = scenario_.AgentArgv(AGENT_BINARY, kTimeout);
    argv.insert(argv.end(), extra.begin(), extra.end());
    last_start_ = absl::Now();
    auto result = rig::RunCommand(argv, absl::Seconds(60), rig::SeedScenario::AgentEnv());
    *elapsed = absl::Now() - last_start_;
    EXPECT_TRUE(result.ok());
    last_exit_code_ = result->exit_code;
    return result->output;
  }

  rig::SeedScenario scenario_;
  int last_exit_code_ = -1;
  absl::Time last_start_;  // when the last RunAgent started the agent
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
  absl::Duration raced_wall;
  const std::string output = RunAgent({"--json"}, &raced_wall);
  EXPECT_EQ(last_exit_code_, 1) << output;  // degraded: region A has no route
  v1::SessionReport report;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(output, &report).ok()) << output;
  const absl::Duration raced = SessionSpan(report);
  const std::string timeline = absl::StrCat("the agent ran ", absl::FormatDuration(raced_wall),
                                            " in all\n", Timeline(report, last_start_));

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
  EXPECT_THAT(verdict.working(0),
              HasSubstr("relay-b 127.0.62.1:443 via HTTP proxy 127.0.63.1:3128"));
  std::string explanations;
  for (const v1::Blocker& b : verdict.blockers())
    absl::StrAppend(&explanations, b.explanation(), "\n");
  EXPECT_THAT(
      explanations,
      HasSubstr("No answer from port 8200 of the relay addresses (127.0.61.1, 127.0.62.1)"));
  EXPECT_THAT(explanations, HasSubstr("No answer from 127.0.61.1:563"));
  EXPECT_THAT(explanations, HasSubstr("HTTP/1.0 400 Bad Request \"Request Error\""));
  EXPECT_THAT(explanations,
              HasSubstr("redirects CONNECT to port 8200 (HTTP/1.1 302 Found, Server: squid/"));
  // Only the proxy may go out: the fix that gives Region A a route is the
  // proxy's 302 on port 8200 (both relays), and DIRECT closed is context.
  EXPECT_THAT(verdict.summary(),
              HasSubstr("Main cause: On every relay: The HTTP proxy 127.0.63.1:3128"));
  EXPECT_THAT(verdict.summary(), HasSubstr("redirects CONNECT to port 8200"));
  EXPECT_THAT(verdict.summary(), HasSubstr("DIRECT is closed"));

  // About one attempt timeout: four routes hang to their deadline, and each
  // delays the next start by at most one stagger (250 ms).
  EXPECT_LT(raced, kTimeout + absl::Milliseconds(1800)) << timeline;

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
  absl::Duration sequential_wall;
  const std::string sequential_output = RunAgent({"--sequential", "--json"}, &sequential_wall);
  v1::SessionReport sequential_report;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(sequential_output, &sequential_report).ok())
      << sequential_output;
  const absl::Duration sequential = SessionSpan(sequential_report);
  std::printf(
      "seed scenario: raced %s (agent wall %s), sequential %s (agent wall %s), speed-up %.1fx\n",
      absl::FormatDuration(raced).c_str(), absl::FormatDuration(raced_wall).c_str(),
      absl::FormatDuration(sequential).c_str(), absl::FormatDuration(sequential_wall).c_str(),
      absl::FDivDuration(sequential, raced));
  EXPECT_GE(sequential, 4 * kTimeout);
  EXPECT_GT(absl::FDivDuration(sequential, raced), 2.0) << timeline << "sequential:\n"
                                                        << Timeline(sequential_report, last_start_);
}

}  // namespace
}  // namespace relayscope
