// Several collectors on one PostgreSQL store: two real relayscope-collector
// processes share a real PostgreSQL server (started by the test in its own
// network namespace); agents are spread across both, batches are retried
// against the other replica, one replica dies mid-way, and the totals in the
// store, in the rollups and summed over both replicas' metrics are exact.
#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "relayscope/v1/ingest.grpc.pb.h"
#include "relayscope/v1/query.grpc.pb.h"
#include "tests/e2e/stack.h"
#include "tests/rig/fixture.h"
#include "tests/rig/postgres.h"
#include "tests/rig/process.h"
#include "tests/support/telemetry_builders.h"

namespace relayscope {
namespace {

using ::testing::HasSubstr;

constexpr char kToken[] = "scale-out-agent-token-77a0";
constexpr char kQueryToken[] = "scale-out-query-token-3b9e";
constexpr int kReplicas = 2;

class ScaleOut : public rig::RigTest {
 protected:
  void SetUp() override {
    RigTest::SetUp();
    if (IsSkipped()) return;
    auto postgres = rig::Postgres::Start(dir());
    if (absl::IsNotFound(postgres.status())) GTEST_SKIP() << postgres.status();
    ASSERT_TRUE(postgres.ok()) << postgres.status();
    postgres_ = *std::move(postgres);
    auto url = postgres_->CreateDatabase("relayscope");
    ASSERT_TRUE(url.ok()) << url.status();
    store_url_ = *url;

    stack_ = std::make_unique<e2e::Stack>(
        dir(), e2e::Binaries{.relay = RELAY_BINARY, .collector = COLLECTOR_BINARY});
    ASSERT_TRUE(stack_->WriteCatalogue(e2e::CatalogueText("127.0.72.1")).ok());
    catalogue_ = stack_->catalogue();
    ASSERT_TRUE(stack_->WriteTokens("tokens", {{"agents", kToken}}).ok());
    ASSERT_TRUE(stack_->WriteTokens("query-tokens", {{"callers", kQueryToken}}).ok());
    ASSERT_TRUE(stack_->WriteSecret("token", kToken).ok());

    auto relay = stack_->StartRelay("127.0.72.1:8200");
    ASSERT_TRUE(relay.ok()) << relay.status();
    // Both start at once: the schema migration is serialised between them.
    for (int r = 0; r < kReplicas; ++r) {
      auto collector =
          stack_->StartCollector({.tokens = dir() + "/tokens",
                                  .store = store_url_,
                                  .name = absl::StrCat("collector-", r),
                                  .extra_args = {"--query-tokens=" + dir() + "/query-tokens",
                                                 "--agent-batches-per-second=10000"}},
                                 /*wait=*/false);
      ASSERT_TRUE(collector.ok()) << collector.status();
      collectors_[r] = *collector;
    }
    for (int r = 0; r < kReplicas; ++r) WaitForCollector(r);
  }
  void TearDown() override {
    stack_.reset();
    postgres_.reset();
    RigTest::TearDown();
  }

  std::string GrpcAddress(int replica) const { return collectors_[replica]->address(); }

  // Restarts a replica on the shared store and its ports.
  void StartCollector(int replica) {
    const absl::Status up = collectors_[replica]->Start();
    ASSERT_TRUE(up.ok()) << up;
  }
  void WaitForCollector(int replica) {
    const absl::Status up = collectors_[replica]->WaitUntilReady();
    ASSERT_TRUE(up.ok()) << up;
  }

  std::string Scrape(int replica) { return collectors_[replica]->Scrape(); }
  // A metric summed over every replica, as Prometheus would.
  double SumOverReplicas(const std::string& metric) {
    double total = 0;
    for (int r = 0; r < kReplicas; ++r) total += e2e::SumMetric(Scrape(r), metric);
    return total;
  }
  int64_t StoreCount(const std::string& sql) {
    auto value = postgres_->QueryValue("relayscope", sql);
    EXPECT_TRUE(value.ok()) << value.status();
    return value.ok() && !value->empty() ? std::stoll(*value) : -1;
  }

  // A real agent diagnosis uploading to `replica`; returns its output.
  std::string RunAgent(int replica) {
    auto result = rig::RunCommand(
        {AGENT_BINARY, "diagnose", "--catalogue=" + catalogue_,
         "--collector=" + GrpcAddress(replica), "--token-file=" + dir() + "/token",
         "--spool-dir=" + dir() + "/spool", "--agent-id-file=" + dir() + "/agent-id",
         "--report-dir=" + dir() + "/reports", "--timeout=1s", "--upload-timeout=2s",
         "--site=paris", "--insecure"},
        absl::Seconds(30));
    EXPECT_TRUE(result.ok());
    return result.ok() ? result->output : "";
  }

  static v1::UploadRequest Batch(const std::string& agent, uint64_t batch_id, int n) {
    std::vector<v1::Attempt> attempts;
    for (int i = 0; i < n; ++i) {
      attempts.push_back(test::AttemptBuilder()
                             .Sequence(batch_id * 1000 + static_cast<uint64_t>(i))
                             .To("emea", "emea-1", i % 2 ? 8200 : 8443)
                             .Outcome(i % 3 ? v1::OUTCOME_OK : v1::OUTCOME_CONNECTION_REFUSED)
                             .Build());
    }
    v1::UploadRequest r = test::UploadBatch(batch_id, agent, "session-" + agent, attempts);
    r.mutable_session()->mutable_agent()->set_site("site-" + agent);
    return r;
  }

  std::unique_ptr<rig::Postgres> postgres_;
  std::string store_url_;
  std::string catalogue_;
  std::unique_ptr<e2e::Stack> stack_;
  e2e::Collector* collectors_[kReplicas] = {};
};

TEST_F(ScaleOut, AgentsSpreadOverTwoReplicasWithRetriesCountEachAttemptOnce) {
  constexpr int kAgents = 24, kBatches = 10, kPerBatch = 25;
  std::atomic<uint64_t> accepted{0}, duplicates{0}, retried{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> agents;
  for (int a = 0; a < kAgents; ++a) {
    agents.emplace_back([&, a] {
      const std::string agent = absl::StrCat("agent-", a);
      // One stream to the agent's own replica, one to the other, where
      // every third batch is retried at the same time (as after a timeout
      // behind a load balancer).
      std::unique_ptr<v1::Ingest::Stub> stubs[kReplicas];
      grpc::ClientContext contexts[kReplicas];
      std::unique_ptr<grpc::ClientReaderWriter<v1::UploadRequest, v1::UploadResponse>>
          streams[kReplicas];
      const int own = a % kReplicas, other = 1 - own;
      for (int r : {own, other}) {
        stubs[r] = v1::Ingest::NewStub(
            grpc::CreateChannel(GrpcAddress(r), grpc::InsecureChannelCredentials()));
        contexts[r].AddMetadata("authorization", std::string("Bearer ") + kToken);
        contexts[r].set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
        streams[r] = stubs[r]->Upload(&contexts[r]);
      }
      for (int b = 0; b < kBatches; ++b) {
        const v1::UploadRequest batch = Batch(agent, static_cast<uint64_t>(b + 1), kPerBatch);
        const bool retry = b % 3 == 0;
        std::vector<int> sent = {own};
        if (retry) sent.push_back(other);
        for (int r : sent) {
          if (!streams[r]->Write(batch)) ++failures;
        }
        for (int r : sent) {
          v1::UploadResponse ack;
          if (!streams[r]->Read(&ack) || !ack.rejected().empty()) {
            ++failures;
            continue;
          }
          accepted += ack.accepted();
          duplicates += ack.duplicates();
        }
        if (retry) retried += kPerBatch;
      }
      for (int r : {own, other}) {
        streams[r]->WritesDone();
        if (!streams[r]->Finish().ok()) ++failures;
      }
    });
  }
  for (auto& t : agents) t.join();
  ASSERT_EQ(failures.load(), 0);
  const int64_t distinct = kAgents * kBatches * kPerBatch;
  // Acks: every attempt accepted once, every retried copy a duplicate.
  EXPECT_EQ(accepted.load(), static_cast<uint64_t>(distinct));
  EXPECT_EQ(duplicates.load(), retried.load());
  // The store: raw attempts and rollups.
  EXPECT_EQ(StoreCount("SELECT COUNT(*) FROM attempts"), distinct);
  EXPECT_EQ(StoreCount("SELECT SUM(attempts) FROM rollups"), distinct);
  EXPECT_EQ(StoreCount("SELECT COUNT(*) FROM sessions"), kAgents);
  // Metrics summed over the replicas, as the recording rules do.
  EXPECT_EQ(SumOverReplicas("relayscope_attempts_total"), distinct);
  EXPECT_EQ(SumOverReplicas("relayscope_ingest_duplicate_attempts_total"),
            static_cast<double>(retried.load()));
}

TEST_F(ScaleOut, ARealAgentFailsOverToTheOtherReplicaAndNothingIsCountedTwice) {
  // Delivered to replica 0.
  EXPECT_THAT(RunAgent(0), HasSubstr("Telemetry: 2 attempts delivered"));
  // Replica 0 dies: the next diagnosis spools its telemetry.
  collectors_[0]->Stop();
  EXPECT_THAT(RunAgent(0), HasSubstr("telemetry not delivered"));
  EXPECT_FALSE(std::filesystem::is_empty(dir() + "/spool"));
  // Pointed at replica 1 (as a load balancer would), the agent delivers the
  // spool and its new diagnosis there.
  const std::string failover = RunAgent(1);
  EXPECT_THAT(failover, HasSubstr("spooled batch(es) from earlier runs"));
  EXPECT_TRUE(std::filesystem::is_empty(dir() + "/spool"));
  EXPECT_EQ(StoreCount("SELECT COUNT(*) FROM attempts WHERE site = 'paris'"), 6);
  EXPECT_EQ(StoreCount("SELECT SUM(attempts) FROM rollups"), 6);
  EXPECT_EQ(StoreCount("SELECT COUNT(DISTINCT session_id) FROM attempts"), 3);
  EXPECT_EQ(e2e::SumMetric(Scrape(1), "relayscope_attempts_total"), 4);
  EXPECT_EQ(e2e::SumMetric(Scrape(1), "relayscope_ingest_duplicate_attempts_total"), 0);

  // Replica 0 comes back on the shared store: a fleet query there sees
  // what replica 1 stored.
  StartCollector(0);
  auto query = v1::FleetQuery::NewStub(
      grpc::CreateChannel(GrpcAddress(0), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.AddMetadata("authorization", std::string("Bearer ") + kQueryToken);
  v1::ListSitesRequest request;
  *request.mutable_range()->mutable_start() =
      google::protobuf::util::TimeUtil::SecondsToTimestamp(absl::ToUnixSeconds(absl::Now()) - 3600);
  *request.mutable_range()->mutable_end() =
      google::protobuf::util::TimeUtil::SecondsToTimestamp(absl::ToUnixSeconds(absl::Now()) + 60);
  v1::ListSitesResponse sites;
  const grpc::Status status = query->ListSites(&context, request, &sites);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(sites.sites_size(), 1);
  EXPECT_EQ(sites.sites(0).site(), "paris");
  EXPECT_EQ(sites.sites(0).attempts(), 6u);
  EXPECT_EQ(sites.sites(0).sessions(), 3u);
}

TEST_F(ScaleOut, ABatchCommittedButNotAckedBeforeAKillCountsOnceOnTheOtherReplica) {
  const v1::UploadRequest batch = Batch("agent-killed", 1, 25);
  {
    auto stub = v1::Ingest::NewStub(
        grpc::CreateChannel(GrpcAddress(0), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.AddMetadata("authorization", std::string("Bearer ") + kToken);
    auto stream = stub->Upload(&context);
    ASSERT_TRUE(stream->Write(batch));
    // Replica 0 is killed once the batch is committed (visible to another
    // session of the database), before the agent has read any ack.
    int64_t stored = 0;
    for (int i = 0; i < 200 && stored < 25; ++i) {
      absl::SleepFor(absl::Milliseconds(25));
      stored = StoreCount("SELECT COUNT(*) FROM attempts WHERE agent_id = 'agent-killed'");
    }
    ASSERT_EQ(stored, 25);
    collectors_[0]->Kill();
    stream->Finish();
  }
  // The agent resends it to the other replica, as a load balancer would.
  auto stub =
      v1::Ingest::NewStub(grpc::CreateChannel(GrpcAddress(1), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.AddMetadata("authorization", std::string("Bearer ") + kToken);
  auto stream = stub->Upload(&context);
  v1::UploadResponse ack;
  ASSERT_TRUE(stream->Write(batch) && stream->Read(&ack));
  EXPECT_EQ(ack.accepted(), 0u);
  EXPECT_EQ(ack.duplicates(), 25u);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(StoreCount("SELECT COUNT(*) FROM attempts"), 25);
  EXPECT_EQ(StoreCount("SELECT SUM(attempts) FROM rollups"), 25);
  EXPECT_EQ(e2e::SumMetric(Scrape(1), "relayscope_attempts_total"), 0);
  EXPECT_EQ(e2e::SumMetric(Scrape(1), "relayscope_ingest_duplicate_attempts_total"), 25);
}

}  // namespace
}  // namespace relayscope
