// The telemetry pipeline with the real binaries: relayscope-relay,
// relayscope-agent and relayscope-collector (SQLite store), in the test's
// own network namespace, plus a C++ gRPC client for hostile streams.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "relayscope/v1/ingest.grpc.pb.h"
#include "tests/e2e/stack.h"
#include "tests/rig/fixture.h"
#include "tests/rig/process.h"

namespace relayscope {
namespace {

using ::testing::HasSubstr;

constexpr char kToken[] = "e2e-agent-token-5d1c";

class Pipeline : public rig::RigTest {
 protected:
  void SetUp() override {
    RigTest::SetUp();
    if (IsSkipped()) return;
    stack_ = std::make_unique<e2e::Stack>(
        dir(), e2e::Binaries{.relay = RELAY_BINARY, .collector = COLLECTOR_BINARY});
    ASSERT_TRUE(stack_->WriteCatalogue(e2e::CatalogueText("127.0.72.1")).ok());
    ASSERT_TRUE(stack_->WriteTokens("tokens", {{"e2e-agents", kToken}}).ok());
    auto relay = stack_->StartRelay("127.0.72.1:8200");
    ASSERT_TRUE(relay.ok()) << relay.status();
    auto collector = stack_->StartCollector(
        {.tokens = dir() + "/tokens", .extra_args = {"--max-message-bytes=1048576"}});
    ASSERT_TRUE(collector.ok()) << collector.status();
    collector_ = *collector;
  }
  void TearDown() override {
    stack_.reset();
    RigTest::TearDown();
  }

  // Restarts the collector on the same store and ports; with TLS when
  // `tls` is set.
  void StartCollector(bool tls = false) {
    std::vector<std::string> args = {"--max-message-bytes=1048576"};
    if (tls) {
      args.push_back("--tls-cert=" + dir() + "/tls.crt");
      args.push_back("--tls-key=" + dir() + "/tls.key");
    }
    collector_->set_extra_args(std::move(args));
    const absl::Status up = collector_->Start();
    ASSERT_TRUE(up.ok()) << up;
  }

  std::string Scrape() { return collector_->Scrape(); }

  // One agent diagnosis that uploads; returns its output. `transport` is
  // "--insecure" or "--ca=<file>" (or empty: system roots).
  std::string RunAgent(const std::string& transport = "--insecure") {
    std::vector<std::string> argv = {AGENT_BINARY,
                                     "diagnose",
                                     "--catalogue=" + stack_->catalogue(),
                                     "--collector=" + collector_->address(),
                                     "--token-file=" + dir() + "/token",
                                     "--spool-dir=" + dir() + "/spool",
                                     "--agent-id-file=" + dir() + "/agent-id",
                                     "--report-dir=" + dir() + "/reports",
                                     "--timeout=1s",
                                     "--upload-timeout=2s",
                                     "--site=paris"};
    if (!transport.empty()) argv.push_back(transport);
    auto result = rig::RunCommand(argv, absl::Seconds(30));
    EXPECT_TRUE(result.ok());
    return result->output;
  }

  std::unique_ptr<v1::Ingest::Stub> Stub() {
    return v1::Ingest::NewStub(
        grpc::CreateChannel(collector_->address(), grpc::InsecureChannelCredentials()));
  }

  static v1::UploadRequest Batch(uint64_t batch_id, uint64_t first_sequence, int n) {
    return e2e::MakeBatch("client-1", "client-session", batch_id, first_sequence, n);
  }

  std::unique_ptr<e2e::Stack> stack_;
  e2e::Collector* collector_ = nullptr;
};

TEST_F(Pipeline, DiagnosisArrivesOnceInMetricsAndSurvivesACollectorOutage) {
  std::ofstream(dir() + "/token") << kToken << "\n";
  const std::string first = RunAgent();
  EXPECT_THAT(first, HasSubstr("Telemetry: 2 attempts delivered"));
  std::string metrics = Scrape();
  EXPECT_EQ(e2e::SumMetric(metrics, "relayscope_attempts_total"), 2);
  EXPECT_THAT(metrics, HasSubstr("relayscope_attempts_total{outcome=\"ok\",port=\"8200\",region="
                                 "\"emea\",relay=\"emea-1\",route=\"direct\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("outcome=\"connection_refused\",port=\"8443\""));
  EXPECT_EQ(e2e::SumMetric(metrics, "relayscope_sites_active"), 1);

  // Real Prometheus tooling accepts the exposition.
  std::ofstream(dir() + "/scrape.prom") << metrics;
  auto promtool =
      rig::RunCommand({"/bin/sh", "-c", "promtool check metrics < " + dir() + "/scrape.prom"});
  ASSERT_TRUE(promtool.ok());
  EXPECT_EQ(promtool->exit_code, 0) << promtool->output;

  // The collector goes away: the agent still gives its verdict, and spools.
  collector_->Stop();
  const std::string offline = RunAgent();
  EXPECT_THAT(offline, HasSubstr("Verdict: REACHABLE"));
  EXPECT_THAT(offline, HasSubstr("telemetry not delivered"));
  EXPECT_FALSE(std::filesystem::is_empty(dir() + "/spool"));

  // It comes back on the same store: the next run delivers the spool first,
  // and everything is counted exactly once.
  StartCollector();
  const std::string back = RunAgent();
  EXPECT_THAT(back, HasSubstr("spooled batch(es) from earlier runs"));
  EXPECT_TRUE(std::filesystem::is_empty(dir() + "/spool"));
  metrics = Scrape();  // a fresh process: its counters cover what it received
  EXPECT_EQ(e2e::SumMetric(metrics, "relayscope_attempts_total"), 4);
  EXPECT_EQ(e2e::SumMetric(metrics, "relayscope_ingest_duplicate_attempts_total"), 0);
}

TEST_F(Pipeline, TlsCollectorIsReachedWithItsCaAndRefusedWithout) {
  std::ofstream(dir() + "/token") << kToken << "\n";
  auto cert = rig::RunCommand(
      {"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
       "/CN=relayscope-test-collector", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout",
       dir() + "/tls.key", "-out", dir() + "/tls.crt"},
      absl::Seconds(30));
  ASSERT_TRUE(cert.ok() && cert->exit_code == 0) << (cert.ok() ? cert->output : "");
  collector_->Stop();
  StartCollector(/*tls=*/true);
  // Without the CA the agent does not trust the collector: nothing is sent
  // in clear, the telemetry waits in the spool.
  const std::string untrusted = RunAgent("");
  EXPECT_THAT(untrusted, HasSubstr("telemetry not delivered"));
  EXPECT_EQ(e2e::SumMetric(Scrape(), "relayscope_attempts_total"), 0);
  // Plain text to a TLS port does not work either.
  EXPECT_THAT(RunAgent("--insecure"), HasSubstr("telemetry not delivered"));
  // With the CA: delivered, spool included.
  const std::string trusted = RunAgent("--ca=" + dir() + "/tls.crt");
  EXPECT_THAT(trusted, HasSubstr("Telemetry: 6 attempts delivered"));
  EXPECT_EQ(e2e::SumMetric(Scrape(), "relayscope_attempts_total"), 6);
}

TEST_F(Pipeline, DuplicateBatchCountsOnceAndHostileStreamsAreRefused) {
  auto stub = Stub();
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", std::string("Bearer ") + kToken);
    auto stream = stub->Upload(&context);
    v1::UploadResponse ack;
    ASSERT_TRUE(stream->Write(Batch(1, 1, 5)) && stream->Read(&ack));
    EXPECT_EQ(ack.accepted(), 5u);
    ASSERT_TRUE(stream->Write(Batch(2, 1, 5)) && stream->Read(&ack));
    EXPECT_EQ(ack.duplicates(), 5u);
    stream->WritesDone();
    EXPECT_TRUE(stream->Finish().ok());
  }
  EXPECT_EQ(e2e::SumMetric(Scrape(), "relayscope_attempts_total"), 5);

  {  // no token
    grpc::ClientContext context;
    auto stream = stub->Upload(&context);
    stream->Write(Batch(1, 100, 1));
    v1::UploadResponse ack;
    EXPECT_FALSE(stream->Read(&ack));
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  {  // a message over --max-message-bytes (1 MiB)
    grpc::ClientContext context;
    context.AddMetadata("authorization", std::string("Bearer ") + kToken);
    auto stream = stub->Upload(&context);
    v1::UploadRequest huge = Batch(1, 200, 1);
    huge.mutable_session()->mutable_agent()->set_version(std::string(2 << 20, 'x'));
    stream->Write(huge);
    v1::UploadResponse ack;
    EXPECT_FALSE(stream->Read(&ack));
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
  EXPECT_EQ(e2e::SumMetric(Scrape(), "relayscope_attempts_total"), 5);
}

TEST_F(Pipeline, KillNineBetweenBatchesLosesNoAcknowledgedAttempt) {
  auto stub = Stub();
  uint64_t acked = 0;
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", std::string("Bearer ") + kToken);
    auto stream = stub->Upload(&context);
    for (uint64_t b = 0; b < 5; ++b) {
      v1::UploadResponse ack;
      ASSERT_TRUE(stream->Write(Batch(b + 1, b * 20 + 1, 20)) && stream->Read(&ack));
      acked += ack.accepted();
    }
    kill(collector_->process()->pid(), SIGKILL);  // no goodbye
    stream->Finish();
  }
  StartCollector();  // reaps the killed one first
  // The agent resends everything it sent (at least once); the store keeps
  // each attempt once: all 100 acked attempts are there, none twice.
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", std::string("Bearer ") + kToken);
    auto stream = stub->Upload(&context);
    uint64_t duplicates = 0;
    for (uint64_t b = 0; b < 5; ++b) {
      v1::UploadResponse ack;
      ASSERT_TRUE(stream->Write(Batch(b + 1, b * 20 + 1, 20)) && stream->Read(&ack));
      duplicates += ack.duplicates();
    }
    stream->WritesDone();
    EXPECT_TRUE(stream->Finish().ok());
    EXPECT_EQ(acked, 100u);
    EXPECT_EQ(duplicates, 100u);  // every acked attempt survived the kill
  }
}

TEST_F(Pipeline, ABatchCommittedButNotAckedBeforeAKillCountsOnceWhenResent) {
  auto stub = Stub();
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", std::string("Bearer ") + kToken);
    auto stream = stub->Upload(&context);
    ASSERT_TRUE(stream->Write(Batch(1, 1, 20)));
    // The agent never reads the ack: the collector is killed once the batch
    // is durably committed (what another reader of the store sees), which is
    // as close to "between the commit and the ack" as a kill can be placed.
    int64_t stored = 0;
    for (int i = 0; i < 200 && stored < 20; ++i) {
      absl::SleepFor(absl::Milliseconds(25));
      auto count =
          collector_->QueryInt("SELECT COUNT(*) FROM attempts WHERE session_id = 'client-session'");
      stored = count.ok() ? *count : 0;
    }
    ASSERT_EQ(stored, 20);
    collector_->Kill();
    stream->Finish();
  }
  StartCollector();
  // The agent resends the batch it holds no ack for: all of it is known.
  grpc::ClientContext context;
  context.AddMetadata("authorization", std::string("Bearer ") + kToken);
  auto stream = stub->Upload(&context);
  v1::UploadResponse ack;
  ASSERT_TRUE(stream->Write(Batch(1, 1, 20)) && stream->Read(&ack));
  EXPECT_EQ(ack.accepted(), 0u);
  EXPECT_EQ(ack.duplicates(), 20u);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(*collector_->QueryInt("SELECT COUNT(*) FROM attempts"), 20);
  EXPECT_EQ(*collector_->QueryInt("SELECT SUM(attempts) FROM rollups"), 20);
  EXPECT_EQ(*collector_->QueryInt("SELECT attempts FROM sessions"), 20);
  const std::string metrics = Scrape();
  EXPECT_EQ(e2e::SumMetric(metrics, "relayscope_attempts_total"), 0);  // counted before the kill
  EXPECT_EQ(e2e::SumMetric(metrics, "relayscope_ingest_duplicate_attempts_total"), 20);
}

}  // namespace
}  // namespace relayscope
