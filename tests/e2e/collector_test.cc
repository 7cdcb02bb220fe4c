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
constexpr char kCatalogue[] = R"pb(name: "e2e"
                                   regions {
                                     id: "emea"
                                     display_name: "EMEA"
                                     relays {
                                       id: "emea-1"
                                       addresses: "127.0.72.1"
                                       ports: [ 8200, 8443 ]
                                     }
                                   }
)pb";

// Sum of every sample of a metric in a text exposition.
double Sum(const std::string& exposition, const std::string& metric) {
  double total = 0;
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    if (absl::StartsWith(line, metric + "{") || absl::StartsWith(line, metric + " ")) {
      total += std::stod(std::string(line.substr(line.rfind(' ') + 1)));
    }
  }
  return total;
}

class Pipeline : public rig::RigTest {
 protected:
  void SetUp() override {
    RigTest::SetUp();
    if (IsSkipped()) return;
    catalogue_ = dir() + "/catalogue.textproto";
    std::ofstream(catalogue_) << kCatalogue;
    ASSERT_TRUE(e2e::WriteTokenFile(dir() + "/tokens", {{"e2e-agents", kToken}}).ok());
    auto relay = e2e::StartRelay(RELAY_BINARY, dir(), "127.0.72.1:8200");
    ASSERT_TRUE(relay.ok()) << relay.status();
    relay_ = *std::move(relay);
    StartCollector();
  }
  void TearDown() override {
    collector_.reset();
    relay_.reset();
    RigTest::TearDown();
  }

  // Starts (or restarts) the collector on the same store and ports; with
  // TLS when `tls` is set.
  void StartCollector(bool tls = false) {
    const std::string ready = dir() + "/collector.ready";
    std::filesystem::remove(ready);
    rig::Process::Options options;
    options.argv = {COLLECTOR_BINARY,
                    "--store=sqlite://" + dir() + "/collector.db",
                    "--catalogue=" + catalogue_,
                    "--tokens=" + dir() + "/tokens",
                    "--listen=127.0.0.1:50051",
                    "--metrics=127.0.0.1:9465",
                    "--max-message-bytes=1048576",
                    "--ready-file=" + ready};
    if (tls) {
      options.argv.push_back("--tls-cert=" + dir() + "/tls.crt");
      options.argv.push_back("--tls-key=" + dir() + "/tls.key");
    }
    options.log_path = dir() + "/collector.log";
    auto collector = rig::Process::Start(options);
    ASSERT_TRUE(collector.ok());
    collector_ = *std::move(collector);
    const absl::Status up = rig::WaitForFile(ready, absl::Seconds(10), collector_.get());
    ASSERT_TRUE(up.ok()) << up;
  }

  std::string Scrape() {
    auto curl =
        rig::RunCommand({"/usr/bin/curl", "-s", "--noproxy", "*", "http://127.0.0.1:9465/metrics"});
    return curl.ok() ? curl->output : "";
  }

  // One agent diagnosis that uploads; returns its output. `transport` is
  // "--insecure" or "--ca=<file>" (or empty: system roots).
  std::string RunAgent(const std::string& transport = "--insecure") {
    std::vector<std::string> argv = {AGENT_BINARY,
                                     "diagnose",
                                     "--catalogue=" + catalogue_,
                                     "--collector=127.0.0.1:50051",
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
        grpc::CreateChannel("127.0.0.1:50051", grpc::InsecureChannelCredentials()));
  }

  static v1::UploadRequest Batch(uint64_t batch_id, uint64_t first_sequence, int n) {
    v1::UploadRequest r;
    r.set_batch_id(batch_id);
    r.mutable_session()->mutable_agent()->set_agent_id("client-1");
    r.mutable_session()->set_session_id("client-session");
    for (int i = 0; i < n; ++i) {
      v1::Attempt* a = r.mutable_session()->add_attempts();
      a->set_session_id("client-session");
      a->set_sequence(first_sequence + static_cast<uint64_t>(i));
      a->mutable_start_time()->set_seconds(absl::ToUnixSeconds(absl::Now()) - 1);
      a->set_region("emea");
      a->set_relay("emea-1");
      a->set_port(8443);
      a->set_route_kind(v1::ROUTE_KIND_DIRECT);
      a->set_outcome(v1::OUTCOME_CONNECTION_REFUSED);
    }
    return r;
  }

  std::string catalogue_;
  std::unique_ptr<rig::Process> relay_;
  std::unique_ptr<rig::Process> collector_;
};

TEST_F(Pipeline, DiagnosisArrivesOnceInMetricsAndSurvivesACollectorOutage) {
  std::ofstream(dir() + "/token") << kToken << "\n";
  const std::string first = RunAgent();
  EXPECT_THAT(first, HasSubstr("Telemetry: 2 attempts delivered"));
  std::string metrics = Scrape();
  EXPECT_EQ(Sum(metrics, "relayscope_attempts_total"), 2);
  EXPECT_THAT(metrics, HasSubstr("relayscope_attempts_total{outcome=\"ok\",port=\"8200\",region="
                                 "\"emea\",relay=\"emea-1\",route=\"direct\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("outcome=\"connection_refused\",port=\"8443\""));
  EXPECT_EQ(Sum(metrics, "relayscope_sites_active"), 1);

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
  EXPECT_EQ(Sum(metrics, "relayscope_attempts_total"), 4);
  EXPECT_EQ(Sum(metrics, "relayscope_ingest_duplicate_attempts_total"), 0);
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
  EXPECT_EQ(Sum(Scrape(), "relayscope_attempts_total"), 0);
  // Plain text to a TLS port does not work either.
  EXPECT_THAT(RunAgent("--insecure"), HasSubstr("telemetry not delivered"));
  // With the CA: delivered, spool included.
  const std::string trusted = RunAgent("--ca=" + dir() + "/tls.crt");
  EXPECT_THAT(trusted, HasSubstr("Telemetry: 6 attempts delivered"));
  EXPECT_EQ(Sum(Scrape(), "relayscope_attempts_total"), 6);
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
  EXPECT_EQ(Sum(Scrape(), "relayscope_attempts_total"), 5);

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
  EXPECT_EQ(Sum(Scrape(), "relayscope_attempts_total"), 5);
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
    kill(collector_->pid(), SIGKILL);  // no goodbye
    stream->Finish();
  }
  collector_->Stop();
  StartCollector();
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

}  // namespace
}  // namespace relayscope
