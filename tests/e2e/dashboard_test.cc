// Fleet queries end to end: a real agent diagnoses relays on the rig (one
// port answered by an interceptor whose page title is a script tag, one
// refused), uploads to a real collector, and relayscope-dashboard serves
// what the collector knows, over REST and in headless Chromium. The
// collector's catalogue also lists a download service, whose checks one
// test uploads itself (the agent's catalogue has none).
#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "relayscope/v1/ingest.grpc.pb.h"
#include "tests/e2e/stack.h"
#include "tests/rig/fixture.h"
#include "tests/rig/interceptor.h"
#include "tests/rig/process.h"
#include "tests/support/telemetry_builders.h"

namespace relayscope {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kAgentToken[] = "e2e-agent-token-77a1";
constexpr char kQueryToken[] = "e2e-dashboard-token-3c9f";
constexpr char kHostileTitle[] = "<script>alert(1)</script>";
constexpr char kCatalogue[] = R"pb(name: "e2e-dashboard"
                                   regions {
                                     id: "emea"
                                     display_name: "EMEA"
                                     relays {
                                       id: "emea-1"
                                       addresses: "127.0.72.1"
                                       ports: [ 8200, 8080 ]
                                     }
                                   }
                                   regions {
                                     id: "apac"
                                     display_name: "APAC"
                                     relays {
                                       id: "apac-1"
                                       addresses: "127.0.73.1"
                                       ports: [ 8443 ]
                                     }
                                   }
)pb";
constexpr char kDownloads[] = R"pb(downloads {
                                     id: "plugin"
                                     display_name: "plugin download"
                                     region: "emea"
                                     host: "dl.example"
                                     addresses: "127.0.72.9"
                                     ports: [ 443 ]
                                   }
)pb";

class DashboardTest : public rig::RigTest {
 protected:
  void SetUp() override {
    RigTest::SetUp();
    if (IsSkipped()) return;
    stack_ = std::make_unique<e2e::Stack>(dir(), e2e::Binaries{.relay = RELAY_BINARY,
                                                               .collector = COLLECTOR_BINARY,
                                                               .dashboard = DASHBOARD_BINARY});
    ASSERT_TRUE(
        stack_
            ->WriteCatalogue(absl::StrCat(kCatalogue, kDownloads), "collector-catalogue.textproto")
            .ok());
    const std::string collector_catalogue = stack_->catalogue();
    ASSERT_TRUE(stack_->WriteCatalogue(kCatalogue).ok());  // what the agent gets
    std::ofstream(dir() + "/agent.token") << kAgentToken;
    ASSERT_TRUE(stack_->WriteSecret("dashboard.token", kQueryToken).ok());
    ASSERT_TRUE(stack_->WriteTokens("agent-tokens", {{"agents", kAgentToken}}).ok());
    ASSERT_TRUE(stack_->WriteTokens("query-tokens", {{"dashboard", kQueryToken}}).ok());

    auto relay = stack_->StartRelay("127.0.72.1:8200");
    ASSERT_TRUE(relay.ok()) << relay.status();
    rig::Interceptor::Options port8080;
    port8080.address = "127.0.72.1";
    port8080.port = 8080;
    port8080.title = kHostileTitle;
    port8080.read_bytes = 768;
    auto interceptor = rig::Interceptor::Start(port8080);
    ASSERT_TRUE(interceptor.ok()) << interceptor.status();
    interceptor_ = *std::move(interceptor);

    auto collector =
        stack_->StartCollector({.catalogue = collector_catalogue,
                                .tokens = dir() + "/agent-tokens",
                                .extra_args = {"--query-tokens=" + dir() + "/query-tokens"}});
    ASSERT_TRUE(collector.ok()) << collector.status();
    auto dashboard = stack_->StartDashboard(
        {.token_file = dir() + "/dashboard.token", .extra_args = {"--deadline=2s"}});
    ASSERT_TRUE(dashboard.ok()) << dashboard.status();
    url_ = (*dashboard)->url();

    auto agent = rig::RunCommand(
        {AGENT_BINARY, "diagnose", "--catalogue=" + stack_->catalogue(),
         "--collector=" + (*collector)->address(), "--insecure",
         "--token-file=" + dir() + "/agent.token", "--spool-dir=" + dir() + "/spool",
         "--agent-id-file=" + dir() + "/agent-id", "--report-dir=" + dir() + "/reports",
         "--timeout=1s", "--upload-timeout=5s", "--site=paris-office"},
        absl::Seconds(30));
    ASSERT_TRUE(agent.ok());
    ASSERT_THAT(agent->output, HasSubstr("attempts delivered")) << agent->output;
  }
  void TearDown() override {
    stack_.reset();
    interceptor_.reset();
    RigTest::TearDown();
  }

  // GET `path`; returns "<status>\n<body>".
  std::string Get(const std::string& path) {
    auto curl = rig::RunCommand({"/usr/bin/curl", "-s", "--noproxy", "*", "--max-time", "10", "-w",
                                 "\n%{http_code}", url_ + path});
    EXPECT_TRUE(curl.ok());
    return curl.ok() ? curl->output : "";
  }
  static int StatusOf(const std::string& reply) {
    return std::atoi(reply.substr(reply.rfind('\n') + 1).c_str());
  }

  // The dashboard page as Chromium renders it after its scripts ran, once
  // it reports `state` (bounded retries: headless virtual time normally
  // settles in one run). Saves a screenshot under the build tree.
  std::string RenderedDom(const std::string& state, const std::string& screenshot,
                          const std::string& fragment = "") {
    const std::vector<std::string> common = {"/usr/bin/chromium",
                                             "--headless",
                                             "--no-sandbox",
                                             "--disable-gpu",
                                             "--disable-dev-shm-usage",
                                             "--no-first-run",
                                             "--user-data-dir=" + dir() + "/chromium",
                                             "--window-size=1280,1000",
                                             "--virtual-time-budget=8000"};
    std::string dom;
    for (int attempt = 0; attempt < 3; ++attempt) {
      std::vector<std::string> argv = common;
      argv.push_back("--dump-dom");
      argv.push_back(url_ + "/" + fragment);
      auto run = rig::RunCommand(argv, absl::Seconds(60), {"HOME=" + dir()});
      EXPECT_TRUE(run.ok());
      dom = run.ok() ? run->output : "";
      if (absl::StrContains(dom, absl::StrCat("data-state=\"", state, "\""))) break;
    }
    std::vector<std::string> shot = common;
    std::filesystem::create_directories(SCREENSHOT_DIR);
    shot.push_back(absl::StrCat("--screenshot=", SCREENSHOT_DIR, "/", screenshot));
    shot.push_back(url_ + "/" + fragment);
    auto taken = rig::RunCommand(shot, absl::Seconds(60), {"HOME=" + dir()});
    EXPECT_TRUE(taken.ok() && taken->exit_code == 0) << (taken.ok() ? taken->output : "");
    EXPECT_TRUE(std::filesystem::exists(absl::StrCat(SCREENSHOT_DIR, "/", screenshot)));
    return dom;
  }

  std::unique_ptr<e2e::Stack> stack_;
  std::string url_;
  std::unique_ptr<rig::Interceptor> interceptor_;
};

TEST_F(DashboardTest, RestAnswersMatchTheDiagnosis) {
  const std::string matrix = Get("/api/v1/reachability?window=15m&step=0&group_by=region,port");
  ASSERT_EQ(StatusOf(matrix), 200) << matrix;
  // emea-1:8200 works, :8080 is intercepted, apac-1:8443 refuses.
  EXPECT_THAT(matrix, HasSubstr(R"("region":"emea","relay":"","port":8200)"));
  EXPECT_THAT(matrix, HasSubstr(R"("region":"apac","relay":"","port":8443)"));
  const std::string emea8200 = Get("/api/v1/reachability?window=15m&step=0&region=emea&port=8200");
  EXPECT_THAT(emea8200, HasSubstr(R"("total":{"attempts":"1","ok":"1","success_ratio":1)"));
  const std::string apac = Get("/api/v1/reachability?window=15m&step=0&region=apac");
  EXPECT_THAT(apac, HasSubstr(R"("attempts":"1","ok":"0","success_ratio":0)"));

  const std::string patterns = Get("/api/v1/failure-patterns?window=15m");
  ASSERT_EQ(StatusOf(patterns), 200) << patterns;
  EXPECT_THAT(patterns, AllOf(HasSubstr("OUTCOME_PROTOCOL_INTERFERENCE"),
                              HasSubstr("OUTCOME_CONNECTION_REFUSED"), HasSubstr("alert(1)"),
                              HasSubstr("HTTP/1.0 400 Bad Request")));
  const std::string sites = Get("/api/v1/sites?window=15m");
  EXPECT_THAT(sites, AllOf(HasSubstr(R"("site":"paris-office")"), HasSubstr(R"("attempts":"3")"),
                           HasSubstr(R"("failures":"2")")));
  const std::string sessions = Get("/api/v1/sessions?window=15m");
  EXPECT_THAT(sessions, HasSubstr(R"("attempts":"3")"));

  const std::string bad = Get("/api/v1/reachability?port=eighty");
  EXPECT_EQ(StatusOf(bad), 400);
  EXPECT_THAT(bad, HasSubstr("port: 'eighty'"));
  EXPECT_EQ(StatusOf(Get("/api/v1/nowhere")), 404);
  EXPECT_EQ(StatusOf(Get("/nowhere.html")), 404);
  EXPECT_EQ(StatusOf(Get("/readyz")), 200);
  const std::string spec = Get("/api/v1/openapi.yaml");
  EXPECT_THAT(spec, HasSubstr("openapi: 3.0.3"));
  const std::string metrics = Get("/metrics");
  EXPECT_THAT(
      metrics,
      HasSubstr(R"(relayscope_dashboard_requests_total{code="400",handler="api_reachability"} 1)"));
  EXPECT_THAT(metrics, HasSubstr("relayscope_dashboard_collector_up 1"));
}

TEST_F(DashboardTest, BrowserRendersTheFleetAndShowsHostileTextAsText) {
  const std::string dom = RenderedDom("ready", "dashboard.png");
  ASSERT_THAT(dom, HasSubstr(R"(data-state="ready")")) << dom;
  EXPECT_THAT(dom, AllOf(HasSubstr(R"(data-region="emea")"), HasSubstr(R"(data-region="apac")"),
                         HasSubstr(R"(data-port="8200")"), HasSubstr(R"(data-port="8080")"),
                         HasSubstr(R"(data-port="8443")")));
  EXPECT_THAT(dom, AllOf(HasSubstr("protocol interference"), HasSubstr("connection refused"),
                         HasSubstr("paris-office")));
  // The interceptor's title is page text (serialised escaped), never markup.
  EXPECT_THAT(dom, HasSubstr("title: &lt;script&gt;alert(1)&lt;/script&gt;"));
  EXPECT_THAT(dom, Not(HasSubstr(kHostileTitle)));
}

TEST_F(DashboardTest, BrowserDrillsDownIntoTheSession) {
  std::ifstream id_file(dir() + "/agent-id");
  std::string agent_id;
  std::getline(id_file, agent_id);
  const std::string sessions = Get("/api/v1/sessions?window=15m");
  std::smatch match;
  ASSERT_TRUE(std::regex_search(sessions, match, std::regex(R"re("session_id":"([^"]+)")re")))
      << sessions;
  const std::string dom = RenderedDom("ready", "dashboard-session.png",
                                      absl::StrCat("#session=", agent_id, "/", match[1].str()));
  ASSERT_THAT(dom, HasSubstr(R"(data-loaded="true")")) << dom;
  EXPECT_THAT(dom, AllOf(HasSubstr("127.0.72.1:8080"), HasSubstr("127.0.72.1:8200"),
                         HasSubstr("127.0.73.1:8443"), HasSubstr("paris-office")));
  EXPECT_THAT(dom, HasSubstr("title: &lt;script&gt;alert(1)&lt;/script&gt;"));
  EXPECT_THAT(dom, Not(HasSubstr(kHostileTitle)));
}

TEST_F(DashboardTest, BrowserShowsTheDownloadCheckApartFromRelays) {
  {  // Download checks as an agent with download checks sends them.
    auto stub = v1::Ingest::NewStub(
        grpc::CreateChannel(stack_->collector()->address(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.AddMetadata("authorization", absl::StrCat("Bearer ", kAgentToken));
    auto stream = stub->Upload(&context);
    std::vector<v1::Attempt> attempts;
    for (v1::Outcome outcome :
         {v1::OUTCOME_TLS_INTERCEPTED, v1::OUTCOME_TLS_INTERCEPTED, v1::OUTCOME_OK}) {
      attempts.push_back(test::AttemptBuilder()
                             .Sequence(attempts.size() + 1)
                             .To("emea", "plugin", 443)
                             .Address("127.0.72.9")
                             .Route(v1::ROUTE_KIND_DIRECT)
                             .Outcome(outcome)
                             .Build());
      attempts.back().set_target(v1::TARGET_DOWNLOAD);
    }
    v1::UploadRequest batch = test::UploadBatch(1, "download-agent", "dl-1", attempts);
    batch.mutable_session()->mutable_agent()->set_site("lyon-office");
    v1::UploadResponse ack;
    ASSERT_TRUE(stream->Write(batch) && stream->Read(&ack));
    EXPECT_EQ(ack.accepted(), 3u);
    stream->WritesDone();
    ASSERT_TRUE(stream->Finish().ok());
  }
  const std::string matrix = Get("/api/v1/reachability?window=15m&step=0&group_by=relay");
  ASSERT_EQ(StatusOf(matrix), 200) << matrix;
  EXPECT_THAT(matrix,
              AllOf(HasSubstr(R"("service":"plugin")"), HasSubstr(R"("attempts":"3","ok":"1")"),
                    Not(HasSubstr(R"("relay":"plugin")"))));

  const std::string dom = RenderedDom("ready", "dashboard-downloads.png");
  ASSERT_THAT(dom, HasSubstr(R"(data-state="ready")")) << dom;
  // One row for plugin:443 direct, its outcomes counted; relays unchanged.
  EXPECT_THAT(dom, AllOf(HasSubstr(R"(data-service="plugin")"), HasSubstr("emea / plugin"),
                         HasSubstr("tls intercepted"), HasSubstr(R"(data-port="8200")")));
  // In the failure patterns, marked as a download check.
  EXPECT_THAT(dom, HasSubstr("download emea / plugin:443"));
  // The relay matrix has no column for the service's port.
  EXPECT_THAT(dom, Not(HasSubstr(R"(data-region="emea" data-port="443")")));
}

TEST_F(DashboardTest, CollectorDownIs503AndThePageSaysSo) {
  stack_->collector()->Stop();  // stopped by its PID
  const std::string reply = Get("/api/v1/sites?window=15m");
  EXPECT_EQ(StatusOf(reply), 503) << reply;
  EXPECT_THAT(reply, HasSubstr("collector unavailable"));
  EXPECT_EQ(StatusOf(Get("/readyz")), 503);
  EXPECT_EQ(StatusOf(Get("/healthz")), 200);  // the dashboard itself is alive

  const std::string dom = RenderedDom("error", "dashboard-collector-down.png");
  ASSERT_THAT(dom, HasSubstr(R"(data-state="error")")) << dom;
  EXPECT_THAT(dom, HasSubstr("The collector is unreachable"));
  EXPECT_THAT(dom, Not(HasSubstr(R"(data-region="emea")")));  // no figures shown as current
}

}  // namespace
}  // namespace relayscope
