// CollectorServer in-process: port 0, SQLite in a temp dir, real gRPC
// channels. Loops run with short intervals; tests wait for their effect
// with generous deadlines and never assert how long anything took.
#include "collector/server/collector_server.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "relayscope/v1/ingest.grpc.pb.h"
#include "relayscope/v1/query.grpc.pb.h"
#include "tests/support/telemetry_builders.h"

namespace relayscope::collector {
namespace {

using ::testing::HasSubstr;

constexpr char kToken[] = "agent-token-123";
constexpr char kReaderToken[] = "reader-token-456";
// Long enough that nothing here waits for it unless a behaviour is broken.
constexpr absl::Duration kPatience = absl::Seconds(30);

// Polls `condition` until it holds or kPatience passes.
template <typename Condition>
bool Eventually(Condition condition) {
  const absl::Time deadline = absl::Now() + kPatience;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

// grpc.health.v1.Health/Check for the whole server, through the generic
// stub (Debian's gRPC ships no health client): 1 is SERVING, 2
// NOT_SERVING, -1 when the call fails.
int HealthStatus(const std::shared_ptr<grpc::Channel>& channel) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Slice empty("");  // HealthCheckRequest{service: ""}
  grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  absl::Notification done;
  grpc::Status status;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response,
                 [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();
  if (!status.ok()) return -1;
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return -1;
  std::string bytes;
  for (const grpc::Slice& s : slices)
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  // HealthCheckResponse{status}: field 1, varint; absent means 0 (UNKNOWN).
  if (bytes.empty()) return 0;
  if (bytes.size() == 2 && bytes[0] == 0x08) return bytes[1];
  return -1;
}

class CollectorServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/relayscope-collector-server-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    ASSERT_TRUE(WriteFileAtomically(dir_ + "/catalogue.textproto", R"pb(
                  regions {
                    id: "emea"
                    relays {
                      id: "emea-1"
                      addresses: "127.0.0.2"
                      ports: [ 8200 ]
                    }
                  })pb")
                    .ok());
    WriteTokens("fleet", kToken);
    ASSERT_TRUE(
        WriteFileAtomically(dir_ + "/query-tokens", "dashboard " + Sha256Hex(kReaderToken) + "\n")
            .ok());
    config_.listen = "127.0.0.1:0";
    // No /metrics unless a test needs it: stopping its HTTP server
    // (civetweb) takes a couple of seconds.
    config_.metrics = "";
    config_.store = "sqlite://" + dir_ + "/collector.db";
    config_.catalogue = dir_ + "/catalogue.textproto";
    config_.tokens = dir_ + "/tokens";
    config_.query_tokens = dir_ + "/query-tokens";
    config_.agent_batches_per_second = 1000;
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  void WriteTokens(const std::string& name, const std::string& token) {
    ASSERT_TRUE(WriteFileAtomically(dir_ + "/tokens", name + " " + Sha256Hex(token) + "\n").ok());
  }

  void Start() {
    auto server = CollectorServer::Create(config_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  std::shared_ptr<grpc::Channel> Channel() {
    return grpc::CreateChannel(server_->grpc_address(), grpc::InsecureChannelCredentials());
  }

  // A batch of direct attempts to emea-1:8200 from site "paris".
  static v1::UploadRequest Request(uint64_t batch_id, std::vector<uint64_t> sequences,
                                   absl::Time start = absl::Now() - absl::Seconds(5)) {
    std::vector<v1::Attempt> attempts;
    for (uint64_t seq : sequences) {
      attempts.push_back(test::AttemptBuilder().Sequence(seq).StartedAt(start).Build());
    }
    v1::UploadRequest r = test::UploadBatch(batch_id, "agent-1", "s-1", std::move(attempts));
    r.mutable_session()->mutable_agent()->set_site("paris");
    return r;
  }

  // Uploads `request` on one stream with `token`; the ack (if any) and the
  // stream's final status.
  std::pair<std::optional<v1::UploadResponse>, grpc::Status> Upload(
      const v1::UploadRequest& request, const std::string& token = kToken) {
    auto stub = v1::Ingest::NewStub(Channel());
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + token);
    auto stream = stub->Upload(&context);
    std::optional<v1::UploadResponse> ack;
    if (stream->Write(request)) {
      v1::UploadResponse response;
      if (stream->Read(&response)) ack = response;
    }
    stream->WritesDone();
    return {ack, stream->Finish()};
  }

  absl::Time FakeNow() {
    absl::MutexLock lock(&clock_mu_);
    return fake_now_;
  }

  double Gauge(const std::string& name, const std::string& label, const std::string& value) {
    for (const auto& family : server_->registry().Collect()) {
      if (family.name != name) continue;
      for (const auto& m : family.metric) {
        for (const auto& l : m.label) {
          if (l.name == label && l.value == value) return m.gauge.value;
        }
      }
    }
    return -1;
  }

  std::string dir_;
  // A clock a test may hand to config_.now (declared before server_, so it
  // outlives the server's loops).
  absl::Mutex clock_mu_;
  absl::Time fake_now_ ABSL_GUARDED_BY(clock_mu_) = absl::Now();
  CollectorConfig config_;
  std::unique_ptr<CollectorServer> server_;
};

TEST_F(CollectorServerTest, StartsOnPortZeroAndIsServing) {
  config_.metrics = "127.0.0.1:0";
  Start();
  EXPECT_GT(server_->port(), 0);
  EXPECT_EQ(server_->grpc_address(), absl::StrCat("127.0.0.1:", server_->port()));
  EXPECT_THAT(server_->metrics_address(), HasSubstr("127.0.0.1:"));
  EXPECT_NE(server_->metrics_address(), "127.0.0.1:0");
  EXPECT_EQ(HealthStatus(Channel()), 1);
}

TEST_F(CollectorServerTest, UploadThroughARealChannelIsStoredAndCounted) {
  Start();
  auto [ack, status] = Upload(Request(1, {1, 2, 3}));
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->batch_id(), 1u);
  EXPECT_EQ(ack->accepted(), 3u);
  EXPECT_EQ(*server_->store().CountAttempts(), 3u);
  EXPECT_EQ(Gauge("relayscope_sites_active", "region", "emea"), 1);
  // The batch is durable: a collector on the same database sees it.
  server_.reset();
  Start();
  EXPECT_EQ(*server_->store().CountAttempts(), 3u);
}

TEST_F(CollectorServerTest, AuthPolicyRefusesABadTokenAndKeepsAgentsOutOfFleetData) {
  Start();
  auto [ack, status] = Upload(Request(1, {1}), "wrong");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_FALSE(ack.has_value());
  EXPECT_EQ(*server_->store().CountAttempts(), 0u);

  auto query = v1::FleetQuery::NewStub(Channel());
  auto activity = [&](const std::string& token) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + token);
    v1::GetActivityRequest request;
    const int64_t now = absl::ToUnixSeconds(absl::Now());
    request.mutable_range()->mutable_start()->set_seconds(now - 60);
    request.mutable_range()->mutable_end()->set_seconds(now);
    v1::GetActivityResponse response;
    return query->GetActivity(&context, request, &response).error_code();
  };
  EXPECT_EQ(activity(kToken), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(activity(kReaderToken), grpc::StatusCode::OK);
}

TEST_F(CollectorServerTest, TokenFileReloadPicksUpANewToken) {
  config_.tokens_reload_interval = absl::Milliseconds(10);
  Start();
  const std::string rotated = "rotated-token-789";
  ASSERT_EQ(Upload(Request(1, {1}), rotated).second.error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  WriteTokens("fleet", rotated);
  EXPECT_TRUE(Eventually([&] { return Upload(Request(1, {1}), rotated).second.ok(); }));
  // The old token was revoked by the same change.
  EXPECT_EQ(Upload(Request(2, {2})).second.error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(CollectorServerTest, RetentionLoopPrunesOldAttempts) {
  config_.retention = absl::Minutes(1);
  config_.retention_interval = absl::Milliseconds(10);
  Start();
  IngestBatch batch;
  batch.agent.set_agent_id("agent-1");
  batch.session_id = "s-1";
  batch.attempts = {Request(1, {1}, absl::Now() - absl::Minutes(10)).session().attempts(0)};
  ASSERT_TRUE(server_->store().Commit(std::move(batch)).ok());
  EXPECT_TRUE(Eventually([&] { return *server_->store().CountAttempts() == 0; }));
}

TEST_F(CollectorServerTest, SiteGaugesLoopLetsSitesLeaveTheWindow) {
  config_.now = [this] { return FakeNow(); };
  config_.site_gauges_interval = absl::Milliseconds(10);
  Start();
  ASSERT_TRUE(Upload(Request(1, {1}, FakeNow() - absl::Seconds(5))).second.ok());
  ASSERT_EQ(Gauge("relayscope_sites_active", "region", "emea"), 1);
  {
    absl::MutexLock lock(&clock_mu_);
    fake_now_ += IngestMetrics::kActiveWindow + absl::Minutes(1);
  }
  EXPECT_TRUE(Eventually([&] { return Gauge("relayscope_sites_active", "region", "emea") == 0; }));
}

TEST_F(CollectorServerTest, ShutdownCancelsAnOpenStreamAfterTheGraceAndIsIdempotent) {
  // Loops that would sleep an hour unless shutdown wakes them.
  config_.retention_interval = absl::Hours(1);
  config_.site_gauges_interval = absl::Hours(1);
  config_.tokens_reload_interval = absl::Hours(1);
  config_.shutdown_grace = absl::ZeroDuration();
  Start();
  auto stub = v1::Ingest::NewStub(Channel());
  grpc::ClientContext context;
  context.AddMetadata("authorization", absl::StrCat("Bearer ", kToken));
  auto stream = stub->Upload(&context);
  ASSERT_TRUE(stream->Write(Request(1, {1})));
  v1::UploadResponse ack;
  ASSERT_TRUE(stream->Read(&ack));  // the stream is open and idle

  absl::Notification shut_down;
  std::thread stopper([&] {
    server_->Shutdown();
    shut_down.Notify();
  });
  EXPECT_TRUE(shut_down.WaitForNotificationWithTimeout(kPatience));
  stopper.join();
  EXPECT_FALSE(stream->Read(&ack));
  EXPECT_FALSE(stream->Finish().ok());
  server_->Shutdown();  // again: returns, does nothing
  EXPECT_EQ(HealthStatus(Channel()), -1);
}

TEST(CollectorServerCreate, ErrorsNameWhatIsWrong) {
  CollectorConfig config;
  config.catalogue = "/nonexistent/catalogue.textproto";
  config.allow_unauthenticated = true;
  EXPECT_EQ(CollectorServer::Create(config).status().code(), absl::StatusCode::kNotFound);
}

TEST(AuthPolicy, AgentsNeedTokensUnlessUnauthenticatedCallersAreAllowed) {
  CollectorConfig config;
  auto refused = AuthPolicy::FromConfig(config);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("--tokens"));

  config.allow_unauthenticated = true;
  auto open = AuthPolicy::FromConfig(config);
  ASSERT_TRUE(open.ok());
  EXPECT_TRUE(open->agents.Authenticate("").ok());
  EXPECT_TRUE(open->readers.Authenticate("").ok());
}

TEST_F(CollectorServerTest, ReadersWithoutAQueryTokenFileAreAllRefused) {
  config_.query_tokens.clear();
  auto policy = AuthPolicy::FromConfig(config_);
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_TRUE(policy->agents.Authenticate(absl::StrCat("Bearer ", kToken)).ok());
  EXPECT_FALSE(policy->readers.Authenticate(absl::StrCat("Bearer ", kToken)).ok());
  EXPECT_FALSE(policy->readers.Authenticate("").ok());
}

TEST_F(CollectorServerTest, NegativeTokenRateIsRefused) {
  config_.token_batches_per_second = -1;
  auto server = CollectorServer::Create(config_);
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(server.status().message(), HasSubstr("token-batches-per-second"));
}

}  // namespace
}  // namespace relayscope::collector
