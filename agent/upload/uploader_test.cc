// The uploader against the real collector ingest service and store, on
// loopback: delivery, resend, collector down (spool), recovery (spool
// delivered in order, exactly once), spool bound, bad token.
#include "agent/upload/uploader.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <filesystem>

#include "collector/ingest/ingest_service.h"
#include "common/fake_clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace relayscope::agent {
namespace {

using ::testing::HasSubstr;

constexpr char kToken[] = "upload-test-token";

v1::SessionReport Report(const std::string& session_id, int attempts) {
  v1::SessionReport r;
  r.mutable_agent()->set_agent_id("agent-1");
  r.set_session_id(session_id);
  r.mutable_verdict()->set_status(v1::VERDICT_STATUS_REACHABLE);
  r.add_proxies()->mutable_proxy()->set_host("127.0.0.9");
  for (int i = 0; i < attempts; ++i) {
    v1::Attempt* a = r.add_attempts();
    a->set_session_id(session_id);
    a->set_sequence(static_cast<uint64_t>(i + 1));
    a->mutable_start_time()->set_seconds(absl::ToUnixSeconds(absl::Now()) - 2);
    a->set_region("emea");
    a->set_relay("emea-1");
    a->set_port(8200);
    a->set_route_kind(v1::ROUTE_KIND_DIRECT);
    a->set_outcome(v1::OUTCOME_OK);
  }
  return r;
}

// A collector (ingest service + SQLite store) on a loopback port.
class Collector {
 public:
  explicit Collector(int port = 0) {
    google::protobuf::TextFormat::ParseFromString(
        R"pb(regions {
               id: "emea"
               relays { id: "emea-1" addresses: "127.0.0.2" ports: 8200 }
             })pb",
        &catalogue_);
    validator_ = std::make_unique<collector::Validator>(catalogue_);
    tokens_ = std::make_unique<collector::TokenAuthenticator>(
        *collector::TokenAuthenticator::Parse("t " + collector::Sha256Hex(kToken), "tokens"));
    store_ = *collector::OpenStore("sqlite::memory:");
    metrics_ = std::make_unique<collector::IngestMetrics>(*registry_);
    limiter_ = std::make_unique<collector::RateLimiter>(1000);
    service_ = std::make_unique<collector::IngestService>(
        store_.get(), validator_.get(), tokens_.get(), metrics_.get(), limiter_.get());
    grpc::ServerBuilder builder;
    builder.AddListeningPort(absl::StrCat("127.0.0.1:", port), grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
  }
  ~Collector() { server_->Shutdown(); }
  std::string target() const { return absl::StrCat("127.0.0.1:", port_); }
  int port() const { return port_; }
  collector::Store& store() { return *store_; }

 private:
  v1::Catalogue catalogue_;
  std::unique_ptr<collector::Validator> validator_;
  std::unique_ptr<collector::TokenAuthenticator> tokens_;
  std::unique_ptr<collector::Store> store_;
  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  std::unique_ptr<collector::IngestMetrics> metrics_;
  std::unique_ptr<collector::RateLimiter> limiter_;
  std::unique_ptr<collector::IngestService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

class UploaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spool_ = std::filesystem::temp_directory_path() /
             absl::StrCat("relayscope-spool-", getpid(), "-",
                          ::testing::UnitTest::GetInstance()->random_seed());
    std::filesystem::remove_all(spool_);
  }
  void TearDown() override { std::filesystem::remove_all(spool_); }
  UploadOptions Options(const std::string& target) {
    UploadOptions options;
    options.target = target;
    options.insecure = true;
    options.token = kToken;
    options.spool_dir = spool_;
    options.deadline = absl::Seconds(3);
    options.attempts_per_batch = 10;
    return options;
  }
  size_t SpoolFiles() {
    if (!std::filesystem::exists(spool_)) return 0;
    return static_cast<size_t>(std::distance(std::filesystem::directory_iterator(spool_),
                                             std::filesystem::directory_iterator()));
  }
  std::string spool_;
};

TEST(MakeBatches, SplitsAttemptsAndSendsMetadataOnce) {
  auto batches = MakeBatches(Report("s", 25), 10);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].session().attempts_size(), 10);
  EXPECT_EQ(batches[2].session().attempts_size(), 5);
  EXPECT_EQ(batches[0].session().proxies_size(), 1);
  EXPECT_EQ(batches[1].session().proxies_size(), 0);
  EXPECT_EQ(batches[2].session().session_id(), "s");
  EXPECT_EQ(MakeBatches(Report("s", 0), 10).size(), 1u);  // the verdict still goes
}

TEST_F(UploaderTest, DeliversASessionAndAResendCountsAsDuplicates) {
  Collector collector;
  UploadResult first = Upload(Report("s-1", 25), Options(collector.target()));
  EXPECT_EQ(first.error, "");
  EXPECT_EQ(first.delivered_batches, 3u);
  EXPECT_EQ(first.accepted, 25u);
  UploadResult again = Upload(Report("s-1", 25), Options(collector.target()));
  EXPECT_EQ(again.accepted, 0u);
  EXPECT_EQ(again.duplicates, 25u);
  EXPECT_EQ(*collector.store().CountAttempts(), 25u);
  EXPECT_EQ(SpoolFiles(), 0u);
}

TEST_F(UploaderTest, CollectorDownSpoolsAndTheSpoolIsDeliveredInOrderExactlyOnce) {
  int port = 0;
  {
    Collector probe;  // find a free port, then free it: the collector is "down"
    port = probe.port();
  }
  UploadOptions down = Options(absl::StrCat("127.0.0.1:", port));
  down.deadline = absl::Seconds(1);
  const absl::Time start = absl::Now();
  UploadResult spooled = Upload(Report("s-1", 25), down);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));  // the user is never held up long
  EXPECT_THAT(spooled.error, HasSubstr("unavailable"));
  EXPECT_EQ(spooled.spooled, 3u);
  EXPECT_EQ(SpoolFiles(), 3u);

  Collector collector(port);  // back
  UploadResult delivered = Upload(Report("s-2", 5), Options(collector.target()));
  EXPECT_EQ(delivered.error, "");
  EXPECT_EQ(delivered.delivered_from_spool, 3u);
  EXPECT_EQ(delivered.accepted, 30u);
  EXPECT_EQ(SpoolFiles(), 0u);
  EXPECT_EQ(*collector.store().CountAttempts(), 30u);
  auto session = collector.store().Session("agent-1", "s-1");
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_EQ(session->attempts_size(), 25);
  EXPECT_EQ(session->verdict().status(), v1::VERDICT_STATUS_REACHABLE);
}

// A port where no collector listens (found by binding port 0, then freed).
int FreePort() {
  Collector probe;
  return probe.port();
}

TEST_F(UploaderTest, RetriesBackOffWithFullJitterThatDoublesEachTime) {
  FakeClock clock;
  clock.AdvanceOnSleep(true);
  UploadOptions down = Options(absl::StrCat("127.0.0.1:", FreePort()));
  down.clock = &clock;
  down.deadline = absl::Seconds(10);
  down.max_tries = 4;
  UploadResult result = Upload(Report("s-1", 5), down);
  EXPECT_THAT(result.error, HasSubstr("unavailable"));
  EXPECT_EQ(result.spooled, 1u);
  // Four tries, three waits between them, each at most 200 ms doubled per try.
  const auto sleeps = clock.Sleeps();
  ASSERT_EQ(sleeps.size(), 3u);
  absl::Duration bound = absl::Milliseconds(200);
  for (const auto& [from, until] : sleeps) {
    EXPECT_GE(until - from, absl::ZeroDuration());
    EXPECT_LE(until - from, bound);
    bound *= 2;
  }
}

TEST_F(UploaderTest, NoWaitBetweenTriesReachesPastTheDeadline) {
  FakeClock clock;
  clock.AdvanceOnSleep(true);
  const absl::Time start = clock.Now();
  UploadOptions down = Options(absl::StrCat("127.0.0.1:", FreePort()));
  down.clock = &clock;
  down.deadline = absl::Milliseconds(300);
  down.max_tries = 50;
  UploadResult result = Upload(Report("s-1", 5), down);
  EXPECT_EQ(result.spooled, 1u);
  for (const auto& sleep : clock.Sleeps()) EXPECT_LT(sleep.second, start + down.deadline);
  EXPECT_LT(clock.Now(), start + down.deadline);
}

TEST_F(UploaderTest, SpoolStaysWithinItsBoundDroppingTheOldest) {
  UploadOptions down = Options("127.0.0.1:1");
  down.deadline = absl::Milliseconds(300);
  down.max_tries = 1;
  down.spool_max_bytes = 3000;
  uint64_t dropped = 0;
  for (int i = 0; i < 6; ++i) dropped += Upload(Report(absl::StrCat("s-", i), 25), down).dropped;
  EXPECT_GT(dropped, 0u);
  uint64_t total = 0;
  for (const auto& entry : std::filesystem::directory_iterator(spool_)) total += entry.file_size();
  EXPECT_LE(total, 3000u + 2000u);  // within the bound but for the newest batch
}

TEST_F(UploaderTest, WrongTokenIsNotRetriedAndKeepsTheBatches) {
  Collector collector;
  UploadOptions options = Options(collector.target());
  options.token = "wrong";
  const absl::Time start = absl::Now();
  UploadResult result = Upload(Report("s-1", 5), options);
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_THAT(result.error, HasSubstr("(16)"));  // UNAUTHENTICATED
  EXPECT_EQ(result.spooled, 1u);
  EXPECT_EQ(*collector.store().CountAttempts(), 0u);
}

}  // namespace
}  // namespace relayscope::agent
