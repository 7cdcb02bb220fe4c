#include "agent/cli/console.h"

#include "agent/cli/proxies_command.h"
#include "agent/plan/plan.h"
#include "agent/proxy/proxy_url.h"
#include "agent/report/verdict.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace relayscope::agent {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kPassword[] = "Hunter2-secret";

v1::Attempt Attempt(v1::Outcome outcome, const std::string& detail = "") {
  v1::Attempt a;
  a.set_region("emea");
  a.set_relay("emea-1");
  a.set_address("81.144.208.229");
  a.set_port(8200);
  a.set_route_kind(v1::ROUTE_KIND_DIRECT);
  a.set_outcome(outcome);
  a.set_detail(detail);
  return a;
}

// An attempt through a proxy whose URL carried a password, as Diagnose
// makes it from the route.
v1::Attempt AttemptThroughPasswordProxy(v1::Outcome outcome) {
  auto url = ParseProxyUrl(absl::StrCat("http://me:", kPassword, "@proxy.corp:3128"));
  EXPECT_TRUE(url.ok());
  const Route route = ProxyRoute(*url, v1::PROXY_SOURCE_FLAG, "--proxy");
  v1::Attempt a = Attempt(outcome, "proxy said 407");
  a.set_route_kind(route.proxy.kind());
  *a.mutable_proxy() = route.proxy;
  return a;
}

v1::Catalogue Catalogue() {
  v1::Catalogue catalogue;
  catalogue.set_name("aos");
  v1::Region* region = catalogue.add_regions();
  region->set_id("emea");
  v1::Relay* relay = region->add_relays();
  relay->set_id("emea-1");
  relay->add_addresses("81.144.208.229");
  relay->add_ports(8200);
  return catalogue;
}

TEST(ExitCodeFor, EachVerdictHasItsStatus) {
  EXPECT_EQ(ExitCodeFor(v1::VERDICT_STATUS_REACHABLE), 0);
  EXPECT_EQ(ExitCodeFor(v1::VERDICT_STATUS_DEGRADED), 1);
  EXPECT_EQ(ExitCodeFor(v1::VERDICT_STATUS_UNREACHABLE), 2);
  // A verdict that could not say is not good news.
  EXPECT_EQ(ExitCodeFor(v1::VERDICT_STATUS_UNSPECIFIED), 2);
  EXPECT_EQ(kExitUsage, 64);
  EXPECT_EQ(kExitConfig, 78);
}

TEST(RenderHeader, SaysWhatWillBeTried) {
  EXPECT_EQ(RenderHeader("0.1.0", 12, Catalogue(), 3),
            "relayscope 0.1.0: 12 attempts to 1 region(s) over 3 route(s), catalogue \"aos\"\n");
}

TEST(RenderAttemptLine, AnOkAttemptHasNoDetail) {
  EXPECT_EQ(RenderAttemptLine(Attempt(v1::OUTCOME_OK, "ignored")),
            "  [ ok ] emea-1 81.144.208.229:8200 via direct: OK");
}

TEST(RenderAttemptLine, AFailureShowsItsOutcomeAndDetail) {
  EXPECT_EQ(RenderAttemptLine(Attempt(v1::OUTCOME_CONNECTION_REFUSED, "ECONNREFUSED")),
            "  [FAIL] emea-1 81.144.208.229:8200 via direct: connection refused (ECONNREFUSED)");
  EXPECT_EQ(RenderAttemptLine(Attempt(v1::OUTCOME_CONNECTION_REFUSED)),
            "  [FAIL] emea-1 81.144.208.229:8200 via direct: connection refused");
}

TEST(Progress, OffATerminalItIsJustTheLines) {
  Progress progress(3, /*terminal=*/false);
  EXPECT_EQ(progress.Add(Attempt(v1::OUTCOME_OK)),
            "  [ ok ] emea-1 81.144.208.229:8200 via direct: OK\n");
  EXPECT_EQ(progress.Add(Attempt(v1::OUTCOME_CONNECTION_REFUSED)),
            "  [FAIL] emea-1 81.144.208.229:8200 via direct: connection refused\n");
}

TEST(Progress, OnATerminalALiveStatusLineFollowsAndIsErasedNextTime) {
  Progress progress(3, /*terminal=*/true);
  EXPECT_EQ(progress.Add(Attempt(v1::OUTCOME_OK)),
            "\r\033[K  [ ok ] emea-1 81.144.208.229:8200 via direct: OK\n"
            "  ... 1 of 3 done, 1 ok, 0 failed");
  EXPECT_EQ(progress.Add(Attempt(v1::OUTCOME_CONNECTION_REFUSED)),
            "\r\033[K  [FAIL] emea-1 81.144.208.229:8200 via direct: connection refused\n"
            "  ... 2 of 3 done, 1 ok, 1 failed");
  progress.Reset();
  EXPECT_THAT(progress.Add(Attempt(v1::OUTCOME_CONNECTION_REFUSED)),
              HasSubstr("  ... 1 of 3 done, 0 ok, 1 failed"));
}

TEST(RenderVerdict, ShowsTheStatusSummaryWorkingPathsAndEachBlockerWithItsAdvice) {
  v1::Verdict verdict;
  verdict.set_status(v1::VERDICT_STATUS_DEGRADED);
  verdict.set_summary("EMEA works on 8200 only.");
  verdict.add_working("emea-1 81.144.208.229:8200 via direct (12 ms)");
  v1::Blocker* blocker = verdict.add_blockers();
  blocker->set_explanation("Port 80 is answered by a transparent HTTP proxy");
  blocker->set_advice("Ask for 81.144.208.229:80 to be exempted from HTTP interception.");
  EXPECT_EQ(RenderVerdict(verdict, /*terminal=*/false),
            "\nVerdict: DEGRADED\n"
            "EMEA works on 8200 only.\n"
            "  works:   emea-1 81.144.208.229:8200 via direct (12 ms)\n"
            "  blocked: Port 80 is answered by a transparent HTTP proxy\n"
            "           -> Ask for 81.144.208.229:80 to be exempted from HTTP interception.\n");
  EXPECT_THAT(RenderVerdict(verdict, /*terminal=*/true), StartsWith("\r\033[K\nVerdict: DEGRADED"));
}

TEST(RenderVerdict, ComputedFromRealAttemptsItNamesTheBlockerAndTheFix) {
  const std::string text = RenderVerdict(
      ComputeVerdict(Catalogue(), {Attempt(v1::OUTCOME_CONNECTION_REFUSED, "ECONNREFUSED")}),
      false);
  EXPECT_THAT(text, StartsWith("\nVerdict: UNREACHABLE\n"));
  EXPECT_THAT(text, HasSubstr("  blocked: "));
  EXPECT_THAT(text, HasSubstr("\n           -> "));
  EXPECT_THAT(text, HasSubstr("81.144.208.229"));
}

TEST(RenderReportPaths, ListsHtmlThenTextThenJson) {
  ReportPaths paths{"/tmp/s.log", "/tmp/connrpt.html", "/tmp/s.json"};
  EXPECT_EQ(RenderReportPaths(paths),
            "\nReport: /tmp/connrpt.html\n        /tmp/s.log\n        /tmp/s.json\n");
}

TEST(RenderUploadSummary, CountsDeliveredAndKnownAttempts) {
  UploadResult sent;
  sent.accepted = 7;
  sent.duplicates = 2;
  EXPECT_EQ(RenderUploadSummary(sent, "collector:50051"),
            "Telemetry: 9 attempts delivered to collector:50051 (2 already known)\n");
  sent.delivered_from_spool = 3;
  EXPECT_EQ(RenderUploadSummary(sent, "collector:50051"),
            "Telemetry: 9 attempts delivered to collector:50051 (2 already known), with 3 spooled "
            "batch(es) from earlier runs\n");
  EXPECT_EQ(RenderUploadProblems(sent, "/spool"), "");
  // The route that delivered, its password never shown.
  sent.delivered_from_spool = 0;
  sent.route = "http://alice:****@proxy:3128";
  EXPECT_EQ(RenderUploadSummary(sent, "collector:50051"),
            "Telemetry: 9 attempts delivered to collector:50051 over http://alice:****@proxy:3128 "
            "(2 already known)\n");
}

TEST(RenderUploadProblems, AFailedUploadSaysWhereTheBatchesWait) {
  UploadResult sent;
  sent.error = "collector unreachable: connection refused";
  sent.spooled = 2;
  EXPECT_EQ(RenderUploadSummary(sent, "collector:50051"), "");
  EXPECT_EQ(RenderUploadProblems(sent, "/var/spool"),
            "relayscope-agent: telemetry not delivered: collector unreachable: connection "
            "refused; 2 batch(es) wait in /var/spool\n");
  sent.dropped = 4;
  EXPECT_THAT(
      RenderUploadProblems(sent, "/var/spool"),
      HasSubstr("relayscope-agent: warning: the spool was full; 4 oldest batch(es) dropped\n"));
}

TEST(RenderDiscoveryWarnings, NamesTheSourceAndThePacFile) {
  ProxySetup setup;
  setup.sources.push_back({"firefox", {}});
  setup.sources.back().result.warnings.push_back("prefs.js:4: not a port");
  PacReport pac;
  pac.location.url = "http://wpad/wpad.dat";
  pac.error = "fetch failed";
  setup.pac.push_back(pac);
  EXPECT_EQ(RenderDiscoveryWarnings(setup),
            "relayscope-agent: proxy discovery (firefox): prefs.js:4: not a port\n"
            "relayscope-agent: PAC http://wpad/wpad.dat: fetch failed (DIRECT is still tried)\n");
  EXPECT_EQ(RenderDiscoveryWarnings(ProxySetup{}), "");
}

TEST(RenderDiscoveryWarnings, NamesASandboxLimitThatChangedARelaysAnswer) {
  ProxySetup setup;
  PacReport pac;
  pac.location.url = "http://wpad/wpad.dat";
  PacRelayAnswer answer;
  answer.relay = "emea-1";
  answer.limits.push_back("dnsResolve(\"n3.example\") returned null: lookup budget spent");
  pac.answers.push_back(answer);
  setup.pac.push_back(pac);
  EXPECT_EQ(RenderDiscoveryWarnings(setup),
            "relayscope-agent: PAC http://wpad/wpad.dat for emea-1: dnsResolve(\"n3.example\") "
            "returned null: lookup budget spent (its answer may differ from a browser's)\n");
}

// Every string the console shows for a proxy whose URL held a password.
TEST(Console, ThePasswordOfAProxyNeverAppearsInAnyRenderedString) {
  const v1::Attempt failed = AttemptThroughPasswordProxy(v1::OUTCOME_PROXY_AUTH_FAILED);
  const v1::Attempt ok = AttemptThroughPasswordProxy(v1::OUTCOME_OK);
  std::vector<std::string> shown = {
      RenderAttemptLine(failed),
      RenderAttemptLine(ok),
      Progress(2, true).Add(failed),
      RenderVerdict(ComputeVerdict(Catalogue(), {failed, ok}), true),
  };
  ProxySetup setup;
  ProxyCandidate candidate;
  candidate.url = *ParseProxyUrl(absl::StrCat("http://me:", kPassword, "@proxy.corp:3128"));
  candidate.source = v1::PROXY_SOURCE_ENV;
  candidate.detail = "https_proxy";
  setup.routes.push_back(candidate);
  setup.sources.push_back({"env", {}});
  setup.sources.back().result.proxies.push_back(candidate);
  shown.push_back(RenderProxySetupText(setup));
  shown.push_back(RenderProxySetupJson(setup));
  for (const std::string& text : shown) {
    EXPECT_THAT(text, HasSubstr("proxy.corp")) << "the test renders the proxy: " << text;
    EXPECT_THAT(text, Not(HasSubstr(kPassword))) << text;
  }
  // A verdict with no working path names the cause, not the proxy.
  EXPECT_THAT(RenderVerdict(ComputeVerdict(Catalogue(), {failed}), false),
              AllOf(HasSubstr("credentials"), Not(HasSubstr(kPassword))));
}

}  // namespace
}  // namespace relayscope::agent
